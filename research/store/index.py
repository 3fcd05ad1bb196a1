"""A DuckDB index of the store: one table per record kind, for ad-hoc SQL.

``build_index`` makes one in memory from a loaded store. ``query_store`` keeps one between runs
in the store's cache (``index-v1.duckdb`` beside the validation cache of research.store.incremental)
and, after an incremental validation, replaces only the rows of files that changed. Once its
tables are built or opened, the connection loses all access to
files, extensions and the network, and its configuration is locked, so SQL typed by a user
can read the store's tables and nothing else. ``query`` also accepts only one SELECT
statement unless the caller allows files explicitly.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb
import pandas as pd

from research.store.loader import Store, _parse, load_store, read_evidence_file
from research.store.schema import RECORD_TYPES

# Settings that keep user SQL inside the database; locked once applied.
SANDBOX = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


class QueryError(ValueError):
    """The SQL is not allowed, or DuckDB could not run it."""


def _frame(store: Store, kind: str) -> pd.DataFrame:
    return _records_frame(kind, store.rows(kind))


def _records_frame(kind: str, rows: list[dict]) -> pd.DataFrame:
    columns = list(RECORD_TYPES[kind].model_fields) + ["file"]
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (dict, list)):
                row[key] = json.dumps(value, ensure_ascii=False)  # nested values as JSON text
    return pd.DataFrame(rows, columns=columns)


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file, extension or network access from here on, and no way to turn it back on."""
    for name, value in SANDBOX.items():
        con.execute(f"SET {name} = {'true' if value else 'false'}")
    con.execute("SET lock_configuration = true")


def build_index(store: Store, *, allow_files: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one table per record kind; sandboxed unless ``allow_files``."""
    con = duckdb.connect(":memory:")
    for kind in RECORD_TYPES:
        frame = _frame(store, kind)
        con.register("_frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {kind} AS SELECT * FROM _frame")
        con.unregister("_frame")
    if not allow_files:
        lock_down(con)
    return con


def check_select(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Accept exactly one SELECT statement (QueryError otherwise)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    if len(statements) != 1:
        raise QueryError(f"give exactly one SELECT statement (got {len(statements)})")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryError(f"only SELECT is allowed (got {kind.name}); --allow-files permits other statements")


def query(store: Store, sql: str, *, allow_files: bool = False) -> pd.DataFrame:
    """Rows of one SQL query over the store's tables.

    Without ``allow_files`` the SQL must be one SELECT and cannot touch files, extensions or
    the network; with it, any statement runs (for example COPY ... TO a file)."""
    con = build_index(store, allow_files=allow_files)
    return _run_and_close(con, sql, allow_files)



INDEX_FORMAT = 1  # bump when the layout of the kept index changes


def _table_of(file: str) -> str:
    return "f_" + hashlib.sha1(file.encode()).hexdigest()[:16]


def _file_rows(root: Path, file: str, kind: str) -> list[dict]:
    """The rows of one file that has passed validation (read again: the index fell behind it)."""
    path = root.parent / file
    raw, _ = read_evidence_file(path, kind, file)
    parsed, _ = _parse(kind, raw, file)
    return [record.model_dump(mode="json") | {"file": file} for record, _ in parsed]


def _refresh(con: duckdb.DuckDBPyConnection, root: Path, validation) -> None:
    """One table per evidence file; a view per kind joins them. Only files whose content hash
    differs from the indexed one are re-read; tables of removed files are dropped."""
    con.execute("CREATE TABLE IF NOT EXISTS _index_files (file VARCHAR PRIMARY KEY, kind VARCHAR, digest VARCHAR)")
    indexed = {file: (kind, digest) for file, kind, digest in con.execute("SELECT * FROM _index_files").fetchall()}
    con.execute("BEGIN TRANSACTION")
    for file in indexed.keys() - validation.digests.keys():
        con.execute(f"DROP TABLE IF EXISTS {_table_of(file)}")
        con.execute("DELETE FROM _index_files WHERE file = ?", [file])
    changed_kinds = set()
    for file, digest in validation.digests.items():
        kind = validation.kinds[file]
        if indexed.get(file) == (kind, digest):
            continue
        records = validation.records.get(file)
        rows = ([record.model_dump(mode="json") | {"file": file} for record in records] if records is not None
                else _file_rows(root, file, kind))
        frame = _records_frame(kind, rows)
        con.register("_frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {_table_of(file)} AS SELECT * FROM _frame")
        con.unregister("_frame")
        con.execute("INSERT OR REPLACE INTO _index_files VALUES (?, ?, ?)", [file, kind, digest])
        changed_kinds.add(kind)
    changed_kinds |= {kind for file, (kind, _) in indexed.items() if file not in validation.digests}
    existing = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    for kind in RECORD_TYPES:
        if kind in existing and kind not in changed_kinds:
            continue
        tables = [_table_of(f) for f in validation.digests if validation.kinds[f] == kind]
        if tables:
            body = " UNION ALL BY NAME ".join(f"SELECT * FROM {t}" for t in tables)
        else:
            con.register("_frame", _records_frame(kind, []))
            con.execute(f"CREATE OR REPLACE TABLE _empty_{kind} AS SELECT * FROM _frame")
            con.unregister("_frame")
            body = f"SELECT * FROM _empty_{kind}"
        con.execute(f"CREATE OR REPLACE VIEW {kind} AS {body}")
    con.execute("COMMIT")


def query_store(root: str | Path, sql: str, *, allow_files: bool = False, use_cache: bool = True) -> pd.DataFrame:
    """Validate the store incrementally, then run ``sql`` on the index kept between runs.

    The same rules as ``query``: without ``allow_files`` one SELECT, no file, extension or
    network access. Where no cache can be kept, the index is built in memory for this query."""
    from filelock import FileLock

    from research.store.incremental import validate_store

    root = Path(root)
    validation = validate_store(root, use_cache=use_cache, keep_records=True)
    if validation.cache_dir is None:
        return query(load_store(root), sql, allow_files=allow_files)
    path = validation.cache_dir / f"index-v{INDEX_FORMAT}.duckdb"
    with FileLock(str(validation.cache_dir / "index.lock"), timeout=120):
        try:
            con = duckdb.connect(str(path))
            try:
                _refresh(con, root, validation)
            finally:
                con.close()
        except duckdb.Error:
            # A damaged or foreign index file: build it again from the start.
            for leftover in (path, Path(str(path) + ".wal")):
                if leftover.exists():
                    os.remove(leftover)
            con = duckdb.connect(str(path))
            try:
                _refresh(con, root, validation)
            finally:
                con.close()
        return _query_index(path, sql, allow_files)


def _query_index(path: Path, sql: str, allow_files: bool) -> pd.DataFrame:
    if allow_files:
        # Any statement may run: on an in-memory copy, so the kept index is never changed by one.
        con = duckdb.connect(":memory:")
        con.execute(f"ATTACH '{path}' AS kept (READ_ONLY)")
        for kind in RECORD_TYPES:
            con.execute(f"CREATE TABLE {kind} AS SELECT * FROM kept.main.{kind}")
        con.execute("DETACH kept")
    else:
        con = duckdb.connect(str(path), read_only=True)
        lock_down(con)
    return _run_and_close(con, sql, allow_files)


def _run_and_close(con, sql: str, allow_files: bool) -> pd.DataFrame:
    """Run the user's SQL on an open index (one SELECT unless files are allowed), then close it."""
    try:
        if not allow_files:
            check_select(con, sql)
        result = con.execute(sql)
        return result.fetchdf() if result.description else pd.DataFrame()
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    finally:
        con.close()
