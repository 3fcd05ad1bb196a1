"""A DuckDB index of the store: one table per record kind, for ad-hoc SQL."""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from research.store.loader import Store
from research.store.schema import RECORD_TYPES


def _frame(store: Store, kind: str) -> pd.DataFrame:
    columns = list(RECORD_TYPES[kind].model_fields) + ["file"]
    rows = store.rows(kind)
    for row in rows:
        for key, value in row.items():
            if isinstance(value, (dict, list)):
                row[key] = json.dumps(value, ensure_ascii=False)  # nested values as JSON text
    return pd.DataFrame(rows, columns=columns)


def build_index(store: Store, path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path)
    for kind in RECORD_TYPES:
        frame = _frame(store, kind)
        con.register("_frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {kind} AS SELECT * FROM _frame")
        con.unregister("_frame")
    return con


def query(store: Store, sql: str) -> pd.DataFrame:
    con = build_index(store)
    try:
        return con.execute(sql).fetchdf()
    finally:
        con.close()
