"""The pipeline: evidence files -> validated records -> effect sizes -> models -> claim verdicts -> reports.

Split by job:

- ``selection``: what each analysis pools, with every exclusion and its reason;
- ``frequentist`` and ``bayesian``: the statistics of one analysis (research.meta, research.bayes);
- ``figures``: its plots as SVG (research.plots; no statistics there);
- ``serialise``: records and tables turned into the rows results.json keeps;
- ``analysis``: one analysis as a list of steps, run here (``run_analysis``) or as tasks;
- ``run``: every declared analysis, step by step, on an engine (research.parallel);
- ``job``: the fingerprint and the whole build (``build``), which writes results.json and the report.
"""

from __future__ import annotations

from research.pipeline.analysis import run_analysis
from research.pipeline.job import BuildOutcome, build, fingerprint, grade_analyses, rank_gaps
from research.pipeline.run import AnalysisFailed, run_analyses
from research.pipeline.selection import Selection, select_estimates
from research.pipeline.serialise import store_flow

__all__ = ["AnalysisFailed", "BuildOutcome", "Selection", "build", "fingerprint", "grade_analyses", "rank_gaps",
           "run_analyses", "run_analysis", "select_estimates", "store_flow"]
