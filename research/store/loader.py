"""Read the evidence files, validate every record, and check cross-references.

Layout: ``evidence/<kind>/*.yaml`` (a list of mappings), ``evidence/<kind>/*.csv`` (one
record per row; an empty cell means "not given"; ``a.b`` columns fill nested mappings and
list fields are separated by ``;``) or ``evidence/<kind>/*.parquet`` (large tables: one record
per row, the same columns as CSV or list and struct columns; a null means "not given"; problems
name the row where a text file names the line). All problems are collected before raising, so one run
shows every bad record, each with the line it starts on. Validation takes time linear in the
size of the store: ids are indexed once.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from research.store.files import (ReadError, coerce_cell, load_yaml_document, read_csv_rows, read_parquet_rows,
                                  read_text)
from research.store.schema import RECORD_TYPES, REFERENCES, Record

EVIDENCE_SUFFIXES = (".yaml", ".yml", ".csv", ".parquet")


@dataclass(frozen=True)
class Problem:
    file: str
    record: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: record '{self.record}': field '{self.field}': {self.message}"


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
    lines: dict[str, int] = field(default_factory=dict)  # record id -> line it starts on, when known
    _by_id: dict[str, Record] = field(default_factory=dict, repr=False, compare=False)

    def __getitem__(self, kind: str) -> list[Record]:
        return self.records.get(kind, [])

    def get(self, record_id: str) -> Record:
        if len(self._by_id) != sum(len(r) for r in self.records.values()):
            self._by_id.clear()
            for records in self.records.values():
                for record in records:
                    self._by_id.setdefault(record.id, record)
        return self._by_id[record_id]

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


@dataclass(frozen=True)
class RawRecord:
    """One record as read, before validation: its mapping, the line it starts on and, when known,
    the line of each field."""

    data: Any
    line: int | None = None
    field_lines: dict[str, int] = field(default_factory=dict)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _list_fields(model: type[Record]) -> set[str]:
    return {name for name, info in model.model_fields.items() if "list" in str(info.annotation).lower()}


def _read_csv(text: str, model: type[Record], file: str) -> tuple[list[RawRecord], list[Problem]]:
    header, rows = read_csv_rows(text)
    return _read_rows(header, rows, model, file, text_cells=True)


def _read_rows(header: list[str], rows: list[tuple[int, list[Any]]], model: type[Record], file: str,
               text_cells: bool) -> tuple[list[RawRecord], list[Problem]]:
    """Table rows (CSV text cells, or typed Parquet values) as raw records, by the same rules."""
    list_fields = _list_fields(model)
    records: list[RawRecord] = []
    problems: list[Problem] = []
    for line, cells in rows:
        if len(cells) > len(header):
            given = dict(zip(header, cells)).get("id", "").strip()
            record_id = given or f"line {line}"
            message = f"row has {len(cells)} cells but the header has {len(header)}"
            problems.append(Problem(file, record_id, "(row)", message, line))
            continue
        row: dict[str, Any] = {}
        for column, cell in zip(header, cells):
            value = coerce_cell(cell) if text_cells else cell
            if value is None:
                continue
            if column in list_fields and not isinstance(value, list):
                value = [part.strip() for part in str(value).split(";") if part.strip()]
            outer, dot, inner = column.partition(".")
            if (outer in row) and (not dot or not isinstance(row[outer], dict)):
                problems.append(Problem(file, str(row.get("id", f"line {line}")), column,
                                        f"column '{column}' fills field '{outer}' that another column fills", line))
            elif dot:
                row.setdefault(outer, {})[inner] = value
            else:
                row[column] = value
        records.append(RawRecord(row, line))
    return records, problems


def read_evidence_file(path: Path, kind: str, file: str) -> tuple[list[RawRecord], list[Problem]]:
    """The raw records of one file, with problems found per row; ReadError if unreadable."""
    if path.suffix == ".parquet":
        header, rows = read_parquet_rows(path)
        return _read_rows(header, rows, RECORD_TYPES[kind], file, text_cells=False)
    text = read_text(path)
    if path.suffix == ".csv":
        return _read_csv(text, RECORD_TYPES[kind], file)
    data, places = load_yaml_document(text)
    if data is None:
        return [], []
    if not isinstance(data, list):
        raise ReadError("a YAML evidence file must hold a list of records")
    return [RawRecord(item, line, fields) for item, (line, fields) in zip(data, places)], []


def _entries(root: Path) -> Iterator[tuple[str, Path]]:
    for kind in RECORD_TYPES:
        folder = root / kind
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in EVIDENCE_SUFFIXES:
                    yield kind, path


def evidence_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every evidence file of the store (kind, path), in a stable order; folders are left out."""
    for kind, path in _entries(root):
        if path.is_file():
            yield kind, path


def _field_of(error: dict[str, Any]) -> tuple[str, str]:
    loc = [str(part) for part in error["loc"]]
    message = error["msg"]
    if not loc and message.startswith("Value error, ") and ":" in message:
        # model validators name their field as "field: message"
        body = message.removeprefix("Value error, ")
        name, _, rest = body.partition(":")
        return name.strip(), rest.strip()
    return ".".join(loc) or "(record)", message.removeprefix("Value error, ")


def parse_records(kind: str, raw_records: list[Any], file: str) -> tuple[list[Record], list[Problem]]:
    """Validate raw records (mappings, or RawRecord with their line) against the kind's schema."""
    parsed, problems = _parse(kind, raw_records, file)
    return [record for record, _ in parsed], problems


def _parse(kind: str, raw_records: list[Any], file: str) -> tuple[list[tuple[Record, int | None]], list[Problem]]:
    model = RECORD_TYPES[kind]
    records: list[tuple[Record, int | None]] = []
    problems: list[Problem] = []
    for index, item in enumerate(raw_records, start=1):
        if not isinstance(item, RawRecord):
            item = RawRecord(item)
        raw, line = item.data, item.line
        if not isinstance(raw, dict):
            problems.append(Problem(file, f"#{index}", "(record)", "expected a mapping of field: value", line))
            continue
        record_id = str(raw.get("id") or f"#{index}")
        try:
            records.append((model.model_validate(raw), line))
        except ValidationError as exc:
            for error in exc.errors():
                name, message = _field_of(error)
                where = item.field_lines.get(name.split(".")[0], line)  # the field's own line when known
                problems.append(Problem(file, record_id, name, message, where))
    return records, problems


MAX_DERIVATION_STEPS = 8  # an estimate derived from derived estimates, at most this many times over


def _derivations(store: Store) -> list[Problem]:
    """Estimates derived, directly or through others, from themselves, or through too many steps."""
    graph = {e.id: list(e.derived_from) for e in store["estimates"] if e.derived_from}
    return derivation_problems(graph, {e.id for e in store["estimates"]}, store.origin, store.lines)


def derivation_problems(graph: dict[str, list[str]], estimate_ids: set[str], origin: dict[str, str],
                        lines: dict[str, int]) -> list[Problem]:
    """Loops and over-long chains in ``graph`` (estimate -> the estimates it is derived from).

    Only estimates derived from others need be in the graph (a loop passes through derived
    estimates only). One depth-first pass, no recursion, so a long chain cannot exhaust the stack."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    steps: dict[str, int] = {}  # longest chain of derivations below an estimate
    problems: list[Problem] = []
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = [start]
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
                steps[node] = max((steps.get(c, 0) + 1 for c in graph[node] if c in estimate_ids), default=0)
                if steps[node] == MAX_DERIVATION_STEPS + 1:
                    problems.append(Problem(origin.get(node, "estimates"), node, "derived_from",
                                            f"derived through more than {MAX_DERIVATION_STEPS} steps",
                                            lines.get(node)))
                continue
            if child not in graph:
                continue
            if state.get(child) == 1:
                loop = path[path.index(child):] + [child]
                problems.append(Problem(origin.get(node, "estimates"), node, "derived_from",
                                        "references form a cycle: " + " -> ".join(loop), lines.get(node)))
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph[child])))
    return problems


def check_store(store: Store, invalid_ids: set[str] = frozenset(), unchecked: set[str] = frozenset()) -> list[Problem]:
    """Cross-record checks: every reference names a record that exists; derivations neither loop
    nor chain more than MAX_DERIVATION_STEPS deep.

    References to records that exist but failed validation are not reported again, nor are
    references into a kind (in ``unchecked``) of which a file could not be read at all."""
    problems: list[Problem] = []
    ids_by_kind = {kind: {r.id for r in store[kind]} for kind in RECORD_TYPES}
    all_ids = set().union(*ids_by_kind.values())
    for kind, refs in REFERENCES.items():
        for record in store[kind]:
            file = store.origin.get(record.id, kind)
            for name, target_kind in refs.items():
                if (target_kind in unchecked) or (target_kind is None and unchecked):
                    continue
                value = getattr(record, name)
                targets = value if isinstance(value, list) else [value]
                valid = ids_by_kind[target_kind] if target_kind else all_ids
                for target in targets:
                    if target is not None and target not in valid and target not in invalid_ids:
                        where = target_kind or "the store"
                        problems.append(Problem(file, record.id, name, f"refers to '{target}', which is not in {where}",
                                                store.lines.get(record.id)))
    problems.extend(_derivations(store))
    return problems


@contextmanager
def _collector_paused() -> Iterator[None]:
    # Loading allocates millions of small objects and no cycles; the cyclic collector would
    # rescan the growing heap again and again (quadratic on large stores).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_store(root: str | Path = "evidence", extra: dict[str, list[tuple[str, Any]]] | None = None) -> Store:
    """Load and validate the whole store. ``extra`` adds raw records (kind -> [(file, raw)])
    that are checked together with the files, as a write would leave them."""
    with _collector_paused():
        return _load_store(Path(root), extra)


def _load_store(root: Path, extra: dict[str, list[tuple[str, Any]]] | None) -> Store:
    if not root.is_dir():
        raise EvidenceError([Problem(str(root), "-", "-", "evidence folder not found")])
    store = Store(root=root)
    problems: list[Problem] = []
    batches: list[tuple[str, str, list[Any]]] = []
    unreadable: set[str] = set()
    for kind, path in _entries(root):
        file = _relative(path, root)
        try:
            raw_records, found = read_evidence_file(path, kind, file)
        except ReadError as exc:
            problems.append(Problem(file, "-", "-", f"cannot be read: {exc.reason}", exc.line))
            unreadable.add(kind)
            continue
        problems.extend(found)
        batches.append((kind, file, raw_records))
    for kind, items in (extra or {}).items():
        for file, raw in items:
            batches.append((kind, file, [raw]))
    invalid_ids: set[str] = {p.record for p in problems}
    for kind, file, raw_records in batches:
        parsed, found = _parse(kind, raw_records, file)
        invalid_ids.update(p.record for p in found)
        problems.extend(found)
        for record, line in parsed:
            store.records.setdefault(kind, []).append(record)
            if record.id in store.origin:
                problems.append(Problem(file, record.id, "id", f"duplicate id (also in {store.origin[record.id]})", line))
            else:
                store.origin[record.id] = file
                if line is not None:
                    store.lines[record.id] = line
    problems.extend(check_store(store, invalid_ids, unreadable))
    if problems:
        raise EvidenceError(problems)
    return store
