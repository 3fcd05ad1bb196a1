"""Value of information of data gaps, by preposterior simulation on the exact model.

For each gap we describe the data that would fill it (a scenario): either a study of the
target itself (``kind="target"``, e.g. two years of before/after counts at the camera
sites) or more studies elsewhere (``kind="external"``). We then simulate what those data
could look like under the current posterior, update the posterior for each simulated data
set, and ask how much the 95% interval for the target's effect narrows and how much
P(benefit) moves. Updates are exact and cheap: adding a study to the normal-normal model
reweights the tau grid and updates mu | tau in closed form.

What the headline number is: the expected relative narrowing of the 95% interval for the
target's effect if the stated study were done, with the stated size, over-dispersion and
bias. It is not a value in money or lives; every figure carries its assumed design
(``assumed_design``) and bias (``assumed_bias``), and ``voi_sensitivity`` shows how it moves
with study size, over-dispersion and bias SD. A study's bias is Normal(bias_mean, bias_sd^2)
on the log scale: the simulated estimates carry it, the updated analysis corrects the mean
and carries the SD as extra variance, and ``p_benefit_mean_after_bias_ignored`` shows where
P(benefit) would drift if the bias were not corrected. Where an analysis declares a decision
with its costs (``Decision``), the expected value of sample information (EVSI) is given under
the stated loss; otherwise none is.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from research.bayes.exact import check_exact_inputs, tau_grid
from research.bayes.frame import check_effects
from research.bayes.mixture import mixture_cdf, mixture_quantile
from research.bayes.priors import HalfNormalPrior, NormalPrior, Prior
from research.errors import InputError

KINDS = ("target", "external")
RANK_BY = ("narrowing", "abs_change_p", "p_decision_change", "evsi")
_COUNT_KEYS = ("before", "after", "control_before", "control_after")
MEASURE = ("expected relative narrowing of the 95% interval for the target's effect if the stated study were done "
           "(preposterior simulation on the exact model)")

# Default bias SD (log scale) of a new study of the target itself when the scenario states none.
# A judgement, not an estimate: a local evaluation shares the problems of its design (site
# selection, spill-over, changes in recording) that a pooled literature averages over. 0.10 is a
# ratio off by a factor of up to about 1.2 either way (95%) for a study with comparison sites;
# 0.20 (about 1.5) for one without, where trends and recording changes are not removed.
DEFAULT_TARGET_BIAS_SD = {"controlled": 0.10, "uncontrolled": 0.20}
DEFAULT_BIAS_BASIS = ("default for a local study ({design}): bias SD {sd:g} on the log scale, a judgement "
                      "(about a factor of {factor:.2f} either way, 95%), not an estimate")


@dataclass(frozen=True)
class GapScenario:
    """The data that would fill one gap.

    Give the sampling variance of the new log ratio directly (``new_vi``) or the expected
    counts it would rest on (``counts``: before, after and optionally control_before,
    control_after, plus an ``overdispersion`` factor >= 1). ``bias_mean``/``bias_sd``
    describe the design's own bias (e.g. an uncontrolled before-after); the simulated
    estimates carry it, and the analysis corrects the mean and carries the bias uncertainty
    as extra variance. A study of the target without a stated ``bias_sd`` gets
    ``DEFAULT_TARGET_BIAS_SD`` (a judgement, said so beside the figure); ``bias_basis`` says
    where a stated bias comes from. ``study_cost`` (in a declared decision's unit) turns the
    EVSI into a net value.
    """

    gap_id: str
    description: str = ""
    kind: str = "target"
    new_vi: float | None = None
    counts: dict | None = None
    n_studies: int = 1
    bias_mean: float = 0.0
    bias_sd: float | None = None
    bias_basis: str | None = None
    study_cost: float | None = None

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
        if data.get("bias_sd") is None:
            data.pop("bias_sd", None)
        scenario = cls(**data)
        scenario.variance()  # validates
        return scenario

    @property
    def controlled(self) -> bool | None:
        """Whether the study has comparison sites (None when only its variance is given)."""
        return None if self.counts is None else "control_before" in self.counts

    @property
    def bias_sd_used(self) -> float:
        """The stated bias SD, or the default for a study of the target (0 for studies elsewhere)."""
        if self.bias_sd is not None:
            return float(self.bias_sd)
        if self.kind != "target":
            return 0.0
        return DEFAULT_TARGET_BIAS_SD["uncontrolled" if self.controlled is False else "controlled"]

    @property
    def bias_statement(self) -> str:
        sd = self.bias_sd_used
        text = f"bias Normal({self.bias_mean:g}, {sd:g}^2) on the log scale"
        if self.bias_sd is None and self.kind == "target":
            design = "without comparison sites" if self.controlled is False else "with comparison sites"
            return f"{text}; {DEFAULT_BIAS_BASIS.format(design=design, sd=sd, factor=math.exp(1.96 * sd))}"
        if self.bias_basis:
            return f"{text}; {self.bias_basis}"
        if self.bias_sd is None:
            return f"{text}; studies elsewhere enter the random-effects model, whose heterogeneity carries their biases"
        return f"{text}; as stated in the scenario"

    @property
    def design_statement(self) -> str:
        """The study assumed, in words: where, its size and the standard error it implies."""
        se = math.sqrt(self.sampling_variance())
        where = "one new study of the target itself" if self.kind == "target" else f"{int(self.n_studies)} new stud{'y' if int(self.n_studies) == 1 else 'ies'} elsewhere"
        if self.counts is not None:
            counts = dict(self.counts)
            od = float(counts.pop("overdispersion", 1.0))
            parts = [f"{k.replace('_', ' ')} {float(v):g}" for k, v in counts.items()]
            size = f"expected counts {', '.join(parts)}, over-dispersion {od:g}"
        else:
            size = "size given as its standard error"
        return f"{where}: {size}; standard error {se:.3f} on the log scale{' each' if int(self.n_studies) > 1 else ''}"

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
        if self.bias_sd is not None and not (math.isfinite(float(self.bias_sd)) and self.bias_sd >= 0):
            raise InputError(f"value of information: scenario {self.gap_id}: bias_sd must be >= 0")
        if not math.isfinite(float(self.bias_mean)):
            raise InputError(f"value of information: scenario {self.gap_id}: bias_mean must be a finite number")
        if self.study_cost is not None and not self.study_cost >= 0:
            raise InputError(f"value of information: scenario {self.gap_id}: study_cost must be >= 0")
        if int(self.n_studies) < 1:
            raise InputError(f"value of information: scenario {self.gap_id}: n_studies must be >= 1")
        if self.kind == "target" and int(self.n_studies) != 1:
            raise InputError(f"value of information: scenario {self.gap_id}: a target study is one study; put its size into new_vi or counts")
        return self.sampling_variance() + self.bias_sd_used**2


@dataclass(frozen=True)
class Decision:
    """A declared decision about the target, for the expected value of sample information.

    Two actions: adopt the intervention at the target, or not. Adopting when the effect at the
    target is theta (log ratio, < 0 = fewer events) gains ``value_per_event`` for each event
    avoided, ``events_without * (1 - exp(theta))``, and costs ``cost``; not adopting gains 0.
    The loss is the net benefit forgone by the chosen action against the best one, linear in
    events avoided (risk-neutral). ``unit`` names the money (or other) unit; ``basis`` says
    where the numbers come from.
    """

    events_without: float
    value_per_event: float
    cost: float
    unit: str
    basis: str
    horizon: str = ""

    def __post_init__(self):
        for name in ("events_without", "value_per_event", "cost"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"value of information: decision field {name} must be a number >= 0")
        if not str(self.unit).strip() or not str(self.basis).strip():
            raise InputError("value of information: a decision needs its unit and the basis of its numbers")

    @classmethod
    def from_dict(cls, data) -> "Decision":
        if isinstance(data, Decision):
            return data
        if not isinstance(data, dict):
            raise InputError("value of information: decision must be a mapping")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"value of information: decision: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise InputError(f"value of information: decision: {exc}") from exc

    @property
    def loss(self) -> str:
        return ("opportunity loss = net benefit of the best action minus that of the chosen one; net benefit of "
                f"adopting = {self.value_per_event:g} {self.unit} x {self.events_without:g} events x (1 - ratio) - "
                f"{self.cost:g} {self.unit}; of not adopting = 0")

    def expected_net_benefit(self, weights, means, sds):
        """E[net benefit of adopting] under normal mixtures (last axis = components)."""
        expected_ratio = np.sum(weights * np.exp(means + 0.5 * np.asarray(sds) ** 2), axis=-1)
        return self.value_per_event * self.events_without * (1.0 - expected_ratio) - self.cost

    def to_dict(self) -> dict:
        return {"events_without": self.events_without, "value_per_event": self.value_per_event, "cost": self.cost,
                "unit": self.unit, "basis": self.basis, "horizon": self.horizon, "loss": self.loss}


class VoiResult:
    """The ranked gaps (best first), with the table and the current state.

    ``rows`` are the ranked gaps as dicts (iterating, indexing and ``len`` go through them);
    ``table`` is the same rows as a DataFrame; ``width_now`` and ``p_benefit_now`` describe
    the prediction for the target before any new data.
    """

    def __init__(self, table: pd.DataFrame, width_now: float, p_benefit_now: float, threshold: float,
                 decision_probability: float, n_sim: int, rank_by: str, decision: Decision | None = None,
                 evpi: float | None = None, net_benefit_now: float | None = None):
        self.rows: list[dict] = table.to_dict(orient="records")
        self.table = table
        self.width_now = width_now
        self.p_benefit_now = p_benefit_now
        self.threshold = threshold
        self.decision_probability = decision_probability
        self.n_sim = n_sim
        self.rank_by = rank_by
        self.decision = decision
        self.evpi = evpi
        self.net_benefit_now = net_benefit_now
        self.measure = MEASURE

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict:
        return {
            "measure": self.measure,
            "width_now": self.width_now,
            "p_benefit_now": self.p_benefit_now,
            "threshold": self.threshold,
            "decision_probability": self.decision_probability,
            "n_sim": self.n_sim,
            "rank_by": self.rank_by,
            "decision": self.decision.to_dict() if self.decision else None,
            "evpi": self.evpi,
            "net_benefit_now": self.net_benefit_now,
            "gaps": self.table.to_dict(orient="records"),
        }

    def summary(self) -> str:
        columns = ["rank", "gap_id", "kind", "vi_effective", "width_expected", "narrowing", "abs_change_p", "p_decision_change"]
        if self.decision:
            columns.append("evsi")
        shown = self.table[columns]
        lines = [
            "Value of information of data gaps (preposterior simulation, exact model)",
            f"measure: {self.measure}",
            f"now: 95% interval width for the target {self.width_now:.4f}, P(effect < {self.threshold:g}) = {self.p_benefit_now:.4f}",
            f"decision: benefit established when P >= {self.decision_probability:g}; {self.n_sim} simulations per gap; ranked by {self.rank_by}",
            shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"),
            "assumed for each figure:",
        ]
        for row in self.table.itertuples():
            lines.append(f"  {row.gap_id}: {row.assumed_design}; {row.assumed_bias}")
        if self.decision:
            lines.append(f"loss: {self.decision.loss} (basis: {self.decision.basis})")
            lines.append(f"expected value of perfect information: {self.evpi:.4g} {self.decision.unit}")
        else:
            lines.append("no decision with costs declared: no expected value of sample information")
        return "\n".join(lines)


def _interval_bounds(weights, means, sds, tol: float = 1e-5) -> np.ndarray:
    """2.5% and 97.5% quantiles of many normal mixtures (rows), by bisection to ``tol`` on the log scale.

    The same answer as ``mixture_quantile`` to within ``tol``, in about a third of the steps:
    interval widths here are compared in their third decimal.
    """
    probs = np.array([0.025, 0.975])
    live = weights > 0
    lo = np.broadcast_to(np.where(live, means - 12.0 * sds, np.inf).min(axis=-1)[:, None], (weights.shape[0], 2)).copy()
    hi = np.broadcast_to(np.where(live, means + 12.0 * sds, -np.inf).max(axis=-1)[:, None], (weights.shape[0], 2)).copy()
    w, m, sd = weights[:, None, :], means[:, None, :], sds[:, None, :]
    steps = int(np.ceil(np.log2(max(float(np.max(hi - lo)), tol) / tol)))
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        below = np.sum(w * special.ndtr((mid[..., None] - m) / sd), axis=-1) < probs
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)


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
    decision: Decision | dict | None = None,
) -> VoiResult:
    """Rank data gaps by how much filling them would sharpen the prediction for the target.

    The target's effect is, before new data, the predictive distribution for a new
    setting. ``narrowing`` is the expected relative shrinkage of its 95% interval;
    ``abs_change_p`` the expected absolute change in P(effect < threshold);
    ``p_decision_change`` the probability that "benefit established" (P >= decision_probability)
    would flip. Monte Carlo standard errors are reported alongside. With a ``decision``
    (see ``Decision``), ``evsi`` is the expected value of sample information under its loss,
    and ``net_value`` subtracts a scenario's ``study_cost`` where one is stated.
    """
    if rank_by not in RANK_BY:
        raise InputError(f"value of information: rank_by must be one of {', '.join(RANK_BY)}")
    decision = Decision.from_dict(decision) if decision is not None else None
    if rank_by == "evsi" and decision is None:
        raise InputError("value of information: rank_by evsi needs a declared decision")
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
    evpi = net_now = None
    if decision is not None:
        net_now = float(decision.expected_net_benefit(base_w, base_mean, base_sd))
        # EVPI: the decision taken knowing the target's effect, by quadrature over the predictive.
        z, h = np.polynomial.hermite_e.hermegauss(60)
        h = h / h.sum()
        theta = base_mean[:, None] + base_sd[:, None] * z[None, :]
        gain = decision.value_per_event * decision.events_without * (1.0 - np.exp(theta)) - decision.cost
        evpi = float(np.sum(base_w[:, None] * h[None, :] * np.maximum(gain, 0.0)) - max(net_now, 0.0))

    rng = np.random.default_rng(seed)
    n = int(n_sim)
    rows = []
    for scenario in scenarios:
        v = scenario.variance()
        v_sampling = scenario.sampling_variance()
        bias_sd = scenario.bias_sd_used
        # Draw the truth from the current posterior, then the study's bias, then data.
        index = rng.choice(tau2.size, size=n, p=base_w)
        mu = rng.normal(base_mean[index], np.sqrt(base_var[index]))
        tau = np.sqrt(tau2[index])
        if scenario.kind == "target":
            thetas = rng.normal(mu, tau)[:, None]
        else:
            thetas = rng.normal(mu[:, None], tau[:, None], size=(n, int(scenario.n_studies)))
        bias = rng.normal(scenario.bias_mean, bias_sd, size=thetas.shape) if bias_sd > 0 else np.full(thetas.shape, float(scenario.bias_mean))
        raw_y = rng.normal(thetas + bias, math.sqrt(v_sampling))
        # The analysis corrects the stated mean bias and carries its SD as extra variance.
        new_y = raw_y - scenario.bias_mean
        weights, out_mean, out_sd = target_after(base_w, base_mean, base_var, tau2, new_y, v, scenario.kind)
        bounds = _interval_bounds(weights, out_mean, out_sd)
        widths = bounds[:, 1] - bounds[:, 0]
        p_after = mixture_cdf(np.full(n, threshold), weights, out_mean, out_sd)
        change = np.abs(p_after - p_now)
        flips = (p_after >= decision_probability) != decided_now
        # Had the analysis taken the estimate at face value (no bias correction, sampling variance only):
        naive = target_after(base_w, base_mean, base_var, tau2, raw_y, v_sampling, scenario.kind)
        p_naive = mixture_cdf(np.full(n, threshold), *naive)
        extra = {}
        if decision is not None:
            value = np.maximum(decision.expected_net_benefit(weights, out_mean, out_sd), 0.0)
            evsi = float(value.mean() - max(net_now, 0.0))
            extra = {"evsi": evsi, "mcse_evsi": float(value.std(ddof=1) / math.sqrt(n)),
                     "net_value": evsi - scenario.study_cost if scenario.study_cost is not None else None}
        rows.append(
            {
                "gap_id": scenario.gap_id,
                "description": scenario.description,
                "kind": scenario.kind,
                "assumed_design": scenario.design_statement,
                "assumed_bias": scenario.bias_statement,
                "bias_mean": float(scenario.bias_mean),
                "bias_sd": bias_sd,
                "bias_sd_default": scenario.bias_sd is None and scenario.kind == "target",
                "vi_sampling": v_sampling,
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
                "p_benefit_mean_after_bias_ignored": float(p_naive.mean()),
                **extra,
            }
        )
    table = pd.DataFrame(rows).sort_values(rank_by, ascending=False, kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    return VoiResult(table, width_now, p_now, float(threshold), float(decision_probability), int(n_sim), rank_by,
                     decision, evpi, net_now)


# --------------------------------------------------------------------------- sensitivity

DEFAULT_SIZE_FACTORS = (0.1, 0.5, 2.0)
DEFAULT_OVERDISPERSIONS = (1.0, 3.0)
DEFAULT_BIAS_SDS = (0.0, 0.1, 0.2, 0.3)


def _vary(scenario: GapScenario, factor: str, value: float) -> GapScenario:
    """The scenario with one assumption changed; unchanged when the assumption does not apply."""
    if factor == "study size":
        if scenario.counts is not None:
            counts = {k: (float(v) * value if k != "overdispersion" else v) for k, v in scenario.counts.items()}
            return dataclasses.replace(scenario, counts=counts)
        return dataclasses.replace(scenario, new_vi=float(scenario.new_vi) / value)
    if factor == "over-dispersion":
        if scenario.counts is None:
            return scenario
        return dataclasses.replace(scenario, counts={**scenario.counts, "overdispersion": value})
    if factor == "bias SD":
        return dataclasses.replace(scenario, bias_sd=value)
    raise ValueError(factor)


@dataclass
class VoiSensitivity:
    """Expected narrowing and rank of each gap as one assumption changes for all gaps at once.

    ``table`` has one row per (factor, value, gap): factor is "declared", "study size" (counts
    or precision multiplied by value), "over-dispersion" (count scenarios only) or "bias SD";
    ``order_changed`` says whether the ranking of the gaps differs from the declared one.
    """

    table: pd.DataFrame
    n_sim: int
    seed: int

    def to_dict(self) -> dict:
        return {"n_sim": self.n_sim, "seed": self.seed, "rows": self.table.to_dict(orient="records")}

    def summary(self) -> str:
        wide = self.table.pivot_table(index=["factor", "value"], columns="gap_id", values="narrowing", sort=False)
        changed = self.table.groupby(["factor", "value"], sort=False)["order_changed"].first()
        wide["ranking changed"] = changed
        return ("Sensitivity of the expected interval narrowing (one assumption changed for every gap at once; "
                f"{self.n_sim} simulations, common random numbers)\n" + wide.to_string(float_format=lambda v: f"{v:.3f}"))


def voi_sensitivity(frame: pd.DataFrame, scenarios: list, *, size_factors=DEFAULT_SIZE_FACTORS,
                    overdispersions=DEFAULT_OVERDISPERSIONS, bias_sds=DEFAULT_BIAS_SDS, n_sim: int = 400, seed: int = 0,
                    **kwargs) -> VoiSensitivity:
    """Rerun ``value_of_information`` with study size, over-dispersion and bias SD changed in turn."""
    scenarios = [GapScenario.from_dict(x) for x in scenarios]
    variants = [("declared", 1.0)]
    variants += [("study size", float(v)) for v in size_factors]
    variants += [("over-dispersion", float(v)) for v in overdispersions]
    variants += [("bias SD", float(v)) for v in bias_sds]
    for factor, value in variants[1:]:
        if not (math.isfinite(value) and (value > 0 if factor == "study size" else value >= (1 if factor == "over-dispersion" else 0))):
            raise InputError(f"value of information: sensitivity {factor} value {value:g} is out of range")
    rows, declared_order = [], None
    for factor, value in variants:
        changed = scenarios if factor == "declared" else [_vary(x, factor, value) for x in scenarios]
        result = value_of_information(frame, changed, n_sim=n_sim, seed=seed, **kwargs)
        order = list(result.table["gap_id"])
        declared_order = declared_order or order
        label = "as declared" if factor == "declared" else (f"x{value:g}" if factor == "study size" else f"{value:g}")
        for row in result.table.itertuples():
            rows.append({"factor": factor, "value": label, "gap_id": row.gap_id,
                         "narrowing": row.narrowing, "mcse_narrowing": row.mcse_narrowing, "rank": int(row.rank),
                         "bias_sd": row.bias_sd, "vi_effective": row.vi_effective,
                         "order_changed": order != declared_order})
    return VoiSensitivity(pd.DataFrame(rows), int(n_sim), int(seed))


# --------------------------------------------------------------------------- gap register order

GAP_RANK_RULE = (
    "Gaps are ordered in four groups: (1) gaps of an analysis that could not produce any estimate: without a "
    "model no value of information can be computed, and such an analysis needs its gaps filled first; (2) gaps "
    "with a value-of-information estimate, by expected narrowing of the 95% interval under their stated study; "
    "(3) other gaps of an analysis that ran; (4) the rest. Within groups 1, 3 and 4, gaps linked to more records "
    "come first."
)
GAP_GROUPS = {1: "gap of an analysis without an estimate", 2: "value of information estimated",
              3: "limits an analysis", 4: "other"}


def gap_group(blocks_analysis: bool, has_voi: bool, limits_analysis: bool) -> int:
    """The group of a gap under ``GAP_RANK_RULE``."""
    if blocks_analysis:
        return 1
    if has_voi:
        return 2
    return 3 if limits_analysis else 4


def gap_rank_key(gap_id: str, blocks_analysis: bool, narrowing: float | None, limits_analysis: bool, n_related: int) -> tuple:
    """Sort key implementing ``GAP_RANK_RULE``."""
    group = gap_group(blocks_analysis, narrowing is not None, limits_analysis)
    within = -(narrowing or 0.0) if group == 2 else -n_related
    return (group, within, gap_id)


__all__ = ["Decision", "GAP_GROUPS", "GAP_RANK_RULE", "GapScenario", "MEASURE", "VoiResult", "VoiSensitivity", "gap_group",
           "gap_rank_key", "target_after", "value_of_information", "voi_sensitivity"]
