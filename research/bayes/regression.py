"""Exact Bayesian meta-regression: y_i ~ Normal(x_i' beta, v_i + tau^2).

Given tau the coefficients have a Gaussian posterior (normal priors: ``mu_prior`` for the
intercept, ``coef_prior`` for moderator effects), so the same one-dimensional
integration over tau as in the random-effects model gives the exact joint answer
(the approach of bayesmeta's ``bmr``). Moderators are coded as in the MCMC model
(treatment coding against the most common level). A study with an unreported moderator
cannot enter this model: by default the fit is refused with a message naming the studies;
``missing="drop"`` leaves them out explicitly (named in the notes). The MCMC
``meta_regression`` model keeps them by averaging over levels.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import pandas as pd

from research.bayes.exact import ExactPosterior, TauGrid, check_exact_inputs, data_spread, format_summary, integrate_tau
from research.bayes.frame import category, check_effects
from research.bayes.mixture import Marginal, mixture_marginal
from research.bayes.models import DEFAULT_MODERATORS, Design, ModelSpec, build_design, covariate_parts
from research.bayes.priors import FlatPrior, HalfNormalPrior, NormalPrior, Prior, parse_prior
from research.errors import InputError

_LOG_2PI = math.log(2.0 * math.pi)
MISSING_POLICIES = ("refuse", "drop")


def _conditional_beta(y, v, X, tau, prior_mean, prior_precision):
    """Posterior mean (G, p) and covariance (G, p, p) of beta given tau, and log p(y | tau)."""
    w = 1.0 / (v[None, :] + tau[:, None] ** 2)  # (G, k)
    precision = np.einsum("gk,kp,kq->gpq", w, X, X) + np.diag(prior_precision)[None]
    rhs = np.einsum("gk,kp,k->gp", w, X, y) + (prior_precision * prior_mean)[None]
    chol = np.linalg.cholesky(precision)
    mean = np.linalg.solve(precision, rhs[..., None])[..., 0]
    cov = np.linalg.inv(precision)
    fitted = mean @ X.T  # (G, k)
    # p(y | tau) = p(y | beta, tau) p(beta) / p(beta | y, tau) at beta = posterior mean.
    loglik = np.sum(-0.5 * (_LOG_2PI - np.log(w)) - 0.5 * w * (y[None, :] - fitted) ** 2, axis=1)
    proper = prior_precision > 0
    loglik += np.sum(
        (-0.5 * _LOG_2PI + 0.5 * np.log(prior_precision[proper]))[None] - 0.5 * prior_precision[proper][None] * (mean[:, proper] - prior_mean[proper][None]) ** 2,
        axis=1,
    )
    log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    loglik -= -0.5 * X.shape[1] * _LOG_2PI + 0.5 * log_det
    return mean, cov, loglik


class ExactRegressionPosterior(ExactPosterior):
    """Exact posterior of a meta-regression. ``mu`` is the mean effect at the reference levels."""

    def __init__(self, yi, vi, ids, mu_prior, tau_prior, coef_prior, grid: TauGrid, design: Design, coef_mean, coef_cov, X, dropped):
        super().__init__(yi, vi, ids, mu_prior, tau_prior, grid)
        self.coef_prior = coef_prior
        self.design = design
        self.coef_mean = coef_mean
        self.coef_cov = coef_cov
        self.X = X
        self.dropped = list(dropped)

    model = "meta_regression"

    @property
    def moderators(self):
        return self.design.moderators

    @property
    def notes(self) -> list[str]:
        out = list(self.design.notes)
        if self.dropped:
            out.insert(0, f"left out for an unreported moderator (missing='drop'): {', '.join(self.dropped)}")
        return out

    @property
    def reference(self) -> dict:
        return {m.name: m.default for m in self.design.moderators}

    def covariate_row(self, covariates: dict | None = None) -> np.ndarray:
        """Design row (with intercept); moderators not given sit at their reference level or mean."""
        return np.concatenate([np.ones(1), *covariate_parts(self.design.moderators, covariates)])

    def _linear_at(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of x'beta per tau node."""
        return self.coef_mean @ x, np.einsum("p,gpq,q->g", x, self.coef_cov, x)

    def _study_centre(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self._linear_at(self.X[i])

    def _pred_parts(self, covariates):
        means, var = self._linear_at(self.covariate_row(covariates))
        return self.grid.weight, means, np.sqrt(var + self.grid.tau**2)

    @cached_property
    def coefficients(self) -> dict[str, Marginal]:
        g = self.grid
        return {
            name: mixture_marginal(g.weight, self.coef_mean[:, j + 1], np.sqrt(self.coef_cov[:, j + 1, j + 1]))
            for j, name in enumerate(self.design.coefficient_names)
        }

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update(
            model=self.model,
            coef_prior=self.coef_prior.spec,
            reference=self.reference,
            coefficients={k: v.to_dict() for k, v in self.coefficients.items()},
            notes=self.notes,
        )
        return out

    def summary(self) -> str:
        rows = {"mu (reference)": self.mu, "tau": self.tau}
        rows.update({f"beta {k}": v for k, v in self.coefficients.items()})
        rows["new setting (reference)"] = self.predictive()
        notes = ["reference: " + ", ".join(f"{k}={v}" for k, v in self.reference.items())] + self.notes
        return format_summary(
            title="Bayesian meta-regression (exact, integration over tau)",
            k=self.k,
            priors={"mu": self.mu_prior.label, "tau": self.tau_prior.label, "beta": self.coef_prior.label},
            rows=rows,
            probabilities={"P(mu < 0)": self.p_mu_below(0.0), "P(new setting < 0)": self.p_pred_below(0.0)},
            notes=notes,
        )


def exact_meta_regression(
    frame: pd.DataFrame,
    moderators=DEFAULT_MODERATORS,
    mu_prior: Prior | str = NormalPrior(0.0, 1.0),
    tau_prior: Prior | str = HalfNormalPrior(0.5),
    coef_prior: Prior | str = NormalPrior(0.0, 1.0),
    grid_points: int = 800,
    missing: str = "refuse",
) -> ExactRegressionPosterior:
    """Exact Bayesian meta-regression on categorical or numeric moderators of the frame.

    ``missing`` says what to do with studies that do not report a moderator: "refuse"
    (the default) raises an error naming them; "drop" leaves them out and says so in ``notes``.
    """
    if missing not in MISSING_POLICIES:
        raise InputError(f"meta-regression: missing must be one of {', '.join(MISSING_POLICIES)}, got {missing!r}")
    frame = check_effects(frame)
    moderators = tuple(moderators)
    coef_prior = parse_prior(coef_prior, role="mu")
    if not isinstance(coef_prior, NormalPrior):
        raise InputError(f"coefficient prior must be normal:M,S, got {coef_prior.spec}")
    absent = [m for m in moderators if m not in frame.columns]
    if absent:
        raise InputError(f"meta-regression: moderator column(s) {', '.join(absent)} absent from the data")
    unreported = np.zeros(len(frame), dtype=bool)
    for name in moderators:
        unreported |= np.array([category(v) is None for v in frame[name]])
    dropped = frame.loc[unreported, "id"].tolist()
    if dropped and missing == "refuse":
        gaps = {
            name: [i for i, v in zip(frame["id"], frame[name]) if category(v) is None] for name in moderators
        }
        detail = "; ".join(f"{name}: {', '.join(ids)}" for name, ids in gaps.items() if ids)
        raise InputError(
            f"meta-regression: {len(dropped)} of {len(frame)} studies do not report a moderator ({detail}); "
            "the exact model cannot use them. Leave them out explicitly (missing='drop'), record the moderator, "
            "or use the MCMC meta_regression model, which averages over the levels"
        )
    used = frame.loc[~unreported].reset_index(drop=True)
    if used.empty:
        raise InputError("meta-regression: no study reports all of the moderators " + ", ".join(moderators))
    design = build_design(used, ModelSpec("meta_regression", moderators))
    yi, vi, mu_prior, tau_prior = check_exact_inputs(used["yi"], used["vi"], mu_prior, tau_prior)
    X = np.column_stack([np.ones(design.k), design.combos_x[:, 0, :]]) if design.coefficient_names else np.ones((design.k, 1))
    p = X.shape[1]
    prior_mean = np.full(p, coef_prior.mean)
    prior_precision = np.full(p, 1.0 / coef_prior.sd**2)
    if isinstance(mu_prior, FlatPrior):
        prior_mean[0], prior_precision[0] = 0.0, 0.0
    else:
        prior_mean[0], prior_precision[0] = mu_prior.mean, 1.0 / mu_prior.sd**2

    def log_post(tau):
        return tau_prior.logpdf(tau) + _conditional_beta(yi, vi, X, tau, prior_mean, prior_precision)[2]

    nodes, weight, density, log_norm = integrate_tau(log_post, data_spread(yi, vi), tau_prior, grid_points)
    mean, cov, _ = _conditional_beta(yi, vi, X, nodes, prior_mean, prior_precision)
    proper = mu_prior.proper and tau_prior.proper
    grid = TauGrid(nodes, weight, density, mean[:, 0], cov[:, 0, 0], log_norm if proper else None)
    return ExactRegressionPosterior(yi, vi, design.ids, mu_prior, tau_prior, coef_prior, grid, design, mean, cov, X, dropped)


__all__ = ["ExactRegressionPosterior", "exact_meta_regression"]
