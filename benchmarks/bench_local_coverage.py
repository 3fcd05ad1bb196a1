"""Coverage of the nominal 95% intervals of the local analyses' defaults, by simulation.

Designs (all simulated here; no real data):
  ITS, autocorrelated: 24 + 24 months, log rate with a latent AR(1) process (rho 0.6, sd 0.13),
      about 100 events a month, a seasonal cycle, a trend and a level change of 0.8.
  ITS, seasonal null: 24 + 24 months, purely seasonal (amplitude 0.3) with mild
      overdispersion and no effect: the level change's interval should cover 1.
  DiD, 12 and 40 units: 8 periods (4 + 4), half the units treated, unit effects and
      unit-specific AR(1) shocks over time (rho 0.8, sd 0.3), rate ratio 0.8.
  DiD, staggered: 30 units (10 never treated, 10 starting in period 4, 10 in period 7) over
      10 periods, an effect that grows with time since the start. The target is the
      pseudo-true value of each estimator (its fit to the expected counts); the stacked
      default covers its target, and the gap between the TWFE target and the average
      effect on the treated shows why TWFE is not used.

Run: PYTHONPATH=. python benchmarks/bench_local_coverage.py [--reps N]   (about 4 minutes at the default 200)
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from research.local import difference_in_differences, interrupted_time_series

LEVEL_EFFECT = 0.8


def its_autocorrelated(rng, n=48, t0=24, rho=0.6, sd=0.13, base=100.0):
    t = np.arange(n)
    x = np.zeros(n)
    x[0] = rng.normal(0, sd)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + rng.normal(0, sd * math.sqrt(1 - rho**2))
    log_rate = math.log(base) + 0.005 * t + x + math.log(LEVEL_EFFECT) * (t >= t0) + 0.2 * np.sin(2 * np.pi * t / 12)
    return rng.poisson(np.exp(log_rate))


def its_seasonal_null(rng, n=48, base=60.0, alpha=0.02):
    t = np.arange(n)
    mean = np.exp(math.log(base) + 0.3 * np.sin(2 * np.pi * t / 12) + 0.15 * np.cos(2 * np.pi * t / 12))
    return rng.poisson(mean * rng.gamma(1 / alpha, alpha, n))


def did_panel(rng, units, periods=8, start=4, rho=0.8, sd=0.3, effect=LEVEL_EFFECT):
    rows = []
    for u in range(units):
        treated = u < units // 2
        level = rng.normal(0, 0.3)
        shock = rng.normal(0, sd)
        for p in range(periods):
            if p:
                shock = rho * shock + rng.normal(0, sd * math.sqrt(1 - rho**2))
            log_rate = math.log(20) + level + 0.03 * p + shock + (math.log(effect) if treated and p >= start else 0.0)
            rows.append({"unit": f"u{u}", "time": p, "treated": treated, "post": p >= start, "count": rng.poisson(math.exp(log_rate))})
    return pd.DataFrame(rows)


STARTS = {"never": None, "early": 4, "late": 7}


def staggered_log_rates(units=30, periods=10, seed=0):
    """Expected log counts of the staggered design (fixed unit effects drawn once)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(units):
        cohort = list(STARTS)[u % 3]
        start = STARTS[cohort]
        level = rng.normal(0, 0.3)
        for p in range(periods):
            since = None if start is None or p < start else p - start
            effect = 0.0 if since is None else math.log(0.9) - 0.08 * since  # grows with time since the start
            rows.append({"unit": f"u{u}", "time": p, "treated": start is not None, "post": since is not None,
                         "log_rate": math.log(30) + level + 0.02 * p + effect, "effect": effect})
    return pd.DataFrame(rows)


def staggered_panel(rng, template, sd=0.1):
    shock = rng.normal(0, sd, len(template))
    return template.assign(count=rng.poisson(np.exp(template["log_rate"] + shock)))


def pseudo_true(template, **kwargs):
    """The estimator's limit: its fit to (a large multiple of) the expected counts."""
    expected = template.assign(count=np.round(np.exp(template["log_rate"]) * 1000).astype(int))
    return difference_in_differences(expected, cov="model", **kwargs).effect["log_estimate"]


def covers(effect: dict, truth: float) -> bool:
    return effect["ci_low"] <= truth <= effect["ci_high"]


def run(reps: int) -> list[tuple[str, str, float]]:
    rows = []
    start = time.time()

    def record(design, method, hits):
        rows.append((design, method, float(np.mean(hits))))
        print(f"{design:<36}{method:<52}{np.mean(hits):>8.1%}   ({time.time() - start:.0f} s)", flush=True)

    dates = pd.date_range("2015-01-01", periods=48, freq="MS")
    truth = math.log(LEVEL_EFFECT)
    hits = {k: [] for k in ("poisson", "quasi", "test", "default")}
    for r in range(reps):
        y = its_autocorrelated(np.random.default_rng(r))
        hits["poisson"].append(covers(interrupted_time_series(y, dates, dates[24], family="poisson", autocorrelation="none").level_change, truth))
        hits["quasi"].append(covers(interrupted_time_series(y, dates, dates[24], autocorrelation="none").level_change, truth))
        hits["test"].append(covers(interrupted_time_series(y, dates, dates[24], autocorrelation="test").level_change, truth))
        hits["default"].append(covers(interrupted_time_series(y, dates, dates[24]).level_change, truth))
    design = "ITS 24+24 months, AR(1) rho 0.6"
    record(design, "Poisson, model-based SE (old default)", hits["poisson"])
    record(design, "quasi-Poisson, independent errors", hits["quasi"])
    record(design, "quasi-Poisson, AR errors only if BG test rejects", hits["test"])
    record(design, "DEFAULT: quasi-Poisson, latent AR(1) errors (REML)", hits["default"])

    hits = {k: [] for k in ("no_season", "default")}
    for r in range(reps):
        y = its_seasonal_null(np.random.default_rng(10_000 + r))
        hits["no_season"].append(covers(interrupted_time_series(y, dates, dates[24], season=None, autocorrelation="none").level_change, 0.0))
        hits["default"].append(covers(interrupted_time_series(y, dates, dates[24]).level_change, 0.0))
    design = "ITS seasonal, no effect"
    record(design, "quasi-Poisson without seasonal terms", hits["no_season"])
    record(design, "DEFAULT: seasonal terms (2 cycles), AR(1) errors", hits["default"])

    for units in (12, 40):
        hits = {k: [] for k in ("model", "cluster", "default")}
        for r in range(reps):
            panel = did_panel(np.random.default_rng(20_000 + r), units)
            hits["model"].append(covers(difference_in_differences(panel, cov="model").effect, truth))
            if units < 20:
                hits["cluster"].append(covers(difference_in_differences(panel, cov="cluster").effect, truth))
            hits["default"].append(covers(difference_in_differences(panel).effect, truth))
        design = f"DiD {units} units, 4+4 periods"
        record(design, "Poisson, model-based SE", hits["model"])
        if hits["cluster"]:
            record(design, "Poisson, CR1 clustered SE, t(G-1)", hits["cluster"])
        record(design, "DEFAULT: CR2 clustered SE, Bell-McCaffrey df", hits["default"])

    template = staggered_log_rates()
    stacked_target = pseudo_true(template)
    treated_post = template[template["treated"] & template["post"]]
    att = float(np.average(treated_post["effect"], weights=np.exp(treated_post["log_rate"])))
    hits = []
    for r in range(reps):
        panel = staggered_panel(np.random.default_rng(30_000 + r), template)
        hits.append(covers(difference_in_differences(panel).effect, stacked_target))
    design = "DiD staggered, 30 units, 3 cohorts"
    record(design, "DEFAULT: stacked by cohort, CR2 (covers its target)", hits)
    twfe = _twfe_pseudo_true(template)
    print(f"{'':<36}targets (log rate ratio): average effect on the treated {att:.3f}, "
          f"stacked {stacked_target:.3f}, two-way fixed effects {twfe:.3f}")
    return rows


def _twfe_pseudo_true(template) -> float:
    """What two-way fixed effects would estimate: one treated x post term on the whole panel."""
    from research.local.did import _EFFECT, _fixed_effects
    from research.local.glm import fit_counts

    expected = np.round(np.exp(template["log_rate"]) * 1000)
    X = _fixed_effects(template, "unit", "time")
    X[_EFFECT] = (template["treated"] & template["post"]).astype(float).to_numpy()
    fit = fit_counts(expected.to_numpy(), X, family="poisson", cov="model")
    return float(fit.params[fit.index(_EFFECT)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200, help="replications per design (default 200)")
    args = parser.parse_args()
    print(f"coverage of nominal 95% intervals, {args.reps} replications per design\n")
    rows = run(args.reps)
    defaults = [(d, m, c) for d, m, c in rows if m.startswith("DEFAULT")]
    worst = min(c for _, _, c in defaults)
    print(f"\nlowest coverage of a default: {worst:.1%} ({'at least' if worst >= 0.90 else 'BELOW'} 90%)")


if __name__ == "__main__":
    main()
