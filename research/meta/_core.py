"""Numerical core of the random-effects model: weighted least squares, traces, tau² estimators.

Everything works on a k x p design matrix without ever forming a k x k matrix, so that a
meta-regression with k = 10,000 takes milliseconds. The residual-maker used throughout is
P = W - W X (X'WX)^-1 X'W; its traces are written in terms of small p x p matrices.

The tau² estimators reproduce metafor 3.8 ``rma.uni`` step by step (same starting values, same
Fisher-scoring updates with step halving, same stopping rule, same root finder), because metafor's
own stopping rules leave errors of order 1e-5 that would otherwise show up in a comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import numpy as np

from research.errors import ConvergenceError, InputError
from research.meta._roots import R_DEFAULT_TOL, uniroot

METHODS = ("REML", "ML", "DL", "PM", "HE", "SJ", "EB", "EE")
_ALIASES = {"FE": "EE", "CE": "EE"}


def normalise_method(method: str) -> str:
    key = str(method).upper()
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return key


@dataclass(frozen=True)
class Control:
    """Iteration settings; the defaults are metafor's."""

    threshold: float = 1e-5  # Fisher scoring stops when tau² changes by less than this
    max_iter: int = 100
    root_tol: float = R_DEFAULT_TOL  # uniroot tolerance (Paule-Mandel, Q-profile)
    tau2_max: float = 100.0  # upper end of the Paule-Mandel search (raised for wide data)
    ll0_tol: float = R_DEFAULT_TOL  # how much better tau² = 0 must fit before REML/ML fall back to 0


# --------------------------------------------------------------------------- linear algebra


def inv_pd(a: np.ndarray) -> np.ndarray:
    """Inverse of a small symmetric positive-definite matrix (Cholesky, like R's chol2inv)."""
    if a.shape == (1, 1):
        return 1.0 / a
    chol = np.linalg.cholesky(a)
    inv_chol = np.linalg.inv(chol)
    return inv_chol.T @ inv_chol


@dataclass
class WeightedFit:
    """Weighted least squares of y on X with weights w, and traces of its residual-maker P.

    P = W - WXBX'W with B = (X'WX)^-1; V = diag(v) for the sampling variances v.
    """

    X: np.ndarray
    w: np.ndarray
    XtW: np.ndarray
    B: np.ndarray  # (X'WX)^-1
    beta: np.ndarray
    resid: np.ndarray

    @property
    def rss(self) -> float:
        """y'Py: the weighted residual sum of squares."""
        return float(np.dot(self.w, self.resid**2))

    @cached_property
    def _xtw2x(self) -> np.ndarray:
        return self.XtW @ self.XtW.T  # X'W²X

    def trace_p(self) -> float:
        return float(self.w.sum() - np.sum(self.B * self._xtw2x))

    def trace_pp(self) -> float:
        c3 = (self.XtW * self.w) @ self.XtW.T  # X'W³X
        bc2 = self.B @ self._xtw2x
        return float(np.dot(self.w, self.w) - 2 * np.sum(self.B * c3) + np.sum(bc2 * bc2.T))

    def trace_pv(self, v: np.ndarray) -> float:
        u = self.w * v  # diagonal of WV
        return float(u.sum() - np.sum(self.B * ((self.X.T * (u * self.w)) @ self.X)))

    def trace_pvp(self, v: np.ndarray) -> float:
        # diag(PP)_j = w_j² (1 - 2 w_j x_j'Bx_j + x_j'B (X'W²X) B x_j)
        xb = self.X @ self.B
        q = np.einsum("ij,ij->i", xb, self.X)
        r = np.einsum("ij,ij->i", xb @ self._xtw2x, xb)
        return float(np.sum(v * self.w * self.w * (1 - 2 * self.w * q + r)))

    def trace_pvpv(self, v: np.ndarray) -> float:
        u = self.w * v
        m_uw = (self.X.T * (u * self.w)) @ self.X  # X'UWX
        m_uuw = (self.X.T * (u * u * self.w)) @ self.X  # X'U²WX
        bm = self.B @ m_uw
        return float(np.dot(u, u) - 2 * np.sum(self.B * m_uuw) + np.sum(bm * bm.T))


def wls(X: np.ndarray, w: np.ndarray, y: np.ndarray) -> WeightedFit:
    XtW = X.T * w
    B = inv_pd(XtW @ X)
    beta = B @ (XtW @ y)
    return WeightedFit(X=X, w=w, XtW=XtW, B=B, beta=beta, resid=y - X @ beta)


# --------------------------------------------------------------------------- tau² estimators


@dataclass
class Tau2Estimate:
    tau2: float
    se: float
    iterations: int = 0


def _rss_at(tau2: float, X: np.ndarray, vi: np.ndarray, y: np.ndarray) -> float:
    return wls(X, 1.0 / (vi + tau2), y).rss


def _hedges(X, vi, ymc) -> tuple[float, float, WeightedFit]:
    """Hedges (HE) estimator from ordinary least squares: tau2 (not truncated), tr(PV) and the fit."""
    k, p = X.shape
    ols = wls(X, np.ones(k), ymc)
    tr_pv = ols.trace_pv(vi)
    return (ols.rss - tr_pv) / (k - p), tr_pv, ols


def _ll_restricted(tau2, X, vi, y, method) -> float:
    k, p = X.shape
    fit = wls(X, 1.0 / (vi + tau2), y)
    ll = -0.5 * np.sum(np.log(vi + tau2)) - 0.5 * fit.rss
    if method == "ML":
        return ll - 0.5 * k * np.log(2 * np.pi)
    return ll - 0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * np.linalg.slogdet(fit.B)[1]


def estimate_tau2(method: str, X: np.ndarray, yi: np.ndarray, vi: np.ndarray, control: Control) -> Tau2Estimate:
    """Estimate tau² with one of METHODS, as metafor's rma.uni does (truncated at 0)."""
    k, p = X.shape
    ymc = yi - yi.mean()  # metafor estimates tau² from mean-centred outcomes
    if method == "EE":
        return Tau2Estimate(0.0, float("nan"))
    if method == "HE":
        tau2, tr_pv, ols = _hedges(X, vi, ymc)
        tau2 = max(0.0, tau2)
        se = np.sqrt((2 * ols.trace_pvpv(vi) + 4 * tau2 * tr_pv + 2 * tau2**2 * (k - p)) / (k - p) ** 2)
        return Tau2Estimate(tau2, float(se))
    if method == "DL":
        fit = wls(X, 1.0 / vi, ymc)
        tr_p = fit.trace_p()
        tau2 = max(0.0, (fit.rss - (k - p)) / tr_p)
        se = np.sqrt((2 * (k - p) + 4 * tau2 * tr_p + 2 * tau2**2 * fit.trace_pp()) / tr_p**2)
        return Tau2Estimate(tau2, float(se))
    if method == "SJ":
        tau2_0 = float(np.mean(ymc**2))
        w = 1.0 / (vi + tau2_0)
        fit = wls(X, w, ymc)
        tau2 = max(0.0, tau2_0 * fit.rss / (k - p))
        se = np.sqrt(tau2_0**2 / (k - p) ** 2
                     * (2 * fit.trace_pvpv(vi) + 4 * tau2 * fit.trace_pvp(vi) + 2 * tau2**2 * fit.trace_pp()))
        return Tau2Estimate(tau2, float(se))
    if method == "PM":
        return _paule_mandel(X, yi, vi, ymc, control)
    return _fisher_scoring(method, X, vi, ymc, control)


def _paule_mandel(X, yi, vi, ymc, control: Control) -> Tau2Estimate:
    k, p = X.shape
    target = k - p
    mad = 1.4826 * np.median(np.abs(yi - np.median(yi)))
    tau2_max = max(control.tau2_max, 10 * mad**2)
    if _rss_at(0.0, X, vi, ymc) < target:
        tau2 = 0.0
    elif _rss_at(tau2_max, X, vi, ymc) > target:
        raise ConvergenceError(
            f"Paule-Mandel: the generalised Q statistic still exceeds k - p at tau2 = {tau2_max:g}; "
            "try another method"
        )
    else:
        tau2 = uniroot(
            lambda t: _rss_at(t, X, vi, ymc) - target, 0.0, tau2_max,
            tol=control.root_tol, maxiter=control.max_iter, what="Paule-Mandel tau2",
        )
    tau2 = max(0.0, tau2)
    w = 1.0 / (vi + tau2)
    se = np.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
    return Tau2Estimate(float(tau2), float(se))


def _fisher_scoring(method, X, vi, ymc, control: Control) -> Tau2Estimate:
    k, p = X.shape
    tau2 = max(0.0, _hedges(X, vi, ymc)[0])
    change = control.threshold + 1
    iterations = 0
    while change > control.threshold:
        iterations += 1
        old = tau2
        w = 1.0 / (vi + tau2)
        fit = wls(X, w, ymc)
        if method == "ML":
            adj = (np.sum((w * fit.resid) ** 2) - w.sum()) / np.dot(w, w)
        elif method == "REML":
            adj = (np.sum((w * fit.resid) ** 2) - fit.trace_p()) / fit.trace_pp()
        else:  # EB
            adj = (fit.rss * k / (k - p) - k) / w.sum()
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2  # step halving keeps tau² >= 0
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if iterations > control.max_iter:
            raise ConvergenceError(
                f"{method}: Fisher scoring did not converge in {control.max_iter} iterations "
                f"(last tau2 = {tau2:.6g}); try method='DL' or 'PM'"
            )
    if method in ("ML", "REML") and tau2 > control.threshold:
        # a likelihood that is higher at tau² = 0 means scoring stopped at a local maximum
        if _ll_restricted(0.0, X, vi, ymc, method) - _ll_restricted(tau2, X, vi, ymc, method) > control.ll0_tol:
            tau2 = 0.0
    tau2 = max(0.0, tau2)
    w = 1.0 / (vi + tau2)
    if method == "ML":
        se = np.sqrt(2 / np.dot(w, w))
    elif method == "REML":
        se = np.sqrt(2 / wls(X, w, ymc).trace_pp())
    else:
        se = np.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
    return Tau2Estimate(float(tau2), float(se), iterations)


def q_profile_bounds(X, yi, vi, tau2_hat: float, level: float, control: Control) -> tuple[float, float]:
    """Q-profile confidence interval for tau² (metafor's confint(type="QP")); bounds may be 0."""
    from scipy import stats

    k, p = X.shape
    alpha = 1 - level
    crit_u = stats.chi2.isf(alpha / 2, k - p)
    crit_l = stats.chi2.ppf(alpha / 2, k - p)
    t_min = min(0.0, tau2_hat)
    t_max = max(100.0, tau2_hat * 10, t_min * 10)
    q_at = lambda t: _rss_at(t, X, vi, yi)  # noqa: E731
    q_min, q_max = q_at(t_min), q_at(t_max)
    if q_min < crit_l:
        upper = t_min
    elif q_max > crit_l:
        upper = float("inf")  # beyond the search range: unbounded as far as the data tell
    else:
        upper = uniroot(lambda t: q_at(t) - crit_l, t_min, t_max, tol=control.root_tol, maxiter=1000,
                        what="upper Q-profile bound for tau2")
    if q_max > crit_u:
        lower = float("inf")
    elif q_min < crit_u:
        lower = t_min
    else:
        lower = uniroot(lambda t: q_at(t) - crit_u, t_min, t_max, tol=control.root_tol, maxiter=1000,
                        what="lower Q-profile bound for tau2")
    return lower, upper



class Fit(Protocol):
    """What the diagnostics and small-study methods read from a fitted model (research.meta.model.MetaResults
    is one). They take this interface rather than the class, so that the class can offer them as methods."""

    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    coef_names: list[str]
    labels: list[str]
    method: str
    level: float
    control: Control
    beta: np.ndarray
    vcov: np.ndarray
    tau2: float
    tau2_fixed: bool
    s2w: float
    q: float
    q_p: float
    i2: float
    h2: float
    ll_ml: float
    k: int
    p: int
    df: int | None
    intercept_only: bool
    estimate: float
    se: np.ndarray
    statistic: np.ndarray
    pvalues: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    weights: np.ndarray
    fitted: np.ndarray
    hat: np.ndarray

    def refit(self, yi=None, vi=None, X=None, labels=None, coef_names=None, **changes) -> "Fit": ...


def check_rank(X: np.ndarray, names: list[str]) -> None:
    """Raise InputError naming the first column that the columns before it already span."""
    k, p = X.shape
    if p > k:
        raise InputError(f"{p} coefficients for {k} studies")
    # in a QR decomposition without pivoting, a redundant column leaves (almost) nothing on the diagonal
    r_diag = np.abs(np.diag(np.linalg.qr(X, mode="r")))
    norms = np.linalg.norm(X, axis=0)
    for j in range(p):
        if r_diag[j] <= 1e-10 * max(norms[j], np.finfo(float).tiny):
            if j == 0 or norms[j] == 0:
                raise InputError(f"moderator {names[j]!r} is zero for every study")
            if np.ptp(X[:, j]) == 0 and names[0] == "intercept":
                raise InputError(f"moderator {names[j]!r} is constant, so it duplicates the intercept")
            raise InputError(
                f"moderators are collinear: {names[j]!r} is a linear combination of "
                f"{', '.join(repr(n) for n in names[:j])}; drop one of them"
            )
    eigen = np.linalg.eigvalsh(X.T @ X)
    if eigen.min() <= 1e-7:  # metafor's evtol: numerically singular even if formally full rank
        raise InputError("the moderator matrix is numerically singular (near-collinear moderators); rescale or drop one")


def require_intercept_only(result: Fit, what: str) -> None:
    """Refuse a method defined only for models without moderators (any fit with ``intercept_only``)."""
    if not result.intercept_only:
        raise InputError(f"{what} applies to models without moderators")


def format_p(p: float) -> str:
    """A p-value as metafor prints it in a table."""
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def p_phrase(p: float) -> str:
    """A p-value in a sentence: "p = 0.0123" or "p < .0001"."""
    return "p < .0001" if p < 1e-4 else f"p = {p:.4f}"
