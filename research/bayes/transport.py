"""Transport a fitted model to a target setting (e.g. Almaty).

The predictive distribution of the true effect at a new site is taken from the model at
the target's covariates. A covariate that is not known for the target is not guessed:
the caller states prior probabilities over its levels and the prediction is the
corresponding mixture. Every moderator of the model must be either stated or given
such a prior.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.bayes.exact import ExactPosterior
from research.bayes.mcmc import McmcResult
from research.bayes.mixture import Marginal, quantiles_by_bisection
from research.errors import InputError


@dataclass
class TransportResult:
    """Predictive distribution of the effect at the target, on the log scale (benefit < 0)."""

    model: str
    method: str
    target: dict
    unknown: dict[str, dict[str, float]]
    predictive: Marginal
    p_benefit: float
    threshold: float
    breakdown: pd.DataFrame
    flag: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> dict[str, float]:
        """The predictive median and 95% interval as ratios (after/before relative to control)."""
        p = self.predictive
        return {"median": math.exp(p.median), "q025": math.exp(p.q025), "q975": math.exp(p.q975)}

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "method": self.method,
            "target": self.target,
            "unknown": self.unknown,
            "predictive": self.predictive.to_dict(),
            "ratio": self.ratio,
            "threshold": self.threshold,
            "p_benefit": self.p_benefit,
            "breakdown": self.breakdown.to_dict(orient="records"),
            "flag": self.flag,
            "notes": self.notes,
        }

    def summary(self) -> str:
        p, r = self.predictive, self.ratio
        lines = [
            "=" * 72,
            f"Predicted effect at the target ({self.model}, {self.method})".center(72),
            "=" * 72,
            "known: " + (", ".join(f"{k}={v}" for k, v in self.target.items()) or "none"),
        ]
        for name, probs in self.unknown.items():
            lines.append(f"unknown {name}: " + ", ".join(f"{lv} {pr:.2f}" for lv, pr in probs.items()))
        lines += [
            "-" * 72,
            f"log effect: mean {p.mean:.4f}, median {p.median:.4f}, 95% interval [{p.q025:.4f}, {p.q975:.4f}]",
            f"ratio:      median {r['median']:.3f}, 95% interval [{r['q025']:.3f}, {r['q975']:.3f}]",
            f"P(effect < {self.threshold:g}) = {self.p_benefit:.4f}",
        ]
        if len(self.breakdown) > 1:
            lines.append("-" * 72)
            lines.append(self.breakdown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        lines += self.notes
        if self.flag:
            lines.append("*** " + self.flag + " ***")
        lines.append("=" * 72)
        return "\n".join(lines)


def _check_unknown(result: McmcResult, unknown: dict) -> dict[str, dict[str, float]]:
    moderators = {m.name: m for m in result.design.moderators}
    out = {}
    for name, probs in unknown.items():
        if name not in moderators:
            raise InputError(f"transport: {name!r} is not a moderator of the model ({', '.join(moderators) or 'none'})")
        m = moderators[name]
        if m.kind != "categorical":
            raise InputError(f"transport: numeric moderator {name!r} must be given a value, not level probabilities")
        if isinstance(probs, str) and probs.strip().lower() == "uniform":
            probs = {lv: 1.0 / len(m.levels) for lv in m.levels}
        if not isinstance(probs, dict) or not probs:
            raise InputError(f"transport: prior for {name!r} must map levels to probabilities or be 'uniform'")
        bad = [lv for lv in probs if lv not in m.levels]
        if bad:
            raise InputError(f"transport: {name}: level(s) {', '.join(map(str, bad))} not in the data; levels are {', '.join(m.levels)}")
        values = {lv: float(p) for lv, p in probs.items()}
        if any(not (0 <= p <= 1) for p in values.values()):
            raise InputError(f"transport: {name}: probabilities must lie in [0, 1]")
        total = sum(values.values())
        if abs(total - 1.0) > 1e-6:
            raise InputError(f"transport: {name}: probabilities sum to {total:.6g}, not 1")
        out[name] = {lv: p for lv, p in values.items() if p > 0}
    return out


def transport(result: McmcResult | ExactPosterior, target: dict | None = None, unknown: dict | None = None, threshold: float = 0.0) -> TransportResult:
    """Predictive distribution of the effect at a target site.

    ``target`` maps moderators to known values; ``unknown`` maps the others to prior
    probabilities over their levels (or "uniform"). Exact (random-effects) results have
    no moderators: their predictive distribution is returned as is.
    """
    target = dict(target or {})
    unknown = dict(unknown or {})
    if isinstance(result, ExactPosterior):
        if target or unknown:
            raise InputError("transport: the exact random-effects model has no moderators; fit model meta_regression to use covariates")
        pred = result.predictive
        breakdown = pd.DataFrame([{"probability": 1.0, "mean": pred.mean, "q025": pred.q025, "q975": pred.q975, "p_benefit": result.p_pred_below(threshold)}])
        return TransportResult("random_effects", "exact", {}, {}, pred, result.p_pred_below(threshold), threshold, breakdown,
                               notes=["no moderators: the target is treated as exchangeable with the studies"])
    if not isinstance(result, McmcResult):
        raise InputError(f"transport: expected an ExactPosterior or McmcResult, got {type(result).__name__}")

    both = set(target) & set(unknown)
    if both:
        raise InputError(f"transport: {', '.join(sorted(both))} given both as known and as unknown")
    moderators = [m.name for m in result.design.moderators]
    extra = set(target) - set(moderators)
    if extra:
        raise InputError(f"transport: {', '.join(sorted(extra))} not moderators of the model ({', '.join(moderators) or 'none'})")
    unstated = [m for m in moderators if m not in target and m not in unknown]
    if unstated:
        raise InputError(
            f"transport: moderator(s) {', '.join(unstated)} neither known for the target nor given a prior over levels; "
            "state the value or the level probabilities"
        )
    unknown = _check_unknown(result, unknown)

    names = list(unknown)
    combos = list(itertools.product(*[list(unknown[n].items()) for n in names])) if names else [()]
    weights, lps, rows = [], [], []
    for combo in combos:
        covariates = dict(target)
        weight = 1.0
        for name, (level, prob) in zip(names, combo):
            covariates[name] = level
            weight *= prob
        lp = result.linear_predictor(covariates)
        sample = result.predictive_draws(covariates)
        weights.append(weight)
        lps.append(lp)
        rows.append(
            {**{n: covariates[n] for n in names}, "probability": weight, "mean": float(sample.mean()), "var": float(sample.var(ddof=1)),
             "p_benefit": float(result.predictive_cdf(threshold, lp=lp))}
        )
    weights = np.asarray(weights)

    def cdf(x):
        return sum(w * result.predictive_cdf(x, lp=lp) for w, lp in zip(weights, lps))

    tau, _ = result._scale_and_df()
    lower = min(float(np.min(lp - 60 * tau)) for lp in lps)
    upper = max(float(np.max(lp + 60 * tau)) for lp in lps)
    q025, median, q975 = quantiles_by_bisection(cdf, np.array([0.025, 0.5, 0.975]), lower, upper)
    frame = pd.DataFrame(rows)
    mean = float(np.sum(frame["probability"] * frame["mean"]))
    var = float(np.sum(frame["probability"] * (frame["var"] + frame["mean"] ** 2)) - mean**2)
    for i, lp in enumerate(lps):
        q = quantiles_by_bisection(lambda x, lp=lp: result.predictive_cdf(x, lp=lp), np.array([0.025, 0.975]), lower, upper)
        frame.loc[i, "q025"], frame.loc[i, "q975"] = float(q[0]), float(q[1])
    frame = frame.drop(columns="var")[[*names, "probability", "mean", "q025", "q975", "p_benefit"]]
    predictive = Marginal(mean, math.sqrt(max(var, 0.0)), float(median), float(q025), float(q975))
    notes = []
    if result.design.bias_classes:
        notes.append("bias-adjusted model: the prediction is for the unbiased effect at the target")
    return TransportResult(result.model, "mcmc", target, unknown, predictive, float(cdf(threshold)), threshold, frame, result.flag, notes)


__all__ = ["TransportResult", "transport"]
