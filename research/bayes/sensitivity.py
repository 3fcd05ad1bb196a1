"""Prior sensitivity: the exact analysis repeated over a set of priors for mu and tau."""

from __future__ import annotations

import pandas as pd

from research.bayes.exact import exact_meta
from research.bayes.frame import check_effects
from research.bayes.priors import parse_prior

# A spread of reasonable choices on the log-ratio scale: weakly informative half-normal
# and half-Cauchy priors of three widths, a wide uniform, and the empirical Turner prior.
DEFAULT_TAU_PRIORS = (
    "halfnormal:0.25",
    "halfnormal:0.5",
    "halfnormal:1",
    "halfcauchy:0.25",
    "halfcauchy:0.5",
    "uniform:0,2",
    "lognormal-turner:any",
)
DEFAULT_MU_PRIORS = ("normal:0,1", "normal:0,10")


def prior_sensitivity(frame: pd.DataFrame, mu_priors=DEFAULT_MU_PRIORS, tau_priors=DEFAULT_TAU_PRIORS, threshold: float = 0.0) -> pd.DataFrame:
    """One row per (mu prior, tau prior): mu, tau and predictive summaries and P(benefit)."""
    frame = check_effects(frame)
    rows = []
    for mu_text in mu_priors:
        mu_prior = parse_prior(mu_text, role="mu")
        for tau_text in tau_priors:
            tau_prior = parse_prior(tau_text, role="tau")
            fit = exact_meta(frame, mu_prior=mu_prior, tau_prior=tau_prior)
            mu, tau, pred = fit.mu, fit.tau, fit.predictive()
            rows.append(
                {
                    "mu_prior": mu_prior.spec,
                    "tau_prior": tau_prior.spec,
                    "mu_mean": mu.mean,
                    "mu_q025": mu.q025,
                    "mu_q975": mu.q975,
                    "tau_median": tau.median,
                    "tau_q975": tau.q975,
                    "pred_q025": pred.q025,
                    "pred_q975": pred.q975,
                    "p_mu_below": fit.p_mu_below(threshold),
                    "p_pred_below": fit.p_pred_below(threshold),
                }
            )
    return pd.DataFrame(rows)


__all__ = ["DEFAULT_MU_PRIORS", "DEFAULT_TAU_PRIORS", "prior_sensitivity"]
