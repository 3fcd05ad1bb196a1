"""Multilevel (nested random-effects) meta-analysis: ``rma_mv()`` and its results object.

The model is metafor's ``rma.mv`` with random intercepts, e.g. ``random = ~ 1 | evaluation/estimate``:

    yi = x_i'beta + u_(1) + u_(2) + ... + e_i,   u_(j) ~ N(0, sigma²_j) per cluster of level j,
    e_i ~ N(0, vi) with vi known.

With ``nested=True`` (the default) the clusters of level j are the combinations of the first j
grouping variables (``evaluation``, then ``evaluation/estimate``), so that estimates from one
evaluation share its random effect and each estimate has its own. The variance components are
estimated by REML or ML (a projected Newton / Fisher-scoring maximisation of the profile
likelihood run to machine precision), beta by generalised least squares. Inference is Wald-type
(``test="z"``) or uses t and F distributions with k - p degrees of freedom (``test="t"``), as
metafor's ``rma.mv`` does; confidence intervals for the sigma² are profile-likelihood intervals.
Everything is checked against metafor 3.8 (see conformance/metafor_reference.R).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats
from scipy.sparse.csgraph import connected_components

from research.errors import ConvergenceError, InputError
from research.meta._core import format_p, p_phrase
from research.meta.model import Prediction, check_outcomes, design_matrix

METHODS_MV = ("REML", "ML")
TESTS_MV = ("z", "t")


@dataclass(frozen=True)
class MultilevelControl:
    """Settings of the variance-component maximisation."""

    max_iter: int = 500
    tol: float = 1e-12  # stop when the largest relative change of a sigma² falls below this
    profile_tol: float = 1e-10  # root-finding tolerance of the profile-likelihood intervals
    sigma2_max: float = 1e4  # upper end of the search for a profile-likelihood bound


@dataclass(frozen=True)
class VarianceComponent:
    """One random effect: its name (as metafor prints it), number of clusters and variance."""

    name: str
    n_levels: int
    sigma2: float
    fixed: bool

    @property
    def sigma(self) -> float:
        return math.sqrt(self.sigma2)


# --------------------------------------------------------------------------- random-effects structure


def _groupings(random, k: int, labels: list[str], nested: bool) -> tuple[list[str], list[np.ndarray]]:
    """Component names and, for each component, an integer cluster code per estimate."""
    if isinstance(random, Mapping):
        items = [(str(name), values) for name, values in random.items()]
    elif hasattr(random, "columns"):  # a data frame: one column per level, outer first
        items = [(str(c), random[c].tolist()) for c in random.columns]
    else:
        raise InputError("random: give a mapping (or data frame) of grouping variables, outermost first, "
                         "e.g. {'evaluation': [...], 'estimate': [...]}")
    if not items:
        raise InputError("random: at least one grouping variable is needed")
    names: list[str] = []
    codes: list[np.ndarray] = []
    keys: list[tuple] = [() for _ in range(k)]
    for depth, (name, values) in enumerate(items):
        values = list(values)
        if len(values) != k:
            raise InputError(f"random effect {name!r}: {len(values)} values for {k} estimates")
        missing = [labels[i] for i, v in enumerate(values) if v is None or (isinstance(v, float) and math.isnan(v))]
        if missing:
            raise InputError(f"random effect {name!r}: no value for {', '.join(missing[:5])}")
        if nested:
            keys = [key + (str(v),) for key, v in zip(keys, values)]
            full = "/".join(n for n, _ in items[: depth + 1])
        else:
            keys = [(str(v),) for v in values]
            full = name
        _, code = np.unique(np.array(["\x1f".join(key) for key in keys], dtype=object), return_inverse=True)
        names.append(full)
        codes.append(code.astype(int))
    for i in range(len(codes)):
        for j in range(i):
            if _same_partition(codes[i], codes[j]):
                raise InputError(
                    f"random effects {names[j]!r} and {names[i]!r} group the estimates into the same clusters, "
                    "so their variances cannot be told apart; drop one of them")
    return names, codes


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def _indicator(code: np.ndarray) -> np.ndarray:
    Z = np.zeros((code.size, int(code.max()) + 1))
    Z[np.arange(code.size), code] = 1.0
    return Z


# --------------------------------------------------------------------------- likelihood


@dataclass
class _Evaluation:
    ll: float
    score: np.ndarray
    fisher: np.ndarray
    hessian: np.ndarray
    beta: np.ndarray
    B: np.ndarray  # (X'V^-1 X)^-1


class _Likelihood:
    """Profile log-likelihood of the sigma² (beta profiled out), with derivatives."""

    def __init__(self, y: np.ndarray, v: np.ndarray, X: np.ndarray, G: list[np.ndarray], reml: bool):
        self.y, self.v, self.X, self.G, self.reml = y, v, X, G, reml
        k, p = X.shape
        self.k, self.p = k, p
        self.const = -0.5 * (k - p if reml else k) * math.log(2 * math.pi)
        if reml:  # metafor's REML likelihood carries the constant 1/2 log|X'X|
            self.const += 0.5 * np.linalg.slogdet(X.T @ X)[1]

        # V is block diagonal over the clusters that no random effect links: invert block by block
        linked = np.zeros((k, k), dtype=bool)
        for gram in G:
            linked |= gram > 0
        _, block = connected_components(linked, directed=False)
        self.blocks = [np.flatnonzero(block == b) for b in range(int(block.max()) + 1)]

    def __call__(self, sigma2: np.ndarray, derivatives: bool = True) -> _Evaluation:
        V = np.diag(self.v)
        for s, G in zip(sigma2, self.G):
            V = V + s * G
        Vinv = np.zeros_like(V)
        logdet_v = 0.0
        for idx in self.blocks:
            try:
                chol = np.linalg.cholesky(V[np.ix_(idx, idx)])
            except np.linalg.LinAlgError as exc:
                raise ConvergenceError("the marginal covariance matrix is not positive definite") from exc
            inv_chol = np.linalg.inv(chol)
            Vinv[np.ix_(idx, idx)] = inv_chol.T @ inv_chol
            logdet_v += 2 * float(np.sum(np.log(np.diag(chol))))
        XtVinv = self.X.T @ Vinv
        XtVinvX = XtVinv @ self.X
        B = np.linalg.inv(XtVinvX)
        B = (B + B.T) / 2
        beta = B @ (XtVinv @ self.y)
        P = Vinv - XtVinv.T @ B @ XtVinv
        Py = P @ self.y
        ll = self.const - 0.5 * logdet_v - 0.5 * float(self.y @ Py)
        if self.reml:
            ll -= 0.5 * np.linalg.slogdet(XtVinvX)[1]
        m = len(self.G)
        score = np.zeros(m)
        fisher = np.zeros((m, m))
        hessian = np.zeros((m, m))
        if derivatives:
            A = P if self.reml else Vinv
            AG = [A @ G for G in self.G]
            PG = [P @ G for G in self.G]
            GPy = [G @ Py for G in self.G]
            for i in range(m):
                score[i] = -0.5 * np.trace(AG[i]) + 0.5 * float(Py @ GPy[i])
                for j in range(i + 1):
                    tr = float(np.sum(AG[i] * AG[j].T))
                    fisher[i, j] = fisher[j, i] = 0.5 * tr
                    hessian[i, j] = hessian[j, i] = 0.5 * tr - float(GPy[i] @ (PG[j] @ Py))
        return _Evaluation(ll=ll, score=score, fisher=fisher, hessian=hessian, beta=beta, B=B)


def _maximise(lik: _Likelihood, start: np.ndarray, free: np.ndarray, control: MultilevelControl
              ) -> tuple[np.ndarray, _Evaluation, int]:
    """Maximise over the free sigma² (>= 0): Newton steps where the Hessian allows, else Fisher scoring."""
    s = np.where(free, np.maximum(start, 0.0), start)
    current = lik(s)
    for iteration in range(1, control.max_iter + 1):
        # components at the boundary whose score points outwards stay at 0
        active = free & ~((s <= 0) & (current.score <= 0))
        if not active.any():
            return s, current, iteration
        idx = np.flatnonzero(active)
        g = current.score[idx]
        H = -current.hessian[np.ix_(idx, idx)]
        try:
            np.linalg.cholesky(H)
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.solve(current.fisher[np.ix_(idx, idx)], g)
        factor = 1.0
        while True:
            proposal = s.copy()
            proposal[idx] = np.maximum(s[idx] + factor * step, 0.0)
            candidate = lik(proposal)
            if candidate.ll >= current.ll - 1e-14 * abs(current.ll) or factor < 1e-10:
                break
            factor /= 2
        change = np.abs(proposal - s) / (1.0 + np.abs(s))
        s, current = proposal, candidate
        if change.max() < control.tol:
            return s, current, iteration
    raise ConvergenceError(f"the variance components did not converge in {control.max_iter} iterations")


def _starting_values(y: np.ndarray, v: np.ndarray, X: np.ndarray, m: int) -> np.ndarray:
    # the between-estimate variance left over after the sampling variance, shared out evenly
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    spread = max(float(np.var(resid, ddof=X.shape[1]) - np.mean(v)), 0.01 * float(np.var(y)) + 1e-8)
    return np.full(m, spread / m)


# --------------------------------------------------------------------------- results


@dataclass
class MultilevelResults:
    """A fitted multilevel model (``rma_mv``). Attributes are plain numbers and numpy arrays."""

    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    labels: list[str]
    coef_names: list[str]
    components: list[VarianceComponent]
    method: str
    test: str
    level: float
    control: MultilevelControl
    beta: np.ndarray
    vcov: np.ndarray
    q: float
    q_df: int
    q_p: float
    qm: float
    qm_df: tuple[int, int | None]
    qm_p: float
    ll: float
    iterations: int
    notes: list[str] = field(default_factory=list)
    _groups: list[np.ndarray] = field(default_factory=list, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def k(self) -> int:
        return int(self.yi.size)

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    @property
    def intercept_only(self) -> bool:
        return self.p == 1 and bool(np.all(self.X[:, 0] == 1))

    @property
    def sigma2(self) -> np.ndarray:
        return np.array([c.sigma2 for c in self.components])

    @property
    def df(self) -> int | None:
        """Degrees of freedom of the t and F tests (``test="t"``), else None."""
        return self.k - self.p if self.test == "t" else None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))

    @property
    def statistic(self) -> np.ndarray:
        return self.beta / self.se

    @property
    def pvalues(self) -> np.ndarray:
        stat = np.abs(self.statistic)
        return 2 * (stats.t.sf(stat, self.k - self.p) if self.test == "t" else stats.norm.sf(stat))

    def _crit(self, level: float | None = None) -> float:
        alpha = 1 - (self.level if level is None else level)
        return float(stats.t.isf(alpha / 2, self.k - self.p) if self.test == "t" else stats.norm.isf(alpha / 2))

    @property
    def ci_low(self) -> np.ndarray:
        return self.beta - self._crit() * self.se

    @property
    def ci_high(self) -> np.ndarray:
        return self.beta + self._crit() * self.se

    @property
    def estimate(self) -> float:
        """The pooled estimate (intercept-only model) or the intercept of a meta-regression."""
        return float(self.beta[0])

    @property
    def typical_vi(self) -> float:
        """The typical sampling variance, (k - p) / tr(P) with P = W - WX(X'WX)^-1X'W and W = diag(1/vi)."""
        w = 1.0 / self.vi
        B = np.linalg.inv((self.X.T * w) @ self.X)
        trace_p = float(w.sum() - np.einsum("ij,jk,ik->", self.X * w[:, None], B, self.X * w[:, None]))
        return (self.k - self.p) / trace_p

    @property
    def i2(self) -> np.ndarray:
        """Percentage of the total variance due to each level (I² per level, as in the metafor FAQ)."""
        return 100 * self.sigma2 / (self.sigma2.sum() + self.typical_vi)

    @property
    def i2_total(self) -> float:
        """Percentage of the total variance due to all levels together."""
        return float(100 * self.sigma2.sum() / (self.sigma2.sum() + self.typical_vi))

    @property
    def n_parameters(self) -> int:
        return self.p + sum(not c.fixed for c in self.components)

    @property
    def aic(self) -> float:
        return -2 * self.ll + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        n = self.k - (self.p if self.method == "REML" else 0)
        return -2 * self.ll + self.n_parameters * math.log(n)

    def predict(self, newmods=None, level: float | None = None) -> Prediction:
        """Average effect with CI, and a prediction interval for a new estimate from a new cluster."""
        if newmods is None:
            Xnew = self.X[:1] if self.intercept_only else self.X
        else:
            names = self.coef_names[1:] if self.coef_names[0] == "intercept" else self.coef_names
            if isinstance(newmods, Mapping):
                missing = [n for n in names if n not in newmods]
                if missing:
                    raise InputError(f"newmods: no values for {', '.join(missing)}")
                arr = np.column_stack([np.atleast_1d(np.asarray(newmods[n], dtype=float)) for n in names])
            else:
                arr = np.asarray(newmods, dtype=float)
                arr = arr.reshape(-1, len(names)) if arr.ndim <= 1 else arr
            if arr.shape[1] != len(names):
                raise InputError(f"newmods: expected {len(names)} moderator column(s) ({', '.join(names)})")
            Xnew = np.column_stack([np.ones(arr.shape[0]), arr]) if self.coef_names[0] == "intercept" else arr
        pred = Xnew @ self.beta
        vpred = np.einsum("ij,jk,ik->i", Xnew, self.vcov, Xnew)
        se = np.sqrt(vpred)
        crit = self._crit(level)
        half_pi = crit * np.sqrt(vpred + float(self.sigma2.sum()))
        return Prediction(pred, se, pred - crit * se, pred + crit * se, pred - half_pi, pred + half_pi,
                          self.level if level is None else level)

    def confint_sigma2(self, level: float | None = None) -> list[tuple[float, float]]:
        """Profile-likelihood confidence intervals of the sigma², one (low, high) per component.

        A bound is the sigma² at which twice the drop in the (restricted) log-likelihood, the other
        components re-estimated, reaches the chi-square(1) quantile; a lower bound is 0 when even
        sigma² = 0 stays within that distance, and ``inf`` stands for an upper bound beyond the search range.
        """
        level = self.level if level is None else level
        key = ("sigma2_ci", level)
        if key not in self._cache:
            self._cache[key] = [self._profile_interval(j, level) for j in range(len(self.components))]
        return self._cache[key]

    def _profile_interval(self, j: int, level: float) -> tuple[float, float]:
        component = self.components[j]
        if component.fixed:
            return (math.nan, math.nan)
        lik = _Likelihood(self.yi, self.vi, self.X, [_gram(g) for g in self._groups], self.method == "REML")
        free = np.array([not c.fixed for c in self.components])
        free[j] = False
        target = self.ll - stats.chi2.ppf(level, 1) / 2
        s_hat = self.sigma2

        def gap(value: float) -> float:
            start = s_hat.copy()
            start[j] = value
            _, evaluation, _ = _maximise(lik, start, free, self.control)
            return evaluation.ll - target

        tol = self.control.profile_tol
        low = 0.0
        if s_hat[j] > 0 and gap(0.0) < 0:
            low = optimize.brentq(gap, 0.0, s_hat[j], xtol=tol * max(s_hat[j], 1e-8), rtol=4 * np.finfo(float).eps)
        high_end = max(2 * s_hat[j], 1e-4)
        while gap(high_end) > 0:
            if high_end >= self.control.sigma2_max:
                return (low, math.inf)
            high_end *= 4
        high = optimize.brentq(gap, s_hat[j], high_end, xtol=tol * max(s_hat[j], 1e-8), rtol=4 * np.finfo(float).eps)
        return (float(low), float(high))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data summary (the keys of rma's ``to_dict`` where they apply, plus the sigma²)."""
        pred = self.predict() if self.intercept_only else self.predict(np.zeros((1, self.p - 1)))
        intervals = self.confint_sigma2()
        out: dict[str, Any] = {
            "k": self.k,
            "estimate": self.estimate,
            "se": float(self.se[0]),
            "ci_low": float(self.ci_low[0]),
            "ci_high": float(self.ci_high[0]),
            "pi_low": float(pred.pi_low[0]),
            "pi_high": float(pred.pi_high[0]),
            "sigma2": [c.sigma2 for c in self.components],
            "sigma2_ci_low": [lo for lo, _ in intervals],
            "sigma2_ci_high": [None if math.isinf(hi) else hi for _, hi in intervals],
            "components": [c.name for c in self.components],
            "n_levels": [c.n_levels for c in self.components],
            "i2": [float(x) for x in self.i2],
            "i2_total": self.i2_total,
            "q": self.q,
            "q_df": self.q_df,
            "q_p": self.q_p,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "statistic": float(self.statistic[0]),
            "p": float(self.pvalues[0]),
            "df": self.df,
            "ll": self.ll,
            "aic": self.aic,
            "bic": self.bic,
            "notes": list(self.notes),
        }
        if not self.intercept_only:
            out["coefficients"] = [
                {"name": n, "estimate": float(b), "se": float(s), "statistic": float(z), "p": float(pv),
                 "ci_low": float(lo), "ci_high": float(hi)}
                for n, b, s, z, pv, lo, hi in zip(self.coef_names, self.beta, self.se, self.statistic,
                                                  self.pvalues, self.ci_low, self.ci_high)
            ]
            out["qm"] = self.qm
            out["qm_df"] = list(self.qm_df)
            out["qm_p"] = self.qm_p
        return out

    def summary(self) -> "MultilevelSummary":
        return MultilevelSummary(self)

    def __repr__(self) -> str:
        sig = ", ".join(f"{c.name}={c.sigma2:.4g}" for c in self.components)
        return f"MultilevelResults(k={self.k}, method={self.method!r}, estimate={self.estimate:.4g}, sigma2: {sig})"


def _gram(code: np.ndarray) -> np.ndarray:
    Z = _indicator(code)
    return Z @ Z.T


class MultilevelSummary:
    """Text summary in the manner of metafor's print method for rma.mv."""

    def __init__(self, result: MultilevelResults):
        self.result = result

    def as_text(self) -> str:
        r = self.result
        kind = "Multilevel random-effects" if r.intercept_only else "Multilevel mixed-effects"
        lines = [f"{kind} model (k = {r.k}; method: {r.method}; test: {r.test})",
                 f"logLik = {r.ll:.4f}, AIC = {r.aic:.4f}, BIC = {r.bic:.4f}", "", "Variance components:"]
        width = max(12, *(len(c.name) for c in r.components))
        pct = round(100 * r.level)
        lines.append(f"  {'':<{width}} {'sigma^2':>8} {'sigma':>8} {'levels':>7} {pct}% CI (profile)")
        for c, (lo, hi) in zip(r.components, r.confint_sigma2()):
            ci = "fixed" if c.fixed else f"[{lo:.4f}, {'inf' if math.isinf(hi) else f'{hi:.4f}'}]"
            lines.append(f"  {c.name:<{width}} {c.sigma2:>8.4f} {c.sigma:>8.4f} {c.n_levels:>7} {ci}")
        shares = ", ".join(f"{c.name} {share:.1f}%" for c, share in zip(r.components, r.i2))
        lines.append(f"I^2 (share of the total variance): {r.i2_total:.1f}% ({shares})")
        lines.append("")
        lines.append(f"Test for {'residual ' if not r.intercept_only else ''}heterogeneity: "
                     f"Q({r.q_df}) = {r.q:.4f}, {p_phrase(r.q_p)}")
        if not r.intercept_only:
            if r.test == "t":
                lines.append(f"Test of moderators: F({r.qm_df[0]}, {r.qm_df[1]}) = {r.qm:.4f}, {p_phrase(r.qm_p)}")
            else:
                lines.append(f"Test of moderators: QM({r.qm_df[0]}) = {r.qm:.4f}, {p_phrase(r.qm_p)}")
        lines.append("")
        stat = "t" if r.test == "t" else "z"
        cw = max(10, *(len(n) for n in r.coef_names))
        lines.append(f"{'':<{cw}}  {'estimate':>9} {'se':>8} {stat + 'val':>8} {'pval':>8} {'ci.lb':>9} {'ci.ub':>9}")
        for n, b, s, z, pv, lo, hi in zip(r.coef_names, r.beta, r.se, r.statistic, r.pvalues, r.ci_low, r.ci_high):
            lines.append(f"{n:<{cw}}  {b:>9.4f} {s:>8.4f} {z:>8.4f} {format_p(pv):>8} {lo:>9.4f} {hi:>9.4f}")
        if r.intercept_only:
            pred = r.predict()
            lines.append("")
            lines.append(f"Prediction interval ({pct}%, a new estimate in a new cluster): "
                         f"[{pred.pi_low[0]:.4f}, {pred.pi_high[0]:.4f}]")
        for note in r.notes:
            lines.append(f"Note: {note}")
        return "\n".join(lines)

    __str__ = as_text

    def __repr__(self) -> str:
        return self.as_text()


# --------------------------------------------------------------------------- fitting


def rma_mv(
    yi,
    vi,
    random,
    mods=None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    *,
    nested: bool = True,
    mod_names: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    sigma2: Sequence[float | None] | None = None,
    intercept: bool = True,
    control: MultilevelControl | None = None,
) -> MultilevelResults:
    """Fit a multilevel meta-analysis or meta-regression, as metafor's ``rma.mv`` with random intercepts.

    ``random``: grouping variables, outermost first, as a mapping name -> one value per estimate
    (or a data frame). With ``nested=True`` the levels are nested as in ``~ 1 | district/school``:
    ``{"district": ..., "school": ...}`` gives the components ``district`` and ``district/school``.
    With ``nested=False`` each variable is a separate (possibly crossed) random intercept.
    ``mods``: moderators as in :func:`research.meta.rma`. ``method``: REML or ML. ``test``: "z"
    (Wald) or "t" (t and F tests with k - p degrees of freedom). ``sigma2``: fix components at
    these values (None for a component that is estimated). A component with a single cluster is
    fixed at 0, as metafor does, and the result's ``notes`` say so.

    >>> fit = rma_mv([0.1, 0.3, -0.2, 0.5, 0.0, 0.2], [0.02, 0.03, 0.02, 0.04, 0.03, 0.02],
    ...              random={"evaluation": ["a", "a", "b", "b", "c", "c"], "estimate": [1, 2, 1, 2, 1, 2]})
    >>> [c.name for c in fit.components]
    ['evaluation', 'evaluation/estimate']
    """
    key = str(method).upper()
    if key not in METHODS_MV:
        raise InputError(f"unknown method {method!r} for a multilevel model; choose REML or ML")
    test_key = str(test).lower()
    if test_key not in TESTS_MV:
        raise InputError(f"unknown test {test!r} for a multilevel model; choose 'z' or 't'")
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    control = control or MultilevelControl()
    y, v, names = check_outcomes(yi, vi, labels)
    X, coef_names = design_matrix(mods, mod_names, y.size, names, intercept)
    k, p = X.shape
    component_names, groups = _groupings(random, k, names, nested)
    m = len(groups)
    n_levels = [int(g.max()) + 1 for g in groups]

    fixed_values = np.full(m, np.nan)
    if sigma2 is not None:
        values = list(sigma2)
        if len(values) != m:
            raise InputError(f"sigma2: {len(values)} values for {m} variance components")
        for j, value in enumerate(values):
            if value is not None:
                if not math.isfinite(float(value)) or float(value) < 0:
                    raise InputError(f"sigma2: component {component_names[j]!r} must be >= 0, got {value}")
                fixed_values[j] = float(value)
    notes = []
    for j, n in enumerate(n_levels):
        if n == 1 and np.isnan(fixed_values[j]):
            fixed_values[j] = 0.0
            notes.append(f"{component_names[j]!r} has a single cluster; its variance is fixed at 0")
    free = np.isnan(fixed_values)
    if k < p + int(free.sum()):
        raise InputError(f"too few estimates: k = {k} for {p} coefficient(s) plus {int(free.sum())} variance "
                         f"component(s)")

    lik = _Likelihood(y, v, X, [_gram(g) for g in groups], key == "REML")
    start = np.where(free, _starting_values(y, v, X, m), fixed_values)
    s_hat, best, iterations = _maximise(lik, start, free, control)

    vcov = best.B
    beta = best.beta
    btt = np.arange(1, p) if (p > 1 and coef_names[0] == "intercept") else np.arange(p)
    qm = float(beta[btt] @ np.linalg.solve(vcov[np.ix_(btt, btt)], beta[btt])) if btt.size else math.nan
    if test_key == "t":
        qm /= max(btt.size, 1)
        qm_df: tuple[int, int | None] = (int(btt.size), k - p)
        qm_p = float(stats.f.sf(qm, btt.size, k - p)) if btt.size else math.nan
    else:
        qm_df = (int(btt.size), None)
        qm_p = float(stats.chi2.sf(qm, btt.size)) if btt.size else math.nan

    # residual heterogeneity: the fixed-effects residual sum of squares with weights 1/vi
    w = 1.0 / v
    XtW = X.T * w
    b_fe = np.linalg.solve(XtW @ X, XtW @ y)
    q = float(np.sum(w * (y - X @ b_fe) ** 2)) if k > p else 0.0
    q_p = float(stats.chi2.sf(q, k - p)) if k > p else 1.0

    components = [VarianceComponent(name=n, n_levels=lv, sigma2=float(s), fixed=not f)
                  for n, lv, s, f in zip(component_names, n_levels, s_hat, free)]
    return MultilevelResults(
        yi=y, vi=v, X=X, labels=names, coef_names=list(coef_names), components=components, method=key,
        test=test_key, level=level, control=control, beta=beta, vcov=vcov, q=q, q_df=k - p, q_p=q_p, qm=qm,
        qm_df=qm_df, qm_p=qm_p, ll=float(best.ll), iterations=iterations, notes=notes, _groups=groups,
    )
