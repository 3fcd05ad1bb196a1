"""The frequentist side of one analysis: the random-effects fit (research.meta, checked against
metafor), small-study checks, sensitivity scenarios, meta-regression and the multilevel model."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from research.analyses import Analysis
from research.dataset import as_arrays
from research.errors import InputError
from research.pipeline.selection import MULTILEVEL_SCOPE, Selection, refuse
from research.results import clean
from research.thresholds import MIN_K_SENSITIVITY
from research.verbal import SIZE_CLASS_RULE, direction, size_class


def multilevel_fit(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    """metafor's rma.mv with random intercepts for the evaluation and the estimate within it; with a
    multi-outcome declaration the outcome family is also a moderator, so outcomes are never averaged."""
    from research.meta import moderator_matrix, rma, rma_mv

    yi, vi = as_arrays(frame)
    mods = None
    by_outcome = analysis.multi_outcome is not None and frame["outcome_family"].nunique() > 1
    if by_outcome:
        reference = analysis.multi_outcome.reference or sorted(frame["outcome_family"].unique())[0]
        mods = moderator_matrix(frame, categorical=["outcome_family"], reference={"outcome_family": reference},
                                labels=frame["id"].tolist())
    test = "t" if analysis.test == "hksj" else "z"  # rma.mv has no Knapp-Hartung; t tests with k - p df
    method = analysis.method if analysis.method in ("REML", "ML") else "REML"
    notes = [MULTILEVEL_SCOPE]
    if method != analysis.method:
        notes.append(f"method {analysis.method} is not available for the multilevel model; REML is used")
    if analysis.test == "hksj":
        notes.append("Knapp-Hartung is not defined for the multilevel model; t tests with k - p degrees of freedom")
    if frame["evaluation"].nunique() == len(frame):
        # Every evaluation gives one estimate: the two levels cannot be told apart, rma.mv reduces to rma.
        fit = rma(yi, vi, mods=mods, method=method, test="hksj" if test == "t" else "z")
        notes.append("every evaluation gives one estimate, so the multilevel model is the ordinary "
                     "random-effects model")
        out = fit.to_dict()
        out.update(model="random_effects", method=method, notes=notes)
        return clean(out)
    fit = rma_mv(yi, vi, random={"evaluation": frame["evaluation"].tolist(), "estimate": frame["id"].tolist()},
                 mods=mods, method=method, test=test, labels=frame["id"].tolist())
    out = fit.to_dict()
    out.update(model="multilevel", method=method, notes=notes + list(fit.notes),
               n_evaluations=int(frame["evaluation"].nunique()))
    return clean(out)


def fit_summary(fit) -> dict[str, Any]:
    """The pooled change and its class: what a sensitivity scenario is compared on."""
    return {"k": fit.k, "estimate": fit.estimate, "ci_low": float(fit.ci_low[0]), "ci_high": float(fit.ci_high[0]),
            "size_class": size_class(fit.estimate), "direction": direction(fit.estimate)}


def pool_summary(frame: pd.DataFrame, analysis: Analysis) -> dict[str, Any]:
    from research.meta import rma

    yi, vi = as_arrays(frame)
    return fit_summary(rma(yi, vi, method=analysis.method, test=analysis.test))


def sensitivity(analysis: Analysis, selection: Selection, main: Mapping[str, Any]) -> dict[str, Any]:
    """Leave-one-out, primary sources only, and the evaluation rule undone; each row says whether the
    size class or the direction of the pooled change differs from the main result."""
    pooled = selection.pooled
    scenarios: list[tuple[str, str, pd.DataFrame, list[str]]] = []
    for row in pooled.itertuples():
        scenarios.append(("leave_one_out", f"without {row.id} ({row.label})", pooled[pooled["id"] != row.id], [row.id]))
    secondary = pooled[pooled["provenance"] != "primary"]
    if len(secondary):
        scenarios.append(("primary_only", "only estimates read in the publication itself (no secondary sources)",
                          pooled[pooled["provenance"] == "primary"], secondary["id"].tolist()))
    if len(selection.duplicate_rows):
        both = pd.concat([pooled, selection.duplicate_rows], ignore_index=True)
        scenarios.append(("duplicates_kept", "every estimate of the same evaluation kept (counted as if independent)",
                          both, selection.duplicate_rows["id"].tolist()))
    rows = []
    for kind, label, frame, changed in scenarios:
        row: dict[str, Any] = {"kind": kind, "label": label, "changed": changed, "k": len(frame)}
        if len(frame) < MIN_K_SENSITIVITY:
            row.update(status="not_computable",
                       reason=f"{len(frame)} estimate{'s' if len(frame) != 1 else ''} left; at least "
                              f"{MIN_K_SENSITIVITY} are needed to pool")
        else:
            try:
                row.update(status="ok", **pool_summary(frame, analysis))
            except InputError as exc:
                row.update(status="not_computable", reason=str(exc))
        if row["status"] == "ok":
            row["changes_size_class"] = row["size_class"] != main["size_class"]
            row["changes_direction"] = row["direction"] != main["direction"]
        rows.append(row)
    ok = [r for r in rows if r["status"] == "ok"]
    return {
        "main": dict(main),
        "rows": rows,
        "size_class_changes": any(r["changes_size_class"] for r in ok),
        "direction_changes": any(r["changes_direction"] for r in ok),
        "size_class_rule": SIZE_CLASS_RULE,
    }


def moderator_columns(frame: pd.DataFrame, specs, prefix_levels: bool = True) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Moderator columns for rma(mods=...): continuous as numbers, categorical as 0/1 columns
    against a reference level. Returns the columns and, per moderator, what was coded how."""
    columns: dict[str, np.ndarray] = {}
    coded = []
    for spec in specs:
        values = frame[spec.name]
        if spec.kind == "continuous":
            columns[spec.name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
            coded.append({"name": spec.name, "label": spec.label or spec.name, "kind": "continuous"})
            continue
        levels = sorted(str(v) for v in values.dropna().unique())
        reference = spec.reference if spec.reference is not None else (levels[0] if levels else None)
        for level in levels:
            if level != reference:
                columns[f"{spec.name}={level}"] = (values.astype(str) == level).to_numpy(dtype=float)
        coded.append({"name": spec.name, "label": spec.label or spec.name, "kind": "categorical",
                      "reference": reference, "levels": levels})
    return columns, coded


def meta_regression(analysis: Analysis, frame: pd.DataFrame, specs, what: str) -> dict[str, Any]:
    """A meta-regression (research.meta.rma with mods, checked against metafor) on declared moderators.

    Estimates with a missing moderator value are left out and named, never dropped silently."""
    from research.meta import rma

    missing_mask = np.zeros(len(frame), dtype=bool)
    for spec in specs:
        if spec.name not in frame.columns:
            raise refuse(analysis, "moderators", f"{spec.name!r} is not a column of the effect table")
        column = frame[spec.name]
        if spec.kind == "continuous":
            column = pd.to_numeric(column, errors="coerce")
        missing_mask |= column.isna().to_numpy()
    used = frame[~missing_mask].reset_index(drop=True)
    out: dict[str, Any] = {"what": what, "left_out": frame.loc[missing_mask, "id"].tolist(), "k": len(used)}
    columns, coded = moderator_columns(used, specs)
    out["moderators"] = coded
    constant = [name for name, values in columns.items() if np.ptp(values) == 0] if len(used) else list(columns)
    p = len(columns) + 1
    if not columns or constant or len(used) <= p:
        if not columns:
            reason = "every moderator takes one value only among the pooled estimates"
        elif constant:
            reason = f"{', '.join(constant)} takes one value only"
        else:
            reason = f"{len(used)} estimates for {p} coefficients; more estimates than coefficients are needed"
        return {**out, "status": "not_estimable", "reason": reason}
    yi, vi = as_arrays(used)
    fit = rma(yi, vi, mods=columns, method=analysis.method, test=analysis.test, labels=used["id"].tolist())
    return {**out, "status": "ok", "fit": fit.to_dict()}


def outcome_model(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    """Declared multi-outcome model: the outcome family as a categorical moderator."""
    from research.analyses import ModeratorSpec

    reference = analysis.multi_outcome.reference if analysis.multi_outcome else None
    spec = ModeratorSpec(name="outcome_family", kind="categorical", reference=reference, label="outcome")
    result = meta_regression(analysis, frame, [spec], "outcome family as a moderator")
    shared = frame.groupby("evaluation")["id"].apply(list)
    shared = {evaluation: ids for evaluation, ids in shared.items() if len(ids) > 1}
    if shared:  # estimates of one evaluation are correlated; only the multilevel model accounts for it
        result["note"] = "; ".join(f"evaluation {e} gives {len(ids)} estimates ({', '.join(ids)}), treated as "
                                   "independent here; a multilevel model would account for their correlation"
                                   for e, ids in shared.items())
    if result["status"] == "ok":
        coefficients = result["fit"]["coefficients"]
        base = coefficients[0]
        level_of = {c["name"]: c["name"].split("=", 1)[1] for c in coefficients[1:]}
        result["by_outcome"] = [{"outcome_family": result["moderators"][0]["reference"],
                                 "estimate": base["estimate"], "ci_low": base["ci_low"], "ci_high": base["ci_high"]}]
        result["by_outcome"] += [{"outcome_family": level_of[c["name"]], "difference": c["estimate"],
                                  "difference_ci_low": c["ci_low"], "difference_ci_high": c["ci_high"],
                                  "p": c["p"]} for c in coefficients[1:]]
    return result


def frequentist_fit(analysis: Analysis, frame: pd.DataFrame) -> tuple[dict[str, Any], Any]:
    from research.meta import rma

    yi, vi = as_arrays(frame)
    fit = rma(yi, vi, method=analysis.method, test=analysis.test)
    result = fit.to_dict()
    result.update(method=analysis.method, test=analysis.test, bias=bias_checks(fit))
    return clean(result), fit


def bias_checks(fit) -> dict[str, Any]:
    """Small-study checks where they can be computed; None (not a guess) where they cannot."""
    from research.meta.bias import egger, pet_peese, trimfill

    out: dict[str, Any] = {}
    for name, method in (("egger", egger), ("trimfill", trimfill), ("pet_peese", pet_peese)):
        try:
            out[name] = method(fit).to_dict()
        except InputError as exc:
            out[name] = None
            out[f"{name}_note"] = str(exc)
    return out
