"""Incremental validation of a large store: only changed files, and references into them, are re-checked.

A cache beside the store (``<store's parent>/.cache/store/<folder>-<hash>/``, ignored by git)
keeps, per evidence file, the SHA-256 of its content and what validation needs from it once it
has passed its own checks: its ids and the line each starts on, its references, its derivation
edges, and the quote warnings of its records. A run hashes every file, re-reads and re-validates
only files whose content changed, and re-checks the references of unchanged files only when a
record they point at has gone. The problems and their messages are exactly those of
``load_store`` (tests compare the two). The cache is thrown away when the code that validates
changes, and a run that cannot write it simply works without it.

Each file that passed its own checks also leaves its validated records in the cache (one pickle per
file, named by the file and its SHA-256, holding the cache version), so ``load_validated_store``
gives commands that read the whole store (``claims``, ``check``) the same ``Store`` as
``load_store`` while reading only the files that changed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout

import research.store.files as files_module
import research.store.loader as loader_module
import research.store.quotes as quotes_module
import research.store.schema as schema_module
from research.store.files import ReadError
from research.store.loader import (EvidenceError, Problem, Store, _collector_paused, _entries, _parse, _relative,
                                   derivation_problems, read_evidence_file)
from research.parallel import Engine, run_tasks
from research.store.quotes import check_quotes
from research.store.schema import RECORD_TYPES, REFERENCES, Record

CACHE_FORMAT = 2  # 2: validated records kept per file


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """Changes whenever the code that reads, validates or quote-checks records changes."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}".encode())
    for module in (files_module, loader_module, quotes_module, schema_module):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class FileSummary:
    """What validation keeps of one file that passed its own checks."""

    kind: str
    digest: str
    ids: list[str]
    lines: list[int | None]
    # (record id, field, target kind or None for any kind, target id), in record order; kept in a
    # file of its own in the cache (None until read back), as most runs never need it
    references: list[tuple[str, str, str | None, str]] | None
    derived: dict[str, list[str]]
    warnings: list[Problem]


@dataclass
class Validation:
    """The outcome of an incremental validation."""

    counts: dict[str, int]
    warnings: list[Problem]
    changed: list[str]  # files read and validated in this run (every file when cold)
    removed: list[str]  # files gone since the last run
    records: dict[str, list[Record]] = field(default_factory=dict)  # records of the changed files, by file
    kinds: dict[str, str] = field(default_factory=dict)  # file -> kind, for every file
    digests: dict[str, str] = field(default_factory=dict)  # file -> SHA-256 of its content, for every file
    cache_dir: Path | None = None
    summaries: dict[str, FileSummary] = field(default_factory=dict, repr=False)  # file -> its summary, every file


def cache_folder(root: Path) -> Path:
    """Where the store's cache lives: under its parent's .cache/store/, one folder per store."""
    resolved = root.resolve()
    tag = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return resolved.parent / ".cache" / "store" / f"{resolved.name}-{tag}"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_pickle(path: Path, value: Any) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(value, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _read_manifest(folder: Path, version: str) -> dict[str, Any]:
    try:
        with (folder / "manifest.pkl").open("rb") as handle:
            manifest = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return {"version": version, "store_ok": False, "files": {}}
    if not isinstance(manifest, dict) or manifest.get("version") != version:
        return {"version": version, "store_ok": False, "files": {}}
    return manifest


def _summarise(kind: str, digest: str, file: str, parsed: list[tuple[Record, int | None]]) -> FileSummary:
    refs: list[tuple[str, str, str | None, str]] = []
    derived: dict[str, list[str]] = {}
    for record, _ in parsed:
        for name, target_kind in REFERENCES.get(kind, {}).items():
            value = getattr(record, name)
            for target in (value if isinstance(value, list) else [value]):
                if target is not None:
                    refs.append((record.id, name, target_kind, target))
        if kind == "estimates" and record.derived_from:
            derived[record.id] = list(record.derived_from)
    records = [record for record, _ in parsed]
    mini = Store(root=Path("."), records={kind: records}, origin={r.id: file for r in records})
    return FileSummary(kind, digest, [r.id for r in records], [line for _, line in parsed], refs, derived,
                       check_quotes(mini))


def validate_store(root: str | Path = "evidence", *, use_cache: bool = True, keep_records: bool = False,
                   jobs: int | None = None) -> Validation:
    """Validate the store, re-checking only what changed since the last run that used the cache.

    Raises EvidenceError with the same problems ``load_store`` would report. ``keep_records``
    returns the validated records of the files read in this run (for updating an index).
    ``jobs`` local processes read changed files; by default several when more than
    PARALLEL_BYTES changed (a cold run on a large store), else one."""
    root = Path(root)
    with _cache(root, use_cache) as folder:
        return _validate(root, folder, keep_records, jobs)


def load_validated_store(root: str | Path = "evidence", *, use_cache: bool = True, jobs: int | None = None) -> Store:
    """The validated store, equal to ``load_store(root)`` (records, their order, files and lines),
    read from the cache for every file whose content is unchanged.

    Validation is that of ``validate_store`` (the same problems are raised); the records of an
    unchanged file are those kept when it was last validated. Where no cache can be kept (a
    read-only place) the store is loaded as ``load_store`` does."""
    root = Path(root)
    with _cache(root, use_cache) as folder:
        if folder is None:
            return loader_module.load_store(root)
        validation = _validate(root, folder, True, jobs)
        store = Store(root=root)
        for file, digest in validation.digests.items():
            summary = validation.summaries[file]
            records = validation.records.get(file)
            if records is None:
                records = _kept_records(folder, root, file, summary)
                if records is None:  # the file changed while the store was read: check everything afresh
                    return loader_module.load_store(root)
            if records:
                store.records.setdefault(summary.kind, []).extend(records)
            for record_id, line in zip(summary.ids, summary.lines):
                if record_id not in store.origin:
                    store.origin[record_id] = file
                    if line is not None:
                        store.lines[record_id] = line
        return store


@contextmanager
def _cache(root: Path, use_cache: bool) -> Iterator[Path | None]:
    """The store's cache folder, locked for this run; None when the store has no cache here (not
    wanted, or a read-only place or a stuck lock: the run then works without it)."""
    if not root.is_dir():
        raise EvidenceError([Problem(str(root), "-", "-", "evidence folder not found")])
    folder = cache_folder(root) if use_cache else None
    lock = None
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(folder / "lock"), timeout=60)
            lock.acquire()
        except (OSError, Timeout):
            folder, lock = None, None
    try:
        with _collector_paused():
            yield folder
    finally:
        if lock is not None:
            lock.release()


def _records_path(folder: Path, file: str, digest: str) -> Path:
    return folder / "records" / f"{hashlib.sha1(file.encode()).hexdigest()[:16]}-{digest[:16]}.pkl"


def _keep_records(folder: Path, file: str, digest: str, records: list[Record]) -> None:
    """Keep the validated records of one file (written atomically; a failed write is no error)."""
    try:
        (folder / "records").mkdir(exist_ok=True)
        _atomic_pickle(_records_path(folder, file, digest),
                       {"version": _code_version(), "file": file, "digest": digest, "records": records})
    except (OSError, pickle.PicklingError):
        pass


def _kept_records(folder: Path, root: Path, file: str, summary: FileSummary) -> list[Record] | None:
    """The records kept for a file with the summary's content, read (and kept) again when lost or
    written by other code; None when the file no longer has that content."""
    try:
        with _records_path(folder, file, summary.digest).open("rb") as handle:
            kept = pickle.load(handle)
        if (isinstance(kept, dict) and kept.get("version") == _code_version() and kept.get("file") == file
                and kept.get("digest") == summary.digest and [r.id for r in kept["records"]] == summary.ids):
            return kept["records"]
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError, KeyError):
        pass
    path = root.parent / file
    try:
        if _digest(path) != summary.digest:
            return None
        raw, found = read_evidence_file(path, summary.kind, file)
    except (OSError, ReadError):
        return None
    parsed, invalid = _parse(summary.kind, raw, file)
    if found or invalid or _digest(path) != summary.digest:
        return None
    records = [record for record, _ in parsed]
    _keep_records(folder, file, summary.digest, records)
    return records


@dataclass
class _FileCheck:
    """One file read and validated on its own (in this process or a worker)."""

    summary: FileSummary | None = None
    found: list[Problem] = field(default_factory=list)  # problems met while reading rows
    invalid: list[Problem] = field(default_factory=list)  # records failing the schema
    read_error: Problem | None = None
    records: list[Record] = field(default_factory=list)


def _check_file(path: Path, kind: str, file: str, digest: str, keep_records: bool,
                folder: Path | None = None) -> _FileCheck:
    """Read and validate one file; with a cache ``folder``, keep its records there when it passes."""
    try:
        raw_records, found = read_evidence_file(path, kind, file)
    except ReadError as exc:
        return _FileCheck(read_error=Problem(file, "-", "-", f"cannot be read: {exc.reason}", exc.line))
    with _collector_paused():
        parsed, invalid = _parse(kind, raw_records, file)
        summary = _summarise(kind, digest, file, parsed)
        records = [record for record, _ in parsed]
        if found or invalid:
            summary.digest = ""  # its ids still count for the cross-checks, but it is never reused
        elif folder is not None:
            _keep_records(folder, file, digest, records)
    return _FileCheck(summary, found, invalid, None, records if keep_records else [])


PARALLEL_BYTES = 16 * 2**20  # below this much changed data, worker start-up costs more than it saves
# Parquet stores the same records in about a quarter of the bytes of CSV: its bytes count this many times
PARQUET_WEIGHT = 4


def _check_files(todo: list[tuple[str, Path, str, str]], keep_records: bool, jobs: int | None,
                 folder: Path | None = None) -> dict[str, _FileCheck]:
    """Check the changed files; on several local processes when there is much to read."""
    size = sum(path.stat().st_size * (PARQUET_WEIGHT if path.suffix == ".parquet" else 1)
               for _, path, _, _ in todo if path.is_file())
    if jobs is None:
        jobs = min(os.cpu_count() or 1, 4) if size >= PARALLEL_BYTES and len(todo) > 1 else 1
    tasks = [(file, _check_file, (path, kind, file, digest, keep_records, folder), {})
             for file, path, kind, digest in todo]
    outcomes = run_tasks(tasks, Engine(jobs=max(1, jobs)))
    checked = {}
    for outcome in outcomes:
        if not outcome.ok:  # a worker lost: read that file here
            _, path, kind, digest = next(t for t in todo if t[0] == outcome.name)
            checked[outcome.name] = _check_file(path, kind, outcome.name, digest, keep_records, folder)
        else:
            checked[outcome.name] = outcome.value
    return checked


def _validate(root: Path, folder: Path | None, keep_records: bool, jobs: int | None) -> Validation:
    version = _code_version()
    manifest = _read_manifest(folder, version) if folder else {"version": version, "store_ok": False, "files": {}}
    old_files: dict[str, FileSummary] = manifest["files"]
    new_files: dict[str, FileSummary] = {}
    problems: list[Problem] = []
    unreadable: set[str] = set()
    invalid_ids: set[str] = set()
    changed: list[str] = []
    kinds: dict[str, str] = {}
    records: dict[str, list[Record]] = {}
    order: list[str] = []
    digest_of: dict[str, str] = {}
    parse_problems: dict[str, list[Problem]] = {}  # reported after every file's reading problems, as load_store does
    todo: list[tuple[str, Path, str, str]] = []
    read_problems: dict[str, list[Problem]] = {}  # per file, reported in file order as load_store does
    for kind, path in _entries(root):
        file = _relative(path, root)
        kinds[file] = kind
        try:
            if path.is_dir():
                raise ReadError("is a folder, not a file")
            digest = _digest(path)
        except OSError as exc:
            read_problems[file] = [Problem(file, "-", "-", f"cannot be read: {exc.strerror or exc}")]
            unreadable.add(kind)
            continue
        except ReadError as exc:
            read_problems[file] = [Problem(file, "-", "-", f"cannot be read: {exc.reason}", exc.line)]
            unreadable.add(kind)
            continue
        digest_of[file] = digest
        cached = old_files.get(file)
        if cached is not None and cached.digest == digest and cached.kind == kind:
            new_files[file] = cached
            order.append(file)
            continue
        changed.append(file)
        todo.append((file, path, kind, digest))
        order.append(file)
    checked = _check_files(todo, keep_records, jobs, folder)
    for file, path, kind, digest in todo:
        outcome = checked[file]
        if outcome.read_error is not None:
            read_problems[file] = [outcome.read_error]
            unreadable.add(kind)
            continue
        read_problems[file] = outcome.found
        parse_problems[file] = outcome.invalid
        invalid_ids.update(p.record for p in outcome.found + outcome.invalid)
        new_files[file] = outcome.summary
        if keep_records:
            records[file] = outcome.records
    order = [file for file in order if file in new_files]
    for file in kinds:
        problems.extend(read_problems.get(file, []))
    removed = [file for file in old_files if file not in new_files]
    incremental = manifest.get("store_ok", False)
    if incremental and not todo and not removed and not problems:
        # Nothing changed since a run that passed: nothing to re-check.
        return _outcome(order, new_files, changed, removed, records, kinds, digest_of, folder)

    # Duplicate ids, in load order, as load_store reports them.
    origin: dict[str, str] = {}
    lines: dict[str, int] = {}
    ids_by_kind: dict[str, set[str]] = {kind: set() for kind in RECORD_TYPES}
    for file in order:
        summary = new_files[file]
        problems.extend(parse_problems.get(file, []))
        ids_by_kind[summary.kind].update(summary.ids)
        for record_id, line in zip(summary.ids, summary.lines):
            if record_id in origin:
                problems.append(Problem(file, record_id, "id", f"duplicate id (also in {origin[record_id]})", line))
            else:
                origin[record_id] = file
                if line is not None:
                    lines[record_id] = line
    all_ids = set(origin)

    # References: every one in a changed file; in an unchanged file, only those whose target went
    # away from its kind (deleted, renamed, or moved to a file of another kind).
    gone: dict[str, set[str]] = {kind: set() for kind in RECORD_TYPES}
    if incremental:
        for file in changed + removed:
            if file in old_files:
                before = old_files[file]
                gone[before.kind].update(i for i in before.ids if i not in ids_by_kind[before.kind])
    gone_anywhere = {i for ids in gone.values() for i in ids if i not in all_ids}
    something_gone = any(gone.values())
    touched = set(changed)
    for kind in REFERENCES:
        for file in order:
            summary = new_files[file]
            if summary.kind != kind:
                continue
            recheck_all = not incremental or file in touched
            if not recheck_all and not something_gone:
                continue
            references = summary.references if summary.references is not None else _load_references(folder, file, summary)
            for record_id, name, target_kind, target in references:
                if (target_kind in unreadable) or (target_kind is None and unreadable):
                    continue
                if not recheck_all and target not in (gone[target_kind] if target_kind else gone_anywhere):
                    continue
                valid = ids_by_kind[target_kind] if target_kind else all_ids
                if target not in valid and target not in invalid_ids:
                    where = target_kind or "the store"
                    problems.append(Problem(origin.get(record_id, file), record_id, name,
                                            f"refers to '{target}', which is not in {where}", lines.get(record_id)))
    graph = {k: v for summary in new_files.values() if summary.kind == "estimates" for k, v in summary.derived.items()}
    problems.extend(derivation_problems(graph, ids_by_kind["estimates"], origin, lines))

    if folder is not None:
        _save(folder, version, not problems, new_files, touched)
    if problems:
        raise EvidenceError(problems)
    return _outcome(order, new_files, changed, removed, records, kinds, digest_of, folder)


def _outcome(order, new_files, changed, removed, records, kinds, digest_of, folder) -> Validation:
    counts = {kind: 0 for kind in RECORD_TYPES}
    for summary in new_files.values():
        counts[summary.kind] += len(summary.ids)
    # In check_quotes' order: facts, then estimates, then claims, each in load order.
    quote_order = {"facts": 0, "estimates": 1, "claims": 2}
    warnings = [w for file in sorted(order, key=lambda f: quote_order.get(new_files[f].kind, 3))
                for w in new_files[file].warnings]
    digests = {file: digest_of[file] for file in order}
    return Validation(counts, warnings, changed, removed, records, kinds, digests, folder,
                      {file: new_files[file] for file in order})


def _references_path(folder: Path, file: str, digest: str) -> Path:
    return folder / "references" / f"{hashlib.sha1(file.encode()).hexdigest()[:16]}-{digest[:16]}.pkl"


def _load_references(folder: Path | None, file: str, summary: FileSummary) -> list[tuple[str, str, str | None, str]]:
    try:
        with _references_path(folder, file, summary.digest).open("rb") as handle:
            return pickle.load(handle)
    except (OSError, TypeError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        # Lost from the cache: read the file again (it passed its own checks when it was kept).
        path = Path(folder).parents[2] / file if folder else Path(file)
        raw, _ = read_evidence_file(path, summary.kind, file)
        parsed, _ = _parse(summary.kind, raw, file)
        return _summarise(summary.kind, summary.digest, file, parsed).references


def _save(folder: Path, version: str, store_ok: bool, new_files: dict[str, FileSummary], touched: set[str]) -> None:
    """The manifest (digests, ids, warnings) and, per changed file, its references; records kept
    for content that no file has any more are removed."""
    (folder / "references").mkdir(exist_ok=True)
    current = {_records_path(folder, file, summary.digest).name for file, summary in new_files.items() if summary.digest}
    for stale in (folder / "records").glob("*.pkl"):
        if stale.name not in current:
            stale.unlink(missing_ok=True)
    kept = {}
    for file, summary in new_files.items():
        if not summary.digest:
            continue  # a file with problems of its own is read again next time
        if summary.references is not None:
            target = _references_path(folder, file, summary.digest)
            if not target.exists():
                for stale in target.parent.glob(target.name.split("-")[0] + "-*.pkl"):
                    stale.unlink(missing_ok=True)
                _atomic_pickle(target, summary.references)
        kept[file] = FileSummary(summary.kind, summary.digest, summary.ids, summary.lines, None, summary.derived,
                                 summary.warnings)
    _atomic_pickle(folder / "manifest.pkl", {"version": version, "store_ok": store_ok, "files": kept})


__all__ = ["Validation", "FileSummary", "cache_folder", "load_validated_store", "validate_store"]
