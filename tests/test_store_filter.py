"""The filter language of analysis declarations: SQL WHERE meaning, no SQL engine."""

from __future__ import annotations

import pytest

from research.store.filter import FilterError, parse_filter

COLUMNS = ["id", "measure", "poolable", "intervention", "year", "vi"]
ROWS = [
    {"id": "a", "measure": "CMF", "poolable": True, "intervention": "Fixed speed camera", "year": 2001, "vi": 0.1},
    {"id": "b", "measure": "RR", "poolable": False, "intervention": "Red-light camera", "year": 1999, "vi": None},
    {"id": "c", "measure": "CMF", "poolable": None, "intervention": None, "year": None, "vi": float("nan")},
    {"id": "d", "measure": "RES", "poolable": True, "intervention": "CCTV (it's 100%)", "year": 2010, "vi": 0.2},
]


def chosen(text: str) -> list[str]:
    selected = parse_filter(text, COLUMNS).mask(ROWS)
    return [row["id"] for row, keep in zip(ROWS, selected) if keep]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("measure = 'CMF'", ["a", "c"]),
        ("measure == 'CMF' AND poolable", ["a"]),
        ("poolable AND intervention ILIKE '%speed%' AND intervention NOT ILIKE '%section%'", ["a"]),
        ("intervention LIKE 'fixed%'", []),  # LIKE is case-sensitive, ILIKE is not
        ("intervention ILIKE 'fixed%'", ["a"]),
        ("intervention LIKE '%camera'", ["a", "b"]),
        ("intervention LIKE 'Red_light camera'", ["b"]),
        ("intervention ILIKE '%it''s 100%'", ["d"]),
        ("measure IN ('RR', 'RES')", ["b", "d"]),
        ("measure NOT IN ('RR', 'RES')", ["a", "c"]),
        ("NOT poolable", ["b"]),  # unknown stays unknown: row c is not selected
        ("poolable IS NULL", ["c"]),
        ("vi IS NULL", ["b", "c"]),  # NaN counts as missing
        ("vi IS NOT NULL AND vi < 0.15", ["a"]),
        ("year BETWEEN 2000 AND 2010", ["a", "d"]),
        ("year NOT BETWEEN 2000 AND 2010", ["b"]),
        ("year >= 2001 OR measure <> 'CMF'", ["a", "b", "d"]),
        ("(measure = 'CMF' OR measure = 'RR') AND NOT (year < 2000)", ["a"]),
        ('"measure" = \'RES\'', ["d"]),
        ("poolable = TRUE", ["a", "d"]),
        ("year > -1", ["a", "b", "d"]),
        ("measure = 'CMF' and poolable or id = 'b'", ["a", "b"]),  # AND binds tighter than OR
    ],
)
def test_filters_select_as_sql_would(text, ids):
    assert chosen(text) == ids


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("colour = 'red'", "unknown column 'colour'"),
        ("measure = ", "expected a value"),
        ("measure = 'CMF' ;", "unexpected character ';'"),
        ("1=1; COPY effects TO 'x'", "unexpected character ';'"),
        ("id = (SELECT 1)", "expected a value"),
        ("measure = 'CMF' poolable", "expected AND, OR or the end"),
        ("measure IN 'CMF'", "expected '('"),
        ("(measure = 'CMF'", "expected ')'"),
        ("measure NOT = 'x'", "after NOT"),
        ("measure LIKE year", "a quoted pattern"),
        ("measure = 'unterminated", "unexpected character"),
        ("(" * 60 + "poolable" + ")" * 60, "nested more than"),
        ("x" * 5000, "longer than"),
    ],
)
def test_bad_filters_say_what_and_where(text, message):
    with pytest.raises(FilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_filter(text, COLUMNS).mask(ROWS)


@pytest.mark.parametrize(
    ("text", "message"),
    [("year = 'old'", "cannot compare a number"), ("measure", "used as a condition"), ("year LIKE '2%'", "text column")],
)
def test_type_mismatches_are_errors_not_silent_falses(text, message):
    with pytest.raises(FilterError, match=message):
        parse_filter(text, COLUMNS).mask(ROWS)


def test_filters_agree_with_sql_on_the_shipped_store():
    """The shipped analyses' filters (and a few more) pick the same rows as DuckDB's WHERE did."""
    from pathlib import Path

    import duckdb

    from research.analyses import load_analyses
    from research.dataset import effect_table, select
    from research.store import load_store

    root = Path(__file__).resolve().parents[1]
    table = effect_table(load_store(root / "evidence"))
    filters = [text for a in load_analyses(root / "analyses") for text in (a.where, a.reported_where) if text]
    filters += ["NOT poolable", "design_level >= 3 OR rob_overall = 'high'", "year BETWEEN 2000 AND 2010",
                "subgroup IS NULL AND measure IN ('RR', 'CMF')", "country NOT ILIKE '%kingdom%'"]
    con = duckdb.connect()
    con.register("effects", table)
    try:
        for text in filters:
            expected = sorted(con.execute(f"SELECT id FROM effects WHERE {text}").fetchdf()["id"])
            assert sorted(select(table, text)["id"]) == expected, text
    finally:
        con.close()
