"""A DuckDB index of the store: one table per record kind, for ad-hoc SQL.

The index lives in memory. Once its tables are built, the connection loses all access to
files, extensions and the network, and its configuration is locked, so SQL typed by a user
can read the store's tables and nothing else. ``query`` also accepts only one SELECT
statement unless the caller allows files explicitly.
"""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from research.store.loader import Store
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
    columns = list(RECORD_TYPES[kind].model_fields) + ["file"]
    rows = store.rows(kind)
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
    try:
        if not allow_files:
            check_select(con, sql)
        result = con.execute(sql)
        return result.fetchdf() if result.description else pd.DataFrame()
    except duckdb.Error as exc:
        raise QueryError(str(exc)) from exc
    finally:
        con.close()
