"""The effect table puts every measure on one scale (log ratio, negative = fewer events)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from research.dataset import effect_table, select
from research.effects import log_ratio_from_ci
from research.errors import InputError
from research.store import load_store
from tests.conftest import MINIMAL_STORE, write_store


def _estimate(id_, **fields):
    base = {"id": id_, "study": "study-1", "source": "src-b", "where_read": "Table 1", "quote": "as printed",
            "outcome": "crime", "provenance": "primary"}
    base.update(fields)
    return base


@pytest.fixture
def table(tmp_path):
    records = copy.deepcopy(MINIMAL_STORE)
    records["estimates"] += [
        _estimate("est-counts", measure="RES", a=100, b=80, c=90, d=95),
        _estimate("est-cmf", measure="CMF", estimate=0.8, se=0.1, se_scale="natural"),
        _estimate("est-pc", measure="percent_change", estimate=-16, significant=True, qualifier="about"),
        _estimate("est-pc-ci", measure="percent_change", estimate=-47, ci_low=-56, ci_high=-36),
        _estimate("est-e", measure="ratio_after_before", estimate=0.96, ci_low=0.93, ci_high=0.99, arm="CCTV"),
        _estimate("est-c", measure="ratio_after_before", estimate=1.11, ci_low=1.08, ci_high=1.14, arm="control"),
        _estimate("est-derived", measure="RES", derived_from=["est-e", "est-c"], derivation="arms"),
        _estimate("est-text", measure="narrative"),
    ]
    frame = effect_table(load_store(write_store(tmp_path / "evidence", records)))
    return frame.set_index("id")


def test_relative_effect_size_is_negated(table):
    row = table.loc["est-counts"]
    assert row.yi == pytest.approx(-math.log((100 * 95) / (80 * 90)))
    assert row.vi == pytest.approx(1 / 100 + 1 / 80 + 1 / 90 + 1 / 95)
    assert row.poolable


def test_reported_res_with_ci_is_negated(table):
    yi, vi = log_ratio_from_ci(1.2, 0.9, 1.6)
    assert table.loc["est-1"].yi == pytest.approx(-yi) and table.loc["est-1"].vi == pytest.approx(vi)


def test_cmf_natural_se_uses_delta_method(table):
    assert table.loc["est-cmf"].yi == pytest.approx(math.log(0.8))
    assert table.loc["est-cmf"].se == pytest.approx(0.1 / 0.8)


def test_percent_change_without_ci_is_kept_but_not_poolable(table):
    row = table.loc["est-pc"]
    assert row.yi == pytest.approx(math.log(0.84)) and np.isnan(row.vi)
    assert not row.poolable and "confidence interval" in row.reason
    assert row.percent_change == pytest.approx(-16)
    assert row.qualifier == "about" and table.loc["est-cmf"].qualifier == "exact"


def test_percent_change_with_ci(table):
    yi, vi = log_ratio_from_ci(0.53, 0.44, 0.64)
    assert table.loc["est-pc-ci"].yi == pytest.approx(yi) and table.loc["est-pc-ci"].vi == pytest.approx(vi)


def test_res_derived_from_two_arms(table):
    e, c = table.loc["est-e"], table.loc["est-c"]
    derived = table.loc["est-derived"]
    assert derived.yi == pytest.approx(math.log(0.96) - math.log(1.11))
    assert derived.vi == pytest.approx(e.vi + c.vi)
    assert derived.poolable and derived.derived
    assert not e.poolable and "single arm" in e.reason


def test_narrative_has_no_number(table):
    assert np.isnan(table.loc["est-text"].yi) and not table.loc["est-text"].poolable


def test_select_with_sql(table):
    frame = table.reset_index()
    chosen = select(frame, "measure = 'CMF' OR outcome = 'nothing'")
    assert chosen["id"].tolist() == ["est-cmf"]
    with pytest.raises(InputError, match="is not valid: expected a value"):
        select(frame, "measure = ")
