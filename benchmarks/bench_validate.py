"""Time store validation against store size, up to one 50 MB evidence file.

Each store is the minimal test store plus one generated file of synthetic gap records (YAML)
or estimate rows (CSV), written to a temporary folder at run time and deleted afterwards;
nothing here is evidence. For each size the script prints the time of ``load_store`` (read,
validate, check references), the time of the peer (PyYAML's C loader, or the csv module, alone
on the same file), their ratio, and the time per MB: a flat time per MB shows validation is
linear in the store size. Times are CPU seconds of this process (wall-clock seconds beside them),
so a busy machine does not inflate them. It is a measurement, not a test.
"""

from __future__ import annotations

import csv
import gc
import io
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from research.store import load_store  # noqa: E402
from tests.conftest import MINIMAL_STORE, write_store  # noqa: E402

SIZES_MB = tuple(float(a) for a in sys.argv[1:]) or (0.5, 5.0, 50.0)
GOAL_50MB_S = 60.0  # "finishes in seconds" on a 2-core machine


def synthetic_gaps(target_bytes: int) -> str:
    """YAML gap records, each about 200 bytes, all referring to records of the minimal store."""
    block = ("- id: synthetic-gap-{i}\n"
             "  what: synthetic test record {i} for the validation benchmark\n"
             "  why_it_matters: generated at run time; not evidence\n"
             "  who_may_hold: nobody\n"
             "  related: [claim-1, src-a]\n")
    parts, size, i = [], 0, 0
    while size < target_bytes:
        text = block.format(i=i)
        parts.append(text)
        size += len(text)
        i += 1
    return "".join(parts)


def synthetic_estimates(target_bytes: int) -> str:
    """CSV estimate rows (2x2 counts) referring to the minimal store's study and source."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "study", "source", "where_read", "quote", "outcome", "measure", "provenance",
                     "a", "b", "c", "d"])
    i = 0
    while out.tell() < target_bytes:
        writer.writerow([f"synthetic-est-{i}", "study-1", "src-b", "synthetic table", "generated, not evidence",
                         "all crime", "RES", "primary", 10 + i % 7, 8 + i % 5, 12, 13])
        i += 1
    return out.getvalue()


def peer_parse(path: Path) -> None:
    """The same file read by the parser alone (collector paused, as load_store does)."""
    text = path.read_text(encoding="utf-8")
    gc.disable()
    try:
        if path.suffix == ".csv":
            for _ in csv.reader(io.StringIO(text)):
                pass
        else:
            yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    finally:
        gc.enable()


def timed(run) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(kind: str, name: str, text: str) -> tuple[float, tuple[float, float], tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        store = write_store(Path(tmp) / "evidence", MINIMAL_STORE)
        path = store / kind / name
        path.write_text(text, encoding="utf-8")
        peer = timed(lambda: peer_parse(path))
        loaded: list = []
        validate = timed(lambda: loaded.append(load_store(store)))
        assert len(loaded[0][kind]) > 1
        return len(text.encode()) / 1e6, peer, validate


def main() -> None:
    print(f"{'file':<6}{'MB':>7}{'peer s':>9}{'validate s':>12}{'(wall s)':>10}{'ratio':>7}{'s per MB':>10}")
    for label, kind, name, make in (("yaml", "gaps", "synthetic.yaml", synthetic_gaps),
                                    ("csv", "estimates", "synthetic.csv", synthetic_estimates)):
        for size in SIZES_MB:
            megabytes, peer, validate = measure(kind, name, make(int(size * 1e6)))
            print(f"{label:<6}{megabytes:7.1f}{peer[0]:9.2f}{validate[0]:12.2f}{validate[1]:10.2f}"
                  f"{validate[0] / peer[0]:7.1f}{validate[0] / megabytes:10.2f}", flush=True)
    print(f"goal: a 50 MB store file validates within {GOAL_50MB_S:.0f} s (CPU seconds above)")


if __name__ == "__main__":
    main()
