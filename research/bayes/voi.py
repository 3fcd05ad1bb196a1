"""Value of information of data gaps, by preposterior simulation on the exact model.

For each gap we describe the data that would fill it (a scenario): either a study of the
target itself (``kind="target"``, e.g. two years of before/after counts at the 105
Sergek sites) or more studies elsewhere (``kind="external"``). We then simulate what
those data could look like under the current posterior, update the posterior for each
simulated data set, and ask how much the 95% interval for the target's effect narrows
and how much P(benefit) moves. Updates are exact and cheap: adding a study to the
normal-normal model reweights the tau grid and updates mu | tau in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from research.bayes.exact import check_exact_inputs, tau_grid
from research.bayes.frame import check_effects
from research.bayes.mixture import mixture_cdf, mixture_quantile
from research.bayes.priors import HalfNormalPrior, NormalPrior, Prior
from research.errors import InputError

KINDS = ("target", "external")
RANK_BY = ("narrowing", "abs_change_p", "p_decision_change")
_COUNT_KEYS = ("before", "after", "control_before", "control_after")


@dataclass(frozen=True)
class GapScenario:
    """The data that would fill one gap.

    Give the sampling variance of the new log ratio directly (``new_vi``) or the expected
    counts it would rest on (``counts``: before, after and optionally control_before,
    control_after, plus an ``overdispersion`` factor >= 1). ``bias_mean``/``bias_sd``
    describe the design's own bias (e.g. an uncontrolled before-after); the analysis
    corrects the mean and carries the bias uncertainty as extra variance.
    """

    gap_id: str
    description: str = ""
    kind: str = "target"
    new_vi: float | None = None
    counts: dict | None = None
    n_studies: int = 1
    bias_mean: float = 0.0
    bias_sd: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> "GapScenario":
        if isinstance(data, GapScenario):
            return data
        if not isinstance(data, dict):
            raise InputError(f"value of information: a scenario must be a mapping, got {type(data).__name__}")
        data = dict(data)
        # Accept the names used in declared analyses: gap, new_study_se.
        if "gap" in data and "gap_id" not in data:
            data["gap_id"] = data.pop("gap")
        if "new_study_se" in data:
            se = data.pop("new_study_se")
            if "new_vi" in data:
                raise InputError(f"value of information: scenario {data.get('gap_id')}: give new_vi or new_study_se, not both")
            try:
                data["new_vi"] = float(se) ** 2
            except (TypeError, ValueError) as exc:
                raise InputError(f"value of information: scenario {data.get('gap_id')}: new_study_se must be a number") from exc
        gap = str(data.get("gap_id") or "").strip()
        if not gap:
            raise InputError("value of information: every scenario needs a gap_id")
        allowed = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - allowed
        if unknown:
            raise InputError(f"value of information: scenario {gap}: unknown field(s) {', '.join(sorted(unknown))}")
        scenario = cls(**data)
        scenario.variance()  # validates
        return scenario

    def sampling_variance(self) -> float:
        gap = self.gap_id
        if self.kind not in KINDS:
            raise InputError(f"value of information: scenario {gap}: field kind must be one of {', '.join(KINDS)}")
        if (self.new_vi is None) == (self.counts is None):
            raise InputError(f"value of information: scenario {gap}: give exactly one of new_vi or counts")
        if self.new_vi is not None:
            vi = float(self.new_vi)
            if not (math.isfinite(vi) and vi > 0):
                raise InputError(f"value of information: scenario {gap}: field new_vi must be > 0")
            return vi
        counts = dict(self.counts)
        overdispersion = float(counts.pop("overdispersion", 1.0))
        unknown = set(counts) - set(_COUNT_KEYS)
        if unknown:
            raise InputError(f"value of information: scenario {gap}: unknown count field(s) {', '.join(sorted(unknown))}")
        if "before" not in counts or "after" not in counts:
            raise InputError(f"value of information: scenario {gap}: counts need before and after")
        if ("control_before" in counts) != ("control_after" in counts):
            raise InputError(f"value of information: scenario {gap}: give both control counts or neither")
        if not overdispersion >= 1:
            raise InputError(f"value of information: scenario {gap}: overdispersion must be >= 1")
        total = 0.0
        for key, value in counts.items():
            value = float(value)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"value of information: scenario {gap}: count {key} must be > 0")
            total += 1.0 / value
        return total * overdispersion

    def variance(self) -> float:
        """Variance of the bias-corrected log ratio: sampling variance plus bias uncertainty."""
        if self.bias_sd < 0:
            raise InputError(f"value of information: scenario {self.gap_id}: bias_sd must be >= 0")
        if int(self.n_studies) < 1:
            raise InputError(f"value of information: scenario {self.gap_id}: n_studies must be >= 1")
        if self.kind == "target" and int(self.n_studies) != 1:
            raise InputError(f"value of information: scenario {self.gap_id}: a target study is one study; put its size into new_vi or counts")
        return self.sampling_variance() + float(self.bias_sd) ** 2


class VoiResult(list):
    """The ranked gaps: a list of row dicts (best first), with the table and the current state.

    ``table`` is the same rows as a DataFrame; ``width_now`` and ``p_benefit_now``
    describe the prediction for the target before any new data.
    """

    def __init__(self, table: pd.DataFrame, width_now: float, p_benefit_now: float, threshold: float,
                 decision_probability: float, n_sim: int, rank_by: str):
        super().__init__(table.to_dict(orient="records"))
        self.table = table
        self.width_now = width_now
        self.p_benefit_now = p_benefit_now
        self.threshold = threshold
        self.decision_probability = decision_probability
        self.n_sim = n_sim
        self.rank_by = rank_by

    def to_dict(self) -> dict:
        return {
            "width_now": self.width_now,
            "p_benefit_now": self.p_benefit_now,
            "threshold": self.threshold,
            "decision_probability": self.decision_probability,
            "n_sim": self.n_sim,
            "rank_by": self.rank_by,
            "gaps": self.table.to_dict(orient="records"),
        }

    def summary(self) -> str:
        shown = self.table[["rank", "gap_id", "kind", "vi_effective", "width_expected", "narrowing", "abs_change_p", "p_decision_change"]]
        lines = [
            "Value of information of data gaps (preposterior simulation, exact model)",
            f"now: 95% interval width for the target {self.width_now:.4f}, P(effect < {self.threshold:g}) = {self.p_benefit_now:.4f}",
            f"decision: benefit established when P >= {self.decision_probability:g}; {self.n_sim} simulations per gap; ranked by {self.rank_by}",
            shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        ]
        return "\n".join(lines)


def _update(log_w, mean, var, tau2, y, v):
    """Add one study (value y, variance v; arrays broadcast over simulations) to the grid posterior."""
    total = var + tau2 + v
    log_w = log_w - 0.5 * (np.log(2 * np.pi * total) + (y - mean) ** 2 / total)
    precision = 1.0 / var + 1.0 / (v + tau2)
    mean = (mean / var + y / (v + tau2)) / precision
    return log_w, mean, 1.0 / precision


def target_after(weight, mu_mean, mu_var, tau2, new_y, v: float, kind: str):
    """Posterior of the target's effect after new studies, as normal mixtures over the tau grid.

    ``weight``, ``mu_mean``, ``mu_var``, ``tau2`` describe the current grid posterior;
    ``new_y`` has one row per simulated data set and one column per new study, each with
    variance ``v``. For ``kind="target"`` the single new study measures the target itself
    and the result is the posterior of that study's true effect; for "external" it is the
    predictive distribution for a new setting. Returns (weights, means, sds), each (n, G).
    """
    new_y = np.atleast_2d(np.asarray(new_y, dtype=float))
    n = new_y.shape[0]
    log_w = np.broadcast_to(np.log(weight), (n, tau2.size)).copy()
    mean = np.broadcast_to(mu_mean, (n, tau2.size)).copy()
    var = np.broadcast_to(mu_var, (n, tau2.size)).copy()
    for j in range(new_y.shape[1]):
        log_w, mean, var = _update(log_w, mean, var, tau2, new_y[:, j : j + 1], v)
    if kind == "target":
        shrink = v / (v + tau2)
        out_mean = shrink * mean + (1.0 - shrink) * new_y[:, :1]
        out_sd = np.sqrt((1.0 - shrink) * v + shrink**2 * var)
    else:
        out_mean, out_sd = mean, np.sqrt(var + tau2)
    weights = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return weights, out_mean, np.broadcast_to(out_sd, weights.shape)


def value_of_information(
    frame: pd.DataFrame,
    scenarios: list,
    mu_prior: Prior | str = NormalPrior(0.0, 1.0),
    tau_prior: Prior | str = HalfNormalPrior(0.5),
    n_sim: int = 400,
    seed: int = 0,
    threshold: float = 0.0,
    decision_probability: float = 0.9,
    rank_by: str = "narrowing",
    grid_points: int = 300,
) -> VoiResult:
    """Rank data gaps by how much filling them would sharpen the prediction for the target.

    The target's effect is, before new data, the predictive distribution for a new
    setting. ``narrowing`` is the expected relative shrinkage of its 95% interval;
    ``abs_change_p`` the expected absolute change in P(effect < threshold);
    ``p_decision_change`` the probability that "benefit established" (P >= decision_probability)
    would flip. Monte Carlo standard errors are reported alongside.
    """
    if rank_by not in RANK_BY:
        raise InputError(f"value of information: rank_by must be one of {', '.join(RANK_BY)}")
    if int(n_sim) < 20:
        raise InputError("value of information: n_sim must be at least 20")
    if not 0 < decision_probability < 1:
        raise InputError("value of information: decision_probability must be in (0, 1)")
    scenarios = [GapScenario.from_dict(s) for s in scenarios]
    if not scenarios:
        raise InputError("value of information: no scenarios given")
    ids = [s.gap_id for s in scenarios]
    if len(set(ids)) != len(ids):
        raise InputError("value of information: gap_id values must be unique")
    frame = check_effects(frame)
    yi, vi, mu_prior, tau_prior = check_exact_inputs(frame["yi"], frame["vi"], mu_prior, tau_prior)
    grid = tau_grid(yi, vi, mu_prior, tau_prior, points=grid_points)
    keep = grid.weight > grid.weight.max() * 1e-12
    tau2 = grid.tau[keep] ** 2
    base_w, base_mean, base_var = grid.weight[keep] / grid.weight[keep].sum(), grid.mu_mean[keep], grid.mu_var[keep]
    base_sd = np.sqrt(base_var + tau2)
    width_now = float(np.diff(mixture_quantile(np.array([0.025, 0.975]), base_w, base_mean, base_sd))[0])
    p_now = float(mixture_cdf(threshold, base_w, base_mean, base_sd))
    decided_now = p_now >= decision_probability

    rng = np.random.default_rng(seed)
    n = int(n_sim)
    rows = []
    for scenario in scenarios:
        v = scenario.variance()
        # Draw the truth from the current posterior, then data from the truth.
        index = rng.choice(tau2.size, size=n, p=base_w)
        mu = rng.normal(base_mean[index], np.sqrt(base_var[index]))
        tau = np.sqrt(tau2[index])
        if scenario.kind == "target":
            new_y = rng.normal(rng.normal(mu, tau), math.sqrt(v))[:, None]
        else:
            thetas = rng.normal(mu[:, None], tau[:, None], size=(n, int(scenario.n_studies)))
            new_y = rng.normal(thetas, math.sqrt(v))
        weights, out_mean, out_sd = target_after(base_w, base_mean, base_var, tau2, new_y, v, scenario.kind)
        bounds = mixture_quantile(np.array([0.025, 0.975]), weights, out_mean, out_sd)
        widths = bounds[:, 1] - bounds[:, 0]
        p_after = mixture_cdf(np.full(n, threshold), weights, out_mean, out_sd)
        change = np.abs(p_after - p_now)
        flips = (p_after >= decision_probability) != decided_now
        rows.append(
            {
                "gap_id": scenario.gap_id,
                "description": scenario.description,
                "kind": scenario.kind,
                "vi_effective": v,
                "n_studies": int(scenario.n_studies),
                "width_now": width_now,
                "width_expected": float(widths.mean()),
                "narrowing": float(1.0 - widths.mean() / width_now),
                "mcse_narrowing": float(widths.std(ddof=1) / math.sqrt(n) / width_now),
                "p_benefit_now": p_now,
                "p_benefit_mean_after": float(p_after.mean()),
                "mcse_p_benefit_mean_after": float(p_after.std(ddof=1) / math.sqrt(n)),
                "abs_change_p": float(change.mean()),
                "mcse_abs_change_p": float(change.std(ddof=1) / math.sqrt(n)),
                "p_decision_change": float(flips.mean()),
                "p_established_after": float((p_after >= decision_probability).mean()),
            }
        )
    table = pd.DataFrame(rows).sort_values(rank_by, ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return VoiResult(table, width_now, p_now, float(threshold), float(decision_probability), int(n_sim), rank_by)


__all__ = ["GapScenario", "VoiResult", "target_after", "value_of_information"]
