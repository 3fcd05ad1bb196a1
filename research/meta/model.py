"""Random-effects meta-analysis and meta-regression: ``rma()`` and its results object.

The model is yi = x_i'beta + u_i + e_i with u_i ~ N(0, tau²) and e_i ~ N(0, vi), vi known.
tau² is estimated first (REML, ML, DL, PM, HE, SJ, EB; EE for a common-effect model), then beta by
weighted least squares with weights 1/(vi + tau²). Inference is either Wald-type (``test="z"``) or
Knapp-Hartung / Hartung-Knapp-Sidik-Jonkman (``test="hksj"``): variances scaled by the weighted
residual mean square and t / F reference distributions with k - p degrees of freedom. All of it is
checked against metafor 3.8 ``rma.uni`` (see conformance/metafor_reference.R).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from research.errors import InputError
from research.meta import bias, diagnostics
from research.meta._core import (
    Control,
    check_rank,
    estimate_tau2,
    format_p,
    inv_pd,
    normalise_method,
    p_phrase,
    q_profile_bounds,
    wls,
)

TESTS = ("z", "hksj")
_TEST_ALIASES = {"knha": "hksj", "hk": "hksj", "kh": "hksj", "t": "hksj"}


def normalise_test(test: str) -> str:
    key = str(test).lower()
    key = _TEST_ALIASES.get(key, key)
    if key not in TESTS:
        raise InputError(f"unknown test {test!r}; choose 'z' or 'hksj' (Knapp-Hartung)")
    return key


# --------------------------------------------------------------------------- input checks


def _labels(labels, k: int) -> list[str]:
    if labels is None:
        return [f"study {i + 1}" for i in range(k)]
    out = [str(x) for x in labels]
    if len(out) != k:
        raise InputError(f"labels: {len(out)} labels for {k} studies")
    return out


def _where(mask: np.ndarray, labels: list[str]) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(labels[i] for i in idx[:5])
    return shown + (f" and {idx.size - 5} more" if idx.size > 5 else "")


def check_outcomes(yi, vi, labels=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate effect sizes and sampling variances; return float arrays and study labels."""
    try:
        y = np.asarray(yi, dtype=float).reshape(-1)
        v = np.asarray(vi, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"yi / vi: not numeric: {exc}") from exc
    if y.shape != v.shape:
        raise InputError(f"yi has {y.size} values but vi has {v.size}")
    names = _labels(labels, y.size)
    for name, arr in (("yi", y), ("vi", v)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InputError(f"{name}: missing or infinite value for {_where(bad, names)}")
    if (v <= 0).any():
        raise InputError(f"vi: sampling variances must be > 0; not so for {_where(v <= 0, names)}")
    if y.size < 2:
        raise InputError(f"need at least 2 studies for a meta-analysis, got k = {y.size}")
    return y, v, names


def design_matrix(mods, mod_names, k: int, labels: list[str], intercept: bool) -> tuple[np.ndarray, list[str]]:
    columns: list[np.ndarray] = []
    names: list[str] = []
    if mods is not None:
        if isinstance(mods, Mapping):
            names = [str(n) for n in mods]
            columns = [np.asarray(mods[n], dtype=float).reshape(-1) for n in mods]
        elif hasattr(mods, "columns") and hasattr(mods, "to_numpy"):  # a data frame
            names = [str(c) for c in mods.columns]
            columns = [np.asarray(mods[c].to_numpy(dtype=float)) for c in mods.columns]
        elif getattr(mods, "ndim", None) == 1 and getattr(mods, "name", None) is not None:  # a named series
            names = [str(mods.name)]
            columns = [np.asarray(mods, dtype=float)]
        else:
            try:
                arr = np.asarray(mods, dtype=float)
            except (TypeError, ValueError) as exc:
                raise InputError(f"mods: not numeric: {exc}") from exc
            arr = arr.reshape(k, -1) if arr.ndim == 1 else arr
            if arr.ndim != 2:
                raise InputError("mods: expected a k x m array")
            columns = [arr[:, j] for j in range(arr.shape[1])]
            names = [f"mod{j + 1}" for j in range(arr.shape[1])]
        if mod_names is not None:
            mod_names = [str(n) for n in mod_names]
            if len(mod_names) != len(columns):
                raise InputError(f"mod_names: {len(mod_names)} names for {len(columns)} moderators")
            names = mod_names
        for name, col in zip(names, columns):
            if col.shape != (k,):
                raise InputError(f"moderator {name!r}: {col.size} values for {k} studies")
            bad = ~np.isfinite(col)
            if bad.any():
                raise InputError(f"moderator {name!r}: missing or infinite value for {_where(bad, labels)}")
    if intercept:
        columns = [np.ones(k), *columns]
        names = ["intercept", *names]
    if not columns:
        raise InputError("the model has neither an intercept nor moderators")
    X = np.column_stack(columns)
    check_rank(X, names)
    return X, names


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Prediction:
    """Predicted (average) effects with confidence and prediction intervals."""

    pred: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    level: float

    def to_dict(self) -> dict[str, Any]:
        scalar = self.pred.size == 1
        out = {}
        for name in ("pred", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
            arr = getattr(self, name)
            out[name] = float(arr[0]) if scalar else [float(x) for x in arr]
        return out


@dataclass
class MetaResults:
    """A fitted random-effects model (``rma``). Attributes are plain numbers and numpy arrays."""

    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    labels: list[str]
    coef_names: list[str]
    method: str
    test: str
    level: float
    control: Control
    tau2_fixed: bool
    beta: np.ndarray
    vcov: np.ndarray
    tau2: float
    se_tau2: float
    s2w: float
    q: float
    q_df: int
    q_p: float
    vt: float
    i2: float
    h2: float
    qm: float
    qm_df: tuple[int, int | None]
    qm_p: float
    btt: np.ndarray
    ll_ml: float
    ll_reml: float
    r2: float | None = None
    iterations: int = 0
    _cache: dict = field(default_factory=dict, repr=False)

    # -- basic quantities
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
    def df(self) -> int | None:
        """Degrees of freedom of the t and F tests (``test="hksj"``), else None."""
        return self.k - self.p if self.test == "hksj" else None

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))

    @property
    def statistic(self) -> np.ndarray:
        """z values (``test="z"``) or t values (``test="hksj"``) of the coefficients."""
        return self.beta / self.se

    @property
    def pvalues(self) -> np.ndarray:
        stat = np.abs(self.statistic)
        if self.test == "hksj":
            return 2 * stats.t.sf(stat, self.k - self.p)
        return 2 * stats.norm.sf(stat)

    def _crit(self, level: float | None = None) -> float:
        alpha = 1 - (self.level if level is None else level)
        if self.test == "hksj":
            return float(stats.t.isf(alpha / 2, self.k - self.p))
        return float(stats.norm.isf(alpha / 2))

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
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def weights(self) -> np.ndarray:
        """Percentage weight of each study (inverse of vi + tau²)."""
        w = 1.0 / (self.vi + self.tau2)
        return 100 * w / w.sum()

    @property
    def fitted(self) -> np.ndarray:
        return self.X @ self.beta

    @property
    def residuals(self) -> np.ndarray:
        return self.yi - self.fitted

    @property
    def hat(self) -> np.ndarray:
        """Leverages: diagonal of X (X'WX)^-1 X'W with W = 1/(vi + tau²)."""
        w = 1.0 / (self.vi + self.tau2)
        B = inv_pd((self.X.T * w) @ self.X)
        h = w * np.einsum("ij,jk,ik->i", self.X, B, self.X)
        return np.where(h > 1 - 10 * np.finfo(float).eps, 1.0, h)

    # -- interval estimates
    def confint_tau2(self, level: float | None = None) -> tuple[float, float]:
        """Q-profile confidence interval for tau² (``inf`` when above the search range)."""
        if self.method == "EE" or self.tau2_fixed:
            raise InputError("no estimated tau2 in this model, so no confidence interval for it")
        level = self.level if level is None else level
        key = ("tau2_ci", level)
        if key not in self._cache:
            self._cache[key] = q_profile_bounds(self.X, self.yi, self.vi, self.tau2, level, self.control)
        return self._cache[key]

    def predict(self, newmods=None, level: float | None = None) -> Prediction:
        """Predicted average effect with CI and prediction interval (metafor's predict()).

        Without ``newmods``: the pooled effect for an intercept-only model, the fitted values of
        each study for a meta-regression. ``newmods``: moderator values (one row per prediction,
        one column per moderator, without the intercept), or a mapping name -> values.
        """
        if newmods is None:
            Xnew = self.X[:1] if self.intercept_only else self.X
        else:
            Xnew = self._new_design(newmods)
        pred = Xnew @ self.beta
        vpred = np.einsum("ij,jk,ik->i", Xnew, self.vcov, Xnew)
        se = np.sqrt(vpred)
        crit = self._crit(level)
        # a common-effect model has no distribution of true effects to predict from
        half_pi = np.full_like(pred, np.nan) if self.method == "EE" else crit * np.sqrt(vpred + self.tau2)
        return Prediction(pred, se, pred - crit * se, pred + crit * se, pred - half_pi, pred + half_pi,
                          self.level if level is None else level)

    def _new_design(self, newmods) -> np.ndarray:
        names = self.coef_names[1:] if self.coef_names[0] == "intercept" else self.coef_names
        if isinstance(newmods, Mapping):
            missing = [n for n in names if n not in newmods]
            if missing:
                raise InputError(f"newmods: no values for {', '.join(missing)}")
            cols = [np.atleast_1d(np.asarray(newmods[n], dtype=float)) for n in names]
            arr = np.column_stack(cols)
        else:
            arr = np.asarray(newmods, dtype=float)
            arr = arr.reshape(-1, len(names)) if arr.ndim <= 1 else arr
        if arr.shape[1] != len(names):
            raise InputError(f"newmods: expected {len(names)} moderator column(s) ({', '.join(names)})")
        if not np.isfinite(arr).all():
            raise InputError("newmods: missing or infinite values")
        if self.coef_names[0] == "intercept":
            arr = np.column_stack([np.ones(arr.shape[0]), arr])
        return arr

    # -- diagnostics and small-study methods (implemented in their own modules, which never import this one)
    def leave1out(self):
        """Refit leaving out each study in turn (a pandas DataFrame, one row per omitted study)."""
        return diagnostics.leave1out(self)

    def influence(self):
        """Case-deletion diagnostics as metafor's influence(): studentised residuals, DFFITS, Cook's distance..."""
        return diagnostics.influence(self)

    def cumul(self, order=None):
        """Cumulative meta-analysis, adding studies in ``order`` (default: as given)."""
        return diagnostics.cumul(self, order)

    def egger(self):
        return bias.egger(self)

    def trimfill(self, side: str | None = None, estimator: str = "L0"):
        return bias.trimfill(self, side=side, estimator=estimator)

    def pet_peese(self, **kwargs):
        return bias.pet_peese(self, **kwargs)

    def selmodel(self, steps: Sequence[float] = (0.025,), alternative: str = "greater"):
        return bias.selmodel(self, steps=steps, alternative=alternative)

    def refit(self, yi=None, vi=None, X=None, labels=None, coef_names=None, **changes) -> "MetaResults":
        """The same model on other data (used by leave-one-out, cumulative and bias methods)."""
        if X is not None and coef_names is None and X.shape[1] != self.p:
            raise InputError("refit: coef_names are needed for a design with other columns")
        coef_names = list(self.coef_names) if coef_names is None else list(coef_names)
        X = self.X if X is None else X
        yi = self.yi if yi is None else yi
        vi = self.vi if vi is None else vi
        settings = dict(method=self.method, test=self.test, level=self.level, control=self.control,
                        tau2=self.tau2 if self.tau2_fixed else None)
        settings.update(changes)
        return fit_design(yi, vi, X, coef_names, labels=labels, **settings)

    # -- output
    def to_dict(self) -> dict[str, Any]:
        """Plain-data summary; the keys of the ``research meta --json`` contract come first."""
        pred = self.predict() if self.intercept_only else self.predict(np.zeros((1, self.p - 1)))
        if self.method != "EE" and not self.tau2_fixed:
            tau2_low, tau2_high = self.confint_tau2()
        else:
            tau2_low = tau2_high = None
        out: dict[str, Any] = {
            "k": self.k,
            "estimate": self.estimate,
            "se": float(self.se[0]),
            "ci_low": float(self.ci_low[0]),
            "ci_high": float(self.ci_high[0]),
            "pi_low": _finite_or_none(float(pred.pi_low[0])),
            "pi_high": _finite_or_none(float(pred.pi_high[0])),
            "tau2": self.tau2,
            "tau2_ci_low": _finite_or_none(tau2_low),
            "tau2_ci_high": _finite_or_none(tau2_high),
            "i2": self.i2,
            "h2": self.h2,
            "q": self.q,
            "q_p": self.q_p,
            "q_df": self.q_df,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "statistic": float(self.statistic[0]),
            "p": float(self.pvalues[0]),
            "df": self.df,
            "tau": self.tau,
            "se_tau2": _finite_or_none(self.se_tau2),
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
            out["r2"] = self.r2
        return out

    def summary(self) -> "Summary":
        return Summary(self)

    def __repr__(self) -> str:
        return (f"MetaResults(k={self.k}, method={self.method!r}, test={self.test!r}, "
                f"estimate={self.estimate:.4g}, tau2={self.tau2:.4g})")


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class Summary:
    """Text summary in the manner of statsmodels / metafor's print method."""

    def __init__(self, result: MetaResults):
        self.result = result

    def as_text(self) -> str:
        r = self.result
        kind = "Common-effect" if r.method == "EE" else ("Random-effects" if r.intercept_only else "Mixed-effects")
        how = "tau2 fixed" if r.tau2_fixed else f"tau2 estimator: {r.method}"
        lines = [f"{kind} model (k = {r.k}; {how}; test: {r.test})", ""]
        if r.method != "EE":
            word = "total" if r.intercept_only else "residual"
            spread = "fixed" if r.tau2_fixed else f"SE = {r.se_tau2:.4f}"
            lines.append(f"tau^2 ({word} heterogeneity): {r.tau2:.4f} ({spread})")
            lines.append(f"tau:                           {r.tau:.4f}")
            if not r.tau2_fixed:
                lo, hi = r.confint_tau2()
                lines.append(f"tau^2 {round(100 * r.level)}% CI (Q-profile):    [{lo:.4f}, {hi:.4f}]")
        lines.append(f"I^2:                           {r.i2:.2f}%")
        lines.append(f"H^2:                           {r.h2:.4f}")
        if r.r2 is not None:
            lines.append(f"R^2 (heterogeneity accounted): {r.r2:.2f}%")
        lines.append("")
        lines.append(f"Test for {'residual ' if not r.intercept_only else ''}heterogeneity: "
                     f"Q({r.q_df}) = {r.q:.4f}, {p_phrase(r.q_p)}")
        if not r.intercept_only:
            if r.test == "hksj":
                lines.append(f"Test of moderators: F({r.qm_df[0]}, {r.qm_df[1]}) = {r.qm:.4f}, {p_phrase(r.qm_p)}")
            else:
                lines.append(f"Test of moderators: QM({r.qm_df[0]}) = {r.qm:.4f}, {p_phrase(r.qm_p)}")
        lines.append("")
        stat = "t" if r.test == "hksj" else "z"
        width = max(10, *(len(n) for n in r.coef_names))
        lines.append(f"{'':<{width}}  {'estimate':>9} {'se':>8} {stat + 'val':>8} {'pval':>8} {'ci.lb':>9} {'ci.ub':>9}")
        for n, b, s, z, pv, lo, hi in zip(r.coef_names, r.beta, r.se, r.statistic, r.pvalues, r.ci_low, r.ci_high):
            lines.append(f"{n:<{width}}  {b:>9.4f} {s:>8.4f} {z:>8.4f} {format_p(pv):>8} {lo:>9.4f} {hi:>9.4f}")
        pred = r.predict() if r.intercept_only else None
        if pred is not None and r.method != "EE":
            lines.append("")
            lines.append(f"Prediction interval ({round(100 * r.level)}%): [{pred.pi_low[0]:.4f}, {pred.pi_high[0]:.4f}]")
        return "\n".join(lines)

    __str__ = as_text

    def __repr__(self) -> str:
        return self.as_text()


# --------------------------------------------------------------------------- fitting


def rma(
    yi,
    vi=None,
    mods=None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    *,
    mod_names: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    tau2: float | None = None,
    intercept: bool = True,
    control: Control | None = None,
) -> MetaResults:
    """Fit a random-effects meta-analysis (no ``mods``) or meta-regression, as metafor's ``rma()``.

    ``yi``, ``vi``: effect sizes and their sampling variances (see ``research.effects``), or
    ``yi`` a frame with ``yi``/``vi`` (and ``id``) columns, as ``escalc`` returns, and no ``vi``.
    ``mods``: moderators (k values, a k x m array, a mapping name -> values, or a data frame).
    ``method``: tau² estimator REML, ML, DL, PM, HE, SJ, EB, or EE (common effect, tau² = 0).
    ``test``: "z" (Wald) or "hksj" (Knapp-Hartung; "knha" also accepted).
    ``tau2``: fix tau² at this value instead of estimating it.
    """
    if vi is None and hasattr(yi, "columns"):  # a frame with yi/vi (and id) columns, as escalc returns
        frame = yi
        missing = [c for c in ("yi", "vi") if c not in frame.columns]
        if missing:
            raise InputError(f"rma: the data frame has no {' or '.join(missing)} column; give yi and vi")
        if labels is None and "id" in frame.columns:
            labels = [str(x) for x in frame["id"]]
        yi, vi = frame["yi"].to_numpy(dtype=float), frame["vi"].to_numpy(dtype=float)
    elif vi is None:
        raise InputError("rma: give vi (sampling variances) with yi, or a frame with yi and vi columns")
    y, v, names = check_outcomes(yi, vi, labels)
    X, coef_names = design_matrix(mods, mod_names, y.size, names, intercept)
    return fit_design(y, v, X, coef_names, labels=names, method=method, test=test, level=level,
                      tau2=tau2, control=control)


def fit_design(
    yi: np.ndarray,
    vi: np.ndarray,
    X: np.ndarray,
    coef_names: list[str],
    *,
    labels: Sequence[str] | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    tau2: float | None = None,
    control: Control | None = None,
    with_r2: bool = True,
) -> MetaResults:
    """Fit on an already built design matrix (inputs assumed checked)."""
    method = normalise_method(method)
    test = normalise_test(test)
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1, got {level}")
    control = control or Control()
    k, p = X.shape
    labels = _labels(labels, k)
    tau2_fixed = tau2 is not None and method != "EE"
    if tau2_fixed:
        tau2 = float(tau2)
        if not math.isfinite(tau2) or tau2 < 0:
            raise InputError(f"tau2 must be a finite value >= 0, got {tau2}")
    needed = p + (0 if method == "EE" or tau2_fixed else 1)
    if k < needed:
        raise InputError(
            f"too few studies: k = {k} for {p} coefficient(s)"
            + ("" if needed == p else " plus tau2") + f"; need k >= {needed}"
        )

    if tau2_fixed:
        tau2_value, se_tau2, iterations = tau2, float("nan"), 0
    else:
        est = estimate_tau2(method, X, yi, vi, control)
        tau2_value, se_tau2, iterations = est.tau2, est.se, est.iterations

    w = 1.0 / (vi + tau2_value)
    fit = wls(X, w, yi)
    vcov = fit.B
    s2w = 1.0
    if test == "hksj":
        rss = fit.rss
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        vcov = s2w * vcov

    btt = np.arange(1, p) if (p > 1 and coef_names[0] == "intercept") else np.arange(p)
    beta = fit.beta
    try:
        qm = float(beta[btt] @ inv_pd(vcov[np.ix_(btt, btt)]) @ beta[btt])
    except np.linalg.LinAlgError:
        qm = float("nan")
    m = btt.size
    if test == "hksj":
        qm /= m
        qm_df: tuple[int, int | None] = (m, k - p)
        qm_p = float(stats.f.sf(qm, m, k - p))
    else:
        qm_df = (m, None)
        qm_p = float(stats.chi2.sf(qm, m))

    # heterogeneity statistics always use the common-effect weights 1/vi
    ymc = yi - yi.mean()
    if k > p:
        fe = wls(X, 1.0 / vi, ymc)
        q = max(0.0, fe.rss)
        q_p = float(stats.chi2.sf(q, k - p))
        vt = (k - p) / fe.trace_p()
        if method == "EE":
            i2 = max(0.0, 100 * (q - (k - p)) / q) if q > 0 else 0.0
            h2 = q / (k - p)
        else:
            i2 = 100 * tau2_value / (vt + tau2_value)
            h2 = tau2_value / vt + 1
    else:
        q, q_p, i2, h2, vt = 0.0, 1.0, 0.0, 1.0, 0.0

    rss_f = float(np.dot(w, (yi - X @ beta) ** 2))
    sum_log = float(np.sum(np.log(vi + tau2_value)))
    ll_ml = -0.5 * k * math.log(2 * math.pi) - 0.5 * sum_log - 0.5 * rss_f
    ll_reml = (-0.5 * (k - p) * math.log(2 * math.pi) + 0.5 * np.linalg.slogdet(X.T @ X)[1]
               - 0.5 * sum_log + 0.5 * np.linalg.slogdet(fit.B)[1] - 0.5 * rss_f)

    result = MetaResults(
        yi=yi, vi=vi, X=X, labels=labels, coef_names=list(coef_names), method=method, test=test,
        level=level, control=control, tau2_fixed=tau2_fixed, beta=beta, vcov=vcov, tau2=float(tau2_value),
        se_tau2=float(se_tau2), s2w=float(s2w), q=float(q), q_df=k - p, q_p=q_p, vt=float(vt), i2=float(i2),
        h2=float(h2), qm=qm, qm_df=qm_df, qm_p=qm_p, btt=btt, ll_ml=float(ll_ml), ll_reml=float(ll_reml),
        iterations=iterations,
    )
    if with_r2 and p > 1 and coef_names[0] == "intercept" and method != "EE" and not tau2_fixed:
        result.r2 = _pseudo_r2(result)
    return result


def _pseudo_r2(result: MetaResults) -> float | None:
    """Proportional reduction in tau² relative to the intercept-only model (metafor's R²)."""
    try:
        base = fit_design(result.yi, result.vi, np.ones((result.k, 1)), ["intercept"], method=result.method,
                          test=result.test, level=result.level, control=result.control, with_r2=False)
    except InputError:
        return None
    if base.tau2 == 0:
        return 0.0
    return max(0.0, 100 * (base.tau2 - result.tau2) / base.tau2)
