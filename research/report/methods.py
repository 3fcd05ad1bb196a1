"""What the report shows about the methods behind the Bayesian numbers: the priors and their basis,
the headline under alternative priors, the transport-bias sensitivity and the assumptions of each
value-of-information figure. Formatting only; every number comes from the results dict.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from research.report._format import NOT_AVAILABLE, _float, _list, _mapping, _num, _prob, _text


def _ratio_interval(low: Any, high: Any) -> str:
    low, high = _float(low), _float(high)
    if low is None or high is None:
        return NOT_AVAILABLE
    return f"{low:.2f} to {high:.2f}"


def prior_views(bayes: Mapping[str, Any]) -> dict[str, Any]:
    """The declared priors with their basis, and the prior-sensitivity rows (declared row first)."""
    bases = [
        {"role": _text(b.get("role")), "label": _text(b.get("label")) or _text(b.get("spec")),
         "kind": _text(b.get("kind")) or "judgement", "basis": _text(b.get("basis")) or NOT_AVAILABLE}
        for b in _list(bayes.get("prior_basis")) if isinstance(b, Mapping)
    ]
    sensitivity = _mapping(bayes.get("prior_sensitivity"))
    rows = []
    for r in _list(sensitivity.get("rows")):
        if not isinstance(r, Mapping):
            continue
        rows.append({
            "mu_prior": _text(r.get("mu_prior")), "tau_prior": _text(r.get("tau_prior")),
            "declared": bool(r.get("declared")),
            "p_pred_benefit": _prob(r.get("p_pred_below")),
            "pred_ratio": _ratio_interval(r.get("pred_ratio_q025"), r.get("pred_ratio_q975")),
            "tau_median": _num(r.get("tau_median"), 2),
        })
    rows.sort(key=lambda r: not r["declared"])
    ranges = _mapping(sensitivity.get("ranges"))
    p_range = _list(ranges.get("p_pred_below"))
    upper = _list(ranges.get("pred_ratio_q975"))
    span = (
        f"Over these priors P(new site benefits) ranges from {_prob(p_range[0])} to {_prob(p_range[1])} and the upper "
        f"end of the 95% predictive interval from a ratio of {_num(upper[0], 2)} to {_num(upper[1], 2)}."
        if len(p_range) == 2 and len(upper) == 2 else ""
    )
    return {"prior_bases": bases, "prior_rows": rows, "prior_span": span}


def transport_sensitivity_view(transport: Mapping[str, Any]) -> dict[str, Any]:
    """The declared transport-bias SD with its basis and the prediction under other SDs."""
    sd = _float(transport.get("transport_sd"))
    rows = [
        {"sd": _num(r.get("transport_sd"), 2), "declared": bool(r.get("declared")),
         "p_benefit": _prob(r.get("p_benefit")), "ratio": _ratio_interval(r.get("ratio_q025"), r.get("ratio_q975"))}
        for r in _list(_mapping(transport.get("sensitivity")).get("rows")) if isinstance(r, Mapping)
    ]
    if sd is None:
        statement = NOT_AVAILABLE
    elif sd == 0:
        statement = "none declared (the target is taken to differ from the studied sites no more than they differ among themselves)"
    else:
        factor = math.exp(1.959963984540054 * sd)
        statement = f"SD {sd:g} on the log scale (a factor of up to about {factor:.2f} either way, 95%)"
    return {"transport_sd": statement, "transport_sd_basis": _text(transport.get("transport_sd_basis")),
            "transport_rows": rows}


def voi_assumption_view(voi: Mapping[str, Any]) -> dict[str, Any]:
    """The study and bias assumed for a gap's value-of-information figure, and how the figure moves."""
    rows = [
        {"factor": _text(r.get("factor")), "value": _text(r.get("value")),
         "narrowing": f"{100 * float(r['narrowing']):.0f}%" if _float(r.get("narrowing")) is not None else NOT_AVAILABLE,
         "order_changed": bool(r.get("order_changed"))}
        for r in _list(voi.get("sensitivity")) if isinstance(r, Mapping) and r.get("factor") != "declared"
    ]
    evsi = _float(voi.get("evsi"))
    return {
        "voi_measure": _text(voi.get("measure")),
        "voi_design": _text(voi.get("assumed_design")),
        "voi_bias": _text(voi.get("assumed_bias")),
        "voi_sensitivity": rows,
        "voi_evsi": f"{evsi:,.0f}" if evsi is not None else "",
        "voi_evsi_loss": _text(voi.get("evsi_loss")),
    }


__all__ = ["prior_views", "transport_sensitivity_view", "voi_assumption_view"]
