"""MCMC fits of the meta-analysis models with nutpie, with diagnostics and a fit cache.

``mcmc_meta(frame, model=...)`` returns an ``McmcResult``. Every result carries its
diagnostics (R-hat, bulk and tail ESS, divergences); a fit that fails them is flagged in
``summary()``, ``to_dict()`` and the CLI output. Models are compiled once per structure
and process; fits are stored under ``cache_dir`` by a hash of data, model, priors and
sampler settings, so repeating an analysis does not resample.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from research.bayes.cache import DEFAULT_CACHE, fit_key, load_fit, save_fit
from research.bayes.exact import format_summary
from research.bayes.mixture import Marginal, draws_marginal, quantiles_by_bisection
from research.bayes.models import Design, MetaPriors, ModelSpec, build_design, build_pymc_model, covariate_parts
from research.bayes.priors import parse_prior
from research.errors import InputError
from research.thresholds import ESS_PER_CHAIN, MAX_DIVERGENCES, RHAT_MAX

_COMPILED: dict[str, object] = {}
# Kolmogorov distance between posterior draws and the prior below which a parameter is
# reported as not learned from the data (identical distributions give about 1.36/sqrt(ESS)).
PRIOR_DOMINATED_DISTANCE = 0.10


def prior_posterior_distance(draws, prior_cdf) -> float:
    """Largest gap between the empirical cdf of the posterior draws and the prior cdf."""
    x = np.sort(np.asarray(draws, dtype=float).ravel())
    n = x.size
    cdf = np.asarray(prior_cdf(x), dtype=float)
    upper = np.arange(1, n + 1) / n
    return float(max(np.max(np.abs(upper - cdf)), np.max(np.abs(upper - 1.0 / n - cdf))))


@dataclass(frozen=True)
class DiagnosticThresholds:
    """Pass marks (Vehtari et al. 2021): R-hat <= 1.01, bulk and tail ESS >= 100 per chain, no divergences."""

    rhat_max: float = RHAT_MAX
    ess_per_chain: float = ESS_PER_CHAIN
    divergences: int = MAX_DIVERGENCES


@dataclass(frozen=True)
class Diagnostics:
    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    draws: int
    chains: int
    ok: bool
    problems: tuple[str, ...]

    @property
    def flag(self) -> str | None:
        """None when the fit passes; otherwise a warning to print next to every number."""
        if self.ok:
            return None
        return "UNRELIABLE MCMC FIT: " + "; ".join(self.problems)

    def to_dict(self) -> dict:
        return {
            "rhat_max": self.rhat_max,
            "ess_bulk_min": self.ess_bulk_min,
            "ess_tail_min": self.ess_tail_min,
            "divergences": self.divergences,
            "draws": self.draws,
            "chains": self.chains,
            "ok": self.ok,
            "problems": list(self.problems),
        }


def _parameter_names(idata) -> list[str]:
    # Skip the sampler's unconstrained copies (names ending in "__").
    return [name for name in idata.posterior.data_vars if not name.endswith("__")]


def compute_diagnostics(idata, thresholds: DiagnosticThresholds = DiagnosticThresholds()) -> Diagnostics:
    from research.bayes._arviz import arviz
    az = arviz()

    names = _parameter_names(idata)
    chains = int(idata.posterior.sizes["chain"])
    draws = int(idata.posterior.sizes["draw"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(idata, var_names=names)
        bulk = az.ess(idata, var_names=names, method="bulk")
        tail = az.ess(idata, var_names=names, method="tail")

    def extreme(dataset, pick):
        values = [np.asarray(dataset[n].values, dtype=float).ravel() for n in names]
        values = np.concatenate(values) if values else np.array([np.nan])
        values = values[np.isfinite(values)]
        return float(pick(values)) if values.size else float("nan")

    rhat_max = extreme(rhat, np.max)
    ess_bulk = extreme(bulk, np.min)
    ess_tail = extreme(tail, np.min)
    divergences = int(np.asarray(idata.sample_stats["diverging"].values).sum()) if "diverging" in idata.sample_stats else 0
    need = thresholds.ess_per_chain * chains
    problems = []
    if chains < 2:
        problems.append("one chain: R-hat cannot be checked")
    if not np.isfinite(rhat_max) or rhat_max > thresholds.rhat_max:
        problems.append(f"R-hat {rhat_max:.3f} > {thresholds.rhat_max}")
    if not np.isfinite(ess_bulk) or ess_bulk < need:
        problems.append(f"bulk ESS {ess_bulk:.0f} < {need:.0f}")
    if not np.isfinite(ess_tail) or ess_tail < need:
        problems.append(f"tail ESS {ess_tail:.0f} < {need:.0f}")
    if divergences > thresholds.divergences:
        problems.append(f"{divergences} divergent transition(s)")
    return Diagnostics(rhat_max, ess_bulk, ess_tail, divergences, draws, chains, not problems, tuple(problems))


class McmcResult:
    """Posterior draws of one model with summaries, predictive distribution and diagnostics.

    ``mu`` is the mean effect of an unbiased study at the reference levels of categorical
    moderators (and the mean of numeric ones); see ``reference``.
    """

    method = "mcmc"

    def __init__(self, spec: ModelSpec, priors: MetaPriors, design: Design, idata, diagnostics: Diagnostics, settings: dict, cache_key: str, from_cache: bool):
        self.spec = spec
        self.priors = priors
        self.design = design
        self.idata = idata
        self.diagnostics = diagnostics
        self.settings = settings
        self.cache_key = cache_key
        self.from_cache = from_cache

    # -- draws -------------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self.spec.name

    @property
    def k(self) -> int:
        return self.design.k

    @property
    def flag(self) -> str | None:
        return self.diagnostics.flag

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws with chains stacked: shape (S,) or (S, n)."""
        values = np.asarray(self.idata.posterior[name].values, dtype=float)
        return values.reshape(values.shape[0] * values.shape[1], *values.shape[2:])

    @property
    def moderators(self):
        return self.design.moderators

    @property
    def reference(self) -> dict:
        return {m.name: m.default for m in self.design.moderators}

    @cached_property
    def mu(self) -> Marginal:
        return draws_marginal(self.draws("mu"))

    @cached_property
    def tau(self) -> Marginal:
        return draws_marginal(self.draws("tau"))

    def _marginals(self, name: str, labels: list[str]) -> dict[str, Marginal]:
        """One summary per column of a vector parameter, keyed by ``labels``."""
        if not labels:
            return {}
        values = self.draws(name)
        return {label: draws_marginal(values[:, j]) for j, label in enumerate(labels)}

    @cached_property
    def coefficients(self) -> dict[str, Marginal]:
        return self._marginals("beta", self.design.coefficient_names)

    @cached_property
    def bias(self) -> dict[str, Marginal]:
        return self._marginals("bias", self.design.bias_names)

    @cached_property
    def bias_spread(self) -> dict[str, Marginal]:
        # only classes with a spread prior have a spread parameter
        return self._marginals("bias_spread", [c.name for c in self.design.bias_classes if c.spread_sd > 0])

    @cached_property
    def nu(self) -> Marginal | None:
        return draws_marginal(self.draws("nu")) if self.spec.student_t else None

    @cached_property
    def nu_learning(self) -> dict | None:
        """Whether the data moved nu away from its prior (robust model only); with few studies they do not."""
        if not self.spec.student_t:
            return None
        shape, rate = self.priors.nu_shape, self.priors.nu_rate
        distance = prior_posterior_distance(self.draws("nu"), lambda x: stats.gamma.cdf(x, a=shape, scale=1.0 / rate))
        learned = distance > PRIOR_DOMINATED_DISTANCE
        prior = f"Gamma({shape:g}, {rate:g})"
        if learned:
            note = f"nu: the posterior differs from its {prior} prior (Kolmogorov distance {distance:.2f}): the data inform it"
        else:
            note = (f"nu: the posterior equals its {prior} prior (Kolmogorov distance {distance:.2f} <= "
                    f"{PRIOR_DOMINATED_DISTANCE:g}): with k = {self.k} studies the data do not inform the tail weight, "
                    "so nu is assumed, not learned")
        return {"learned": learned, "distance": distance, "prior": prior, "note": note}

    # -- covariates and the predictive distribution -------------------------------------
    def covariate_row(self, covariates: dict | None = None) -> np.ndarray:
        """Design row for a site; moderators not given sit at their reference level or mean."""
        parts = covariate_parts(self.design.moderators, covariates)
        return np.concatenate(parts) if parts else np.zeros(0)

    def linear_predictor(self, covariates: dict | None = None) -> np.ndarray:
        """Draws of the mean effect of an unbiased study at the given covariates."""
        x = self.covariate_row(covariates)
        lp = self.draws("mu")
        if x.size:
            lp = lp + self.draws("beta") @ x
        return lp

    def _scale_and_df(self):
        tau = np.maximum(self.draws("tau"), 1e-12)
        nu = self.draws("nu") if self.spec.student_t else None
        return tau, nu

    def predictive_cdf(self, x, covariates: dict | None = None, lp: np.ndarray | None = None) -> np.ndarray:
        """P(new effect <= x), averaging the exact conditional cdf over draws (Rao-Blackwell)."""
        lp = self.linear_predictor(covariates) if lp is None else lp
        tau, nu = self._scale_and_df()
        x = np.asarray(x, dtype=float)
        z = (x[..., None] - lp) / tau
        cdf = special.ndtr(z) if nu is None else stats.t.cdf(z, nu)
        return cdf.mean(axis=-1)

    def predictive_draws(self, covariates: dict | None = None, replicates: int = 4, seed: int | None = None) -> np.ndarray:
        return self._draws_around(self.linear_predictor(covariates), replicates, seed)

    def _draws_around(self, lp: np.ndarray, replicates: int = 4, seed: int | None = None) -> np.ndarray:
        """New effects drawn around the linear predictor draws ``lp``, ``replicates`` per draw."""
        tau, nu = self._scale_and_df()
        rng = np.random.default_rng(self.settings.get("seed", 0) if seed is None else seed)
        shape = (replicates, lp.size)
        noise = rng.standard_normal(shape) if nu is None else rng.standard_t(np.broadcast_to(nu, shape))
        return (lp + tau * noise).ravel()

    def predictive(self, covariates: dict | None = None) -> Marginal:
        """Distribution of the true effect at a new unbiased site (reference levels by default)."""
        lp = self.linear_predictor(covariates)
        tau, _ = self._scale_and_df()
        sample = self._draws_around(lp)
        lower, upper = float(np.min(lp - 60 * tau)), float(np.max(lp + 60 * tau))
        q025, median, q975 = quantiles_by_bisection(
            lambda x: self.predictive_cdf(x, lp=lp), np.array([0.025, 0.5, 0.975]), lower, upper
        )
        return Marginal(float(sample.mean()), float(sample.std(ddof=1)), float(median), float(q025), float(q975))

    def p_mu_below(self, threshold: float = 0.0) -> float:
        return float(np.mean(self.draws("mu") < threshold))

    def p_pred_below(self, threshold: float = 0.0, covariates: dict | None = None) -> float:
        return float(self.predictive_cdf(threshold, covariates))

    def density(self, x, quantity: str = "mu") -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if quantity in ("mu", "tau"):
            return stats.gaussian_kde(self.draws(quantity))(x)
        if quantity == "predictive":
            lp = self.linear_predictor()
            tau, nu = self._scale_and_df()
            z = (x[..., None] - lp) / tau
            pdf = stats.norm.pdf(z) if nu is None else stats.t.pdf(z, nu)
            return (pdf / tau).mean(axis=-1)
        raise ValueError(f"quantity must be 'mu', 'tau' or 'predictive', got {quantity!r}")

    @cached_property
    def mcse(self) -> dict[str, float]:
        """Monte Carlo standard errors of the reported mu and tau summaries."""
        from research.bayes._arviz import arviz
        az = arviz()

        out = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in ("mu", "tau"):
                out[f"{name}_mean"] = float(az.mcse(self.idata, var_names=[name], method="mean")[name])
                for prob, label in ((0.025, "q025"), (0.5, "median"), (0.975, "q975")):
                    out[f"{name}_{label}"] = float(az.mcse(self.idata, var_names=[name], method="quantile", prob=prob)[name])
        return out

    def parameter_table(self) -> pd.DataFrame:
        """Posterior summary with R-hat and ESS for every reported parameter."""
        from research.bayes._arviz import arviz
        az = arviz()

        names = [n for n in ("mu", "tau", "nu", "beta", "bias", "bias_spread") if n in self.idata.posterior]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = az.summary(self.idata, var_names=names, stat_focus="mean", round_to="none")
        return table

    # -- reporting ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {
            "method": self.method,
            "model": self.model,
            "k": self.k,
            "mu_prior": self.priors.mu.spec,
            "tau_prior": self.priors.tau.spec,
            "priors": self.priors.to_dict(),
            "mu": self.mu.to_dict(),
            "tau": self.tau.to_dict(),
            "predictive": self.predictive().to_dict(),
            "p_mu_below_0": self.p_mu_below(0.0),
            "p_pred_below_0": self.p_pred_below(0.0),
            "reference": self.reference,
            "coefficients": {k: v.to_dict() for k, v in self.coefficients.items()},
            "bias": {k: v.to_dict() for k, v in self.bias.items()},
            "bias_spread": {k: v.to_dict() for k, v in self.bias_spread.items()},
            "bias_classes": [c.to_dict() for c in self.design.bias_classes],
            "nu": self.nu.to_dict() if self.nu else None,
            "nu_learning": self.nu_learning,
            "mcse": self.mcse,
            "diagnostics": self.diagnostics.to_dict(),
            "flag": self.flag,
            "notes": list(self.design.notes) + ([self.nu_learning["note"]] if self.nu_learning else []),
            "sampler": dict(self.settings),
            "cache_key": self.cache_key,
            "from_cache": self.from_cache,
        }
        return out

    def summary(self) -> str:
        rows = {"mu": self.mu, "tau": self.tau}
        if self.nu is not None:
            learned = self.nu_learning["learned"]
            rows["nu (Student-t df)" if learned else "nu (= its prior, not learned)"] = self.nu
        rows.update({f"beta {k}": v for k, v in self.coefficients.items()})
        rows.update({f"bias {k}": v for k, v in self.bias.items()})
        rows.update({f"spread {k}": v for k, v in self.bias_spread.items()})
        rows["new setting"] = self.predictive()
        d = self.diagnostics
        notes = [
            f"sampler: nutpie, {d.chains} chains x {d.draws} draws (tune {self.settings.get('tune')}), seed {self.settings.get('seed')}"
            + (", from cache" if self.from_cache else ""),
            f"diagnostics: max R-hat {d.rhat_max:.3f}, min ESS bulk {d.ess_bulk_min:.0f} / tail {d.ess_tail_min:.0f}, divergences {d.divergences}",
        ]
        if self.design.moderators:
            notes.append("reference: " + ", ".join(f"{k}={v}" for k, v in self.reference.items()) + " (mu and 'new setting' refer to it)")
        notes.extend(self.design.notes)
        if self.nu_learning:
            notes.append(self.nu_learning["note"])
        if self.flag:
            notes.append("*** " + self.flag + " ***")
        title = f"Bayesian meta-analysis, model {self.model} (MCMC)"
        return format_summary(
            title=title,
            k=self.k,
            priors={"mu": self.priors.mu.label, "tau": self.priors.tau.label},
            rows=rows,
            probabilities={"P(mu < 0)": self.p_mu_below(0.0), "P(new setting < 0)": self.p_pred_below(0.0)},
            notes=notes,
        )

    def __repr__(self) -> str:
        status = "ok" if self.diagnostics.ok else "FLAGGED"
        return f"McmcResult(model={self.model}, k={self.k}, mu={self.mu.mean:.4g}, tau={self.tau.median:.4g}, diagnostics={status})"


def make_priors(priors=None, mu_prior=None, tau_prior=None) -> MetaPriors:
    """Accept a MetaPriors, a dict of spec strings, or None, plus mu/tau overrides."""
    if priors is None:
        base = MetaPriors()
    elif isinstance(priors, MetaPriors):
        base = priors
    elif isinstance(priors, dict):
        unknown = set(priors) - {"mu", "tau", "coef", "nu_shape", "nu_rate"}
        if unknown:
            raise InputError(f"priors: unknown key(s) {', '.join(sorted(unknown))}")
        base = MetaPriors.make(**priors)
    else:
        raise InputError(f"priors: expected MetaPriors or a dict, got {type(priors).__name__}")
    if mu_prior is not None:
        base = dataclasses.replace(base, mu=parse_prior(mu_prior, "mu"))
    if tau_prior is not None:
        base = dataclasses.replace(base, tau=parse_prior(tau_prior, "tau"))
    return base


def _structure_key(design: Design, spec: ModelSpec, priors: MetaPriors) -> str:
    return fit_key({"structure": design.structure(), "spec": spec.to_dict(), "priors": priors.to_dict()})


def _compiled(key: str, design: Design, spec: ModelSpec, priors: MetaPriors):
    """The compiled sampler model for this structure; compiled once per process."""
    if key not in _COMPILED:
        import nutpie

        model = build_pymc_model(design, spec, priors)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _COMPILED[key] = nutpie.compile_pymc_model(model)
    return _COMPILED[key]


def mcmc_meta(
    frame: pd.DataFrame,
    model: str = "random_effects",
    priors: MetaPriors | dict | None = None,
    *,
    mu_prior=None,
    tau_prior=None,
    moderators=None,
    bias_classes=None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    seed: int = 0,
    target_accept: float = 0.9,
    cache_dir: Path | str | None = DEFAULT_CACHE,
    progress: bool = False,
    thresholds: DiagnosticThresholds = DiagnosticThresholds(),
    vi=None,
) -> McmcResult:
    """Fit a meta-analysis model by MCMC (nutpie NUTS).

    ``frame`` has ``yi``/``vi`` (and ``id``) columns, or is an array of effects with ``vi``
    given separately, as for ``exact_meta`` and ``rma``.

    ``model`` is one of "random_effects", "meta_regression", "robust", "bias_adjusted".
    ``moderators`` defaults to ("setting", "monitoring") for meta_regression;
    ``bias_classes`` defaults to ``DEFAULT_BIAS_CLASSES`` for bias_adjusted. Set
    ``cache_dir=None`` to neither read nor write the fit cache.
    """
    if vi is not None:
        frame = pd.DataFrame({"yi": np.asarray(frame, dtype=float), "vi": np.asarray(vi, dtype=float)})
    for name, value, low in (("draws", draws, 10), ("tune", tune, 10), ("chains", chains, 1)):
        if int(value) < low:
            raise InputError(f"mcmc: {name} must be at least {low}, got {value}")
    if not 0.5 <= target_accept < 1:
        raise InputError(f"mcmc: target_accept must be in [0.5, 1), got {target_accept}")
    spec = ModelSpec.named(model, moderators=moderators, bias_classes=bias_classes)
    priors = make_priors(priors, mu_prior, tau_prior)
    design = build_design(frame, spec)
    structure_key = _structure_key(design, spec, priors)
    settings = {"draws": int(draws), "tune": int(tune), "chains": int(chains), "seed": int(seed), "target_accept": float(target_accept)}
    key = fit_key({"structure": structure_key, "y": design.y, "se": design.se, "ids": design.ids, "settings": settings})

    idata = load_fit(cache_dir, key)
    from_cache = idata is not None
    if idata is None:  # compiling costs seconds, so only on a cache miss
        import nutpie

        compiled = _compiled(structure_key, design, spec, priors)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampler_model = compiled.with_data(y_obs=design.y, se=design.se)
            idata = nutpie.sample(
                sampler_model,
                **settings,
                cores=max(1, min(settings["chains"], os.cpu_count() or 1)),
                save_warmup=False,
                progress_bar=bool(progress),
            )
        idata.posterior = idata.posterior.assign_coords(study=design.ids)
        save_fit(cache_dir, key, idata, {"model": spec.to_dict(), "priors": priors.to_dict(), "ids": design.ids, "settings": settings})
    diagnostics = compute_diagnostics(idata, thresholds)
    return McmcResult(spec, priors, design, idata, diagnostics, settings, key, from_cache)


__all__ = ["DiagnosticThresholds", "Diagnostics", "McmcResult", "compute_diagnostics", "make_priors", "mcmc_meta"]
