"""Speed of the REML fit compared with R's metafor (prints times and ratios; not a test).

1. REML random-effects model on the BCG data (k = 13), fitted repeatedly in one process here and
   in one R process there; the ratio is Python time / metafor time (goal: <= 1).
2. REML meta-regression with k = 10,000 studies and 3 moderators (goal: under 1 s), on
   simulated data from a fixed seed. metafor builds k x k matrices (0.8 GB each at k = 10,000),
   so the comparison with metafor uses the first 1,000 of those studies.

Run: python benchmarks/bench_reml.py   (or: make benchmark)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap
import timeit
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from research.meta import rma  # noqa: E402

BCG = ROOT / "tests" / "reference" / "data" / "bcg.csv"
REPEATS = 2000


def python_time_per_fit(yi, vi, mods=None, repeats: int = REPEATS) -> float:
    runs = timeit.repeat(lambda: rma(yi, vi, mods=mods, method="REML"), number=repeats, repeat=3)
    return min(runs) / repeats


def r_time_per_fit(csv: Path, mods: list[str], repeats: int) -> float | None:
    """Seconds per metafor rma() call, timed inside R (None if R or metafor is missing)."""
    if shutil.which("Rscript") is None:
        return None
    formula = f", mods = ~ {' + '.join(mods)}" if mods else ""
    script = textwrap.dedent(f"""
        suppressPackageStartupMessages(ok <- requireNamespace("metafor", quietly = TRUE))
        if (!ok) quit(status = 3)
        suppressPackageStartupMessages(library(metafor))
        dat <- read.csv("{csv}")
        invisible(rma(yi, vi, data = dat{formula}))
        best <- Inf
        for (r in 1:3) best <- min(best, system.time(for (i in 1:{repeats}) rma(yi, vi, data = dat{formula}))[["elapsed"]])
        cat(best / {repeats}, "\\n")
    """)
    done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return float(done.stdout.split()[-1])


def simulated_regression(k: int = 10_000, seed: int = 20261125) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(k, 3))
    vi = rng.uniform(0.01, 0.2, size=k)
    yi = 0.2 + x @ np.array([0.1, -0.05, 0.0]) + rng.normal(0, np.sqrt(vi + 0.04))
    return pd.DataFrame({"yi": yi, "vi": vi, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]})


def main() -> int:
    data = pd.read_csv(BCG)
    yi, vi = data["yi"].to_numpy(), data["vi"].to_numpy()
    py_small = python_time_per_fit(yi, vi)
    print(f"REML, k = {len(data)}: this engine {py_small * 1e3:.3f} ms per fit")

    big = simulated_regression()
    mods = big[["x1", "x2", "x3"]].to_numpy()
    py_big = python_time_per_fit(big["yi"].to_numpy(), big["vi"].to_numpy(), mods, repeats=5)
    verdict = "meets" if py_big < 1.0 else "MISSES"
    print(f"REML meta-regression, k = {len(big)}, 3 moderators: {py_big:.3f} s per fit ({verdict} the 1 s goal)")

    if shutil.which("Rscript") is None:
        print("R is not installed: no comparison with metafor (install r-cran-metafor to get the ratio).")
        return 0
    r_small = r_time_per_fit(BCG, [], REPEATS // 4)
    if r_small is None:
        print("R is installed but metafor could not be loaded: no comparison.")
        return 0
    print(f"REML, k = {len(data)}: metafor {r_small * 1e3:.3f} ms per fit")
    print(f"ratio (this engine / metafor), k = {len(data)}: {py_small / r_small:.3f}")
    mid = big.head(1_000)
    py_mid = python_time_per_fit(mid["yi"].to_numpy(), mid["vi"].to_numpy(), mid[["x1", "x2", "x3"]].to_numpy(),
                                 repeats=20)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "regression.csv"
        mid.to_csv(csv, index=False, float_format="%.17g")
        r_mid = r_time_per_fit(csv, ["x1", "x2", "x3"], 2)
    if r_mid is not None:
        print(f"REML meta-regression, k = {len(mid)}: this engine {py_mid * 1e3:.2f} ms, metafor {r_mid * 1e3:.1f} ms")
        print(f"ratio (this engine / metafor), k = {len(mid)}: {py_mid / r_mid:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
