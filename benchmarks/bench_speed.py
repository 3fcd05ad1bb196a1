"""Speed of what users wait for, against its targets, on a fresh copy of the shipped store.

Measures, each as a separate process (wall time, and peak memory of that process):

- ``research --help``                      target < 0.5 s
- ``research check CLAIM`` after a build   target < 1 s and < 200 MB (reuses the build's results.json)
- ``research build`` cold                  target < 30 s (empty fit cache, no previous report)
- ``research build --force`` warm cache    target < 5 s
- ``research build`` unchanged             target < 1.5 s

Every time is also printed as a ratio to ``research validate`` timed in the same run (the machine's
own yardstick: a loaded machine slows both). Last, where the warm check's time goes: the
import time of the packages it loads (``python -X importtime``) and the rest.

Run: ``python benchmarks/bench_speed.py [--repeat N]``. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLAIM = "claim-cameras-contribute-order-and-road-safety"  # a causal claim: it reads pooled analyses
TARGETS = {  # seconds, and MB of peak memory where the issue sets one
    "help": (0.5, None),
    "check (warm)": (1.0, 200.0),
    "build cold": (30.0, None),
    "build warm cache": (5.0, None),
    "build unchanged": (1.5, None),
}
# Runs a command as its child and prints the child's peak resident memory (kB on Linux).
PEAK = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def research(*args: str) -> list[str]:
    return [sys.executable, "-m", "research.cli", *args]


def measure(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak MB of one run of ``command``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed with exit code {done.returncode}")
    return seconds, int(done.stdout.strip().splitlines()[-1]) / 1024


def best_of(command: list[str], cwd: Path, repeat: int) -> tuple[float, float]:
    runs = [measure(command, cwd) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def where_time_goes(cwd: Path, top: int = 8) -> list[tuple[str, float]]:
    """Import time of the warm check by package (each module's own time, summed), and the rest of its wall time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *research("check", CLAIM)[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| ( *)(\S+)$", line)
        if match:
            parts = match.group(3).split(".")
            name = ".".join(parts[:2]) if parts[0] == "research" else parts[0]
            totals[name] = totals.get(name, 0.0) + int(match.group(1)) / 1e6
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    imports = sum(totals.values())
    return ranked + [("(all imports)", imports), ("(everything else: start-up, reading the store, judging)",
                                                  wall - imports)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fast command (the median is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        work = Path(tmp)
        for folder in ("evidence", "analyses"):
            shutil.copytree(ROOT / folder, work / folder)
        results: dict[str, tuple[float, float]] = {}
        results["validate"] = best_of(research("validate"), work, args.repeat)
        results["help"] = best_of(research("--help"), work, args.repeat)
        results["build cold"] = measure(research("build"), work)
        results["build warm cache"] = measure(research("build", "--force"), work)
        results["build unchanged"] = best_of(research("build"), work, args.repeat)
        results["check (warm)"] = best_of(research("check", CLAIM), work, args.repeat)
        profile = where_time_goes(work)
        built = json.loads((work / "reports" / "results.json").read_text(encoding="utf-8"))
    pooled = [a for a in built["analyses"] if a["status"] == "ok"]
    fits = sum(len(a["mcmc"]) for a in pooled)
    validate = results["validate"][0]
    print(f"{'':<18}{'wall s':>8}{'target':>8}{'ratio':>7}{'peak MB':>9}{'target':>8}{'x validate':>12}")
    print(f"{'validate':<18}{validate:>8.2f}{'':>8}{'':>7}{results['validate'][1]:>9.0f}{'':>8}{1.0:>12.2f}")
    for name, (target, memory_target) in TARGETS.items():
        seconds, peak = results[name]
        verdict = "ok" if seconds < target and (memory_target is None or peak < memory_target) else "MISSED"
        print(f"{name:<18}{seconds:>8.2f}{target:>8.1f}{seconds / target:>7.2f}{peak:>9.0f}"
              f"{memory_target or '':>8}{seconds / validate:>12.2f}  {verdict}")
    print(f"\nthe build pooled {len(pooled)} of {len(built['analyses'])} analyses and ran {fits} MCMC fit(s): "
          "build times grow with the pooled analyses and their declared MCMC fits")
    print("\nwhere the warm check's time goes (seconds):")
    for name, seconds in profile:
        print(f"  {name:<48}{seconds:>6.2f}")


if __name__ == "__main__":
    main()
