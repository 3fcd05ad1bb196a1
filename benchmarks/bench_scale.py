"""How the cost of the main commands grows with the size of the store.

Generates plainly synthetic stores (written to a temporary folder at run time, never into
evidence/) with 1k, 10k and 100k effect estimates and studies, sources, facts, claims, risk-of-bias
records and gaps in proportion, then times ``validate``, ``query``, ``claims`` and ``build`` at each
size in a fresh process and prints wall time, peak memory and the growth exponent (the slope of
log time against log size between consecutive sizes; 1 is linear).

Targets on 2 cores: 100k estimates validate in < 10 s cold and < 1 s when one file changed, a query
answers in < 0.5 s, memory < 2 GB, growth no worse than linear. It is a measurement, not a test:

    python benchmarks/bench_scale.py                 # 1k, 10k, 100k
    python benchmarks/bench_scale.py --sizes 1000 10000
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TARGETS = {"validate": 10.0, "validate (one file changed)": 1.0, "query": 0.5}
MEMORY_TARGET_MB = 2048

# Runs one CLI command in this fresh process and reports its own peak resident memory.
_RUNNER = """
import resource, sys
from research.cli import main
code = main(sys.argv[1:])
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write(f"\\nPEAK_KB {peak_kb}\\n")
sys.exit(code)
"""

ANALYSIS = {
    "id": "synthetic-pool",
    "title": "Synthetic pool",
    "question": "Synthetic question for timing only",
    "intervention": "synthetic intervention",
    "outcome": "synthetic outcome",
    "where": "measure = 'RR' AND poolable AND study LIKE 'study-0000%'",
    "min_k": 3,
}


def generate_store(root: Path, n_estimates: int, seed: int = 1) -> Path:
    """Write a synthetic store with ``n_estimates`` estimates and the other kinds in proportion."""
    rng = random.Random(seed)
    evidence = root / "evidence"
    n_sources = max(5, n_estimates // 20)
    n_studies = max(5, n_estimates // 4)
    n_facts = max(5, n_estimates // 10)
    n_claims = max(2, n_estimates // 100)
    n_gaps = max(2, n_estimates // 100)

    def write_csv(kind: str, rows: list[dict], name: str | None = None) -> None:
        folder = evidence / kind
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{name or kind}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    sources = [{"id": f"src-{i:06d}", "kind": "study", "citation": f"Synthetic source {i}"} for i in range(n_sources)]
    studies = [{"id": f"study-{i:06d}", "title": f"Synthetic study {i}", "source": f"src-{i % n_sources:06d}",
                "year": 1990 + i % 30, "design": "controlled_before_after", "intervention": "synthetic intervention"}
               for i in range(n_studies)]
    estimates = []
    for i in range(n_estimates):
        ratio = round(math.exp(rng.gauss(-0.1, 0.3)), 3)
        se = round(rng.uniform(0.05, 0.4), 3)
        estimates.append({
            "id": f"est-{i:07d}", "study": f"study-{i % n_studies:06d}", "source": f"src-{i % n_sources:06d}",
            "where_read": f"Table {i % 7 + 1}", "quote": f"RR {ratio} (SE {se})", "outcome": "synthetic outcome",
            "outcome_family": "synthetic outcome",
            "measure": "RR", "provenance": "primary", "estimate": ratio, "se": se,
        })
    facts = [{"id": f"fact-{i:06d}", "source": f"src-{i % n_sources:06d}", "where_read": "page 1",
              "quote": f"{100 + i} units", "quantity": f"synthetic_quantity_{i % 50}", "value": 100 + i,
              "unit": "units", "place": "Synthetic place", "date": "2020-06-30"} for i in range(n_facts)]
    claims = [{"id": f"claim-{i:06d}", "text": f"There are {100 + i} units.", "source": "src-000000",
               "location": f"paragraph {i + 1}", "kind": "numeric", "place": "Synthetic place",
               "quantities": [{"name": f"synthetic_quantity_{i % 50}", "value": 100 + i, "unit": "units"}]}
              for i in range(n_claims)]
    rob = [{"id": f"rob-{i:06d}", "study": f"study-{i:06d}", "design_level": 3, "overall": "some_concerns",
            "rationale": "Synthetic judgement for timing only"} for i in range(n_studies)]
    gaps = [{"id": f"gap-{i:06d}", "what": "Synthetic gap", "why_it_matters": "Timing only",
             "who_may_hold": "nobody", "related": [f"claim-{i % n_claims:06d}"]} for i in range(n_gaps)]

    write_csv("sources", sources)
    write_csv("studies", studies)
    # Estimates in ten files, so "one file changed" touches a tenth of the rows.
    chunk = math.ceil(n_estimates / 10)
    for part in range(10):
        rows = estimates[part * chunk:(part + 1) * chunk]
        if rows:
            write_csv("estimates", rows, name=f"estimates-{part:02d}")
    write_csv("facts", facts)
    write_csv("risk_of_bias", [{k: v for k, v in r.items()} for r in rob])
    for kind, records in (("claims", claims), ("gaps", gaps)):
        folder = evidence / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{kind}.yaml").write_text(yaml.safe_dump(records, sort_keys=False), encoding="utf-8")
    analyses = root / "analyses"
    analyses.mkdir(exist_ok=True)
    (analyses / "synthetic.yaml").write_text(yaml.safe_dump(ANALYSIS, sort_keys=False), encoding="utf-8")
    (analyses / "claim-checks.yaml").write_text("claims: []\n", encoding="utf-8")
    return evidence


def run(args: list[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, peak memory in MB and exit code of one CLI command."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RUNNER, *args], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak_mb = float("nan")
    for line in done.stderr.splitlines():
        if line.startswith("PEAK_KB "):
            peak_mb = int(line.split()[1]) / 1024
    return seconds, peak_mb, done.returncode


def measure(size: int) -> dict[str, tuple[float, float, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        evidence = generate_store(root, size)
        results = {
            "validate": run(["validate", "evidence"], root),
            "query": run(["query", "SELECT count(*) AS n FROM estimates WHERE measure = 'RR'"], root),
        }
        changed = evidence / "estimates" / "estimates-03.csv"
        changed.write_text(changed.read_text(encoding="utf-8").replace("Table 1", "Table 1 (rechecked)", 1),
                           encoding="utf-8")
        results["validate (one file changed)"] = run(["validate", "evidence"], root)
        results["claims"] = run(["claims", "--json"], root)
        results["build"] = run(["build", "--force"], root)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    sizes = sorted(parser.parse_args().sizes)
    table: dict[int, dict[str, tuple[float, float, int]]] = {}
    for size in sizes:
        print(f"store with {size:,} estimates ...", flush=True)
        table[size] = measure(size)
    commands = list(next(iter(table.values())))
    print(f"\n{'command':<28}" + "".join(f"{n:>16,}" for n in sizes) + "   growth  target")
    for command in commands:
        cells = []
        for size in sizes:
            seconds, peak_mb, code = table[size][command]
            flag = "" if code == 0 else f" exit {code}"
            cells.append(f"{seconds:7.2f}s {peak_mb:5.0f}MB{flag}")
        growth = []
        for small, large in zip(sizes, sizes[1:]):
            t_small, t_large = table[small][command][0], table[large][command][0]
            growth.append(f"{math.log(t_large / t_small) / math.log(large / small):.2f}")
        target = TARGETS.get(command)
        verdict = ""
        if target is not None:
            largest = table[sizes[-1]][command][0]
            verdict = f"< {target:g} s: {'met' if largest < target else f'missed by {largest - target:.1f} s'}"
        print(f"{command:<28}" + "".join(f"{c:>16}" for c in cells) + f"   {','.join(growth):>6}  {verdict}")
    peak = max(v[1] for row in table.values() for v in row.values())
    print(f"\npeak memory {peak:.0f} MB (target < {MEMORY_TARGET_MB} MB: {'met' if peak < MEMORY_TARGET_MB else 'missed'})")
    print("growth: slope of log(time) on log(size) between consecutive sizes; process start-up "
          "(about 0.5 s) flattens it at small sizes.")


if __name__ == "__main__":
    main()
