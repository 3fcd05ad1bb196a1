"""Atomic, locked writes to the evidence store.

A write takes the store's lock, validates the whole store as it would be after the write,
then appends the new records' YAML to the target file through a temporary file and
``os.replace``. Comments, layout, line endings and permissions of the existing file are kept;
a failed validation or a crash leaves the file as it was, and a temporary file left by a
killed write is removed by the next one. Records are only ever written to a file directly in
``<store>/<kind>/``.
"""

from __future__ import annotations

import os
import secrets
import stat
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml
from filelock import FileLock

from research.store.loader import Store, load_store
from research.store.schema import RECORD_TYPES

LOCK_NAME = ".evidence.lock"
TEMP_SUFFIX = ".tmp"
STALE_AFTER_S = 600  # a temporary file this old belongs to no running write


def _temp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}"


def _is_temp_of(candidate: Path, name: str | None = None) -> bool:
    prefix = f".{name}." if name else "."
    return candidate.name.startswith(prefix) and candidate.name.endswith(TEMP_SUFFIX) and candidate.is_file()


def remove_stale_temps(folder: Path, name: str | None = None, older_than_s: float = 0.0) -> list[Path]:
    """Remove temporary files left in ``folder`` by interrupted writes (of ``name``, if given)."""
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for candidate in folder.iterdir():
        if _is_temp_of(candidate, name):
            try:
                if now - candidate.stat().st_mtime >= older_than_s:
                    candidate.unlink()
                    removed.append(candidate)
            except OSError:
                continue  # removed by another process meanwhile
    return removed


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write bytes so that readers see the old file or the new one, never a part.

    An existing file keeps its permission bits; a new one gets the usual ones (0666 less the
    umask), not the owner-only mode of a private temporary file."""
    atomic_write_chunks(path, [data])


def atomic_write_text_chunks(path: Path, chunks: Iterable[str], batch: int = 1 << 16) -> None:
    """Write UTF-8 text given in pieces (e.g. a JSON encoder's output) atomically, as
    ``atomic_write_text`` does, without holding the whole text in memory."""

    def encoded() -> Iterator[bytes]:
        pending: list[str] = []
        for chunk in chunks:
            pending.append(chunk)
            if len(pending) >= batch:
                yield "".join(pending).encode("utf-8")
                pending.clear()
        yield "".join(pending).encode("utf-8")

    atomic_write_chunks(path, encoded())


def atomic_write_chunks(path: Path, chunks: Iterable[bytes]) -> None:
    """``atomic_write_bytes`` for bytes given in pieces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name, older_than_s=STALE_AFTER_S)
    tmp = _temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if path.exists():
            os.fchmod(fd, stat.S_IMODE(path.stat().st_mode))
        with os.fdopen(fd, "wb") as handle:
            for data in chunks:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically; the text's own line endings are kept as given."""
    atomic_write_bytes(path, text.encode("utf-8"))


def store_lock(root: Path, timeout: float = 60) -> FileLock:
    return FileLock(str(root / LOCK_NAME), timeout=timeout)


def target_file(root: Path, kind: str, file: str | None) -> Path:
    """The file new records go to: a file name directly inside ``<root>/<kind>/``, never a path."""
    name = f"{kind}.yaml" if file is None else file
    if not name or name != Path(name).name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"--into {name!r}: give a file name inside {root}/{kind}/, not a path")
    if name.startswith("."):
        raise ValueError(f"--into {name!r}: a hidden file name is not an evidence file")
    target = root / kind / name
    if target.suffix not in (".yaml", ".yml"):
        raise ValueError(f"{target}: records are added to YAML files only")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise ValueError(f"{target}: not a regular file in the store")
    if not target.parent.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"{target}: the folder {root}/{kind} leads outside the store")
    return target


def _newline_of(data: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in data else b"\n"


def add_records(
    root: str | Path, kind: str, raw_records: list[dict[str, Any]], file: str | None = None, create: bool = False
) -> Store:
    """Validate ``raw_records`` against the store and append them to ``<root>/<kind>/<file>``.

    ``file`` is a file name (default ``<kind>.yaml``) directly in the kind's folder; a missing
    store folder is an error unless ``create``. Raises EvidenceError (nothing written) if the
    store with the new records is invalid, ValueError for a target outside the store.
    """
    root = Path(root)
    if kind not in RECORD_TYPES:
        raise ValueError(f"unknown record kind '{kind}'; choose one of {', '.join(RECORD_TYPES)}")
    if not root.is_dir():
        if not create:
            raise ValueError(f"{root}: evidence folder not found (give --create to start a new store there)")
        root.mkdir(parents=True)
    target = target_file(root, kind, file)
    display = str(target.relative_to(root.parent)) if target.is_relative_to(root.parent) else str(target)
    with store_lock(root):
        for folder in [root / k for k in RECORD_TYPES]:
            remove_stale_temps(folder)  # left by a killed write; no write runs while we hold the lock
        extra = {kind: [(display, raw) for raw in raw_records]}
        # The target file is read by load_store too, so validate it together with the additions.
        store = load_store(root, extra=extra)
        old = target.read_bytes() if target.exists() else b""
        newline = _newline_of(old)
        if old and not old.endswith(b"\n"):
            old += newline
        block = yaml.safe_dump(raw_records, sort_keys=False, allow_unicode=True, width=100)
        atomic_write_bytes(target, old + block.encode("utf-8").replace(b"\n", newline))
    return store

