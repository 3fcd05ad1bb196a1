"""The Bayesian side of one analysis: the exact posterior with its priors and their sensitivity,
the share of settings that benefit, transport to a target, value of information and MCMC fits."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from research.analyses import Analysis
from research.dataset import as_arrays
from research.results import McmcThresholds, clean
from research.thresholds import VOI_DECISION_PROBABILITY


def exact_posterior(analysis: Analysis, frame: pd.DataFrame) -> tuple[dict[str, Any], Any]:
    """The exact (grid) posterior under the declared priors, with P(benefit) and the share benefiting;
    the prior sensitivity is its own step (``prior_sensitivity``) so that it can run beside it."""
    from research.bayes import exact_meta

    yi, vi = as_arrays(frame)
    posterior = exact_meta(yi, vi, mu_prior=analysis.bayes.mu_prior, tau_prior=analysis.bayes.tau_prior,
                           ids=frame["id"].tolist())
    result = posterior.to_dict()
    result.update(
        method="exact",
        priors={"mu": analysis.bayes.mu_prior, "tau": analysis.bayes.tau_prior},
        p_benefit=posterior.p_mu_below(0.0),
        p_pred_benefit=posterior.p_pred_below(0.0),
        # exact integration: no sampler; the check compares the grid with a half-resolution grid
        diagnostics=posterior.accuracy.to_dict(),
    )
    result["share_benefiting"] = share_benefiting(analysis, posterior)
    return clean(result), posterior


def share_benefiting(analysis: Analysis, posterior) -> dict[str, Any]:
    """The share of new settings with any fall, and with a meaningful one where declared, each with the
    interval of the share itself (the share is uncertain because the average and the spread are)."""
    spec = analysis.bayes
    out: dict[str, Any] = {"any": posterior.share_benefiting(0.0).to_dict(), "meaningful": None,
                           "meaningful_percent": spec.meaningful_benefit_percent,
                           "meaningful_basis": spec.meaningful_benefit_basis}
    if spec.meaningful_benefit_percent is not None:
        threshold = math.log1p(spec.meaningful_benefit_percent / 100.0)
        out["meaningful"] = posterior.share_benefiting(threshold).to_dict()
    return out


def prior_sensitivity(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    """The priors with their basis, and the headline numbers under alternative priors."""
    from research.bayes.sensitivity import prior_sensitivity_report

    spec = analysis.bayes
    report = prior_sensitivity_report(frame[["id", "yi", "vi"]], spec.mu_prior, spec.tau_prior,
                                      bases={"mu": spec.mu_prior_basis, "tau": spec.tau_prior_basis})
    return {"prior_basis": [b.to_dict() for b in report.bases], "prior_sensitivity": report.to_dict()}


def transport_result(analysis: Analysis, frame: pd.DataFrame) -> dict[str, Any]:
    """The predicted change for the declared target, and how it moves with the transport assumptions."""
    from research.bayes import transport
    from research.bayes.transport import transport_sensitivity

    spec = analysis.transport
    options = dict(known=spec.known, mu_prior=analysis.bayes.mu_prior, tau_prior=analysis.bayes.tau_prior,
                   transport_sd=spec.transport_sd, transport_sd_basis=spec.transport_sd_basis,
                   missing=spec.missing_moderator)
    out = transport(frame, spec.target, spec.unknown, **options).to_dict()
    out["assumptions"] = list(spec.assumptions) + list(out.get("assumptions") or [])
    out["sensitivity"] = transport_sensitivity(frame, spec.target, spec.unknown, **options).to_dict()
    return out


def value_of_information_rows(analysis: Analysis, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Preposterior value of filling each declared gap, in the report's terms."""
    from research.bayes import value_of_information
    from research.bayes.voi import voi_sensitivity

    scenarios = [s.model_dump(exclude_none=True) for s in analysis.value_of_information]
    options = dict(mu_prior=analysis.bayes.mu_prior, tau_prior=analysis.bayes.tau_prior,
                   decision_probability=VOI_DECISION_PROBABILITY)
    decision = analysis.decision.model_dump() if analysis.decision else None
    ranked = value_of_information(frame, scenarios, decision=decision, **options)
    sensitivity = voi_sensitivity(frame, scenarios, **options).table
    return [
        {
            "gap": row["gap_id"],
            "description": row.get("description", ""),
            "pi_width_reduction": row["narrowing"],
            "p_benefit_change": row["abs_change_p"],
            "p_decision_change": row.get("p_decision_change"),
            "decision_probability": VOI_DECISION_PROBABILITY,
            "measure": ranked.measure,
            "assumed_design": row["assumed_design"],
            "assumed_bias": row["assumed_bias"],
            "evsi": row.get("evsi"),
            "evsi_loss": ranked.decision.loss if ranked.decision else None,
            "sensitivity": sensitivity[sensitivity["gap_id"] == row["gap_id"]][
                ["factor", "value", "narrowing", "rank", "order_changed"]].to_dict("records"),
            "note": f"{ranked.measure}; expected absolute change in P(benefit). Assumed: {row['assumed_design']}; "
                    f"{row['assumed_bias']}",
        }
        for row in ranked
    ]


def mcmc_fit(analysis: Analysis, frame: pd.DataFrame, index: int, cache_dir: Path | None,
             progress: Callable[[str], None] | None = None):
    """The analysis' ``index``-th declared MCMC fit (its own seed, so it may run on any worker)."""
    from research.bayes import mcmc_meta

    spec = analysis.mcmc[index]
    if progress:
        progress(f"analysis: {analysis.title}: MCMC ({spec.model}, {spec.chains} chains x {spec.draws} draws)")
    return mcmc_meta(frame, model=spec.model, mu_prior=analysis.bayes.mu_prior, tau_prior=analysis.bayes.tau_prior,
                     draws=spec.draws, tune=spec.tune, chains=spec.chains, seed=spec.seed,
                     target_accept=spec.target_accept, cache_dir=cache_dir)


def mcmc_row(fit) -> dict[str, Any]:
    """An MCMC fit as data, its diagnostics with the thresholds they were judged against."""
    from research.bayes.mcmc import DiagnosticThresholds

    row = fit.to_dict()
    thresholds = McmcThresholds(**dataclasses.asdict(DiagnosticThresholds())).to_dict()
    row["diagnostics"] = {**row["diagnostics"], "thresholds": thresholds}
    return clean(row)
