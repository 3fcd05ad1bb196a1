"""Read the evidence files, validate every record, and check cross-references.

Layout: ``evidence/<kind>/*.yaml`` (a list of mappings) or ``evidence/<kind>/*.csv`` (one
record per row; an empty cell means "not given"; ``a.b`` columns fill nested mappings and
list fields are separated by ``;``). All problems are collected before raising, so one run
shows every bad record.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml
from pydantic import ValidationError

from research.store.schema import RECORD_TYPES, REFERENCES, Record

EVIDENCE_SUFFIXES = (".yaml", ".yml", ".csv")


@dataclass(frozen=True)
class Problem:
    file: str
    record: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: record '{self.record}': field '{self.field}': {self.message}"


class EvidenceError(Exception):
    """The store has invalid records; ``problems`` lists each one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Store:
    root: Path
    records: dict[str, list[Record]] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # record id -> file it came from

    def __getitem__(self, kind: str) -> list[Record]:
        return self.records.get(kind, [])

    def get(self, record_id: str) -> Record:
        for records in self.records.values():
            for record in records:
                if record.id == record_id:
                    return record
        raise KeyError(record_id)

    def ids(self, kind: str | None = None) -> set[str]:
        kinds = [kind] if kind else list(self.records)
        return {r.id for k in kinds for r in self.records.get(k, [])}

    def rows(self, kind: str) -> list[dict[str, Any]]:
        """Records of one kind as plain dicts (JSON-compatible), with their file."""
        out = []
        for record in self[kind]:
            row = record.model_dump(mode="json")
            row["file"] = self.origin.get(record.id)
            out.append(row)
        return out


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _coerce_cell(value: str) -> Any:
    # CSV cells are text; let YAML's scalar rules give numbers, booleans and dates.
    if value.strip() == "":
        return None
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return parsed if isinstance(parsed, (int, float, bool)) else value


def _read_csv(text: str, model: type[Record]) -> list[dict[str, Any]]:
    list_fields = {
        name for name, info in model.model_fields.items() if "list" in str(info.annotation).lower()
    }
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = {}
        for column, cell in raw.items():
            if column is None:
                raise ValueError("row has more cells than the header")
            value = _coerce_cell(cell or "")
            if value is None:
                continue
            if column in list_fields:
                value = [part.strip() for part in str(value).split(";") if part.strip()]
            if "." in column:
                outer, inner = column.split(".", 1)
                row.setdefault(outer, {})[inner] = value
            else:
                row[column] = value
        rows.append(row)
    return rows


def _read_file(path: Path, kind: str) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        return _read_csv(text, RECORD_TYPES[kind])
    data = yaml.safe_load(text)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("a YAML evidence file must hold a list of records")
    return data


def evidence_files(root: Path) -> Iterator[tuple[str, Path]]:
    for kind in RECORD_TYPES:
        folder = root / kind
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in EVIDENCE_SUFFIXES:
                    yield kind, path


def _field_of(error: dict[str, Any]) -> tuple[str, str]:
    loc = [str(part) for part in error["loc"]]
    message = error["msg"]
    if not loc and message.startswith("Value error, ") and ":" in message:
        # model validators name their field as "field: message"
        body = message.removeprefix("Value error, ")
        name, _, rest = body.partition(":")
        return name.strip(), rest.strip()
    return ".".join(loc) or "(record)", message


def parse_records(kind: str, raw_records: list[Any], file: str) -> tuple[list[Record], list[Problem]]:
    model = RECORD_TYPES[kind]
    records, problems = [], []
    for index, raw in enumerate(raw_records, start=1):
        if not isinstance(raw, dict):
            problems.append(Problem(file, f"#{index}", "(record)", "expected a mapping of field: value"))
            continue
        record_id = str(raw.get("id") or f"#{index}")
        try:
            records.append(model.model_validate(raw))
        except ValidationError as exc:
            for error in exc.errors():
                name, message = _field_of(error)
                problems.append(Problem(file, record_id, name, message))
    return records, problems


def check_store(store: Store, invalid_ids: set[str] = frozenset()) -> list[Problem]:
    """Cross-record check: every reference names a record that exists.

    References to records that exist but failed validation are not reported again."""
    problems: list[Problem] = []
    for kind, refs in REFERENCES.items():
        for record in store[kind]:
            file = store.origin.get(record.id, kind)
            for name, target_kind in refs.items():
                value = getattr(record, name)
                targets = value if isinstance(value, list) else [value]
                valid = store.ids(target_kind)
                for target in targets:
                    if target is not None and target not in valid and target not in invalid_ids:
                        where = target_kind or "the store"
                        problems.append(Problem(file, record.id, name, f"refers to '{target}', which is not in {where}"))
    return problems


def load_store(root: str | Path = "evidence", extra: dict[str, list[tuple[str, Any]]] | None = None) -> Store:
    """Load and validate the whole store. ``extra`` adds raw records (kind -> [(file, raw)])
    that are checked together with the files, as a write would leave them."""
    root = Path(root)
    if not root.is_dir():
        raise EvidenceError([Problem(str(root), "-", "-", "evidence folder not found")])
    store = Store(root=root)
    problems: list[Problem] = []
    batches: list[tuple[str, str, list[Any]]] = []
    for kind, path in evidence_files(root):
        file = _relative(path, root)
        try:
            batches.append((kind, file, _read_file(path, kind)))
        except (yaml.YAMLError, ValueError, csv.Error, UnicodeDecodeError) as exc:
            problems.append(Problem(file, "-", "-", f"cannot be read: {exc}".replace("\n", " ")))
    for kind, items in (extra or {}).items():
        for file, raw in items:
            batches.append((kind, file, [raw]))
    invalid_ids: set[str] = set()
    for kind, file, raw_records in batches:
        records, found = parse_records(kind, raw_records, file)
        invalid_ids.update(p.record for p in found)
        problems.extend(found)
        for record in records:
            store.records.setdefault(kind, []).append(record)
            if record.id in store.origin:
                problems.append(Problem(file, record.id, "id", f"duplicate id (also in {store.origin[record.id]})"))
            else:
                store.origin[record.id] = file
    problems.extend(check_store(store, invalid_ids))
    if problems:
        raise EvidenceError(problems)
    return store
