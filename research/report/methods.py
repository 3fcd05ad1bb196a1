"""What the report shows about the methods behind the Bayesian numbers: the priors and their basis,
the headline under alternative priors, the transport-bias sensitivity and the assumptions of each
value-of-information figure. Formatting only; every number comes from the typed results (research.results).
"""

from __future__ import annotations

import math
from typing import Any

from research.report._format import NOT_AVAILABLE, num_text, pair_text, prob_text, text_of
from research.results import ExactPosterior, PriorSensitivity, Transport, VoiRow


def prior_views(bayes: ExactPosterior) -> dict[str, Any]:
    """The declared priors with their basis, and the prior-sensitivity rows (declared row first)."""
    bases = [
        {"role": text_of(b.role), "label": text_of(b.label) or text_of(b.spec),
         "kind": text_of(b.kind) or "judgement", "basis": text_of(b.basis) or NOT_AVAILABLE}
        for b in bayes.prior_basis
    ]
    sensitivity = bayes.prior_sensitivity or PriorSensitivity()
    rows = [
        {"mu_prior": text_of(r.mu_prior), "tau_prior": text_of(r.tau_prior), "declared": r.declared,
         "p_pred_benefit": prob_text(r.p_pred_below), "pred_ratio": pair_text(r.pred_ratio_q025, r.pred_ratio_q975, 2),
         "tau_median": num_text(r.tau_median, 2)}
        for r in sensitivity.rows
    ]
    rows.sort(key=lambda r: not r["declared"])
    p_range, upper = sensitivity.ranges.p_pred_below, sensitivity.ranges.pred_ratio_q975
    span = (
        f"Over these priors P(new site benefits) ranges from {prob_text(p_range[0])} to {prob_text(p_range[1])} and the upper "
        f"end of the 95% predictive interval from a ratio of {num_text(upper[0], 2)} to {num_text(upper[1], 2)}."
        if len(p_range) == 2 and len(upper) == 2 else ""
    )
    return {"prior_bases": bases, "prior_rows": rows, "prior_span": span}


def transport_sensitivity_view(transport: Transport) -> dict[str, Any]:
    """The declared transport-bias SD with its basis and the prediction under other SDs."""
    sd = transport.transport_sd
    rows = [
        {"sd": num_text(r.transport_sd, 2), "declared": r.declared,
         "p_benefit": prob_text(r.p_benefit), "ratio": pair_text(r.ratio_q025, r.ratio_q975, 2)}
        for r in (transport.sensitivity.rows if transport.sensitivity else [])
    ]
    if sd is None:
        statement = NOT_AVAILABLE
    elif sd == 0:
        statement = "none declared (the target is taken to differ from the studied sites no more than they differ among themselves)"
    else:
        factor = math.exp(1.959963984540054 * sd)
        statement = f"SD {sd:g} on the log scale (a factor of up to about {factor:.2f} either way, 95%)"
    return {"transport_sd": statement, "transport_sd_basis": text_of(transport.transport_sd_basis),
            "transport_rows": rows}


def voi_assumption_view(voi: VoiRow | None) -> dict[str, Any]:
    """The study and bias assumed for a gap's value-of-information figure, and how the figure moves."""
    voi = voi or VoiRow()
    rows = [
        {"factor": text_of(r.factor), "value": text_of(r.value),
         "narrowing": f"{100 * r.narrowing:.0f}%" if r.narrowing is not None else NOT_AVAILABLE,
         "order_changed": r.order_changed}
        for r in voi.sensitivity if r.factor != "declared"
    ]
    return {
        "voi_measure": text_of(voi.measure),
        "voi_design": text_of(voi.assumed_design),
        "voi_bias": text_of(voi.assumed_bias),
        "voi_sensitivity": rows,
        "voi_evsi": f"{voi.evsi:,.0f}" if voi.evsi is not None else "",
        "voi_evsi_loss": text_of(voi.evsi_loss),
    }


__all__ = ["prior_views", "transport_sensitivity_view", "voi_assumption_view"]
