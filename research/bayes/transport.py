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
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.bayes.exact import ExactPosterior, exact_meta
from research.bayes.frame import category, check_effects
from research.bayes.mcmc import McmcResult
from research.bayes.mixture import Marginal, quantiles_by_bisection
from research.bayes.regression import exact_meta_regression
from research.errors import InputError


@dataclass
class TransportResult(Mapping):
    """Predictive distribution of the effect at the target, on the log scale (benefit < 0).

    Also reads as a mapping (the keys of ``to_dict()``), for code that stores plain data.
    """

    model: str
    method: str
    target: str | None
    known: dict
    unknown: dict[str, dict[str, float]]
    predictive: Marginal
    p_benefit: float
    threshold: float
    breakdown: pd.DataFrame
    flag: str | None = None
    assumptions: list[str] = field(default_factory=list)

    def __getitem__(self, key):
        return self.to_dict()[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

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
            "known": self.known,
            "unknown": self.unknown,
            "predictive": self.predictive.to_dict(),
            "ratio": self.ratio,
            "threshold": self.threshold,
            "p_benefit": self.p_benefit,
            "breakdown": self.breakdown.to_dict(orient="records"),
            "flag": self.flag,
            "assumptions": self.assumptions,
        }

    def summary(self) -> str:
        p, r = self.predictive, self.ratio
        lines = [
            "=" * 72,
            f"Predicted effect at {self.target or 'the target'} ({self.model}, {self.method})".center(72),
            "=" * 72,
            "known: " + (", ".join(f"{k}={v}" for k, v in self.known.items()) or "none"),
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
        lines += self.assumptions
        if self.flag:
            lines.append("*** " + self.flag + " ***")
        lines.append("=" * 72)
        return "\n".join(lines)


def _check_unknown(moderators, unknown: dict) -> dict[str, dict[str, float]]:
    by_name = {m.name: m for m in moderators}
    out = {}
    for name, probs in unknown.items():
        m = by_name[name]
        if m.kind != "categorical":
            raise InputError(f"transport: numeric moderator {name!r} must be given a value, not level probabilities")
        if isinstance(probs, str) and probs.strip().lower() == "uniform":
            probs = {lv: 1.0 / len(m.levels) for lv in m.levels}
        if not isinstance(probs, dict) or not probs:
            raise InputError(f"transport: prior for {name!r} must map levels to probabilities or be 'uniform'")
        values = {category(lv): float(p) for lv, p in probs.items()}
        bad = [lv for lv in values if lv not in m.levels]
        if bad:
            raise InputError(f"transport: {name}: level(s) {', '.join(map(str, bad))} not in the data; levels are {', '.join(m.levels)}")
        if any(not (0 <= p <= 1) for p in values.values()):
            raise InputError(f"transport: {name}: probabilities must lie in [0, 1]")
        total = sum(values.values())
        if abs(total - 1.0) > 1e-6:
            raise InputError(f"transport: {name}: probabilities sum to {total:.6g}, not 1")
        out[name] = {lv: p for lv, p in values.items() if p > 0}
    return out


def _fit_for_target(frame, known: dict, unknown: dict, mu_prior, tau_prior, coef_prior):
    """Fit the exact model that can use the stated covariates; report those it cannot use."""
    frame = check_effects(frame)
    assumptions = []
    wanted = list(known) + [n for n in unknown if n not in known]
    usable = []
    for name in wanted:
        if name not in frame.columns or all(category(v) is None for v in frame[name]):
            assumptions.append(f"{name} is not recorded for the studies, so it cannot inform the prediction; "
                               f"the target is assumed exchangeable with the studies in {name}")
        else:
            usable.append(name)
    if not usable:
        return exact_meta(frame, mu_prior=mu_prior, tau_prior=tau_prior), assumptions
    fit = exact_meta_regression(frame, usable, mu_prior=mu_prior, tau_prior=tau_prior, coef_prior=coef_prior)
    fitted = {m.name for m in fit.moderators}
    for name in usable:
        if name not in fitted:
            assumptions.append(f"{name} does not vary among the studies that report it, so it cannot inform the prediction")
    assumptions.extend(fit.notes)
    return fit, assumptions


def transport(
    source,
    target: dict | str | None = None,
    unknown: dict | None = None,
    threshold: float = 0.0,
    *,
    known: dict | None = None,
    mu_prior="normal:0,1",
    tau_prior="halfnormal:0.5",
    coef_prior="normal:0,1",
) -> TransportResult:
    """Predictive distribution of the effect at a target site.

    ``source`` is a fitted result (``ExactPosterior``, ``ExactRegressionPosterior`` or
    ``McmcResult``) or an effect frame, which is then fitted exactly on the stated
    covariates. ``target`` maps moderators to their known values (or is just the target's
    name, with the values in ``known``); ``unknown`` maps the other moderators to prior
    probabilities over their levels (or "uniform"). Every moderator of a fitted model
    must be stated one way or the other.
    """
    name = target if isinstance(target, str) else None
    if isinstance(target, dict):
        if known:
            raise InputError("transport: give the known covariates either as target or as known, not both")
        known = target
    known = dict(known or {})
    unknown = dict(unknown or {})
    both = set(known) & set(unknown)
    if both:
        raise InputError(f"transport: {', '.join(sorted(both))} given both as known and as unknown")
    assumptions: list[str] = []
    if isinstance(source, pd.DataFrame):
        source, assumptions = _fit_for_target(source, known, unknown, mu_prior, tau_prior, coef_prior)
        used = {m.name for m in source.moderators}
        known = {k: v for k, v in known.items() if k in used}
        unknown = {k: v for k, v in unknown.items() if k in used}
    elif not isinstance(source, (ExactPosterior, McmcResult)):
        raise InputError(f"transport: expected a fitted result or a DataFrame, got {type(source).__name__}")

    moderators = list(source.moderators)
    names = [m.name for m in moderators]
    extra = (set(known) | set(unknown)) - set(names)
    if extra:
        raise InputError(f"transport: {', '.join(sorted(extra))} not moderators of the model ({', '.join(names) or 'none'})")
    unstated = [n for n in names if n not in known and n not in unknown]
    if unstated:
        raise InputError(
            f"transport: moderator(s) {', '.join(unstated)} neither known for the target nor given a prior over levels; "
            "state the value or the level probabilities"
        )
    unknown = _check_unknown(moderators, unknown)
    if not names:
        assumptions.append("no moderators: the target is treated as exchangeable with the studies")
    if getattr(source, "design", None) is not None and source.design.bias_classes:
        assumptions.append("bias-adjusted model: the prediction is for the unbiased effect at the target")

    unknown_names = list(unknown)
    combos = list(itertools.product(*[list(unknown[n].items()) for n in unknown_names])) if unknown_names else [()]
    weights, settings, rows = [], [], []
    for combo in combos:
        covariates = dict(known)
        weight = 1.0
        for moderator, (level, prob) in zip(unknown_names, combo):
            covariates[moderator] = level
            weight *= prob
        marginal = source.predictive(covariates or None)
        weights.append(weight)
        settings.append(covariates or None)
        rows.append({**{n: covariates[n] for n in unknown_names}, "probability": weight, "mean": marginal.mean, "sd": marginal.sd,
                     "q025": marginal.q025, "q975": marginal.q975,
                     "p_benefit": float(source.p_pred_below(threshold, covariates or None))})
    table = pd.DataFrame(rows)

    def cdf(x):
        return sum(w * np.asarray(source.predictive_cdf(x, c)) for w, c in zip(weights, settings))

    spread = float((table["q975"] - table["q025"]).max())
    lower, upper = float(table["q025"].min() - 10 * spread), float(table["q975"].max() + 10 * spread)
    q025, median, q975 = quantiles_by_bisection(cdf, np.array([0.025, 0.5, 0.975]), lower, upper)
    mean = float(np.sum(table["probability"] * table["mean"]))
    var = float(np.sum(table["probability"] * (table["sd"] ** 2 + table["mean"] ** 2)) - mean**2)
    predictive = Marginal(mean, math.sqrt(max(var, 0.0)), float(median), float(q025), float(q975))
    table = table.drop(columns="sd")
    return TransportResult(source.model, source.method, name, known, unknown, predictive, float(cdf(threshold)), threshold,
                           table, source.flag, assumptions)


__all__ = ["TransportResult", "transport"]
