"""Model specifications and their PyMC form (non-centred).

Four named models share one builder:

* ``random_effects``: theta_i = mu + tau * z_i, z_i ~ Normal(0, 1).
* ``meta_regression``: adds moderator effects (treatment coding against the most common
  level). A study whose moderator is not reported is not dropped: its likelihood is a
  mixture over the levels, weighted by level probabilities learnt from the other studies.
* ``robust``: z_i ~ Student-t(nu), so outlying studies pull less on mu.
* ``bias_adjusted``: studies of weaker designs carry an additive bias b_c (with its own
  prior) and extra spread omega_c, so theta_i = mu + b_c + sqrt(tau^2 + omega_c^2) z_i;
  mu and the predictive refer to an unbiased study.

``build_design`` turns the frame into arrays; ``build_pymc_model`` makes the PyMC model.
Only ``y_obs`` and ``se`` are data containers, so one compiled model serves any data set
with the same structure.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.bayes.frame import category, check_effects, numeric_vector
from research.bayes.priors import HalfNormalPrior, NormalPrior, Prior, parse_prior
from research.errors import InputError

MODEL_NAMES = ("random_effects", "meta_regression", "robust", "bias_adjusted")
DEFAULT_MODERATORS = ("setting", "monitoring")


@dataclass(frozen=True)
class BiasClass:
    """A group of weaker studies that share an additive bias with its own prior.

    A row belongs to the class when any ``(column, values)`` pair in ``rule`` matches.
    ``prior_mean``/``prior_sd`` give the Normal prior of the class's mean bias (log scale,
    negative = exaggerates benefit); ``spread_sd`` is the half-normal scale of extra
    study-to-study spread of that bias (0 for none). ``basis`` says where the prior comes
    from (a citation, or "judgement: ..."); ``sensitivity_sd`` lists alternative prior SDs to
    rerun the model with. ``excludes`` names classes whose members are not counted again here,
    so that one flaw of a study is counted once.
    """

    name: str
    rule: tuple[tuple[str, tuple], ...]
    prior_mean: float
    prior_sd: float
    spread_sd: float = 0.0
    description: str = ""
    basis: str = "judgement: no source given"
    sensitivity_sd: tuple[float, ...] = ()
    excludes: tuple[str, ...] = ()

    def members(self, frame: pd.DataFrame) -> np.ndarray:
        hit = np.zeros(len(frame), dtype=bool)
        for column, values in self.rule:
            if column not in frame.columns:
                continue
            hit |= np.array([any(_matches(cell, v) for v in values) for cell in frame[column]], dtype=bool)
        return hit

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "rule": {column: list(values) for column, values in self.rule},
            "prior_mean": self.prior_mean,
            "prior_sd": self.prior_sd,
            "spread_sd": self.spread_sd,
            "description": self.description,
            "basis": self.basis,
            "sensitivity_sd": list(self.sensitivity_sd),
            "excludes": list(self.excludes),
        }


_TRUE_WORDS = {"true", "yes", "y", "1"}


def _matches(cell, wanted) -> bool:
    """Whether a frame cell equals a rule value: booleans by truth, numbers by value, text ignoring case."""
    if category(cell) is None:
        return False
    if isinstance(wanted, (bool, np.bool_)):
        truth = bool(cell) if isinstance(cell, (bool, np.bool_, int, float, np.integer, np.floating)) else str(cell).strip().lower() in _TRUE_WORDS
        return truth == bool(wanted)
    if isinstance(wanted, (int, float)):
        try:
            return float(cell) == float(wanted)
        except (TypeError, ValueError):
            return False
    return str(cell).strip().lower() == str(wanted).strip().lower()


# Default bias classes. The numbers are stated judgements, not estimates: no empirical estimate
# of these biases for crash or crime studies was found in the sources read. They say how far a
# weaker design may plausibly move a log ratio; each class lists alternative prior SDs for a
# sensitivity rerun. Regression to the mean can only make cameras placed at high-count sites
# look better, so its mean is negative; the others have unknown sign. A study without a control
# group that is rated high risk of bias for that reason would otherwise be shifted twice for one
# flaw: the high-risk class therefore leaves out members of the uncontrolled class.
DEFAULT_BIAS_CLASSES: tuple[BiasClass, ...] = (
    BiasClass(
        "uncontrolled",
        (("design", ("before_after_no_control", "cross_section")), ("design_level", (1, 2))),
        prior_mean=0.0,
        prior_sd=0.25,
        spread_sd=0.15,
        description="no control group (before-after without control, cross-section, Maryland level 1-2)",
        basis="judgement: an SD of 0.25 lets the missing control move a ratio by up to a factor of about 1.6 "
              "either way (95%), for trends, other interventions and selection that a control would remove",
        sensitivity_sd=(0.1, 0.5),
    ),
    BiasClass(
        "high_risk_of_bias",
        (("rob_overall", ("high",)),),
        prior_mean=0.0,
        prior_sd=0.15,
        spread_sd=0.10,
        description="overall risk of bias judged high (studies already in the uncontrolled class are not counted again)",
        basis="judgement: an SD of 0.15 is a factor of about 1.34 either way (95%) for flaws other than a missing control",
        sensitivity_sd=(0.05, 0.3),
        excludes=("uncontrolled",),
    ),
    BiasClass(
        "regression_to_mean",
        (("regression_to_mean", ("not_corrected",)),),
        prior_mean=-0.10,
        prior_sd=0.10,
        spread_sd=0.05,
        description="sites chosen for high past counts without correction for regression to the mean "
                    "(risk of bias record, field regression_to_mean = not_corrected)",
        basis="judgement: regression to the mean can only exaggerate a benefit at sites picked for high counts "
              "(negative mean); a 10% exaggeration with SD 0.10 stands for selection of moderate extremity",
        sensitivity_sd=(0.05, 0.2),
    ),
)


def bias_memberships(frame: pd.DataFrame, classes) -> dict[str, np.ndarray]:
    """Which rows fall in each class, with ``excludes`` applied (one flaw counted once)."""
    hits = {c.name: c.members(frame) for c in classes}
    out = {}
    for c in classes:
        hit = hits[c.name].copy()
        for other in c.excludes:
            if other in hits:
                hit &= ~hits[other]
        out[c.name] = hit
    return out


def bias_prior_variants(classes=DEFAULT_BIAS_CLASSES) -> list[tuple[str, tuple[BiasClass, ...]]]:
    """The class sets of a bias-prior sensitivity analysis: one class's prior SD changed at a time."""
    variants = [("declared", tuple(classes))]
    for c in classes:
        for sd in c.sensitivity_sd:
            changed = tuple(dataclasses.replace(x, prior_sd=sd) if x.name == c.name else x for x in classes)
            variants.append((f"{c.name} prior SD {sd:g}", changed))
    return variants


def parse_bias_prior(text: str, classes=DEFAULT_BIAS_CLASSES) -> tuple[BiasClass, ...]:
    """Override one class's prior with "NAME:MEAN,SD[,SPREAD]"; returns the updated tuple."""
    name, _, args = text.partition(":")
    parts = [p for p in args.split(",") if p.strip()]
    if len(parts) not in (2, 3):
        raise InputError(f"bias prior {text!r}: use NAME:MEAN,SD or NAME:MEAN,SD,SPREAD")
    try:
        numbers = [float(p) for p in parts]
    except ValueError as exc:
        raise InputError(f"bias prior {text!r}: MEAN, SD and SPREAD must be numbers") from exc
    if numbers[1] <= 0 or (len(numbers) == 3 and numbers[2] < 0):
        raise InputError(f"bias prior {text!r}: SD must be > 0 and SPREAD >= 0")
    names = [c.name for c in classes]
    if name not in names:
        raise InputError(f"bias prior {text!r}: unknown class {name!r}; classes are {', '.join(names)}")
    out = []
    for c in classes:
        if c.name == name:
            spread = numbers[2] if len(numbers) == 3 else c.spread_sd
            c = dataclasses.replace(c, prior_mean=numbers[0], prior_sd=numbers[1], spread_sd=spread)
        out.append(c)
    return tuple(out)


@dataclass(frozen=True)
class MetaPriors:
    """Priors of the MCMC models. ``coef`` is for moderator effects; nu ~ Gamma(shape, rate)."""

    mu: Prior = NormalPrior(0.0, 1.0)
    tau: Prior = HalfNormalPrior(0.5)
    coef: Prior = NormalPrior(0.0, 1.0)
    # Gamma(2, 0.1) for the Student-t degrees of freedom: Juarez & Steel (2010, J. Bus. Econ. Stat.).
    nu_shape: float = 2.0
    nu_rate: float = 0.1

    @classmethod
    def make(cls, mu="normal:0,1", tau="halfnormal:0.5", coef="normal:0,1", nu_shape=2.0, nu_rate=0.1) -> "MetaPriors":
        coef_prior = parse_prior(coef, role="mu")
        if not isinstance(coef_prior, NormalPrior):
            raise InputError(f"coefficient prior must be normal:M,S, got {coef_prior.spec}")
        return cls(parse_prior(mu, role="mu"), parse_prior(tau, role="tau"), coef_prior, float(nu_shape), float(nu_rate))

    def to_dict(self) -> dict:
        return {"mu": self.mu.spec, "tau": self.tau.spec, "coef": self.coef.spec, "nu": f"gamma:{self.nu_shape:g},{self.nu_rate:g}"}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    moderators: tuple[str, ...] = ()
    student_t: bool = False
    bias_classes: tuple[BiasClass, ...] = ()

    @classmethod
    def named(cls, name: str, moderators=None, bias_classes=None) -> "ModelSpec":
        if name not in MODEL_NAMES:
            raise InputError(f"model {name!r}: use one of {', '.join(MODEL_NAMES)}")
        if moderators is None:
            moderators = DEFAULT_MODERATORS if name == "meta_regression" else ()
        if bias_classes is None:
            bias_classes = DEFAULT_BIAS_CLASSES if name == "bias_adjusted" else ()
        return cls(name, tuple(moderators), name == "robust", tuple(bias_classes))

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "moderators": list(self.moderators),
            "student_t": self.student_t,
            "bias_classes": [c.to_dict() for c in self.bias_classes],
        }


@dataclass
class Moderator:
    """Coding of one moderator: categorical (levels, reference, codes with -1 = missing) or numeric."""

    name: str
    kind: str
    levels: list[str] = field(default_factory=list)
    reference: str | None = None
    codes: np.ndarray | None = None
    values: np.ndarray | None = None
    center: float = 0.0

    @property
    def default(self):
        """The value of a site that states none: the reference level, or the mean of a numeric moderator."""
        return self.reference if self.kind == "categorical" else self.center

    @property
    def coefficient_names(self) -> list[str]:
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}[{level}]" for level in self.levels if level != self.reference]

    def row(self, value) -> np.ndarray:
        """Design-matrix entries for one value (a level name or a number)."""
        if self.kind == "numeric":
            return np.array([float(value) - self.center])
        out = np.zeros(len(self.levels) - 1)
        others = [lv for lv in self.levels if lv != self.reference]
        if value != self.reference:
            out[others.index(value)] = 1.0
        return out

    def to_dict(self) -> dict:
        if self.kind == "numeric":
            return {"kind": "numeric", "center": self.center}
        return {"kind": "categorical", "levels": self.levels, "reference": self.reference}


@dataclass
class Design:
    """Everything the PyMC model needs from the frame, besides the priors."""

    ids: list[str]
    y: np.ndarray
    se: np.ndarray
    moderators: list[Moderator]
    coefficient_names: list[str]
    combos_x: np.ndarray  # (k, C, p) design rows for each level combination of each study
    combos_level: np.ndarray  # (k, C, M) level index per categorical moderator, -1 when known
    combos_valid: np.ndarray  # (k, C) bool
    has_missing: bool
    bias_names: list[str]
    bias_members: np.ndarray  # (k, B) 0/1
    bias_classes: list[BiasClass]
    notes: list[str]

    @property
    def k(self) -> int:
        return len(self.ids)

    def structure(self) -> dict:
        """What the compiled model depends on (all data except y and se)."""
        return {
            "k": self.k,
            "moderators": [m.to_dict() | {"name": m.name} for m in self.moderators],
            "combos_x": self.combos_x.round(12).tolist(),
            "combos_level": self.combos_level.tolist(),
            "combos_valid": self.combos_valid.tolist(),
            "bias": [c.to_dict() for c in self.bias_classes],
            "bias_members": self.bias_members.tolist(),
        }


def covariate_parts(moderators: list[Moderator], covariates: dict | None) -> list[np.ndarray]:
    """Design-matrix entries of a site, one array per moderator; moderators not given take their default."""
    covariates = dict(covariates or {})
    unknown = set(covariates) - {m.name for m in moderators}
    if unknown:
        raise InputError(f"covariate(s) {', '.join(sorted(unknown))} are not moderators of this model "
                         f"({', '.join(m.name for m in moderators) or 'none'})")
    parts = []
    for m in moderators:
        value = covariates.get(m.name, m.default)
        if m.kind == "categorical":
            value = category(value)
            if value not in m.levels:
                raise InputError(f"covariate {m.name}: level {value!r} is not in the data; levels are {', '.join(m.levels)}")
        parts.append(m.row(value))
    return parts


def _categorical(frame: pd.DataFrame, name: str) -> Moderator | None:
    labels = [category(v) for v in frame[name]]
    present = [lv for lv in labels if lv is not None]
    if not present:
        return None
    counts = pd.Series(present).value_counts()
    levels = sorted(counts.index.tolist())
    # Most common level is the reference; ties go to the alphabetically first.
    reference = sorted(counts[counts == counts.max()].index.tolist())[0]
    codes = np.array([levels.index(lv) if lv is not None else -1 for lv in labels], dtype=int)
    return Moderator(name, "categorical", levels, reference, codes)


def build_design(frame: pd.DataFrame, spec: ModelSpec, source: str = "effects") -> Design:
    frame = check_effects(frame, source=source)
    notes: list[str] = []
    moderators: list[Moderator] = []
    for name in spec.moderators:
        if name not in frame.columns:
            raise InputError(f"{source}: model {spec.name} needs moderator column {name!r}, which is absent")
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            values = numeric_vector(frame, name, source)
            if np.ptp(values) == 0:
                notes.append(f"moderator {name} is constant ({values[0]:g}); dropped")
                continue
            moderators.append(Moderator(name, "numeric", values=values, center=float(values.mean())))
            continue
        moderator = _categorical(frame, name)
        if moderator is None:
            notes.append(f"moderator {name} is not reported for any study; dropped")
            continue
        if len(moderator.levels) < 2:
            notes.append(f"moderator {name} has one reported level ({moderator.levels[0]}); dropped")
            continue
        missing = int((moderator.codes < 0).sum())
        if missing:
            notes.append(f"moderator {name}: {missing} stud{'y' if missing == 1 else 'ies'} without a value, averaged over levels")
        moderators.append(moderator)

    categorical = [m for m in moderators if m.kind == "categorical"]
    names = [n for m in moderators for n in m.coefficient_names]
    per_row_combos = []
    for i in range(len(frame)):
        options = []
        for m in categorical:
            code = int(m.codes[i])
            options.append([code] if code >= 0 else list(range(len(m.levels))))
        per_row_combos.append(list(itertools.product(*options)) if options else [()])
    n_combos = max(len(c) for c in per_row_combos)
    k, p = len(frame), len(names)
    combos_x = np.zeros((k, n_combos, p))
    combos_level = np.full((k, n_combos, max(len(categorical), 1)), -1, dtype=int)
    combos_valid = np.zeros((k, n_combos), dtype=bool)
    for i, combos in enumerate(per_row_combos):
        for c, combo in enumerate(combos):
            parts = []
            level_of = dict(zip([m.name for m in categorical], combo))
            for m in moderators:
                if m.kind == "numeric":
                    parts.append(m.row(m.values[i]))
                else:
                    parts.append(m.row(m.levels[level_of[m.name]]))
            combos_x[i, c] = np.concatenate(parts) if parts else np.zeros(0)
            for j, m in enumerate(categorical):
                if m.codes[i] < 0:
                    combos_level[i, c, j] = combo[j]
            combos_valid[i, c] = True

    bias_classes, members = [], []
    memberships = bias_memberships(frame, spec.bias_classes)
    for bias in spec.bias_classes:
        hit = memberships[bias.name]
        if hit.any():
            bias_classes.append(bias)
            members.append(hit.astype(float))
            notes.append(f"bias class {bias.name}: {int(hit.sum())} stud{'y' if hit.sum() == 1 else 'ies'} ({', '.join(frame['id'][hit][:6])}{', ...' if hit.sum() > 6 else ''})")
        else:
            notes.append(f"bias class {bias.name}: no studies")
    if spec.bias_classes and not bias_classes:
        notes.append("no study falls in any bias class: the bias-adjusted model equals the random-effects model")
    bias_members = np.column_stack(members) if members else np.zeros((k, 0))
    return Design(
        ids=frame["id"].tolist(),
        y=frame["yi"].to_numpy(dtype=float),
        se=np.sqrt(frame["vi"].to_numpy(dtype=float)),
        moderators=moderators,
        coefficient_names=names,
        combos_x=combos_x,
        combos_level=combos_level,
        combos_valid=combos_valid,
        has_missing=bool((combos_level >= 0).any()),
        bias_names=[b.name for b in bias_classes],
        bias_members=bias_members,
        bias_classes=bias_classes,
        notes=notes,
    )


def build_pymc_model(design: Design, spec: ModelSpec, priors: MetaPriors):
    """The PyMC model (non-centred) for a design; data containers ``y_obs`` and ``se``."""
    import pymc as pm
    import pytensor.tensor as pt

    coords = {"study": list(range(design.k))}
    if design.coefficient_names:
        coords["coef"] = design.coefficient_names
    if design.bias_names:
        coords["bias_class"] = design.bias_names
    spread_classes = [c for c in design.bias_classes if c.spread_sd > 0]
    if spread_classes:
        coords["spread_class"] = [c.name for c in spread_classes]

    with pm.Model(coords=coords) as model:
        y = pm.Data("y_obs", design.y, dims="study")
        se = pm.Data("se", design.se, dims="study")
        mu = priors.mu.to_pymc("mu")
        tau = priors.tau.to_pymc("tau")
        if spec.student_t:
            nu = pm.Gamma("nu", alpha=priors.nu_shape, beta=priors.nu_rate)
            z = pm.StudentT("z", nu=nu, mu=0.0, sigma=1.0, dims="study")
        else:
            z = pm.Normal("z", 0.0, 1.0, dims="study")

        shift = pt.zeros(design.k)
        variance = pt.square(tau) * pt.ones(design.k)
        if design.bias_names:
            bias = pm.Normal(
                "bias",
                mu=np.array([c.prior_mean for c in design.bias_classes]),
                sigma=np.array([c.prior_sd for c in design.bias_classes]),
                dims="bias_class",
            )
            shift = shift + pt.dot(design.bias_members, bias)
            if spread_classes:
                omega = pm.HalfNormal("bias_spread", sigma=np.array([c.spread_sd for c in spread_classes]), dims="spread_class")
                columns = [design.bias_names.index(c.name) for c in spread_classes]
                variance = variance + pt.dot(design.bias_members[:, columns], pt.square(omega))
        scale = pt.sqrt(variance)

        if not design.coefficient_names:
            pm.Normal("y", mu=mu + shift + scale * z, sigma=se, observed=y, dims="study")
            return model

        beta = pm.Normal("beta", mu=priors.coef.mean, sigma=priors.coef.sd, dims="coef")
        if not design.has_missing:
            eta = mu + pt.dot(design.combos_x[:, 0, :], beta)
            pm.Normal("y", mu=eta + shift + scale * z, sigma=se, observed=y, dims="study")
            return model

        # Missing moderator values: average the likelihood over the levels, weighted by
        # level probabilities that the studies with a reported value inform.
        categorical = [m for m in design.moderators if m.kind == "categorical"]
        log_weight = pt.zeros(design.combos_valid.shape)
        for j, m in enumerate(categorical):
            coords_name = f"level_{m.name}"
            model.add_coord(coords_name, m.levels)
            probs = pm.Dirichlet(f"p_{m.name}", a=np.ones(len(m.levels)), dims=coords_name)
            observed = np.bincount(m.codes[m.codes >= 0], minlength=len(m.levels))
            pm.Potential(f"levels_{m.name}", pt.sum(observed * pt.log(probs)))
            index = design.combos_level[:, :, j]
            log_weight = log_weight + pt.where(index >= 0, pt.log(probs)[np.maximum(index, 0)], 0.0)
        eta = mu + pt.tensordot(design.combos_x, beta, axes=[[2], [0]])  # (k, C)
        theta = eta + (shift + scale * z)[:, None]
        log_lik = -0.5 * np.log(2 * np.pi) - pt.log(se)[:, None] - 0.5 * pt.square((y[:, None] - theta) / se[:, None])
        masked = pt.where(design.combos_valid, log_weight + log_lik, -np.inf)
        pm.Potential("y_mixture", pt.sum(pt.logsumexp(masked, axis=1)))
    return model
