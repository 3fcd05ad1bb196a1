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


# --------------------------------------------------------------------------- generated filters against SQL

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TEXT_VALUES = ["CMF", "RR", "cmf", "Speed camera", "red_light", "a%b", None]
FRAME_ROWS = [
    {"name": TEXT_VALUES[i % 7], "flag": [True, False, None][i % 3], "n": [1, 2.5, None, -3, 0][i % 5]}
    for i in range(15)
]

text_literal = st.sampled_from(["'CMF'", "'cmf'", "'Speed camera'", "'a%b'", "'zzz'", "''"])
number_literal = st.sampled_from(["0", "1", "2.5", "-3", "10"])
pattern = st.sampled_from(["'%'", "'c%'", "'%camera'", "'_MF'", "'a%b'", "'S%c%'", "'%_%'", "'red\\_%'"])


@st.composite
def predicates(draw) -> str:
    kind = draw(st.integers(0, 7))
    op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">=", "!="]))
    if kind == 0:
        return f"name {op} {draw(text_literal)}"
    if kind == 1:
        return f"n {op} {draw(number_literal)}"
    if kind == 2:
        return f"name {draw(st.sampled_from(['LIKE', 'ILIKE', 'NOT LIKE', 'NOT ILIKE']))} {draw(pattern)}"
    if kind == 3:
        items = draw(st.lists(text_literal, min_size=1, max_size=3))
        return f"name {draw(st.sampled_from(['IN', 'NOT IN']))} ({', '.join(items)})"
    if kind == 4:
        return f"{draw(st.sampled_from(['name', 'n', 'flag']))} IS {draw(st.sampled_from(['NULL', 'NOT NULL']))}"
    if kind == 5:
        low, high = sorted(draw(st.lists(st.integers(-4, 4), min_size=2, max_size=2)))
        return f"n {draw(st.sampled_from(['BETWEEN', 'NOT BETWEEN']))} {low} AND {high}"
    if kind == 6:
        return f"flag = {draw(st.sampled_from(['TRUE', 'FALSE']))}"
    return "flag"


expressions = st.recursive(
    predicates(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
        st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
        st.builds(lambda a: f"NOT ({a})", inner),
    ),
    max_leaves=5,
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(text=expressions)
def test_generated_filters_agree_with_sql(text):
    import duckdb
    import pandas as pd

    frame = pd.DataFrame(FRAME_ROWS)
    frame["flag"] = frame["flag"].astype("boolean")
    frame["id"] = range(len(frame))
    con = duckdb.connect()
    con.register("t", frame)
    try:
        expected = sorted(con.execute(f"SELECT id FROM t WHERE {text}").fetchdf()["id"])
    finally:
        con.close()
    mask = parse_filter(text, frame.columns).mask(frame.to_dict("records"))
    assert [i for i, keep in zip(frame["id"], mask) if keep] == expected, text


def test_a_filter_names_the_columns_it_reads():
    assert parse_filter("measure = 'CMF' AND (poolable OR year > 2000) AND measure <> 'RR'", COLUMNS).columns == (
        "measure", "poolable", "year")
    assert parse_filter("TRUE", COLUMNS).columns == ()


def test_select_reading_only_the_filter_columns_picks_what_whole_rows_pick():
    from pathlib import Path

    from research.analyses import load_analyses
    from research.dataset import effect_table, select
    from research.store import load_store

    root = Path(__file__).resolve().parents[1]
    table = effect_table(load_store(root / "evidence"))
    filters = [text for a in load_analyses(root / "analyses") for text in (a.where, a.reported_where) if text]
    filters += ["design_level >= 3 OR rob_overall = 'high'", "vi IS NULL", "TRUE", "NOT derived AND yi < 0"]
    rows = table.to_dict("records")
    for text in filters:
        whole = parse_filter(text, table.columns).mask(rows)
        assert select(table, text)["id"].tolist() == [r["id"] for r, keep in zip(rows, whole) if keep], text
