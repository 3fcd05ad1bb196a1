"""Exact integration over tau versus MCMC (nutpie) for the random-effects model.

Prints, for simulated data sets of several sizes (fixed seeds): the time of one exact fit,
the time of one MCMC fit (compiled model reused, as in repeated analyses) and the one-off
compile time, their ratio, and how far the MCMC summaries of mu and tau are from the exact
ones in units of their Monte Carlo standard errors (|z| below about 3 means agreement).
Also the time of a value-of-information run and of an exact meta-regression.

Run: python benchmarks/bench_bayes.py   (not a test; nothing is asserted)
"""

from __future__ import annotations

import sys
import time
import timeit
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from research.bayes import exact_meta, exact_meta_regression, mcmc_meta, value_of_information  # noqa: E402

SIZES = (5, 20, 100)
PRIORS = {"mu": "normal:0,1", "tau": "halfnormal:0.5"}


def simulated(k: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.1, k)
    yi = rng.normal(rng.normal(-0.2, 0.15, k), np.sqrt(vi))
    setting = rng.choice(["city_centre", "car_park", "residential"], k)
    return pd.DataFrame({"id": [f"s{i}" for i in range(k)], "yi": yi, "vi": vi, "setting": setting})


def exact_seconds(frame: pd.DataFrame, repeats: int = 20) -> float:
    def run():
        fit = exact_meta(frame, mu_prior=PRIORS["mu"], tau_prior=PRIORS["tau"])
        fit.to_dict()  # includes the quantile solves

    return min(timeit.repeat(run, number=repeats, repeat=3)) / repeats


def main() -> None:
    warnings.simplefilter("ignore")
    print("Random-effects model: exact vs MCMC (2 chains x 1000 draws, 1000 tuning)")
    print(f"{'k':>5} {'exact ms':>9} {'compile s':>10} {'mcmc s':>8} {'mcmc/exact':>11} {'+compile/exact':>15} "
          f"{'z mu mean':>10} {'z mu q975':>10} {'z tau mean':>11} {'z tau q975':>11} {'diag':>6}")
    for k in SIZES:
        frame = simulated(k, seed=1000 + k)
        exact_time = exact_seconds(frame)
        exact = exact_meta(frame, mu_prior=PRIORS["mu"], tau_prior=PRIORS["tau"])
        start = time.perf_counter()
        mcmc_meta(frame, "random_effects", PRIORS, draws=50, tune=50, seed=0, cache_dir=None)  # compiles
        compile_time = time.perf_counter() - start
        start = time.perf_counter()
        fit = mcmc_meta(frame, "random_effects", PRIORS, draws=1000, tune=1000, chains=2, seed=1, cache_dir=None)
        mcmc_time = time.perf_counter() - start
        mcse = fit.mcse
        z = [
            (fit.mu.mean - exact.mu.mean) / mcse["mu_mean"],
            (fit.mu.q975 - exact.mu.q975) / mcse["mu_q975"],
            (fit.tau.mean - exact.tau.mean) / mcse["tau_mean"],
            (fit.tau.q975 - exact.tau.q975) / mcse["tau_q975"],
        ]
        print(f"{k:>5} {exact_time * 1e3:>9.2f} {compile_time:>10.1f} {mcmc_time:>8.2f} {mcmc_time / exact_time:>11.0f} "
              f"{(mcmc_time + compile_time) / exact_time:>15.0f} "
              + " ".join(f"{v:>10.2f}" for v in z[:2]) + " " + " ".join(f"{v:>11.2f}" for v in z[2:])
              + f" {'ok' if fit.diagnostics.ok else 'FLAG':>6}")
        if not fit.diagnostics.ok:
            print(f"      flagged: {'; '.join(fit.diagnostics.problems)}")

    frame = simulated(20, seed=7)
    scenarios = [{"gap_id": "local", "kind": "target", "new_vi": 0.01}, {"gap_id": "more", "kind": "external", "new_vi": 0.02, "n_studies": 3}]
    start = time.perf_counter()
    value_of_information(frame, scenarios, n_sim=400)
    print(f"\nvalue of information, 2 gaps x 400 preposterior simulations: {time.perf_counter() - start:.2f} s")
    seconds = min(timeit.repeat(lambda: exact_meta_regression(frame, ["setting"]).to_dict(), number=10, repeat=3)) / 10
    print(f"exact meta-regression (k = 20, 3-level moderator): {seconds * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
