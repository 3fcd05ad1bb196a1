"""Small-study effects and publication bias: Egger's test, trim-and-fill, PET-PEESE, 3PSM.

Egger's regression test and trim-and-fill follow metafor 3.8 (``regtest``, ``trimfill``);
PET-PEESE is the conditional estimator of Stanley & Doucouliagos built from two such regressions;
the step-function selection model follows metafor's ``selmodel(type="stepfun")`` (Vevea & Hedges),
with one step at p = .025 giving the three-parameter selection model (3PSM).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from research.errors import ConvergenceError, InputError
from research.meta._core import Fit, check_rank, inv_pd, p_phrase, require_intercept_only

# --------------------------------------------------------------------------- Egger / PET / PEESE


@dataclass(frozen=True)
class RegressionTest:
    """Regression test for funnel-plot asymmetry (metafor's ``regtest``).

    ``z`` and ``p`` test the coefficient of the precision term; ``limit_estimate`` (with ``se``,
    ``ci_low``, ``ci_high``) is the intercept: the expected effect of a study with no sampling error.
    """

    predictor: str
    model: str
    z: float
    p: float
    df: int | None
    limit_estimate: float | None
    limit_se: float | None
    ci_low: float | None
    ci_high: float | None
    fit: Fit = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"predictor": self.predictor, "model": self.model, "z": self.z, "p": self.p, "df": self.df,
                "limit_estimate": self.limit_estimate, "limit_se": self.limit_se,
                "ci_low": self.ci_low, "ci_high": self.ci_high}

    def summary(self) -> str:
        """The test as metafor's ``regtest`` prints it."""
        model = ("weighted regression with multiplicative dispersion" if self.model == "lm"
                 else "the random-effects model with the predictor as a moderator")
        statistic = f"t({self.df})" if self.df is not None else "z"
        lines = ["Regression test for funnel plot asymmetry",
                 f"Model: {model}",
                 f"Predictor: {'standard error' if self.predictor == 'sei' else 'sampling variance'}",
                 f"Test for funnel plot asymmetry: {statistic} = {self.z:.4f}, {p_phrase(self.p)}"]
        if self.limit_estimate is not None:
            lines.append(f"Limit estimate (as the {'standard error' if self.predictor == 'sei' else 'variance'} "
                         f"goes to 0): b = {self.limit_estimate:.4f} (CI: {self.ci_low:.4f}, {self.ci_high:.4f})")
        return "\n".join(lines)


def regtest(result: Fit, predictor: str = "sei", model: str = "rma") -> RegressionTest:
    """Add the standard error (``"sei"``) or the variance (``"vi"``) as a moderator and test it.

    ``model="rma"``: the same random-effects model as ``result`` (metafor's default);
    ``model="lm"``: weighted least squares with a multiplicative error (the classic Egger test).
    """
    if predictor not in ("sei", "vi"):
        raise InputError(f"predictor must be 'sei' or 'vi', got {predictor!r}")
    if model not in ("rma", "lm"):
        raise InputError(f"model must be 'rma' or 'lm', got {model!r}")
    extra = np.sqrt(result.vi) if predictor == "sei" else result.vi
    if np.ptp(extra) == 0:
        raise InputError(f"all studies have the same sampling variance, so {predictor} cannot be a predictor")
    X = np.column_stack([result.X, extra])
    names = [*result.coef_names, predictor]
    check_rank(X, names)
    if model == "rma":
        fit = result.refit(X=X, coef_names=names, with_r2=False)
    else:
        if result.k <= X.shape[1]:  # the residual variance needs k - p > 0; otherwise every SE is 0 or undefined
            raise InputError(f"{result.k} studies for {X.shape[1]} coefficients leave no degrees of freedom "
                             "for the residual variance; at least one more study is needed")
        # weighted least squares with estimated residual variance = EE weights, t tests with k - p df
        fit = result.refit(X=X, coef_names=names, labels=result.labels, method="EE", test="hksj", tau2=None,
                           with_r2=False)
    z = float(fit.statistic[-1])
    p = float(fit.pvalues[-1])
    if result.intercept_only:
        limit = (float(fit.beta[0]), float(fit.se[0]), float(fit.ci_low[0]), float(fit.ci_high[0]))
    else:
        limit = (None, None, None, None)
    return RegressionTest(predictor, model, z, p, fit.df, *limit, fit=fit)


def egger(result: Fit) -> RegressionTest:
    """Egger's regression test as metafor's ``regtest()`` default: SE as moderator in the same model."""
    return regtest(result, "sei", "rma")


@dataclass(frozen=True)
class PetPeese:
    """PET and PEESE limit estimates and the conditional choice between them."""

    pet: RegressionTest
    peese: RegressionTest
    alpha: float

    @property
    def chosen(self) -> str:
        """PEESE when PET finds a non-zero effect (two-sided p < alpha), else PET."""
        return "PEESE" if self.pet_intercept_p < self.alpha else "PET"

    @property
    def pet_intercept_p(self) -> float:
        return float(self.pet.fit.pvalues[0])

    @property
    def estimate(self) -> float:
        return self.peese.limit_estimate if self.chosen == "PEESE" else self.pet.limit_estimate

    def to_dict(self) -> dict[str, Any]:
        return {"pet": self.pet.to_dict(), "peese": self.peese.to_dict(), "alpha": self.alpha,
                "pet_intercept_p": self.pet_intercept_p, "chosen": self.chosen, "estimate": self.estimate}

    def summary(self) -> str:
        """Both limit estimates and which one the conditional rule takes, and why."""
        rule = "differs" if self.chosen == "PEESE" else "does not differ"
        return "\n".join([
            "PET-PEESE limit estimates (the expected effect of a study without sampling error)",
            f"PET   (effect on standard error): b = {self.pet.limit_estimate:.4f} "
            f"(CI: {self.pet.ci_low:.4f}, {self.pet.ci_high:.4f}), intercept {p_phrase(self.pet_intercept_p)}",
            f"PEESE (effect on variance):       b = {self.peese.limit_estimate:.4f} "
            f"(CI: {self.peese.ci_low:.4f}, {self.peese.ci_high:.4f})",
            f"Chosen: {self.chosen}, because the PET intercept {rule} from 0 at alpha = {self.alpha:g}",
        ])


def pet_peese(result: Fit, model: str = "lm", alpha: float = 0.05) -> PetPeese:
    """PET (effect on SE) and PEESE (effect on variance) limit estimates.

    ``model="lm"`` is the usual weighted least squares version; ``"rma"`` uses the random-effects
    model of ``result``. The conditional estimate is PEESE if the PET intercept differs from zero
    at two-sided level ``alpha``, else PET.
    """
    require_intercept_only(result, "PET-PEESE")
    return PetPeese(regtest(result, "sei", model), regtest(result, "vi", model), alpha)


# --------------------------------------------------------------------------- trim and fill


@dataclass(frozen=True)
class TrimFill:
    """Trim-and-fill result: ``k0`` studies imputed on ``side``; ``fit`` is the model with them."""

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float | None
    fit: Fit = field(repr=False)
    filled_yi: np.ndarray = field(repr=False)
    filled_vi: np.ndarray = field(repr=False)

    @property
    def estimate(self) -> float:
        return self.fit.estimate

    def to_dict(self) -> dict[str, Any]:
        return {"k0": self.k0, "se_k0": self.se_k0, "side": self.side, "estimator": self.estimator,
                "p_k0": self.p_k0, "estimate": self.estimate, "se": float(self.fit.se[0]),
                "ci_low": float(self.fit.ci_low[0]), "ci_high": float(self.fit.ci_high[0]),
                "tau2": self.fit.tau2}

    def summary(self) -> str:
        """The imputed studies and the estimate with them, as metafor's ``trimfill`` prints it."""
        lines = [f"Trim-and-fill ({self.estimator} estimator)",
                 f"Estimated number of missing studies on the {self.side} side: {self.k0} (SE = {self.se_k0:.4f})"]
        if self.p_k0 is not None:
            lines.append(f"Test of H0 (no missing studies): p = {self.p_k0:.4f}")
        lines.append(f"Estimate with the filled studies: {self.estimate:.4f} "
                     f"(CI: {float(self.fit.ci_low[0]):.4f}, {float(self.fit.ci_high[0]):.4f}), tau^2 = {self.fit.tau2:.4f}")
        lines.append("Filled studies are imputed, not observed: this is a sensitivity analysis, not a corrected effect.")
        return "\n".join(lines)


def _rank_first(values: np.ndarray) -> np.ndarray:
    ranks = np.empty(values.size, dtype=float)
    ranks[np.argsort(values, kind="stable")] = np.arange(1, values.size + 1)
    return ranks


def trimfill(result: Fit, side: str | None = None, estimator: str = "L0", max_iter: int = 100) -> TrimFill:
    """Duval & Tweedie's trim-and-fill (metafor's ``trimfill``; estimators L0, R0, Q0).

    ``side`` is where studies are missing; by default the side opposite to the sign of the
    Egger-type slope. As in metafor, the model with the filled studies uses z tests.
    """
    require_intercept_only(result, "trim-and-fill")
    estimator = estimator.upper()
    if estimator not in ("L0", "R0", "Q0"):
        raise InputError(f"estimator must be L0, R0 or Q0, got {estimator!r}")
    yi, vi = result.yi, result.vi
    if side is None:
        slope_X = np.column_stack([np.ones(result.k), np.sqrt(vi)])
        if np.ptp(slope_X[:, 1]) == 0:
            raise InputError("all studies have the same sampling variance: cannot choose the side for trim-and-fill")
        slope_fit = result.refit(X=slope_X, coef_names=["intercept", "sei"], test="z", level=0.95, tau2=None,
                                 with_r2=False)
        side = "right" if slope_fit.beta[1] < 0 else "left"
    elif side not in ("left", "right"):
        raise InputError(f"side must be 'left' or 'right', got {side!r}")

    y = -yi if side == "right" else yi.copy()
    order = np.argsort(y, kind="stable")
    y, v = y[order], vi[order]
    k = y.size
    ones = np.ones((k, 1))
    k0, k0_prev, iteration = 0, -1, 0
    se_k0 = math.nan
    beta = math.nan
    centred = y
    while k0 != k0_prev:
        k0_prev = k0
        iteration += 1
        if iteration > max_iter:
            raise ConvergenceError(f"trim-and-fill did not converge in {max_iter} iterations")
        n = k - k0
        trimmed = result.refit(yi=y[:n], vi=v[:n], X=ones[:n], coef_names=["intercept"], test="z", level=0.95,
                               tau2=None, with_r2=False)
        beta = trimmed.estimate
        centred = y - beta
        signed_ranks = np.sign(centred) * _rank_first(np.abs(centred))
        if estimator == "R0":
            negative = signed_ranks[signed_ranks < 0]
            if negative.size == 0:
                raise InputError("trim-and-fill R0: no study on one side of the estimate")
            k0_raw = (k - np.max(-negative)) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0_raw) + 2)
        else:
            s_r = float(signed_ranks[signed_ranks > 0].sum())
            if estimator == "L0":
                k0_raw = (4 * s_r - k * (k + 1)) / (2 * k - 1)
            else:
                k0_raw = k - 0.5 - math.sqrt(2 * k**2 - 4 * s_r + 0.25)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0_raw**3 + 27 * k0_raw**2 + 17 * k0_raw
                      - 18 * k * k0_raw**2 - 18 * k * k0_raw + 6 * k**2 * k0_raw) / 24
            if estimator == "L0":
                se_k0 = 4 * math.sqrt(var_sr) / (2 * k - 1)
            else:
                se_k0 = 2 * math.sqrt(var_sr) / math.sqrt((k - 0.5) ** 2 - k0_raw * (2 * k - k0_raw - 1))
        k0 = int(max(0, round(k0_raw)))  # round half to even, as R does
        se_k0 = max(0.0, se_k0)

    p_k0 = None
    if estimator == "R0":
        # probability of a run of at least k0 + 1 under symmetry (metafor's p.k0)
        m = np.arange(-1, k0)
        p_k0 = float(1 - np.sum(0.5 ** (m + 2)))
    if k0 > 0:
        mirrored = -(centred - beta) if side == "right" else centred - beta
        new_y = -mirrored[k - k0:]
        new_v = v[k - k0:]
        filled_y = np.concatenate([yi, new_y])
        filled_v = np.concatenate([vi, new_v])
        labels = [*result.labels, *(f"filled {i + 1}" for i in range(k0))]
        # metafor refits the filled data with its default test (z), whatever the original test
        fit = result.refit(yi=filled_y, vi=filled_v, X=np.ones((filled_y.size, 1)), coef_names=["intercept"],
                           labels=labels, test="z", tau2=None)
    else:
        new_y, new_v = np.empty(0), np.empty(0)
        fit = result
    return TrimFill(k0, float(se_k0), side, estimator, p_k0, fit, new_y, new_v)


# --------------------------------------------------------------------------- selection model


@dataclass(frozen=True)
class SelectionModel:
    """Step-function selection model fitted by maximum likelihood.

    ``delta`` holds the relative likelihood of publication in each p-value interval, the first
    fixed at 1. ``lrt`` tests delta = 1 (no selection) against the random-effects model.
    """

    steps: tuple[float, ...]
    alternative: str
    beta: np.ndarray
    se: np.ndarray
    tau2: float
    se_tau2: float
    delta: np.ndarray
    se_delta: np.ndarray
    ll: float
    lrt: float
    lrt_df: int
    lrt_p: float
    k_per_interval: tuple[int, ...]
    level: float

    @property
    def estimate(self) -> float:
        return float(self.beta[0])

    @property
    def z(self) -> np.ndarray:
        return self.beta / self.se

    @property
    def p(self) -> np.ndarray:
        return 2 * stats.norm.sf(np.abs(self.z))

    @property
    def ci_low(self) -> np.ndarray:
        return self.beta - stats.norm.isf((1 - self.level) / 2) * self.se

    @property
    def ci_high(self) -> np.ndarray:
        return self.beta + stats.norm.isf((1 - self.level) / 2) * self.se

    def to_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "alternative": self.alternative, "estimate": self.estimate,
                "se": float(self.se[0]), "ci_low": float(self.ci_low[0]), "ci_high": float(self.ci_high[0]),
                "tau2": self.tau2, "se_tau2": self.se_tau2, "delta": [float(d) for d in self.delta],
                "se_delta": [float(s) for s in self.se_delta], "ll": self.ll, "lrt": self.lrt,
                "lrt_df": self.lrt_df, "lrt_p": self.lrt_p, "k_per_interval": list(self.k_per_interval)}

    def summary(self) -> str:
        """Estimates, the test for selection and the relative publication likelihoods, as metafor's ``selmodel``."""
        cuts = [s for s in self.steps if s < 1]  # the steps end at 1, the top of the last interval
        bounds = [0.0, *cuts, 1.0]
        lines = [f"Step-function selection model (steps at p = {', '.join(f'{s:g}' for s in cuts)}; "
                 f"one-sided p-values, alternative '{self.alternative}')",
                 f"Estimate: {self.estimate:.4f} (SE = {float(self.se[0]):.4f}; "
                 f"CI: {float(self.ci_low[0]):.4f}, {float(self.ci_high[0]):.4f}), tau^2 = {self.tau2:.4f}",
                 f"Test for selection: LRT({self.lrt_df}) = {self.lrt:.4f}, {p_phrase(self.lrt_p)}",
                 "Relative likelihood of publication by p-value interval (the first fixed at 1):"]
        for low, high, delta, se, k in zip(bounds, bounds[1:], self.delta, self.se_delta, self.k_per_interval):
            spread = "" if np.isnan(se) else f" (SE = {se:.4f})"
            lines.append(f"  {low:g} < p <= {high:g}: {delta:.4f}{spread}, k = {k}")
        return "\n".join(lines)


_DELTA_MAX = 100.0
_TAU2_FLOOR = 10 * np.finfo(float).eps


class _StepLikelihood:
    def __init__(self, yi, vi, X, steps, alternative):
        self.yi, self.vi, self.X = yi, vi, X
        sd = np.sqrt(vi)
        upper = alternative == "greater"
        # effect-size cut-points where the one-sided p-value crosses each step
        cuts = np.outer(sd, stats.norm.isf(steps[:-1]) if upper else stats.norm.ppf(steps[:-1]))
        inf = np.full((yi.size, 1), np.inf)
        self.bounds = np.hstack([inf, cuts, -inf]) if upper else np.hstack([-inf, cuts, inf])
        self.upper = upper
        pvals = stats.norm.sf(yi / sd) if upper else stats.norm.cdf(yi / sd)
        self.group = np.searchsorted(steps, pvals, side="left")  # first step with p <= step

    def loglik(self, beta, tau2, delta) -> float:
        tau2 = 0.0 if tau2 < _TAU2_FLOOR else tau2
        yhat = self.X @ beta
        sei = np.sqrt(self.vi + tau2)[:, None]
        cdf = stats.norm.cdf((self.bounds - yhat[:, None]) / sei)
        mass = (cdf[:, :-1] - cdf[:, 1:]) if self.upper else (cdf[:, 1:] - cdf[:, :-1])
        a_i = mass @ delta
        return float(np.sum(np.log(delta[self.group]) + stats.norm.logpdf(self.yi, yhat, sei[:, 0]) - np.log(a_i)))


def _richardson_hessian(f, x: np.ndarray, r: int = 6, d: float = 0.1, eps: float = 1e-4, v: float = 2.0) -> np.ndarray:
    """Hessian by central differences with Richardson extrapolation (as numDeriv::hessian)."""
    n = x.size
    zero_tol = math.sqrt(np.finfo(float).eps / 7e-7)
    h0 = np.abs(d * x) + eps * (np.abs(x) < zero_tol)
    f0 = f(x)
    hdiag = np.zeros(n)
    hess = np.zeros((n, n))

    def extrapolate(approx: np.ndarray) -> float:
        approx = approx.copy()
        for m in range(1, r):
            for j in range(r - m):
                approx[j] = (approx[j + 1] * 4**m - approx[j]) / (4**m - 1)
        return float(approx[0])

    for i in range(n):
        h = h0.copy()
        approx = np.zeros(r)
        for s in range(r):
            e = np.zeros(n)
            e[i] = h[i]
            approx[s] = (f(x + e) - 2 * f0 + f(x - e)) / h[i] ** 2
            h = h / v
        hdiag[i] = extrapolate(approx)
        hess[i, i] = hdiag[i]
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            approx = np.zeros(r)
            for s in range(r):
                e = np.zeros(n)
                e[i] += h[i]
                e[j] += h[j]
                approx[s] = (f(x + e) - 2 * f0 + f(x - e) - hdiag[i] * h[i] ** 2 - hdiag[j] * h[j] ** 2) / (
                    2 * h[i] * h[j])
                h = h / v
            hess[i, j] = hess[j, i] = extrapolate(approx)
    return hess


def selmodel(result: Fit, steps: Sequence[float] = (0.025,), alternative: str = "greater") -> SelectionModel:
    """Step-function selection model; the default single step at .025 is the 3PSM.

    ``alternative="greater"`` when significant positive effects are more likely to be published,
    ``"less"`` for negative ones. Every interval above the first step must contain a study.
    """
    if alternative not in ("greater", "less"):
        raise InputError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    cut = sorted({float(s) for s in steps})
    if not cut or any(not 0 < s <= 1 for s in cut):
        raise InputError("steps must lie in (0, 1]")
    if cut[-1] != 1.0:
        cut.append(1.0)
    if result.method not in ("EE", "ML"):
        # as metafor: start from, and test against, the maximum-likelihood random-effects fit
        result = result.refit(method="ML", with_r2=False)
    step_arr = np.array(cut)
    n_delta = step_arr.size
    lik = _StepLikelihood(result.yi, result.vi, result.X, step_arr, alternative)
    counts = tuple(int(c) for c in np.bincount(lik.group, minlength=n_delta))
    # the first interval's delta is fixed at 1, so only the others need studies (as in metafor)
    empty = [i for i, c in enumerate(counts) if c == 0 and i > 0]
    if empty:
        bounds = [0.0, *cut]
        names = ", ".join(f"{bounds[i]:g} < p <= {bounds[i + 1]:g}" for i in empty)
        raise InputError(f"selection model: no study has a p-value in {names}")
    p = result.p
    fixed_tau2 = result.method == "EE" or result.tau2_fixed
    if result.k < p + (0 if fixed_tau2 else 1) + n_delta - 1:
        raise InputError(f"selection model: k = {result.k} is too small for {p + n_delta} parameters")

    def unpack(theta):
        beta = theta[:p]
        tau2 = result.tau2 if fixed_tau2 else math.exp(theta[p])
        free = theta[p + (0 if fixed_tau2 else 1):]
        delta = np.concatenate([[1.0], _DELTA_MAX / (1 + np.exp(-free))])
        return beta, tau2, delta

    def objective(theta):
        beta, tau2, delta = unpack(theta)
        value = -lik.loglik(beta, tau2, delta)
        return value if math.isfinite(value) else 1e300

    start = [*result.beta]
    if not fixed_tau2:
        start.append(math.log(result.tau2 + 0.001))
    start.extend([math.log(1 / (_DELTA_MAX - 1))] * (n_delta - 1))
    theta = np.array(start)
    best = None
    for _ in range(5):  # restart from the optimum until it stops moving
        opt = optimize.minimize(objective, theta, method="BFGS", jac="3-point",
                                options={"gtol": 1e-10, "maxiter": 10000})
        if best is not None and abs(best.fun - opt.fun) < 1e-12:
            best = opt if opt.fun < best.fun else best
            break
        best, theta = opt, opt.x
    if best is None or not np.isfinite(best.fun):
        raise ConvergenceError("selection model: the likelihood could not be maximised")
    beta, tau2, delta = unpack(best.x)
    tau2 = 0.0 if tau2 < _TAU2_FLOOR else tau2
    ll = lik.loglik(beta, tau2, delta)

    # standard errors from the Hessian on the natural scale (beta, tau2, free deltas)
    def negll_natural(x):
        b = x[:p]
        t2 = result.tau2 if fixed_tau2 else x[p]  # values below ~0 count as 0 inside loglik
        d = np.concatenate([[1.0], x[p + (0 if fixed_tau2 else 1):]])
        return -lik.loglik(b, t2, d)

    natural = np.concatenate([beta, [] if fixed_tau2 else [tau2], delta[1:]])
    try:
        cov = inv_pd(_richardson_hessian(negll_natural, natural))
        ses = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        ses = np.full(natural.size, np.nan)
    se_beta = ses[:p]
    se_tau2 = float("nan") if fixed_tau2 else float(ses[p])
    se_delta = np.concatenate([[np.nan], ses[p + (0 if fixed_tau2 else 1):]])

    lrt = max(0.0, -2 * (result.ll_ml - ll))
    lrt_df = n_delta - 1
    return SelectionModel(tuple(cut), alternative, beta, se_beta, float(tau2), se_tau2, delta, se_delta, ll, lrt,
                          lrt_df, float(stats.chi2.sf(lrt, lrt_df)), counts, result.level)
