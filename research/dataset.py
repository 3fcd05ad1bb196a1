"""From validated records to one table of effect sizes on a common scale.

Common scale: ``yi`` is the log of a ratio of events with the intervention to events without
it, so ``yi < 0`` means fewer crimes or crashes (a benefit). The CCTV reviews' relative effect
size (RES > 1 = benefit) is therefore negated. Estimates without a usable uncertainty stay in
the table with ``poolable = False`` and the reason, so nothing is silently dropped.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from research.effects import escalc, log_ratio_from_ci, log_ratio_from_se, relative_effect_size
from research.errors import InputError
from research.store.loader import Store
from research.store.schema import EffectEstimate

COLUMNS = [
    "id", "study", "evaluation", "label", "source", "intervention", "outcome", "outcome_family", "subgroup", "arm",
    "measure",
    "estimate", "qualifier", "yi", "vi", "se", "percent_change", "ci_low_pct", "ci_high_pct", "significant",
    "design", "design_level", "rob_overall", "regression_to_mean", "setting", "country", "monitoring", "year", "n_units",
    "provenance", "derived", "poolable", "reason",
]


def _percent_to_log(pc: float) -> float:
    return math.log1p(pc / 100.0)


# Raw counts of an estimate -> escalc's arguments, per measure. Row 1 (a, b) is the group with the
# intervention, row 2 (c, d) the group without: events and non-events for RR and OR (metafor's ai, bi,
# ci, di), events and exposure (e.g. site-years) for IRR (x1i, t1i, x2i, t2i).
COUNT_LAYOUTS: dict[str, tuple[str, str, str, str]] = {
    "RR": ("ai", "bi", "ci", "di"),
    "OR": ("ai", "bi", "ci", "di"),
    "IRR": ("x1i", "t1i", "x2i", "t2i"),
}


def _from_counts(est: EffectEstimate) -> tuple[float | None, float | None, str] | None:
    """(yi, vi, reason) from the counts a-d, or None when the record gives no counts or reports its own
    ratio with an uncertainty (that one is used: it may be adjusted, the counts are crude)."""
    counts = (est.a, est.b, est.c, est.d)
    if est.measure not in COUNT_LAYOUTS or all(v is None for v in counts):
        return None
    if est.estimate is not None and (est.se is not None or est.ci_low is not None):
        return None
    if any(v is None for v in counts):
        if est.estimate is not None:
            return None  # the reported ratio, without an uncertainty, says more than partial counts
        missing = ", ".join(name for name, v in zip("abcd", counts) if v is None)
        return None, None, f"counts incomplete: {missing} missing"
    frame = escalc(est.measure, **dict(zip(COUNT_LAYOUTS[est.measure], counts)))
    return float(frame["yi"].iloc[0]), float(frame["vi"].iloc[0]) * (est.overdispersion or 1.0), ""


def _log_effect(est: EffectEstimate, by_id: dict[str, EffectEstimate]) -> tuple[float | None, float | None, str]:
    """(yi, vi, reason) on the common scale; yi/vi None with a reason when not computable."""
    try:
        from_counts = _from_counts(est)
        if from_counts is not None:
            return from_counts
        if est.measure == "RES" and None not in (est.a, est.b, est.c, est.d):
            yi, vi = relative_effect_size(est.a, est.b, est.c, est.d, est.overdispersion or 1.0)
            return -yi, vi, ""
        if est.measure == "RES" and len(est.derived_from) == 2:
            experimental, control = (by_id[i] for i in est.derived_from)
            parts = [_log_effect(arm, by_id) for arm in (experimental, control)]
            if any(p[0] is None for p in parts):
                return None, None, "an arm it is derived from has no usable uncertainty"
            # log(E after/before) - log(C after/before): negative = relatively fewer events with CCTV
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
            yi = _percent_to_log(est.estimate)
            if est.ci_low is not None:
                ratios = [1 + v / 100.0 for v in (est.estimate, est.ci_low, est.ci_high)]
                yi, vi = log_ratio_from_ci(*ratios, level=est.ci_level)
                return yi, vi, ""
            return yi, None, "no standard error or confidence interval reported"
    except InputError as exc:
        raise InputError(f"estimate '{est.id}': {exc}") from exc
    return None, None, "no number reported" if est.measure != "narrative" else "narrative statement only"


def _percent(yi: float | None) -> float | None:
    return None if yi is None else 100.0 * math.expm1(yi)


def effect_table(store: Store) -> pd.DataFrame:
    """One row per effect estimate in the store, with study design and risk of bias joined in."""
    by_id = {e.id: e for e in store["estimates"]}
    studies = {s.id: s for s in store["studies"]}
    rob = {r.study: r for r in store["risk_of_bias"]}
    rows = []
    for est in store["estimates"]:
        study = studies[est.study]
        bias = rob.get(study.id)
        yi, vi, reason = _log_effect(est, by_id)
        if any(v is not None and not math.isfinite(v) for v in (yi, vi)):
            fields = "a, b, c, d" if est.a is not None else "estimate, ci_low, ci_high, se"
            raise InputError(f"{store.origin.get(est.id, 'estimates')}: record '{est.id}': fields {fields}: "
                             "these numbers give no finite effect size (too extreme to compute)")
        ci_pct = (None, None)
        if yi is not None and vi is not None:
            half = 1.959963984540054 * math.sqrt(vi)
            ci_pct = (_percent(yi - half), _percent(yi + half))
        rows.append(
            {
                "id": est.id,
                "study": study.id,
                "evaluation": est.evaluation or study.id,
                "label": study.title,
                "source": est.source,
                "intervention": study.intervention,
                "outcome": est.outcome,
                "outcome_family": est.outcome_family,
                "subgroup": est.subgroup,
                "arm": est.arm,
                "measure": est.measure,
                "estimate": est.estimate,
                "qualifier": est.qualifier,
                "yi": yi,
                "vi": vi,
                "se": None if vi is None else math.sqrt(vi),
                "percent_change": _percent(yi),
                "ci_low_pct": ci_pct[0],
                "ci_high_pct": ci_pct[1],
                "significant": est.significant,
                "design": study.design,
                "design_level": bias.design_level if bias else None,
                "rob_overall": bias.overall if bias else "unclear",
                "regression_to_mean": bias.regression_to_mean if bias else None,
                "setting": study.setting,
                "country": study.country,
                "monitoring": study.monitoring,
                "year": study.year,
                "n_units": study.n_units,
                "provenance": est.provenance,
                "derived": bool(est.derived_from),
                "poolable": yi is not None and vi is not None and est.arm is None,
                "reason": reason if reason else ("a single arm, not a comparison" if est.arm else ""),
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for name in ("yi", "vi", "se", "estimate", "percent_change", "ci_low_pct", "ci_high_pct"):
        frame[name] = frame[name].astype(float)
    frame["design_level"] = frame["design_level"].astype("Int64")
    for name in ("poolable", "derived"):  # an empty store must still give boolean masks, not column lists
        frame[name] = frame[name].astype(bool)
    return frame


def select(frame: pd.DataFrame, where: str | None) -> pd.DataFrame:
    """Rows of the effect table matching a filter (see ``research.store.filter``; no SQL is run)."""
    if not where:
        return frame
    from research.store.filter import FilterError, parse_filter

    try:
        mask = parse_filter(where, frame.columns).mask(frame.to_dict("records"))
    except FilterError as exc:
        raise InputError(f"analysis filter {where!r} is not valid: {exc}") from exc
    return frame[pd.Series(mask, index=frame.index, dtype=bool)].reset_index(drop=True)


def as_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame["yi"].to_numpy(dtype=float, copy=True), frame["vi"].to_numpy(dtype=float, copy=True)
