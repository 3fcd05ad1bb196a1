"""Transport a fitted model to a target setting.

The predictive distribution of the true effect at a new site is taken from the model at
the target's covariates. A covariate that is not known for the target is not guessed:
the caller states a prior for it (probabilities over the levels of a categorical
moderator, or a distribution such as ``normal:M,S`` or ``uniform:L,U`` for a numeric one)
and the prediction is the corresponding mixture (numeric priors by Gauss quadrature).
Every moderator of the model must be either stated or given such a prior.

Differences between the target and the studied sites that the moderators do not capture
enter as a transport bias: the target's effect is the prediction plus a Normal(0,
``transport_sd``^2) term, declared per target with its basis. ``transport_sensitivity``
shows how the answer moves with that standard deviation.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from research.bayes.exact import ExactPosterior, exact_meta
from research.bayes.frame import category, check_effects
from research.bayes.mcmc import McmcResult
from research.bayes.mixture import Marginal, mixture_cdf, quantiles_by_bisection
from research.bayes.priors import NormalPrior, UniformPrior, parse_prior
from research.bayes.regression import exact_meta_regression
from research.errors import InputError


@dataclass
class TransportResult:
    """Predictive distribution of the effect at the target, on the log scale (benefit < 0).

    A plain result object: its fields are attributes; ``to_dict()`` gives plain data.
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
    transport_sd: float = 0.0
    transport_sd_basis: str | None = None
    numeric_priors: dict[str, str] = field(default_factory=dict)

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
            "transport_sd": self.transport_sd,
            "transport_sd_basis": self.transport_sd_basis,
            "numeric_priors": self.numeric_priors,
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
            if name in self.numeric_priors:
                lines.append(f"unknown {name}: {self.numeric_priors[name]} (integrated by quadrature)")
                continue
            lines.append(f"unknown {name}: " + ", ".join(f"{lv} {pr:.2f}" for lv, pr in probs.items()))
        lines.append(f"transport bias: Normal(0, {self.transport_sd:g}^2) on the log scale"
                     + (f"; basis: {self.transport_sd_basis}" if self.transport_sd_basis else ""))
        lines += [
            "-" * 72,
            f"log effect: mean {p.mean:.4f}, median {p.median:.4f}, 95% interval [{p.q025:.4f}, {p.q975:.4f}]",
            f"ratio:      median {r['median']:.3f}, 95% interval [{r['q025']:.3f}, {r['q975']:.3f}]",
            f"P(effect < {self.threshold:g}) = {self.p_benefit:.4f}",
        ]
        if 1 < len(self.breakdown) <= 12:
            lines.append("-" * 72)
            lines.append(self.breakdown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        lines += self.assumptions
        if self.flag:
            lines.append("*** " + self.flag + " ***")
        lines.append("=" * 72)
        return "\n".join(lines)


QUADRATURE_NODES = 32


def numeric_covariate_prior(name: str, spec) -> NormalPrior | UniformPrior:
    """Read the prior of an unknown numeric covariate: "normal:M,S", "uniform:L,U" or {normal: [M, S]}."""
    if isinstance(spec, dict) and len(spec) == 1:
        family, args = next(iter(spec.items()))
        if isinstance(args, (list, tuple)):
            spec = f"{family}:{','.join(str(a) for a in args)}"
    if not isinstance(spec, (str, NormalPrior, UniformPrior)):
        raise InputError(f"transport: numeric moderator {name!r} needs a value or a distribution such as "
                         "'normal:MEAN,SD' or 'uniform:LOW,HIGH', not level probabilities")
    try:
        prior = parse_prior(spec, role="mu")
    except InputError as exc:
        raise InputError(f"transport: numeric moderator {name!r}: {exc}") from exc
    if not isinstance(prior, (NormalPrior, UniformPrior)):
        raise InputError(f"transport: numeric moderator {name!r}: use normal:MEAN,SD or uniform:LOW,HIGH")
    return prior


def quadrature(prior: NormalPrior | UniformPrior, nodes: int = QUADRATURE_NODES) -> dict[float, float]:
    """Nodes and weights (summing to one) that integrate smooth functions against the prior."""
    if isinstance(prior, NormalPrior):
        x, w = np.polynomial.hermite_e.hermegauss(nodes)
        values, weights = prior.mean + prior.sd * x, w / w.sum()
    else:
        x, w = np.polynomial.legendre.leggauss(nodes)
        values, weights = 0.5 * (prior.lower + prior.upper) + 0.5 * (prior.upper - prior.lower) * x, w / w.sum()
    return {float(v): float(p) for v, p in zip(values, weights)}


def _check_unknown(moderators, unknown: dict, numeric_priors: dict | None = None) -> dict[str, dict]:
    by_name = {m.name: m for m in moderators}
    out = {}
    for name, probs in unknown.items():
        m = by_name[name]
        if m.kind != "categorical":
            prior = numeric_covariate_prior(name, probs)
            if numeric_priors is not None:
                numeric_priors[name] = prior.label
            out[name] = quadrature(prior)
            continue
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


def _fit_for_target(frame, known: dict, unknown: dict, mu_prior, tau_prior, coef_prior, missing="refuse"):
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
    fit = exact_meta_regression(frame, usable, mu_prior=mu_prior, tau_prior=tau_prior, coef_prior=coef_prior, missing=missing)
    fitted = {m.name for m in fit.moderators}
    for name in usable:
        if name not in fitted:
            assumptions.append(f"{name} does not vary among the studies that report it, so it cannot inform the prediction")
    assumptions.extend(fit.notes)
    return fit, assumptions


def _predictive_parts(source, covariates: dict | None, transport_sd: float):
    """A function x -> P(effect at the site <= x), with the transport bias added."""
    if isinstance(source, ExactPosterior):
        weights, means, sds = source._pred_parts(covariates)
        sds = np.sqrt(np.asarray(sds) ** 2 + transport_sd**2)
        return lambda x: mixture_cdf(x, weights, means, sds)
    if transport_sd == 0:
        return lambda x: np.asarray(source.predictive_cdf(x, covariates))
    if isinstance(source, McmcResult) and not source.spec.student_t:
        lp = source.linear_predictor(covariates)
        scale = np.sqrt(source._scale_and_df()[0] ** 2 + transport_sd**2)
        return lambda x: special.ndtr((np.asarray(x, dtype=float)[..., None] - lp) / scale).mean(axis=-1)
    # Student-t predictive plus a normal term: integrate the normal term by quadrature.
    z, w = np.polynomial.hermite_e.hermegauss(64)
    w = w / w.sum()
    return lambda x: sum(wj * np.asarray(source.predictive_cdf(np.asarray(x, dtype=float) - transport_sd * zj, covariates))
                         for zj, wj in zip(z, w))


def check_transport_sd(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"transport: transport_sd must be a number, got {value!r}") from exc
    if not (math.isfinite(value) and value >= 0):
        raise InputError(f"transport: transport_sd must be >= 0, got {value!r}")
    return value


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
    transport_sd: float = 0.0,
    transport_sd_basis: str | None = None,
    missing: str = "refuse",
    vi=None,
) -> TransportResult:
    """Predictive distribution of the effect at a target site.

    ``source`` is a fitted result (``ExactPosterior``, ``ExactRegressionPosterior`` or
    ``McmcResult``) or an effect frame, which is then fitted exactly on the stated
    covariates (``missing`` is passed to ``exact_meta_regression``: studies without a
    moderator are refused by default). ``target`` maps moderators to their known values
    (or is just the target's name, with the values in ``known``); ``unknown`` maps the
    other moderators to prior probabilities over their levels (or "uniform"), or, for a
    numeric moderator, to a distribution ("normal:M,S", "uniform:L,U"). Every moderator of
    a fitted model must be stated one way or the other. ``transport_sd`` is the standard
    deviation (log scale) of what makes the target differ from the studied sites beyond
    the moderators; ``transport_sd_basis`` says where it comes from. Like ``exact_meta``, an
    array of effects with ``vi`` given separately is accepted in place of the frame.
    """
    if vi is not None:
        source = pd.DataFrame({"yi": np.asarray(source, dtype=float), "vi": np.asarray(vi, dtype=float)})
    transport_sd = check_transport_sd(transport_sd)
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
        source, assumptions = _fit_for_target(source, known, unknown, mu_prior, tau_prior, coef_prior, missing)
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
            f"transport: moderator(s) {', '.join(unstated)} neither known for the target nor given a prior; "
            "state the value, the level probabilities or (numeric) a distribution"
        )
    numeric_priors: dict[str, str] = {}
    unknown = _check_unknown(moderators, unknown, numeric_priors)
    for m in moderators:
        if m.kind == "numeric" and m.name in unknown:
            lo, hi = float(np.min(m.values)), float(np.max(m.values))
            nodes = list(unknown[m.name])
            if min(nodes) < lo or max(nodes) > hi:
                assumptions.append(f"the prior for {m.name} ({numeric_priors[m.name]}) reaches beyond the studied range "
                                   f"[{lo:g}, {hi:g}]: the linear model is extrapolated there")
    if not names:
        assumptions.append("no moderators: the target is treated as exchangeable with the studies")
    if getattr(source, "design", None) is not None and source.design.bias_classes:
        assumptions.append("bias-adjusted model: the prediction is for the unbiased effect at the target")
    if transport_sd > 0:
        assumptions.append(
            f"transport bias: the target may differ from the studied sites beyond the moderators by a Normal(0, "
            f"{transport_sd:g}^2) term on the log scale" + (f" ({transport_sd_basis})" if transport_sd_basis else "")
        )
    else:
        assumptions.append("no transport bias declared: the target is assumed to differ from the studied sites no more "
                           "than they differ among themselves")

    unknown_names = list(unknown)
    combos = list(itertools.product(*[list(unknown[n].items()) for n in unknown_names])) if unknown_names else [()]
    weights, cdfs, rows = [], [], []
    for combo in combos:
        covariates = dict(known)
        weight = 1.0
        for moderator, (level, prob) in zip(unknown_names, combo):
            covariates[moderator] = level
            weight *= prob
        marginal = source.predictive(covariates or None)
        cdf_here = _predictive_parts(source, covariates or None, transport_sd)
        weights.append(weight)
        cdfs.append(cdf_here)
        rows.append({**{n: covariates[n] for n in unknown_names}, "probability": weight, "mean": marginal.mean,
                     "sd": math.sqrt(marginal.sd**2 + transport_sd**2),
                     "q025": marginal.q025, "q975": marginal.q975,
                     "p_benefit": float(cdf_here(threshold))})
    table = pd.DataFrame(rows)

    def cdf(x):
        return sum(w * np.asarray(c(x)) for w, c in zip(weights, cdfs))

    spread = float((table["q975"] - table["q025"]).max()) + 4 * transport_sd
    lower, upper = float(table["q025"].min() - 10 * spread), float(table["q975"].max() + 10 * spread)
    q025, median, q975 = quantiles_by_bisection(cdf, np.array([0.025, 0.5, 0.975]), lower, upper)
    mean = float(np.sum(table["probability"] * table["mean"]))
    var = float(np.sum(table["probability"] * (table["sd"] ** 2 + table["mean"] ** 2)) - mean**2)
    predictive = Marginal(mean, math.sqrt(max(var, 0.0)), float(median), float(q025), float(q975))
    table = table.drop(columns="sd")
    if transport_sd > 0:  # the per-setting intervals above are before the transport bias
        table = table.rename(columns={"q025": "q025_before_transport_bias", "q975": "q975_before_transport_bias"})
    return TransportResult(source.model, source.method, name, known, unknown, predictive, float(cdf(threshold)), threshold,
                           table, source.flag, assumptions, transport_sd, transport_sd_basis, numeric_priors)


DEFAULT_TRANSPORT_SDS = (0.0, 0.1, 0.2, 0.3, 0.5)


@dataclass
class TransportSensitivity:
    """How the prediction at the target moves with the transport-bias standard deviation."""

    target: str | None
    declared_sd: float
    basis: str | None
    table: pd.DataFrame

    def to_dict(self) -> dict:
        return {"target": self.target, "declared_sd": self.declared_sd, "basis": self.basis,
                "rows": self.table.to_dict(orient="records")}

    def summary(self) -> str:
        head = (f"Transport-bias sensitivity for {self.target or 'the target'} (declared SD {self.declared_sd:g}"
                + (f"; basis: {self.basis}" if self.basis else "") + ")")
        return head + "\n" + self.table.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def transport_sensitivity(source, target=None, unknown=None, threshold: float = 0.0, *, sds=DEFAULT_TRANSPORT_SDS,
                          transport_sd: float = 0.0, transport_sd_basis: str | None = None, **kwargs) -> TransportSensitivity:
    """The transported prediction under each transport-bias SD in ``sds`` (the declared one included)."""
    declared = check_transport_sd(transport_sd)
    values = sorted({check_transport_sd(v) for v in sds} | {declared})
    if isinstance(source, pd.DataFrame):  # fit once, on the stated covariates
        known = dict(target) if isinstance(target, dict) else dict(kwargs.pop("known", None) or {})
        fit, _ = _fit_for_target(source, known, dict(unknown or {}), kwargs.pop("mu_prior", "normal:0,1"),
                                 kwargs.pop("tau_prior", "halfnormal:0.5"), kwargs.pop("coef_prior", "normal:0,1"),
                                 kwargs.pop("missing", "refuse"))
        used = {m.name for m in fit.moderators}
        name = target if isinstance(target, str) else None
        kwargs["known"] = {k: v for k, v in known.items() if k in used}
        unknown = {k: v for k, v in dict(unknown or {}).items() if k in used}
        source, target = fit, name
    rows = []
    for sd in values:
        result = transport(source, target, unknown, threshold, transport_sd=sd, **kwargs)
        ratio = result.ratio
        rows.append({"transport_sd": sd, "declared": sd == declared, "p_benefit": result.p_benefit,
                     "median": result.predictive.median, "q025": result.predictive.q025, "q975": result.predictive.q975,
                     "ratio_median": ratio["median"], "ratio_q025": ratio["q025"], "ratio_q975": ratio["q975"]})
    return TransportSensitivity(target if isinstance(target, str) else None, declared, transport_sd_basis, pd.DataFrame(rows))


__all__ = ["DEFAULT_TRANSPORT_SDS", "TransportResult", "TransportSensitivity", "numeric_covariate_prior", "transport", "transport_sensitivity"]
