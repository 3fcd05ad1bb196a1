"""Time `research build` on the shipped store: cold (empty fit cache, no previous report) and unchanged.

Prints the times and their ratio to the goals (60 s cold, 5 s when nothing changed on a 2-core
machine); it is a measurement, not a test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"cold": 60.0, "unchanged": 5.0}


def run_build(workdir: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "research.cli", "build"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for folder in ("evidence", "analyses"):
            shutil.copytree(ROOT / folder, workdir / folder)
        times = {"cold": run_build(workdir), "unchanged": run_build(workdir)}
    for name, seconds in times.items():
        print(f"build {name:>9}: {seconds:6.2f} s  goal {GOALS[name]:4.0f} s  ratio {seconds / GOALS[name]:.2f}")


if __name__ == "__main__":
    main()
