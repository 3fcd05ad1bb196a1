"""MCMC fits beside the exact posterior: what the report shows about each fit and its diagnostics.

The exact computation is what the report's probabilities come from; the MCMC fits check it (the
normal random-effects fit is the same model, so it should agree within Monte Carlo error) and try
other models. Diagnostics are always shown, and a fit that fails them is flagged, never hidden.
A fit without diagnostics counts as failed.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from research.report._format import NOT_AVAILABLE, count_text, num_text, prob_text, text_of
from research.report.svg import safe_svg
from research.results import ExactPosterior, Marginal, McmcFit, McmcThresholds
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


def mcmc_view(fits: list[McmcFit], exact: ExactPosterior | None, figures: Mapping[str, str | None]) -> dict[str, Any] | None:
    """Rows comparing the exact posterior with each MCMC fit, their diagnostics and trace plots."""
    if not fits:
        return None
    rows = [_fit_row(f, exact.mu if exact else Marginal()) for f in fits]
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


def _effect(summary: Marginal) -> dict[str, str]:
    mean, low, high = summary.mean, summary.q025, summary.q975
    change = percent_change(mean)
    return {
        "pct": f"{change:+.0f}%" if change is not None else NOT_AVAILABLE,
        "pct_interval": describe_interval(low, high),
        "log": f"{mean:.3f}" if mean is not None else NOT_AVAILABLE,
        "log_interval": f"{low:.3f} to {high:.3f}" if low is not None and high is not None else NOT_AVAILABLE,
    }


def _tau(summary: Marginal) -> str:
    if summary.mean is None:
        return NOT_AVAILABLE
    low, high = summary.q025, summary.q975
    interval = f" ({low:.3f} to {high:.3f})" if low is not None and high is not None else ""
    return f"{summary.mean:.3f}{interval}"


def _exact_row(exact: ExactPosterior) -> dict[str, Any]:
    return {
        "name": "Exact computation (normal random effects, numerical integration)",
        "mu": _effect(exact.mu),
        "tau": _tau(exact.tau),
        "p_benefit": prob_text(exact.p_benefit),
    }


def _fit_row(fit: McmcFit, exact_mu: Marginal) -> dict[str, Any]:
    model = re.sub(r"[^a-z0-9_-]", "", (fit.model or "unknown").lower()) or "unknown"
    diag = fit.diagnostics
    ok = diag is not None and diag.ok is True
    problems = [p for p in (diag.problems if diag else []) if p.strip()]
    if diag is None:
        problems = ["no diagnostics were recorded"]
    elif not ok and not problems:
        problems = [text_of(fit.flag) or "diagnostics did not pass"]
    sampler = (f"{count_text(diag.chains)} chains × {count_text(diag.draws)} draws"
               if diag is not None and diag.draws is not None and diag.chains is not None else NOT_AVAILABLE)
    return {
        "model": model,
        "name": MODEL_NAMES.get(model, model.replace("_", " ").capitalize()),
        "same_as_exact": model == SAME_AS_EXACT,
        "mu": _effect(fit.mu),
        "tau": _tau(fit.tau),
        "p_benefit": prob_text(fit.p_mu_below_0),
        "agreement": _agreement(fit.mu, exact_mu, fit.mcse.mu_mean) if model == SAME_AS_EXACT else None,
        "rhat": num_text(diag.rhat_max if diag else None, 3),
        "ess_bulk": count_text(diag.ess_bulk_min if diag else None),
        "ess_tail": count_text(diag.ess_tail_min if diag else None),
        "divergences": count_text(diag.divergences if diag else None),
        "sampler": sampler,
        "ok": ok,
        "problems": problems,
        "problem_kinds": [_problem_kind(p) for p in problems],
        "flag": text_of(fit.flag),
        "nu_note": text_of(fit.nu_learning.note if fit.nu_learning else None),  # robust model: is nu only its prior?
    }


def _agreement(mu: Marginal, exact_mu: Marginal, error: float | None) -> str | None:
    """How far the MCMC mean of mu is from the exact one, in Monte Carlo standard errors."""
    if mu.mean is None or exact_mu.mean is None:
        return None
    difference = mu.mean - exact_mu.mean
    text = f"mean differs from the exact one by {difference:+.3f}"
    if error is not None and error > 0:
        text += f" ({abs(difference) / error:.1f} Monte Carlo standard errors)"
    return text


def _problem_kind(problem: str) -> str:
    """'R-hat 1.023 > 1.01' -> 'R-hat': the failed check without the numbers."""
    kind = " ".join(_NUMBERS.sub(" ", problem).split()).strip(" :;,")
    return kind or "diagnostics"
