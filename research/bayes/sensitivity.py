"""Prior sensitivity: the exact analysis repeated over a set of priors for mu and tau.

``prior_sensitivity`` gives the raw table; ``prior_sensitivity_report`` adds what a reader
needs beside the headline numbers: the declared priors with their basis, the headline row,
the same quantities as ratios, and the range each headline number spans over the priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.bayes.exact import exact_meta
from research.bayes.frame import check_effects
from research.bayes.priors import PriorBasis, parse_prior, prior_basis

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


# The report's table: the declared mu prior against every tau prior above, and the declared tau
# prior against a vaguer mu prior, so each prior's influence is seen on its own.
REPORT_MU_ALTERNATIVES = ("normal:0,10",)


@dataclass
class PriorSensitivity:
    """Headline numbers under alternative priors, beside the declared (headline) priors.

    ``table`` has one row per prior pair (``declared`` marks the headline row), with
    P(new site benefits) (``p_pred_below``) and the predictive interval as a ratio.
    ``ranges`` gives the smallest and largest value of each headline number over the rows.
    """

    threshold: float
    declared: dict[str, str]
    bases: list[PriorBasis]
    table: pd.DataFrame
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def headline(self) -> dict:
        return self.table[self.table["declared"]].iloc[0].to_dict()

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "declared": self.declared,
            "bases": [b.to_dict() for b in self.bases],
            "rows": self.table.to_dict(orient="records"),
            "ranges": {k: list(v) for k, v in self.ranges.items()},
        }

    def summary(self) -> str:
        shown = self.table[["mu_prior", "tau_prior", "declared", "p_pred_below", "pred_ratio_q025", "pred_ratio_q975",
                            "mu_ratio", "tau_median"]]
        lines = ["Prior sensitivity (exact posterior under each prior pair; declared = the headline)"]
        lines += [b.summary() for b in self.bases]
        lines.append(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        lines += [f"range of {k} over the priors: {lo:.3f} to {hi:.3f}" for k, (lo, hi) in self.ranges.items()]
        return "\n".join(lines)


def prior_sensitivity_report(frame: pd.DataFrame, mu_prior="normal:0,1", tau_prior="halfnormal:0.5",
                             tau_priors=DEFAULT_TAU_PRIORS, mu_priors=REPORT_MU_ALTERNATIVES, threshold: float = 0.0,
                             bases: dict[str, str] | None = None) -> PriorSensitivity:
    """The headline under the declared priors and under alternatives, with each prior's basis.

    ``bases`` may give the analysis's own statement of where its mu and tau priors come from.
    """
    bases = dict(bases or {})
    mu_declared, tau_declared = parse_prior(mu_prior, role="mu").spec, parse_prior(tau_prior, role="tau").spec
    pairs = [(mu_declared, tau_declared)]
    pairs += [(mu_declared, parse_prior(t, role="tau").spec) for t in tau_priors]
    pairs += [(parse_prior(m, role="mu").spec, tau_declared) for m in mu_priors]
    unique = list(dict.fromkeys(pairs))
    rows = []
    for mu_text, tau_text in unique:
        row = prior_sensitivity(frame, [mu_text], [tau_text], threshold).iloc[0].to_dict()
        row["declared"] = (mu_text, tau_text) == (mu_declared, tau_declared)
        row["tau_basis"] = prior_basis(tau_text, "tau", bases.get("tau") if tau_text == tau_declared else None).kind
        rows.append(row)
    table = pd.DataFrame(rows)
    for name in ("pred_q025", "pred_q975"):
        table[name.replace("pred_", "pred_ratio_")] = np.exp(table[name])
    table["mu_ratio"] = np.exp(table["mu_mean"])
    ranges = {
        name: (float(table[name].min()), float(table[name].max()))
        for name in ("p_pred_below", "pred_ratio_q025", "pred_ratio_q975", "p_mu_below")
    }
    statements = [prior_basis(mu_declared, "mu", bases.get("mu")), prior_basis(tau_declared, "tau", bases.get("tau"))]
    return PriorSensitivity(float(threshold), {"mu": mu_declared, "tau": tau_declared}, statements, table, ranges)


__all__ = ["DEFAULT_MU_PRIORS", "DEFAULT_TAU_PRIORS", "PriorSensitivity", "prior_sensitivity", "prior_sensitivity_report"]
