"""Analysis of a city's own counts: interrupted time series and difference-in-differences.

Both return rate ratios (< 1 = fewer events) with intervals, and ``as_effect()`` gives
the log effect and its variance (positive = more events) for the meta-analysis frame.
Defaults are chosen for coverage in short panels and series (benchmarks/bench_local_coverage.py):
quasi-Poisson with autocorrelated errors for a series, CR2 clustered errors for a panel,
a stacked design for staggered adoption, and refusals where the data cannot support a fit.
"""

from research.local.did import DiDResult, did_from_counts, difference_in_differences
from research.local.its import ITSResult, interrupted_time_series

__all__ = ["DiDResult", "ITSResult", "did_from_counts", "difference_in_differences", "interrupted_time_series"]
