"""Helpers shared by the command modules: reading a CSV file and printing JSON."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import typer

from research.errors import InputError

# Where independent tasks run (research.parallel.Engine): shared by every command that fans work out.
JOBS = typer.Option(1, "--jobs", "-j", min=1, help="Run independent tasks on this many local processes (1 = here).")
SCHEDULER = typer.Option(None, "--scheduler", metavar="ADDRESS",
                         help="Send the tasks to a running Dask scheduler, e.g. tcp://host:8786 "
                              "(start it with dask scheduler / dask worker). Overrides --jobs.")


def read_csv(path: Path):
    """The CSV file as a DataFrame; a missing or unreadable file is an ``InputError`` naming it."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV file: {exc}") from exc
    _refuse_duplicate_columns(path)
    return frame


def _refuse_duplicate_columns(path: Path) -> None:
    # pandas renames a repeated column to "name.1" silently; a repeated name is an input error
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(f"{path}: line 1: column {name!r} appears twice in the header")
        seen.add(name)


def jsonable(value: Any) -> Any:
    """Plain JSON data: string keys, Python numbers, and null for NaN or infinity (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # a numpy scalar (numpy loads only if used)
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(value: Any, *, indent: int = 2, ensure_ascii: bool = True, default=None) -> None:
    """Write one JSON document to standard output."""
    sys.stdout.write(json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, default=default) + "\n")
