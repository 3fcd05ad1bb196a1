"""MCMC fits beside the exact posterior: what the report shows about each fit and its diagnostics.

The exact computation is what the report's probabilities come from; the MCMC fits check it (the
normal random-effects fit is the same model, so it should agree within Monte Carlo error) and try
other models. Diagnostics are always shown, and a fit that fails them is flagged, never hidden.
A fit without diagnostics counts as failed.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from research.report._format import NOT_AVAILABLE, _count, _float, _list, _mapping, _num, _prob, _text
from research.report.svg import safe_svg
from research.results import McmcThresholds
from research.verbal import describe_interval, percent_change

TRACE_PREFIX = "trace_"
SAME_AS_EXACT = "random_effects"
MODEL_NAMES = {
    "random_effects": "Normal random effects",
    "robust": "Robust (Student-t random effects)",
    "meta_regression": "Meta-regression",
    "bias_adjusted": "Bias-adjusted random effects",
}
_NUMBERS = re.compile(r"[-+]?\d[\d,]*(\.\d+)?|[<>]=?")


def mcmc_view(fits: list, exact: Mapping[str, Any], figures: Mapping[str, Any]) -> dict[str, Any] | None:
    """Rows comparing the exact posterior with each MCMC fit, their diagnostics and trace plots."""
    fits = [f for f in fits if isinstance(f, Mapping)]
    if not fits:
        return None
    exact_mu = _mapping(exact.get("mu"))
    rows = [_fit_row(f, exact_mu) for f in fits]
    failed = [r for r in rows if not r["ok"]]
    traces = []
    for row in rows:
        svg = safe_svg(figures.get(TRACE_PREFIX + row["model"]))
        if svg is not None:
            traces.append({"model": row["model"], "name": row["name"], "svg": svg})
    return {
        "thresholds": pass_marks(),
        "exact": _exact_row(exact) if exact else None,
        "rows": rows,
        "all_ok": not failed,
        "failed": failed,
        "models": ", ".join(r["model"] for r in rows),
        # Markdown names only which checks failed: the numbers vary between machines
        "failed_checks": "; ".join(f"{r['model']}: {', '.join(r['problem_kinds'])}" for r in failed),
        "traces": traces,
    }


def pass_marks(thresholds: McmcThresholds = McmcThresholds()) -> str:
    """The sampler's pass marks in words, from the thresholds the fits were judged by."""
    divergences = "no divergent transitions" if thresholds.divergences == 0 else (
        f"at most {thresholds.divergences} divergent transitions"
    )
    return (
        f"R-hat at most {thresholds.rhat_max:g}, bulk and tail ESS at least {thresholds.ess_per_chain:g} per chain, "
        f"and {divergences}"
    )


def _effect(summary: Mapping[str, Any]) -> dict[str, str]:
    mean, low, high = (_float(summary.get(k)) for k in ("mean", "q025", "q975"))
    change = percent_change(mean)
    return {
        "pct": f"{change:+.0f}%" if change is not None else NOT_AVAILABLE,
        "pct_interval": describe_interval(low, high),
        "log": f"{mean:.3f}" if mean is not None else NOT_AVAILABLE,
        "log_interval": f"{low:.3f} to {high:.3f}" if low is not None and high is not None else NOT_AVAILABLE,
    }


def _tau(summary: Mapping[str, Any]) -> str:
    mean, low, high = (_float(summary.get(k)) for k in ("mean", "q025", "q975"))
    if mean is None:
        return NOT_AVAILABLE
    interval = f" ({low:.3f} to {high:.3f})" if low is not None and high is not None else ""
    return f"{mean:.3f}{interval}"


def _exact_row(exact: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": "Exact computation (normal random effects, numerical integration)",
        "mu": _effect(_mapping(exact.get("mu"))),
        "tau": _tau(_mapping(exact.get("tau"))),
        "p_benefit": _prob(exact.get("p_benefit", exact.get("p_mu_below_0"))),
    }


def _fit_row(fit: Mapping[str, Any], exact_mu: Mapping[str, Any]) -> dict[str, Any]:
    model = re.sub(r"[^a-z0-9_-]", "", (_text(fit.get("model")) or "unknown").lower()) or "unknown"
    diag = _mapping(fit.get("diagnostics"))
    mu = _mapping(fit.get("mu"))
    ok = diag.get("ok") is True
    problems = [str(p) for p in _list(diag.get("problems")) if str(p).strip()]
    if not diag:
        problems = ["no diagnostics were recorded"]
    elif not ok and not problems:
        problems = [_text(fit.get("flag")) or "diagnostics did not pass"]
    draws, chains = _float(diag.get("draws")), _float(diag.get("chains"))
    sampler = (
        f"{_count(chains)} chains × {_count(draws)} draws" if draws is not None and chains is not None else NOT_AVAILABLE
    )
    return {
        "model": model,
        "name": MODEL_NAMES.get(model, model.replace("_", " ").capitalize()),
        "same_as_exact": model == SAME_AS_EXACT,
        "mu": _effect(mu),
        "tau": _tau(_mapping(fit.get("tau"))),
        "p_benefit": _prob(fit.get("p_mu_below_0")),
        "agreement": _agreement(mu, exact_mu, _mapping(fit.get("mcse"))) if model == SAME_AS_EXACT else None,
        "rhat": _num(diag.get("rhat_max"), 3),
        "ess_bulk": _count(diag.get("ess_bulk_min")),
        "ess_tail": _count(diag.get("ess_tail_min")),
        "divergences": _count(diag.get("divergences")),
        "sampler": sampler,
        "ok": ok,
        "problems": problems,
        "problem_kinds": [_problem_kind(p) for p in problems],
        "flag": _text(fit.get("flag")),
        "nu_note": _text(_mapping(fit.get("nu_learning")).get("note")),  # robust model: is nu only its prior?
    }


def _agreement(mu: Mapping[str, Any], exact_mu: Mapping[str, Any], mcse: Mapping[str, Any]) -> str | None:
    """How far the MCMC mean of mu is from the exact one, in Monte Carlo standard errors."""
    mean, exact_mean, error = _float(mu.get("mean")), _float(exact_mu.get("mean")), _float(mcse.get("mu_mean"))
    if mean is None or exact_mean is None:
        return None
    difference = mean - exact_mean
    text = f"mean differs from the exact one by {difference:+.3f}"
    if error is not None and error > 0:
        text += f" ({abs(difference) / error:.1f} Monte Carlo standard errors)"
    return text


def _problem_kind(problem: str) -> str:
    """'R-hat 1.023 > 1.01' -> 'R-hat': the failed check without the numbers."""
    kind = " ".join(_NUMBERS.sub(" ", problem).split()).strip(" :;,")
    return kind or "diagnostics"
