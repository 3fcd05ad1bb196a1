"""Leave-one-out, case-deletion influence and cumulative meta-analysis (metafor 3.8 definitions)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from research.errors import InputError
from research.meta._core import Fit, check_rank, inv_pd, require_intercept_only

SUMMARY_COLUMNS = ["estimate", "se", "statistic", "p", "ci_low", "ci_high", "q", "q_p", "tau2", "i2", "h2"]


def _summary_row(fit: Fit) -> list[float]:
    return [fit.estimate, float(fit.se[0]), float(fit.statistic[0]), float(fit.pvalues[0]),
            float(fit.ci_low[0]), float(fit.ci_high[0]), fit.q, fit.q_p, fit.tau2, fit.i2, fit.h2]


def _single_study_row(y: float, v: float, level: float) -> list[float]:
    # with one study metafor reports that study with z-based inference and no heterogeneity
    se = math.sqrt(v)
    z = y / se
    crit = stats.norm.isf((1 - level) / 2)
    return [y, se, z, 2 * stats.norm.sf(abs(z)), y - crit * se, y + crit * se, 0.0, 1.0, 0.0, 0.0, 1.0]


def _subset_row(result: Fit, take: np.ndarray) -> list[float]:
    """The summary row of the model refitted to the studies ``take`` (indices); NaN when it cannot be fitted."""
    if take.size == 1:
        return _single_study_row(result.yi[take[0]], result.vi[take[0]], result.level)
    try:
        fit = result.refit(yi=result.yi[take], vi=result.vi[take], X=result.X[take], with_r2=False)
    except InputError:
        return [math.nan] * len(SUMMARY_COLUMNS)
    return _summary_row(fit)


def leave1out(result: Fit) -> pd.DataFrame:
    """Refit the model without each study in turn; one row per omitted study."""
    require_intercept_only(result, "leave-one-out analysis")
    everyone = np.arange(result.k)
    rows = [_subset_row(result, everyone[everyone != i]) for i in range(result.k)]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS, index=pd.Index(result.labels, name="omitted"))


def cumul(result: Fit, order=None) -> pd.DataFrame:
    """Cumulative meta-analysis: row j pools the first j studies in ``order`` (indices or sort keys)."""
    require_intercept_only(result, "cumulative meta-analysis")
    if order is None:
        idx = np.arange(result.k)
    else:
        keys = np.asarray(order)
        if keys.shape != (result.k,):
            raise InputError(f"order: {keys.size} values for {result.k} studies")
        idx = np.argsort(keys, kind="stable")
    rows = [_subset_row(result, idx[:j]) for j in range(1, result.k + 1)]
    labels = [result.labels[i] for i in idx]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS, index=pd.Index(labels, name="added"))


def influence(result: Fit) -> pd.DataFrame:
    """Case-deletion diagnostics (metafor's influence()): one row per study.

    Columns: rstudent (externally studentised residual), dffits, cook_d, cov_r, tau2_del, q_del,
    hat, weight (%), one ``dfbetas_<coefficient>`` column per coefficient, and ``influential``
    (metafor's rule of thumb).
    """
    k, p = result.k, result.p
    X, yi, vi = result.X, result.yi, result.vi
    vb_full = result.vcov
    svb = inv_pd(vb_full)
    det_full = np.linalg.det(vb_full)
    pred_full = result.fitted
    hat = result.hat
    cols = {name: np.full(k, np.nan) for name in
            ("tau2_del", "q_del", "delpred", "vdelpred", "s2w_del", "dffits", "cook_d", "cov_r")}
    dfbetas = np.full((k, p), np.nan)
    keep = np.ones(k, dtype=bool)
    for i in range(k):
        keep[:] = True
        keep[i] = False
        try:
            check_rank(X[keep], result.coef_names)
            fit = result.refit(yi=yi[keep], vi=vi[keep], X=X[keep], with_r2=False)
        except (InputError, np.linalg.LinAlgError):
            continue
        xi = X[i]
        cols["tau2_del"][i] = fit.tau2
        cols["q_del"][i] = fit.q
        cols["delpred"][i] = xi @ fit.beta
        cols["vdelpred"][i] = xi @ fit.vcov @ xi
        cols["s2w_del"][i] = fit.s2w
        cols["dffits"][i] = (pred_full[i] - cols["delpred"][i]) / math.sqrt(fit.s2w * hat[i] * (fit.tau2 + vi[i]))
        vb_del = inv_pd((X.T / (vi + fit.tau2)) @ X)
        diff = result.beta - fit.beta
        dfbetas[i] = diff / np.sqrt(fit.s2w * np.diag(vb_del))
        cols["cook_d"][i] = diff @ svb @ diff
        cols["cov_r"][i] = np.linalg.det(fit.vcov) / det_full
    resid = yi - cols["delpred"]
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0.0
    s2w = cols["s2w_del"]
    se_resid = np.sqrt(vi * s2w + cols["vdelpred"] + cols["tau2_del"] * s2w)
    frame = pd.DataFrame(
        {
            "rstudent": resid / se_resid,
            "dffits": cols["dffits"],
            "cook_d": cols["cook_d"],
            "cov_r": cols["cov_r"],
            "tau2_del": cols["tau2_del"],
            "q_del": cols["q_del"],
            "hat": hat,
            "weight": result.weights,
        },
        index=pd.Index(result.labels, name="study"),
    )
    for j, name in enumerate(result.coef_names):
        frame[f"dfbetas_{name}"] = dfbetas[:, j]
    with np.errstate(invalid="ignore"):
        flagged = (
            (np.abs(frame["dffits"]) > 3 * math.sqrt(p / (k - p)))
            | (stats.chi2.cdf(frame["cook_d"], p) > 0.5)
            | (frame["hat"] > 3 * p / k)
            | (np.abs(dfbetas) > 1).any(axis=1)
        )
    frame["influential"] = flagged.fillna(False).astype(bool)
    return frame
