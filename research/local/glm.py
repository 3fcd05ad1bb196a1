"""Count regressions shared by the interrupted time series and difference-in-differences.

Families: "poisson", "quasipoisson" (Poisson with the Pearson dispersion as scale) and
"negbin" (NB2, dispersion alpha by maximum likelihood). Standard errors: model-based,
"hac" (Newey-West, for autocorrelated series), "cluster" (CR1 by a group label) or
"cr2" (the bias-reduced cluster-robust estimator of Bell and McCaffrey with their
Satterthwaite degrees of freedom, for few clusters). ``fit_ar1`` fits a series with
AR(1) errors (quasi-likelihood GLS, the correlation by restricted maximum likelihood) and
``breusch_godfrey`` tests the residuals of a fit for autocorrelation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from research.errors import ConvergenceError, InputError

FAMILIES = ("poisson", "quasipoisson", "negbin")
# A Poisson fit whose Pearson dispersion exceeds this has intervals that are too narrow.
OVERDISPERSION_LIMIT = 1.5
WIDTH = 72  # of the text summaries


@dataclass
class CountFit:
    """Coefficients of a log-linear count model, with their covariance."""

    names: list[str]
    params: np.ndarray
    cov: np.ndarray
    family: str
    dispersion: float  # Pearson chi-square / residual df of the Poisson fit
    alpha: float | None  # NB2 dispersion, when family is negbin
    fitted: np.ndarray
    n: int
    df_resid: float
    cov_type: str
    note: str | None = None
    df: float | None = None  # degrees of freedom of t intervals; None = normal intervals
    df_by_term: dict | None = None  # per-coefficient degrees of freedom (CR2), overriding ``df``
    rho: float | None = None  # AR(1) coefficient of the latent process, when fitted
    share: float | None = None  # share of the residual variance that follows it

    @property
    def overdispersed(self) -> bool:
        """A Poisson fit to counts that vary more than Poisson counts do."""
        return self.family == "poisson" and self.dispersion > OVERDISPERSION_LIMIT

    def index(self, name: str) -> int:
        return self.names.index(name)

    def se(self, name: str) -> float:
        j = self.index(name)
        return float(np.sqrt(self.cov[j, j]))

    def combination(self, weights: dict[str, float], level: float = 0.95) -> dict[str, float]:
        """Estimate, standard error, interval and p-value of a linear combination of coefficients."""
        w = np.zeros(len(self.names))
        for name, value in weights.items():
            w[self.index(name)] = value
        estimate = float(w @ self.params)
        se = float(np.sqrt(max(w @ self.cov @ w, 0.0)))
        df = self.degrees_of_freedom(weights)
        reference = stats.norm if df is None else stats.t(df)
        z = reference.ppf(0.5 + level / 2)
        p = float(2 * reference.sf(abs(estimate) / se)) if se > 0 else float("nan")
        out = {"log_estimate": estimate, "se": se, "ci_low": estimate - z * se, "ci_high": estimate + z * se, "p_value": p}
        if df is not None:
            out["df"] = float(df)
        return out

    def degrees_of_freedom(self, weights: dict[str, float]) -> float | None:
        """Degrees of freedom for a combination: the per-term value for a single CR2 term, else ``df``."""
        if self.df_by_term and len(weights) == 1:
            (name,) = weights
            if name in self.df_by_term:
                return self.df_by_term[name]
        return self.df

    def ratio(self, weights: dict[str, float], level: float = 0.95) -> dict[str, float]:
        """``combination`` with the estimate and interval also as rate ratios (exp of the log values)."""
        c = self.combination(weights, level)
        return {**c, "ratio": math.exp(c["log_estimate"]), "ratio_low": math.exp(c["ci_low"]), "ratio_high": math.exp(c["ci_high"])}

    def table(self, level: float = 0.95) -> pd.DataFrame:
        rows = [{"term": name, **self.combination({name: 1.0}, level)} for name in self.names]
        return pd.DataFrame(rows).set_index("term")

    def report_dict(self, flag: str | None, **results) -> dict:
        """An analysis's plain-data results, framed by the fit's family, dispersion and note."""
        return {"family": self.family, "cov_type": self.cov_type, **results, "dispersion": self.dispersion,
                "alpha": self.alpha, "flag": flag, "note": self.note}

    def report_text(self, analysis: str, lines: list[str], flag: str | None) -> str:
        """An analysis's text summary: a titled frame around ``lines``, then the fit's note and any flag."""
        out = ["=" * WIDTH, f"{analysis} ({self.family}, {self.cov_type} standard errors)".center(WIDTH), "=" * WIDTH,
               *lines]
        if self.note:
            out.append(self.note)
        if flag:
            out.append("*** " + flag + " ***")
        out.append("=" * WIDTH)
        return "\n".join(out)


def log_effect(combination: dict[str, float]) -> dict[str, float]:
    """A log-scale estimate as (yi, vi), positive = more events, for the meta-analysis frame."""
    return {"yi": combination["log_estimate"], "vi": combination["se"] ** 2}


def fit_counts(y, X: pd.DataFrame, family: str = "poisson", exposure=None, cov: str = "model", hac_lags: int | None = None, groups=None) -> CountFit:
    import statsmodels.api as sm
    from statsmodels.discrete.discrete_model import NegativeBinomial

    if family not in FAMILIES:
        raise InputError(f"count model: family must be one of {', '.join(FAMILIES)}, got {family!r}")
    y = np.asarray(y, dtype=float)
    offset = None if exposure is None else np.log(np.asarray(exposure, dtype=float))
    if cov == "hac":
        cov_type, cov_kwds = "HAC", {"maxlags": int(hac_lags or 1)}
    elif cov in ("cluster", "cr2"):
        cov_type, cov_kwds = "cluster", {"groups": np.asarray(pd.factorize(pd.Series(groups))[0])}
    elif cov == "model":
        cov_type, cov_kwds = "nonrobust", None
    else:
        raise InputError(f"count model: cov must be 'model', 'hac', 'cluster' or 'cr2', got {cov!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poisson = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit()
        dispersion = float(poisson.pearson_chi2 / poisson.df_resid) if poisson.df_resid > 0 else float("nan")
        alpha = None
        note = None
        if family == "negbin":
            fitted_nb = _negbin(NegativeBinomial(y, X, loglike_method="nb2", offset=offset), poisson.params.to_numpy(), cov_type, cov_kwds)
            if fitted_nb is None:
                # Dispersion at its boundary (alpha -> 0): the data show no extra-Poisson variation.
                family = "poisson"
                note = "negative binomial dispersion estimated at zero: Poisson model used"
            else:
                params, covariance, alpha = fitted_nb
                fitted = np.exp(X.to_numpy() @ params + (0 if offset is None else offset))
        if family != "negbin":
            scale = "X2" if family == "quasipoisson" else None
            result = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit(scale=scale, cov_type=cov_type, cov_kwds=cov_kwds)
            params = result.params.to_numpy()
            covariance = np.asarray(result.cov_params())
            fitted = np.asarray(result.fittedvalues)
    if not np.all(np.isfinite(params)) or not np.all(np.isfinite(np.diag(covariance))):
        raise ConvergenceError("count model: estimates are not finite (separation or too few counts?)")
    fit = CountFit(list(X.columns), params, covariance, family, dispersion, alpha, fitted, int(y.size), float(poisson.df_resid), cov_type, note)
    if cov == "cluster":
        fit.df = float(len(np.unique(cov_kwds["groups"])) - 1)
    if cov == "cr2":
        fit = _with_cr2(fit, y, X.to_numpy(dtype=float), cov_kwds["groups"])
    return fit


def _variance_function(fit: CountFit, mu: np.ndarray) -> np.ndarray:
    return mu * (1.0 + fit.alpha * mu) if fit.family == "negbin" and fit.alpha else mu


def _inverse_sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric (pseudo-)inverse square root; directions with no variance are left out."""
    values, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    keep = values > 1e-10 * max(values.max(), 1.0)
    inv = np.zeros_like(values)
    inv[keep] = 1.0 / np.sqrt(values[keep])
    return (vectors * inv) @ vectors.T


def _with_cr2(fit: CountFit, y, X, groups) -> CountFit:
    """CR2 covariance (Bell and McCaffrey 2002) and Satterthwaite degrees of freedom per coefficient.

    Works on the GLM's weighted working model: rows scaled by sqrt(weight), residuals the
    Pearson residuals. Each cluster's residuals are adjusted by (I - H_gg)^(-1/2) (a
    pseudo-inverse: unit fixed effects make I - H_gg singular), which removes most of the
    small-sample downward bias of CR1. The degrees of freedom are those of Bell and McCaffrey
    under a working model of independent, equal-variance working residuals.
    """
    mu = fit.fitted
    weight = mu**2 / _variance_function(fit, mu)  # (d mu / d eta)^2 / V(mu) for the log link
    root = np.sqrt(weight)
    Xw = X * root[:, None]
    resid = (y - mu) / np.sqrt(_variance_function(fit, mu))
    bread = np.linalg.pinv(Xw.T @ Xw)
    labels = np.asarray(groups)
    clusters = [np.flatnonzero(labels == g) for g in np.unique(labels)]
    n, p = Xw.shape
    meat = np.zeros((p, p))
    # For the degrees of freedom: G[:, g, j] = (I - H)_{g,.}' A_g Xw_g M e_j, per coefficient j.
    residual_maker = np.eye(n) - Xw @ bread @ Xw.T
    G = np.zeros((n, len(clusters), p))
    for c, rows in enumerate(clusters):
        Xg = Xw[rows]
        A = _inverse_sqrt_psd(np.eye(rows.size) - Xg @ bread @ Xg.T)
        score = Xg.T @ (A @ resid[rows])
        meat += np.outer(score, score)
        G[:, c, :] = residual_maker[rows].T @ (A @ Xg @ bread)
    cov = bread @ meat @ bread
    df_by_term = {}
    for j, name in enumerate(fit.names):
        Gj = G[:, :, j]
        gram = Gj.T @ Gj
        denominator = float(np.sum(gram * gram))
        df_by_term[name] = float(np.trace(gram) ** 2 / denominator) if denominator > 0 else float("nan")
    fit.cov = cov
    fit.cov_type = "CR2"
    fit.df_by_term = df_by_term
    fit.df = float(len(clusters) - 1)
    return fit


def _bg_statistic(resid: np.ndarray, design: np.ndarray, order: int) -> dict[str, float]:
    """n R^2 of residuals on the design and their own lags (missing lags zero), chi-square(order)."""
    lags = np.column_stack([np.concatenate([np.zeros(k), resid[:-k]]) for k in range(1, order + 1)])
    full = np.column_stack([design, lags])
    coef, *_ = np.linalg.lstsq(full, resid, rcond=None)
    explained = resid - full @ coef
    centred = resid - resid.mean()
    total = float(centred @ centred)
    r2 = 1.0 - float(explained @ explained) / total if total > 0 else 0.0
    statistic = resid.size * max(r2, 0.0)
    lag1 = float(np.sum(resid[1:] * resid[:-1]) / np.sum(resid * resid)) if np.sum(resid * resid) > 0 else 0.0
    return {"statistic": statistic, "order": int(order), "p_value": float(stats.chi2.sf(statistic, order)), "lag1": lag1}


def breusch_godfrey(fit: CountFit, y, X: pd.DataFrame, order: int) -> dict[str, float]:
    """Breusch-Godfrey test for autocorrelation up to ``order`` in the Pearson residuals of a count fit.

    The residuals are regressed on the weighted design and their own lags; n R^2 of that
    regression is chi-square with ``order`` degrees of freedom when the residuals are
    serially independent.
    """
    mu = fit.fitted
    root = np.sqrt(_variance_function(fit, mu))
    resid = (np.asarray(y, dtype=float) - mu) / root
    return _bg_statistic(resid, X.to_numpy(dtype=float) * (mu / root)[:, None], order)


def breusch_godfrey_whitened(fit: CountFit, y, X: pd.DataFrame, order: int) -> dict[str, float]:
    """The Breusch-Godfrey test after decorrelating residuals and design with the fitted error correlation."""
    mu = fit.fitted
    root = np.sqrt(_variance_function(fit, mu))
    L = np.linalg.cholesky(latent_ar1_correlation(mu.size, fit.share, fit.rho))
    resid = np.linalg.solve(L, (np.asarray(y, dtype=float) - mu) / root)
    return _bg_statistic(resid, np.linalg.solve(L, X.to_numpy(dtype=float) * (mu / root)[:, None]), order)


def latent_ar1_correlation(n: int, share: float, rho: float) -> np.ndarray:
    """Correlation of residuals from counts around a latent AR(1) process.

    ``share`` of each residual's variance comes from the latent process (correlation
    ``rho`` per period) and the rest is independent count noise, so the correlation at
    lag k >= 1 is share * rho^k (an ARMA(1,1) pattern; share = 1 gives plain AR(1)).
    """
    lags = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    R = share * np.power(rho, lags)
    R[np.diag_indices(n)] = 1.0
    return R


def _restricted_loglik(R, z, Xw):
    """REML log likelihood (up to a constant) of a linear model with error correlation R, scale profiled out."""
    n, p = Xw.shape
    try:
        L = np.linalg.cholesky(R)
    except np.linalg.LinAlgError:
        return -np.inf
    Xs = np.linalg.solve(L, Xw)
    zs = np.linalg.solve(L, z)
    beta, *_ = np.linalg.lstsq(Xs, zs, rcond=None)
    e = zs - Xs @ beta
    quad = float(e @ e)
    _sign, logdet_x = np.linalg.slogdet(Xs.T @ Xs)
    return -float(np.sum(np.log(np.diag(L)))) - 0.5 * logdet_x - 0.5 * (n - p) * math.log(max(quad, 1e-300))


def _correlation_parameters(x) -> tuple[float, float]:
    share = 1.0 / (1.0 + math.exp(-x[0]))
    rho = 0.98 * math.tanh(x[1])
    return share, rho


def fit_ar1(y, X: pd.DataFrame, start: CountFit, exposure=None, iterations: int = 50) -> CountFit:
    """Count regression with autocorrelated errors: quasi-likelihood GLS, correlation by REML.

    The working correlation is that of counts around a latent AR(1) process
    (``latent_ar1_correlation``: a share of the variance follows AR(1), the rest is
    independent count noise; the model of Zeger 1988). Iteratively reweighted least
    squares alternates with the restricted maximum likelihood estimate of the share and
    the AR coefficient for the weighted working residuals. The scale is estimated
    (quasi-likelihood) and intervals use t with n - p - 2 degrees of freedom.
    """
    from scipy.optimize import minimize

    y = np.asarray(y, dtype=float)
    Xm = X.to_numpy(dtype=float)
    n, p = Xm.shape
    offset = np.zeros(n) if exposure is None else np.log(np.asarray(exposure, dtype=float))
    beta = start.params.copy()
    x0 = np.array([0.0, 0.5])

    def working(beta):
        eta = Xm @ beta + offset
        mu = np.exp(eta)
        root = mu / np.sqrt(_variance_function(start, mu))  # sqrt of the working weight mu^2 / V(mu)
        return root * (eta - offset + (y - mu) / mu), Xm * root[:, None]

    for outer in range(iterations):
        z, Xw = working(beta)
        best = minimize(lambda x: -_restricted_loglik(latent_ar1_correlation(n, *_correlation_parameters(x)), z, Xw),
                        x0, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-8, "maxiter": 1000})
        before = latent_ar1_correlation(n, *_correlation_parameters(x0))
        x0 = np.clip(best.x, -10.0, 10.0)
        R = latent_ar1_correlation(n, *_correlation_parameters(x0))
        moved = float(np.max(np.abs(R - before)))  # the parameters themselves may drift where R is flat
        L = np.linalg.cholesky(R)
        for _inner in range(100):  # IRLS for beta with the correlation held fixed
            new_beta, *_ = np.linalg.lstsq(np.linalg.solve(L, Xw), np.linalg.solve(L, z), rcond=None)
            step = float(np.max(np.abs(new_beta - beta)))
            beta = new_beta
            if step < 1e-10:
                break
            z, Xw = working(beta)
        if outer > 0 and moved < 1e-3:
            break
    else:
        raise ConvergenceError("count model with autocorrelated errors did not converge; use autocorrelation 'hac'")
    share, rho = _correlation_parameters(x0)
    eta = Xm @ beta + offset
    mu = np.exp(eta)
    variance = _variance_function(start, mu)
    L = np.linalg.cholesky(latent_ar1_correlation(n, share, rho))
    Xs = np.linalg.solve(L, Xm * (mu / np.sqrt(variance))[:, None])
    rs = np.linalg.solve(L, (y - mu) / np.sqrt(variance))
    scale = float(rs @ rs) / (n - p - 2)  # two correlation parameters estimated as well
    cov = scale * np.linalg.inv(Xs.T @ Xs)
    if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(np.diag(cov)))):
        raise ConvergenceError("count model with autocorrelated errors: estimates are not finite")
    note = (f"autocorrelated errors: latent AR(1) coefficient {rho:.2f} carrying {share:.0%} of the residual variance "
            f"(REML), scale {scale:.2f} (quasi-likelihood)")
    note = note if not start.note else start.note + "; " + note
    return CountFit(list(X.columns), beta, cov, start.family, start.dispersion, start.alpha, mu, n, float(n - p),
                    "AR(1)+noise", note, df=float(n - p - 2), rho=rho, share=share)


_ALPHA_BOUNDARY = 1e-5


def _negbin(model, poisson_params, cov_type, cov_kwds):
    """NB2 fit: (params, covariance, alpha), or None when alpha sits at zero."""
    result = None
    start = np.append(poisson_params, 0.1)
    for method, iterations in (("bfgs", 500), ("newton", 200)):
        try:
            attempt = model.fit(start_params=start, disp=0, maxiter=iterations, method=method, cov_type=cov_type, cov_kwds=cov_kwds)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if not np.all(np.isfinite(attempt.params.to_numpy())):
            continue
        result = attempt
        if float(result.params.iloc[-1]) < _ALPHA_BOUNDARY:
            return None
        if result.mle_retvals.get("converged", False):
            break
        start = result.params.to_numpy()
    if result is None:
        raise ConvergenceError("negative binomial model could not be fitted; try family 'quasipoisson'")
    alpha = float(result.params.iloc[-1])
    if not result.mle_retvals.get("converged", False):
        raise ConvergenceError("negative binomial model did not converge; try family 'quasipoisson'")
    try:
        covariance = np.asarray(result.cov_params())[:-1, :-1]
    except ValueError as exc:
        raise ConvergenceError("negative binomial model: covariance not available (singular information)") from exc
    return result.params.to_numpy()[:-1], covariance, alpha


def check_counts(values, source: str, labels=None) -> np.ndarray:
    """Counts must be finite, non-negative whole numbers; name the first bad one."""
    counts = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    labels = list(range(len(counts))) if labels is None else list(labels)
    for label, value in zip(labels, counts):
        if not np.isfinite(value) or value < 0 or value != np.round(value):
            raise InputError(f"{source}: count at {label}: {value!r} is not a non-negative whole number")
    return counts
