"""Sightline: evidence synthesis and claim verification for public-safety technology.

The public API, loaded on first use (``import research`` stays light, and so does the command line):

Effect sizes and models
    escalc(measure, data=..., ...)      effect sizes (yi) and sampling variances (vi), as metafor's escalc
    rma(data) / rma(yi, vi)             random-effects meta-analysis or meta-regression (metafor's rma)
    rma_mv(yi, vi, random=...)          multilevel model (metafor's rma.mv)
    exact_meta(data)                    exact Bayesian random-effects posterior (integration over tau)
    mcmc_meta(data)                     the same models and more by MCMC (PyMC, loaded only here)
    transport(data, target, unknown)    the effect expected in a target setting
    value_of_information(data, gaps)    what filling each data gap is worth
    simulation_based_calibration(vi)    are the posteriors calibrated for studies like these?

Every model takes its data the same way: a frame with ``yi``/``vi`` (and ``id``) columns, as
``escalc`` returns, or two arrays ``yi, vi``.

Evidence, the main job and claims
    load_store(folder)                  the validated evidence store
    effect_table(store)                 one row per estimate with yi/vi, ready to pool
    build(evidence, analyses, reports)  validate, analyse, check claims and write the report
    run_analyses(store, analyses)       only the declared analyses, as plain results
    Engine(jobs=2) / Engine(scheduler=) where build and calibration run their tasks (local processes, Dask)
    check(claim_id)                     the verdict on one claim (reuses the last build when unchanged)
    verify_claims(store, analyses)      verdicts on every claim
    Results, AnalysisResult             the typed contents of ``reports/results.json``

Example, with the first three BCG vaccine trials of metafor's ``dat.bcg``:

>>> import pandas as pd
>>> import research
>>> trials = pd.DataFrame({"ai": [4, 6, 3], "n1i": [123, 306, 231], "ci": [11, 29, 11], "n2i": [139, 303, 220]})
>>> data = research.escalc("RR", data=trials, ai="ai", n1i="n1i", ci="ci", n2i="n2i")
>>> data[["yi", "vi"]].round(4).values.tolist()
[[-0.8893, 0.3256], [-1.5854, 0.1946], [-1.3481, 0.4154]]
>>> fit = research.rma(data)
>>> round(fit.estimate, 4), fit.k
(-1.3302, 3)
>>> posterior = research.exact_meta(data)
>>> round(posterior.p_mu_below(0.0), 2)
1.0
>>> round(research.rma(data["yi"], data["vi"]).estimate, 4)  # arrays work the same way
-1.3302
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it; each is imported the first time it is used
_EXPORTS = {
    "escalc": "research.effects",
    "rma": "research.meta",
    "rma_mv": "research.meta",
    "exact_meta": "research.bayes",
    "mcmc_meta": "research.bayes",
    "transport": "research.bayes",
    "value_of_information": "research.bayes",
    "simulation_based_calibration": "research.bayes",
    "load_store": "research.store",
    "effect_table": "research.dataset",
    "build": "research.pipeline",
    "run_analyses": "research.pipeline",
    "Engine": "research.parallel",
    "verify_claims": "research.claims",
    "evaluate_claims": "research.claims",
    "Results": "research.results",
    "AnalysisResult": "research.results",
    "InputError": "research.errors",
}

__all__ = sorted([*_EXPORTS, "check", "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from research.bayes import (  # noqa: F401
        exact_meta,
        mcmc_meta,
        simulation_based_calibration,
        transport,
        value_of_information,
    )
    from research.claims import Verdict, evaluate_claims, verify_claims  # noqa: F401
    from research.dataset import effect_table  # noqa: F401
    from research.effects import escalc  # noqa: F401
    from research.errors import InputError  # noqa: F401
    from research.meta import rma, rma_mv  # noqa: F401
    from research.parallel import Engine  # noqa: F401
    from research.pipeline import build, run_analyses  # noqa: F401
    from research.results import AnalysisResult, Results  # noqa: F401
    from research.store import load_store  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'research' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def check(
    claim_id: str,
    evidence: str | Path = "evidence",
    checks: str | Path = "analyses/claim-checks.yaml",
    analyses: str | Path = "analyses",
    reports: str | Path | None = "reports",
    mcmc: bool = False,
) -> "Verdict":
    """The verdict on one claim, as ``research check CLAIM`` gives it.

    The last build's results (``reports/results.json``) are reused when they were computed from
    the same evidence, declarations, code and library versions; otherwise only the analyses this
    claim's checks read are run, without MCMC unless ``mcmc=True``. Raises ``InputError`` for an
    unknown claim.

    >>> verdict = research.check("claim-naming-sergei-headline")  # doctest: +SKIP
    >>> verdict.label  # doctest: +SKIP
    'contradicted'
    """
    from research.commands.claims import verify_one

    return verify_one(claim_id, Path(evidence), Path(checks), Path(analyses),
                      Path(reports) if reports is not None else None, mcmc)
