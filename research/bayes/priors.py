"""Priors for the mean effect ``mu`` and the between-study standard deviation ``tau``.

Each prior knows its log density (for the exact path), how to draw from itself (for
simulation-based calibration and preposterior simulation) and how to become a PyMC
random variable (for the MCMC path). ``parse_prior`` reads the command-line form, e.g.
``normal:0,1``, ``halfnormal:0.5``, ``halfcauchy:0.5``, ``uniform:0,2``, ``lognormal:-2.56,1.74``
(a log-normal prior on tau squared) or ``lognormal-turner:any``.

``prior_basis`` says where a prior comes from: a published recommendation (cited, with the
judgement it takes to use it here) or a judgement, stated as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from research.errors import InputError

_LOG_2PI = math.log(2.0 * math.pi)


class Prior:
    """Common interface: ``logpdf``, ``sample``, ``support``, ``to_pymc``, ``spec`` and ``label``."""

    proper = True
    support: tuple[float, float] = (-math.inf, math.inf)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError

    def to_pymc(self, name: str):
        raise NotImplementedError

    @property
    def spec(self) -> str:
        """The command-line form, which ``parse_prior`` reads back into the same prior."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        return self.spec

    def scale_hint(self) -> float:
        """A typical magnitude of the parameter, used to place integration grids."""
        return 1.0

    def to_dict(self) -> dict:
        return {"spec": self.spec, "label": self.label}

    def __str__(self) -> str:
        return self.label


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"prior parameter {name}: must be a positive finite number, got {value!r}")
    return value


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"prior parameter {name}: must be a finite number, got {value!r}")
    return value


@dataclass(frozen=True)
class NormalPrior(Prior):
    """Normal(mean, sd); the usual prior for ``mu`` and for regression or bias coefficients."""

    mean: float = 0.0
    sd: float = 1.0

    def __post_init__(self):
        _finite("mean", self.mean)
        _positive("sd", self.sd)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        return -0.5 * _LOG_2PI - math.log(self.sd) - 0.5 * ((x - self.mean) / self.sd) ** 2

    def sample(self, rng, size):
        return rng.normal(self.mean, self.sd, size)

    def to_pymc(self, name, **kwargs):
        import pymc as pm

        return pm.Normal(name, mu=self.mean, sigma=self.sd, **kwargs)

    @property
    def spec(self):
        return f"normal:{self.mean:g},{self.sd:g}"

    @property
    def label(self):
        return f"Normal({self.mean:g}, {self.sd:g})"

    def scale_hint(self):
        return self.sd


@dataclass(frozen=True)
class FlatPrior(Prior):
    """Improper uniform prior on the real line (``mu`` only; needs at least two estimates)."""

    proper = False

    def logpdf(self, x):
        return np.zeros_like(np.asarray(x, dtype=float))

    def sample(self, rng, size):
        raise InputError("prior flat: an improper prior cannot be sampled; use normal:M,S")

    def to_pymc(self, name, **kwargs):
        import pymc as pm

        return pm.Flat(name, **kwargs)

    @property
    def spec(self):
        return "flat"

    @property
    def label(self):
        return "Flat"


@dataclass(frozen=True)
class _HalfPrior(Prior):
    """A distribution folded at zero, for tau: one positive ``scale``; subclasses give the density."""

    scale: float = 0.5
    support = (0.0, math.inf)
    family = ""  # the command-line name
    title = ""  # the name in labels

    def __post_init__(self):
        _positive("scale", self.scale)

    @property
    def spec(self):
        return f"{self.family}:{self.scale:g}"

    @property
    def label(self):
        return f"{self.title}({self.scale:g})"

    def scale_hint(self):
        return self.scale


@dataclass(frozen=True)
class HalfNormalPrior(_HalfPrior):
    """Half-normal on tau with the given scale (the sd of the parent normal)."""

    family = "halfnormal"
    title = "HalfNormal"

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            out = 0.5 * math.log(2.0 / math.pi) - math.log(self.scale) - 0.5 * (x / self.scale) ** 2
        return np.where(x >= 0, out, -np.inf)

    def sample(self, rng, size):
        return np.abs(rng.normal(0.0, self.scale, size))

    def to_pymc(self, name, **kwargs):
        import pymc as pm

        return pm.HalfNormal(name, sigma=self.scale, **kwargs)


@dataclass(frozen=True)
class HalfCauchyPrior(_HalfPrior):
    """Half-Cauchy on tau with the given scale."""

    family = "halfcauchy"
    title = "HalfCauchy"

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        out = math.log(2.0 / math.pi) - math.log(self.scale) - np.log1p((x / self.scale) ** 2)
        return np.where(x >= 0, out, -np.inf)

    def sample(self, rng, size):
        return np.abs(self.scale * rng.standard_cauchy(size))

    def to_pymc(self, name, **kwargs):
        import pymc as pm

        return pm.HalfCauchy(name, beta=self.scale, **kwargs)


@dataclass(frozen=True)
class UniformPrior(Prior):
    """Uniform(lower, upper); for tau the lower bound must be >= 0."""

    lower: float = 0.0
    upper: float = 1.0

    def __post_init__(self):
        _finite("lower", self.lower)
        _finite("upper", self.upper)
        if not self.upper > self.lower:
            raise InputError(f"prior uniform: upper ({self.upper:g}) must exceed lower ({self.lower:g})")

    @property
    def support(self):  # type: ignore[override]
        return (self.lower, self.upper)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x >= self.lower) & (x <= self.upper)
        return np.where(inside, -math.log(self.upper - self.lower), -np.inf)

    def sample(self, rng, size):
        return rng.uniform(self.lower, self.upper, size)

    def to_pymc(self, name, **kwargs):
        import pymc as pm

        return pm.Uniform(name, lower=self.lower, upper=self.upper, **kwargs)

    @property
    def spec(self):
        return f"uniform:{self.lower:g},{self.upper:g}"

    @property
    def label(self):
        return f"Uniform({self.lower:g}, {self.upper:g})"

    def scale_hint(self):
        return 0.5 * (self.upper - self.lower)


@dataclass(frozen=True)
class LogNormalTau2Prior(Prior):
    """Log-normal prior on tau squared: log(tau^2) ~ Normal(meanlog, sdlog).

    This is the form of the empirical priors of Turner et al. (2015). It implies
    log(tau) ~ Normal(meanlog / 2, sdlog / 2), which is what the density below uses.
    """

    meanlog: float = -2.56
    sdlog: float = 1.74
    name: str | None = None
    support = (0.0, math.inf)

    def __post_init__(self):
        _finite("meanlog", self.meanlog)
        _positive("sdlog", self.sdlog)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        m, s = self.meanlog / 2.0, self.sdlog / 2.0
        with np.errstate(divide="ignore", invalid="ignore"):
            logx = np.log(x)
            out = -0.5 * _LOG_2PI - math.log(s) - logx - 0.5 * ((logx - m) / s) ** 2
        return np.where(x > 0, out, -np.inf)

    def sample(self, rng, size):
        return np.exp(rng.normal(self.meanlog / 2.0, self.sdlog / 2.0, size))

    def to_pymc(self, name, **kwargs):
        import pymc as pm

        return pm.LogNormal(name, mu=self.meanlog / 2.0, sigma=self.sdlog / 2.0, **kwargs)

    @property
    def spec(self):
        if self.name:
            return f"lognormal-turner:{self.name}"
        return f"lognormal:{self.meanlog:g},{self.sdlog:g}"

    @property
    def label(self):
        base = f"LogNormal(tau^2; {self.meanlog:g}, {self.sdlog:g}^2)"
        return f"{base} [Turner 2015: {self.name}]" if self.name else base

    def scale_hint(self):
        return math.exp(self.meanlog / 2.0)


# Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions for
# between-study heterogeneity and simple methods for their application in Bayesian
# meta-analysis. Statistics in Medicine 34(6):984-998, doi:10.1002/sim.6381.
# Log-normal (meanlog, sdlog) for tau^2 of log odds ratios. "any" is the marginal setting
# (p. 993); the others are Table IV, column "non-pharmacological vs. placebo / control", the
# comparison closest to an intervention against no intervention. Values as transcribed in
# R bayesmeta (TurnerEtAlParameters) and R rnmamod (table_tau2_prior); the two agree.
# They were derived from Cochrane reviews of health care, not from crime or crash studies:
# using them here is an assumption about heterogeneity, to be checked in the sensitivity table.
TURNER_PRESETS: dict[str, tuple[float, float, str]] = {
    "any": (-2.56, 1.74, "any outcome, any comparison (marginal)"),
    "all-cause-mortality": (-4.17, 1.55, "all-cause mortality"),
    "obstetric": (-3.74, 1.91, "obstetric outcomes"),
    "cause-specific-mortality": (-3.93, 1.91, "cause-specific mortality / major morbidity event / composite"),
    "resource-use": (-2.56, 1.91, "resource use / hospital stay / process"),
    "surgical-device": (-2.36, 1.91, "surgical / device related success / failure"),
    "withdrawals": (-3.21, 1.91, "withdrawals / drop-outs"),
    "internal-structure": (-2.93, 1.92, "internal / structure-related outcomes"),
    "general-physical-health": (-2.51, 1.72, "general physical health indicators"),
    "adverse-events": (-2.10, 1.71, "adverse events"),
    "infection": (-2.71, 1.71, "infection / onset of new disease"),
    "signs-symptoms": (-2.28, 1.71, "signs / symptoms reflecting continuation / end of condition"),
    "pain": (-2.05, 1.71, "pain"),
    "quality-of-life": (-2.77, 1.73, "quality of life / functioning (dichotomized)"),
    "mental-health": (-2.34, 1.72, "mental health indicators"),
    "biological-markers": (-1.99, 1.71, "biological markers (dichotomized)"),
    "subjective": (-2.92, 1.71, "subjective outcomes (various)"),
}


def turner_prior(outcome: str = "any") -> LogNormalTau2Prior:
    """The Turner et al. (2015) log-normal prior on tau^2 for an outcome type (see ``TURNER_PRESETS``)."""
    key = outcome.strip().lower()
    if key not in TURNER_PRESETS:
        raise InputError(f"lognormal-turner: unknown outcome type {outcome!r}; known: {', '.join(TURNER_PRESETS)}")
    meanlog, sdlog, _ = TURNER_PRESETS[key]
    return LogNormalTau2Prior(meanlog, sdlog, name=key)


_FAMILIES = {
    "normal": (NormalPrior, 2, ("mu",)),
    "flat": (FlatPrior, 0, ("mu",)),
    "halfnormal": (HalfNormalPrior, 1, ("tau",)),
    "halfcauchy": (HalfCauchyPrior, 1, ("tau",)),
    "uniform": (UniformPrior, 2, ("mu", "tau")),
    "lognormal": (LogNormalTau2Prior, 2, ("tau",)),
}


def parse_prior(text: str | Prior, role: str = "tau") -> Prior:
    """Read a prior from its command-line form; ``role`` is "mu" or "tau" and limits the families.

    >>> parse_prior("normal:0,1", role="mu")
    NormalPrior(mean=0.0, sd=1.0)
    """
    if isinstance(text, Prior):
        prior = text
    else:
        raw = str(text).strip()
        family, _, args = raw.partition(":")
        family = family.strip().lower()
        if family == "lognormal-turner":
            prior = turner_prior(args or "any")
        elif family not in _FAMILIES:
            raise InputError(f"prior {raw!r}: unknown family {family!r}; use one of {', '.join(_FAMILIES)}, lognormal-turner")
        else:
            cls, n_args, _roles = _FAMILIES[family]
            parts = [p for p in args.split(",") if p.strip()] if args else []
            if len(parts) != n_args:
                raise InputError(f"prior {raw!r}: {family} takes {n_args} number(s) after ':', got {len(parts)}")
            try:
                values = [float(p) for p in parts]
            except ValueError as exc:
                raise InputError(f"prior {raw!r}: parameters must be numbers") from exc
            try:
                prior = cls(*values)
            except InputError as exc:
                raise InputError(f"prior {raw!r}: {exc}") from exc
    allowed = {"mu": (NormalPrior, FlatPrior, UniformPrior), "tau": (HalfNormalPrior, HalfCauchyPrior, UniformPrior, LogNormalTau2Prior)}
    if role not in allowed:
        raise ValueError(f"role must be 'mu' or 'tau', got {role!r}")
    if not isinstance(prior, allowed[role]):
        raise InputError(f"prior {prior.spec!r} cannot be used for {role}")
    if role == "tau" and isinstance(prior, UniformPrior) and prior.lower < 0:
        raise InputError(f"prior {prior.spec!r}: tau cannot be negative; lower bound must be >= 0")
    return prior


# Friede T, Roever C, Wandel S, Neuenschwander B (2017). Meta-analysis of few small studies in
# orphan diseases. Research Synthesis Methods 8(1):79-91, doi:10.1002/jrsm.1217 (abstract, read
# on PubMed 27362487).
FRIEDE_2017 = (
    "Friede, Roever, Wandel & Neuenschwander (2017), Research Synthesis Methods 8(1):79-91, doi:10.1002/jrsm.1217: "
    "'the use of weakly informative priors as exemplified by half-normal priors (with a scale of 0.5 or 1.0) for "
    "log odds ratios is recommended' for meta-analyses of few studies"
)
TURNER_2015 = (
    "Turner, Jackson, Wei, Thompson & Higgins (2015), Statistics in Medicine 34(6):984-998, doi:10.1002/sim.6381: "
    "predictive distribution of tau^2 from Cochrane meta-analyses of binary outcomes"
)
GELMAN_2006 = (
    "Gelman (2006), Bayesian Analysis 1(3):515-534, doi:10.1214/06-BA117A, proposes the half-Cauchy family for "
    "hierarchical standard deviations; the scale is a judgement"
)
TRANSFER = ("Using it for log ratios of crash or crime counts, rather than the log odds ratios of clinical trials "
            "it was derived for, is a judgement; the prior-sensitivity table shows what it changes")


@dataclass(frozen=True)
class PriorBasis:
    """Where one prior comes from: ``kind`` is "published" (a cited basis) or "judgement"."""

    role: str
    spec: str
    label: str
    kind: str
    basis: str

    def to_dict(self) -> dict:
        return {"role": self.role, "spec": self.spec, "label": self.label, "kind": self.kind, "basis": self.basis}

    def summary(self) -> str:
        return f"{self.role}: {self.label} ({self.kind}) - {self.basis}"


def prior_basis(prior: Prior | str, role: str, stated: str | None = None) -> PriorBasis:
    """The basis of a prior: the analysis's own statement if given, else what is known of the family.

    >>> prior_basis("halfnormal:0.5", "tau").kind
    'published'
    """
    prior = parse_prior(prior, role=role)
    if stated:
        kind = "judgement" if "judgement" in stated.lower() else "published"
        return PriorBasis(role, prior.spec, prior.label, kind, stated.strip())
    if isinstance(prior, HalfNormalPrior) and prior.scale in (0.5, 1.0):
        return PriorBasis(role, prior.spec, prior.label, "published", f"{FRIEDE_2017}. {TRANSFER}.")
    if isinstance(prior, LogNormalTau2Prior) and prior.name:
        meanlog, sdlog, what = TURNER_PRESETS[prior.name]
        return PriorBasis(role, prior.spec, prior.label, "published", f"{TURNER_2015} ({what}). {TRANSFER}.")
    if isinstance(prior, HalfCauchyPrior):
        return PriorBasis(role, prior.spec, prior.label, "judgement", f"{GELMAN_2006}.")
    if isinstance(prior, HalfNormalPrior):
        return PriorBasis(role, prior.spec, prior.label, "judgement",
                          f"judgement: a half-normal scale other than the 0.5 and 1.0 of {FRIEDE_2017.split(':')[0]}")
    if isinstance(prior, NormalPrior) and role == "mu":
        low, high = (math.exp(prior.mean + z * prior.sd) for z in (-1.96, 1.96))
        return PriorBasis(role, prior.spec, prior.label, "judgement",
                          f"judgement: weakly informative on the log ratio, 95% prior range of the ratio "
                          f"{low:.2g} to {high:.2g}, not an estimate")
    if isinstance(prior, FlatPrior):
        return PriorBasis(role, prior.spec, prior.label, "judgement", "judgement: improper flat prior, no information")
    return PriorBasis(role, prior.spec, prior.label, "judgement", "judgement: no published basis given")


__all__ = [
    "PriorBasis",
    "prior_basis",
    "Prior",
    "NormalPrior",
    "FlatPrior",
    "HalfNormalPrior",
    "HalfCauchyPrior",
    "UniformPrior",
    "LogNormalTau2Prior",
    "TURNER_PRESETS",
    "turner_prior",
    "parse_prior",
]
