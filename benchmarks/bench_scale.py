"""How the cost of the main commands grows with the size of the store.

Generates plainly synthetic stores (written to a temporary folder at run time, never into
evidence/) with 1k, 10k and 100k effect estimates and studies, sources, facts, claims, risk-of-bias
records and gaps in proportion, then times ``validate`` (cold, unchanged, one file changed),
``query`` (first run, which builds the kept index, and later runs), ``claims`` and ``build`` at each
size in a fresh process and prints wall time, peak memory and the growth exponent (the slope of
log time against log size between consecutive sizes; 1 is linear). Estimates are kept in files of
at most 2,000 rows (CSV, or Parquet with --layout parquet), as the README advises for big tables.
"query (in process)" is the time of the query call itself, without starting Python.

Targets on 2 cores: 100k estimates validate in < 10 s cold and < 1 s when one file changed, a query
answers in < 0.5 s, memory < 2 GB, growth no worse than linear. It is a measurement, not a test:

    python benchmarks/bench_scale.py                 # 1k, 10k, 100k
    python benchmarks/bench_scale.py --sizes 1000 10000
    python benchmarks/bench_scale.py --layout parquet --jobs 2
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

TARGETS = {"validate (cold)": 10.0, "validate (one file changed)": 1.0, "query (in process)": 0.5}
ROWS_PER_FILE = 2_000
TIMEOUT_S = 300  # a command slower than this is reported as "> 300 s" (a gap, not a hang)
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

# Times one query call in a process that has already imported the package.
_QUERY_TIMER = """
import resource, sys, time
from research.store.index import query_store
started = time.perf_counter()
query_store(sys.argv[1], sys.argv[2])
sys.stderr.write(f"\\nSECONDS {time.perf_counter() - started}\\n")
sys.stderr.write(f"PEAK_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n")
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


def generate_store(root: Path, n_estimates: int, seed: int = 1, layout: str = "csv") -> Path:
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
        if layout == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), folder / f"{name or kind}.parquet")
            return
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
    # Estimates in files of at most ROWS_PER_FILE rows: a change re-checks only its own file.
    for part, start in enumerate(range(0, n_estimates, ROWS_PER_FILE)):
        write_csv("estimates", estimates[start:start + ROWS_PER_FILE], name=f"estimates-{part:03d}")
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


def run(args: list[str], cwd: Path, runner: str = _RUNNER) -> tuple[float, float, int]:
    """Wall seconds (or the seconds the runner reports), peak memory in MB and exit code of one command."""
    started = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", runner, *args], cwd=cwd, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        sys.stderr.write(f"{' '.join(args)}: stopped after {TIMEOUT_S} s\n")
        return float("inf"), float("nan"), -1
    seconds = time.perf_counter() - started
    peak_mb = float("nan")
    for line in done.stderr.splitlines():
        if line.startswith("PEAK_KB "):
            peak_mb = int(line.split()[1]) / 1024
        elif line.startswith("SECONDS "):
            seconds = float(line.split()[1])
    if done.returncode:
        sys.stderr.write(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-400:]}\n")
    return seconds, peak_mb, done.returncode


def _change_one_estimates_file(evidence: Path, layout: str) -> None:
    paths = sorted((evidence / "estimates").glob(f"estimates-*.{layout}"))
    path = paths[len(paths) // 2]
    if layout == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        rows[0]["where_read"] += " (rechecked)"
        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    path.write_text(path.read_text(encoding="utf-8").replace("Table 1", "Table 1 (rechecked)", 1), encoding="utf-8")


def measure(size: int, layout: str = "csv", jobs: int = 1, store_only: bool = False) -> dict[str, tuple[float, float, int]]:
    sql = "SELECT count(*) AS n FROM estimates WHERE measure = 'RR'"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        evidence = generate_store(root, size, layout=layout)
        results = {"validate (cold)": run(["validate", "evidence"], root),
                   "validate (unchanged)": run(["validate", "evidence"], root)}
        _change_one_estimates_file(evidence, layout)
        results["validate (one file changed)"] = run(["validate", "evidence"], root)
        results["query (builds the index)"] = run(["query", sql], root)
        results["query (index kept)"] = run(["query", sql], root)
        results["query (in process)"] = run(["evidence", sql], root, runner=_QUERY_TIMER)
        if store_only:
            return results
        results["claims"] = run(["claims", "--json"], root)
        results[f"build (--jobs {jobs})"] = run(["build", "--force", "--jobs", str(jobs)], root)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--layout", choices=["csv", "parquet"], default="csv", help="How the big tables are kept.")
    parser.add_argument("--jobs", type=int, default=1, help="--jobs given to build.")
    parser.add_argument("--store-only", action="store_true", help="Time validate and query only.")
    options = parser.parse_args()
    sizes = sorted(options.sizes)
    table: dict[int, dict[str, tuple[float, float, int]]] = {}
    for size in sizes:
        print(f"store with {size:,} estimates ({options.layout}) ...", flush=True)
        table[size] = measure(size, options.layout, options.jobs, options.store_only)
    commands = list(next(iter(table.values())))
    print(f"\n{'command':<30}" + "".join(f"{n:>16,}" for n in sizes) + "   growth  target")
    for command in commands:
        cells = []
        for size in sizes:
            seconds, peak_mb, code = table[size][command]
            if code == -1:
                cells.append(f"> {TIMEOUT_S} s")
                continue
            flag = "" if code == 0 else f" exit {code}"
            cells.append(f"{seconds:7.2f}s {peak_mb:5.0f}MB{flag}")
        growth = []
        for small, large in zip(sizes, sizes[1:]):
            t_small, t_large = table[small][command][0], table[large][command][0]
            slope = math.log(t_large / t_small) / math.log(large / small) if math.isfinite(t_large) else math.inf
            growth.append(f"{slope:.2f}" if math.isfinite(slope) else "?")
        target = TARGETS.get(command)
        verdict = ""
        if target is not None:
            largest = table[sizes[-1]][command][0]
            verdict = f"< {target:g} s: {'met' if largest < target else f'missed by {largest - target:.1f} s'}"
        if any(not math.isfinite(table[n][command][0]) for n in sizes):
            verdict += " (gap: stopped at the time limit)"
        print(f"{command:<30}" + "".join(f"{c:>16}" for c in cells) + f"   {','.join(growth):>10}  {verdict}")
    peak = max((v[1] for row in table.values() for v in row.values() if math.isfinite(v[1])), default=float("nan"))
    if len(sizes) > 1:
        small, large = sizes[-2], sizes[-1]
        worse = []
        for command in commands:
            t_small, t_large = table[small][command][0], table[large][command][0]
            slope = math.log(t_large / t_small) / math.log(large / small) if math.isfinite(t_large) else math.inf
            if slope > 1.1:
                worse.append(f"{command} ({slope:.2f})" if math.isfinite(slope) else f"{command} (stopped)")
        print(f"\ngrowth from {small:,} to {large:,}: "
              + ("no worse than linear for every command (target met)" if not worse
                 else "worse than linear for " + ", ".join(worse) + " (target missed)"))
    print(f"\npeak memory {peak:.0f} MB (target < {MEMORY_TARGET_MB} MB: {'met' if peak < MEMORY_TARGET_MB else 'missed'})")
    print("growth: slope of log(time) on log(size) between consecutive sizes; process start-up "
          "(about 0.5 s) flattens it at small sizes.")


if __name__ == "__main__":
    main()
