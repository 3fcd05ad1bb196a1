"""Count regressions shared by the interrupted time series and difference-in-differences.

Families: "poisson", "quasipoisson" (Poisson with the Pearson dispersion as scale) and
"negbin" (NB2, dispersion alpha by maximum likelihood). Standard errors: model-based,
"hac" (Newey-West, for autocorrelated series) or "cluster" (by a group label).
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
        z = stats.norm.ppf(0.5 + level / 2)
        p = float(2 * stats.norm.sf(abs(estimate) / se)) if se > 0 else float("nan")
        return {"log_estimate": estimate, "se": se, "ci_low": estimate - z * se, "ci_high": estimate + z * se, "p_value": p}

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
    elif cov == "cluster":
        cov_type, cov_kwds = "cluster", {"groups": np.asarray(pd.factorize(pd.Series(groups))[0])}
    elif cov == "model":
        cov_type, cov_kwds = "nonrobust", None
    else:
        raise InputError(f"count model: cov must be 'model', 'hac' or 'cluster', got {cov!r}")
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
    return CountFit(list(X.columns), params, covariance, family, dispersion, alpha, fitted, int(y.size), float(poisson.df_resid), cov_type, note)


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
