"""The effect table computed on whole columns equals the estimate-by-estimate computation it replaced.

``_reference_table`` below is that former implementation, kept here unchanged as the reference:
same columns, dtypes, values (to the last bit), reasons, row order and error messages."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.dataset import COLUMNS, COUNT_LAYOUTS, effect_table
from research.effects import escalc, log_ratio_from_ci, log_ratio_from_se, relative_effect_size
from research.errors import InputError
from research.store import load_store
from research.store.loader import Store
from research.store.schema import EffectEstimate, RiskOfBias, Study

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the former implementation


def _ref_percent_to_log(pc: float) -> float:
    return math.log1p(pc / 100.0)


def _ref_from_counts(est):
    counts = (est.a, est.b, est.c, est.d)
    if est.measure not in COUNT_LAYOUTS or all(v is None for v in counts):
        return None
    if est.estimate is not None and (est.se is not None or est.ci_low is not None):
        return None
    if any(v is None for v in counts):
        if est.estimate is not None:
            return None
        missing = ", ".join(name for name, v in zip("abcd", counts) if v is None)
        return None, None, f"counts incomplete: {missing} missing"
    frame = escalc(est.measure, **dict(zip(COUNT_LAYOUTS[est.measure], counts)))
    return float(frame["yi"].iloc[0]), float(frame["vi"].iloc[0]) * (est.overdispersion or 1.0), ""


def _ref_log_effect(est, by_id):
    try:
        from_counts = _ref_from_counts(est)
        if from_counts is not None:
            return from_counts
        if est.measure == "RES" and None not in (est.a, est.b, est.c, est.d):
            yi, vi = relative_effect_size(est.a, est.b, est.c, est.d, est.overdispersion or 1.0)
            return -yi, vi, ""
        if est.measure == "RES" and len(est.derived_from) == 2:
            experimental, control = (by_id[i] for i in est.derived_from)
            parts = [_ref_log_effect(arm, by_id) for arm in (experimental, control)]
            if any(p[0] is None for p in parts):
                return None, None, "an arm it is derived from has no usable uncertainty"
            return parts[0][0] - parts[1][0], parts[0][1] + parts[1][1], ""
        if est.measure in ("RR", "OR", "IRR", "CMF", "ratio_after_before", "RES") and est.estimate is not None:
            sign = -1.0 if est.measure == "RES" else 1.0
            if est.se is not None:
                yi, vi = log_ratio_from_se(est.estimate, est.se, est.se_scale)
                return sign * yi, vi, ""
            if est.ci_low is not None:
                yi, vi = log_ratio_from_ci(est.estimate, est.ci_low, est.ci_high, est.ci_level)
                return sign * yi, vi, ""
            return sign * math.log(est.estimate), None, "no standard error or confidence interval reported"
        if est.measure == "percent_change" and est.estimate is not None:
            yi = _ref_percent_to_log(est.estimate)
            if est.ci_low is not None:
                ratios = [1 + v / 100.0 for v in (est.estimate, est.ci_low, est.ci_high)]
                yi, vi = log_ratio_from_ci(*ratios, level=est.ci_level)
                return yi, vi, ""
            return yi, None, "no standard error or confidence interval reported"
    except InputError as exc:
        raise InputError(f"estimate '{est.id}': {exc}") from exc
    return None, None, "no number reported" if est.measure != "narrative" else "narrative statement only"


def _ref_percent(yi):
    return None if yi is None else 100.0 * math.expm1(yi)


def _reference_table(store: Store) -> pd.DataFrame:
    by_id = {e.id: e for e in store["estimates"]}
    studies = {s.id: s for s in store["studies"]}
    rob = {r.study: r for r in store["risk_of_bias"]}
    rows = []
    for est in store["estimates"]:
        study = studies[est.study]
        bias = rob.get(study.id)
        yi, vi, reason = _ref_log_effect(est, by_id)
        if any(v is not None and not math.isfinite(v) for v in (yi, vi)):
            fields = "a, b, c, d" if est.a is not None else "estimate, ci_low, ci_high, se"
            raise InputError(f"{store.origin.get(est.id, 'estimates')}: record '{est.id}': fields {fields}: "
                             "these numbers give no finite effect size (too extreme to compute)")
        ci_pct = (None, None)
        if yi is not None and vi is not None:
            half = 1.959963984540054 * math.sqrt(vi)
            ci_pct = (_ref_percent(yi - half), _ref_percent(yi + half))
        rows.append({
            "id": est.id, "study": study.id, "evaluation": est.evaluation or study.id, "label": study.title,
            "source": est.source, "intervention": study.intervention, "outcome": est.outcome,
            "outcome_family": est.outcome_family, "subgroup": est.subgroup, "arm": est.arm, "measure": est.measure,
            "estimate": est.estimate, "qualifier": est.qualifier, "yi": yi, "vi": vi,
            "se": None if vi is None else math.sqrt(vi), "percent_change": _ref_percent(yi),
            "ci_low_pct": ci_pct[0], "ci_high_pct": ci_pct[1], "significant": est.significant,
            "design": study.design, "design_level": bias.design_level if bias else None,
            "rob_overall": bias.overall if bias else "unclear",
            "regression_to_mean": bias.regression_to_mean if bias else None, "setting": study.setting,
            "country": study.country, "monitoring": study.monitoring, "year": study.year, "n_units": study.n_units,
            "provenance": est.provenance, "derived": bool(est.derived_from),
            "poolable": yi is not None and vi is not None and est.arm is None,
            "reason": reason if reason else ("a single arm, not a comparison" if est.arm else ""),
        })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for name in ("yi", "vi", "se", "estimate", "percent_change", "ci_low_pct", "ci_high_pct"):
        frame[name] = frame[name].astype(float)
    frame["design_level"] = frame["design_level"].astype("Int64")
    for name in ("poolable", "derived"):
        frame[name] = frame[name].astype(bool)
    return frame


# --------------------------------------------------------------------------- comparison


def assert_same_table(new: pd.DataFrame, old: pd.DataFrame) -> None:
    assert list(new.columns) == list(old.columns) == COLUMNS
    assert new.dtypes.to_dict() == old.dtypes.to_dict()
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    for name in COLUMNS:  # the very values: None stays None, floats equal to the last bit
        if new[name].dtype == object:
            assert [(type(v), v) for v in new[name]] == [(type(v), v) for v in old[name]], name
        elif new[name].dtype == float:
            assert new[name].to_numpy().tobytes() == old[name].to_numpy().tobytes(), name


def _bench_scale():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_store_gives_the_same_table():
    store = load_store(ROOT / "evidence")
    assert len(store["estimates"]) > 0
    assert_same_table(effect_table(store), _reference_table(store))


def test_synthetic_store_gives_the_same_table(tmp_path):
    store = load_store(_bench_scale().generate_store(tmp_path, 2000))
    assert len(store["estimates"]) == 2000
    assert_same_table(effect_table(store), _reference_table(store))


# --------------------------------------------------------------------------- every route, by hand


def _est(id_: str, **fields) -> EffectEstimate:
    base = {"id": id_, "study": "study-1", "source": "src-1", "where_read": "Table 1", "quote": "as printed",
            "outcome": "crime", "provenance": "primary"}
    base.update(fields)
    return EffectEstimate.model_validate(base)


def _store(estimates: list[EffectEstimate], rob: bool = True) -> Store:
    studies = [Study(id="study-1", title="Study one", source="src-1", design="controlled_before_after",
                     intervention="CCTV", year=2001, country="UK", monitoring="active"),
               Study(id="study-2", title="Study two", source="src-1", design="interrupted_time_series",
                     intervention="CCTV")]
    biases = [RiskOfBias(id="rob-1", study="study-1", design_level=3, overall="high", rationale="r",
                         regression_to_mean="not_corrected")] if rob else []
    return Store(root=Path("."), records={"studies": studies, "estimates": estimates, "risk_of_bias": biases},
                 origin={e.id: "evidence/estimates/hand.yaml" for e in estimates})


ROUTES = [
    # counts through escalc
    _est("rr-counts", measure="RR", a=12, b=88, c=20, d=80),
    _est("rr-zero-cell", measure="RR", a=0, b=50, c=4, d=46),
    _est("or-counts", measure="OR", a=5, b=95, c=9, d=91, overdispersion=1.5),
    _est("irr-counts", measure="IRR", a=30, b=120.5, c=45, d=118, study="study-2"),
    _est("irr-zero", measure="IRR", a=0, b=10, c=0, d=12),
    _est("rr-counts-and-bare-ratio", measure="RR", a=12, b=88, c=20, d=80, estimate=0.6),
    # a reported ratio with uncertainty wins over the counts
    _est("rr-counts-and-se", measure="RR", a=12, b=88, c=20, d=80, estimate=0.55, se=0.2),
    _est("or-counts-and-ci", measure="OR", a=12, b=88, c=20, d=80, estimate=0.55, ci_low=0.3, ci_high=0.9),
    # partial counts
    _est("rr-partial", measure="RR", a=12, c=20),
    _est("irr-partial-with-ratio", measure="IRR", a=12, b=100, estimate=0.8),
    _est("or-partial-with-ratio-ci", measure="OR", a=3, estimate=0.8, ci_low=0.5, ci_high=1.2),
    # RES from counts, derived from arms, reported
    _est("res-counts", measure="RES", a=100, b=80, c=90, d=95),
    _est("res-counts-od", measure="RES", a=100, b=0, c=90, d=95, overdispersion=2.0),
    _est("arm-e", measure="ratio_after_before", estimate=0.96, ci_low=0.93, ci_high=0.99, arm="CCTV"),
    _est("arm-c", measure="ratio_after_before", estimate=1.11, ci_low=1.08, ci_high=1.14, arm="control"),
    _est("res-derived", measure="RES", derived_from=["arm-e", "arm-c"], derivation="arms"),
    _est("res-derived-twice", measure="RES", derived_from=["res-derived", "arm-c"], derivation="again"),
    _est("arm-text", measure="narrative", arm="CCTV"),
    _est("res-derived-from-text", measure="RES", derived_from=["arm-text", "arm-c"]),
    _est("res-partial-counts-ratio", measure="RES", a=10, b=8, estimate=1.2, se=0.3, se_scale="natural"),
    _est("res-one-source", measure="RES", estimate=1.3, derived_from=["arm-e"]),
    _est("res-se", measure="RES", estimate=1.25, se=0.1),
    _est("res-ci", measure="RES", estimate=1.2, ci_low=0.9, ci_high=1.6),
    _est("res-bare", measure="RES", estimate=1.4),
    # reported ratios
    _est("cmf-natural-se", measure="CMF", estimate=0.8, se=0.1, se_scale="natural"),
    _est("cmf-log-se", measure="CMF", estimate=0.8, se=0.1),
    _est("cmf-ci-90", measure="CMF", estimate=0.8, ci_low=0.7, ci_high=0.95, ci_level=0.9),
    _est("irr-ci", measure="IRR", estimate=0.7, ci_low=0.5, ci_high=0.98, subgroup="night"),
    _est("rab-bare", measure="ratio_after_before", estimate=0.9, arm=""),
    _est("rr-se-and-ci", measure="RR", estimate=0.9, se=0.05, ci_low=0.8, ci_high=1.0),
    # percent change
    _est("pc-bare", measure="percent_change", estimate=-16, significant=True, qualifier="about"),
    _est("pc-ci", measure="percent_change", estimate=-47, ci_low=-56, ci_high=-36),
    _est("pc-ci-90", measure="percent_change", estimate=12, ci_low=2, ci_high=25, ci_level=0.9, significant=False),
    # nothing usable
    _est("text", measure="narrative"),
    _est("smd", measure="cohens_d", estimate=0.3, se=0.1),
    _est("rr-empty", measure="RR", outcome_family="all crime", evaluation="eval-x"),
    _est("pc-empty", measure="percent_change", provenance="secondary"),
]


def test_every_route_gives_the_same_table():
    store = _store(ROUTES)
    new = effect_table(store)
    assert_same_table(new, _reference_table(store))
    reasons = dict(zip(new["id"], new["reason"]))
    assert reasons["rr-partial"] == "counts incomplete: b, d missing"
    assert reasons["res-derived-from-text"] == "an arm it is derived from has no usable uncertainty"
    assert reasons["arm-e"] == "a single arm, not a comparison"
    assert new.set_index("id").loc["res-derived-twice", "poolable"]


def test_routes_in_any_order_and_without_risk_of_bias():
    shuffled = [ROUTES[i] for i in np.random.default_rng(3).permutation(len(ROUTES))]
    store = _store(shuffled, rob=False)
    assert_same_table(effect_table(store), _reference_table(store))


def test_empty_store():
    store = _store([])
    assert_same_table(effect_table(store), _reference_table(store))


def _error(table, store) -> str:
    with pytest.raises(InputError) as caught:
        table(store)
    return str(caught.value)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the counts too extreme, on purpose
@pytest.mark.parametrize("bad", [
    # an interval of zero width: the first unusable estimate is named, as before
    [_est("fine", measure="RR", estimate=0.9, se=0.1), _est("flat-1", measure="CMF", estimate=0.9, ci_low=0.9,
     ci_high=0.9), _est("flat-2", measure="RR", estimate=0.8, ci_low=0.8, ci_high=0.8)],
    # an arm that cannot be used, met first through the estimate derived from it
    [_est("res-derived", measure="RES", derived_from=["arm-flat", "arm-c"]),
     _est("arm-flat", measure="ratio_after_before", estimate=0.9, ci_low=0.9, ci_high=0.9, arm="CCTV"),
     _est("arm-c", measure="ratio_after_before", estimate=1.1, ci_low=1.0, ci_high=1.2, arm="control")],
    # counts too extreme for a finite effect, before a later unusable estimate
    [_est("huge", measure="RES", a=1e308, b=1e308, c=1, d=1),
     _est("flat", measure="CMF", estimate=0.9, ci_low=0.9, ci_high=0.9)],
    # an unusable estimate before counts too extreme
    [_est("flat", measure="percent_change", estimate=-10, ci_low=-10, ci_high=-10),
     _est("huge", measure="RES", a=1e308, b=1e308, c=1, d=1)],
    # exposure of zero
    [_est("irr-no-time", measure="IRR", a=3, b=0, c=4, d=10)],
])
def test_unusable_numbers_give_the_same_error(bad):
    store = _store(bad)
    message = _error(effect_table, store)
    assert message == _error(_reference_table, store)
    assert message.startswith(("estimate '", "evidence/estimates/hand.yaml: record '"))


def test_an_arm_with_a_ratio_but_no_uncertainty_leaves_the_derived_estimate_unpoolable():
    # (the estimate-by-estimate code failed here with a TypeError, adding None to a variance)
    store = _store([_est("arm-e", measure="ratio_after_before", estimate=0.9, arm="CCTV"),
                    _est("arm-c", measure="ratio_after_before", estimate=1.1, ci_low=1.0, ci_high=1.2, arm="control"),
                    _est("res-derived", measure="RES", derived_from=["arm-e", "arm-c"])])
    row = effect_table(store).set_index("id").loc["res-derived"]
    assert not row["poolable"] and math.isnan(row["yi"])
    assert row["reason"] == "an arm it is derived from has no usable uncertainty"
