"""Atomic, locked writes to the evidence store.

A write takes the store's lock, validates the whole store as it would be after the write,
then appends the new records' YAML to the target file through a temporary file and
``os.replace``. Comments and layout of the existing file are kept; a failed validation or a
crash leaves the file as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from research.store.loader import Store, load_store
from research.store.schema import RECORD_TYPES

LOCK_NAME = ".evidence.lock"


def atomic_write_text(path: Path, text: str) -> None:
    """Write text so that readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def store_lock(root: Path, timeout: float = 60) -> FileLock:
    return FileLock(str(root / LOCK_NAME), timeout=timeout)


def add_records(root: str | Path, kind: str, raw_records: list[dict[str, Any]], file: str | None = None) -> Store:
    """Validate ``raw_records`` against the store and append them to ``evidence/<kind>/<file>``.

    Raises EvidenceError (nothing written) if the store with the new records is invalid.
    """
    root = Path(root)
    if kind not in RECORD_TYPES:
        raise ValueError(f"unknown record kind '{kind}'; choose one of {', '.join(RECORD_TYPES)}")
    target = root / kind / (file or f"{kind}.yaml")
    if target.suffix not in (".yaml", ".yml"):
        raise ValueError(f"{target}: records are added to YAML files only")
    display = str(target.relative_to(root.parent)) if target.is_relative_to(root.parent) else str(target)
    with store_lock(root):
        extra = {kind: [(display, raw) for raw in raw_records]}
        # The target file is read by load_store too, so validate it together with the additions.
        store = load_store(root, extra=extra)
        old = target.read_text(encoding="utf-8") if target.exists() else ""
        if old and not old.endswith("\n"):
            old += "\n"
        block = yaml.safe_dump(raw_records, sort_keys=False, allow_unicode=True, width=100)
        atomic_write_text(target, old + block)
    return store
