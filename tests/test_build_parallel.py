"""A build on local processes or on a Dask cluster writes the same results.json as a serial one,
and a failed analysis is named with its reason while the others finish."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest
import yaml

from research import pipeline
from research.pipeline import analysis as steps
from research.cli import main
from research.parallel import Engine
from research.store import load_store

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 1, 1)


def _bench_scale():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic_case(tmp_path_factory) -> tuple[Path, Path]:
    """A small plainly synthetic store (test data) with three analyses that really pool."""
    root = tmp_path_factory.mktemp("synthetic")
    bench = _bench_scale()
    evidence = bench.generate_store(root, 400)
    analyses = root / "analyses"
    for index, prefix in enumerate(("study-00000", "study-00001", "study-00002")):
        declaration = dict(bench.ANALYSIS, id=f"synthetic-pool-{index}", title=f"Synthetic pool {index}",
                           where=f"measure = 'RR' AND poolable AND study LIKE '{prefix}%'")
        if index == 0:  # two MCMC fits: steps of one analysis that run as separate tasks
            declaration["mcmc"] = [{"model": model, "draws": 200, "tune": 200, "chains": 2, "seed": 3}
                                   for model in ("random_effects", "robust")]
        (analyses / f"synthetic-{index}.yaml").write_text(yaml.safe_dump(declaration), encoding="utf-8")
    (analyses / "synthetic.yaml").unlink()
    return evidence, analyses


def _build(evidence: Path, analyses: Path, reports: Path, engine: Engine, cache: Path) -> bytes:
    pipeline.build(evidence, analyses, reports, force=True, today=DAY, cache_dir=cache, engine=engine)
    return (reports / "results.json").read_bytes()


@pytest.mark.slow
def test_local_processes_write_the_serial_results_on_a_pooling_store(synthetic_case, tmp_path):
    evidence, analyses = synthetic_case
    serial = _build(evidence, analyses, tmp_path / "serial", Engine(), tmp_path / "fits-serial")
    # its own fit cache, so that the MCMC fits really run on the workers
    parallel = _build(evidence, analyses, tmp_path / "jobs", Engine(jobs=2), tmp_path / "fits-jobs")
    assert b'"status": "ok"' in serial  # models were fitted, not only listed
    assert b'"trace_robust"' in serial and b'"rhat_max"' in serial
    assert parallel == serial


def test_build_jobs_2_on_the_shipped_case_matches_serial(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = ["build", "--evidence", "evidence", "--analyses", "analyses", "--force"]
    assert main([*args, "--reports", str(tmp_path / "serial")]) == 0
    assert main([*args, "--reports", str(tmp_path / "jobs"), "--jobs", "2"]) == 0
    serial = (tmp_path / "serial" / "results.json").read_bytes()
    assert (tmp_path / "jobs" / "results.json").read_bytes() == serial


def test_dask_local_cluster_matches_serial_on_the_shipped_case(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.chdir(ROOT)
    evidence, analyses = ROOT / "evidence", ROOT / "analyses"
    serial = _build(evidence, analyses, tmp_path / "serial", Engine(), tmp_path / "fits")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        on_dask = _build(evidence, analyses, tmp_path / "dask", Engine(scheduler=cluster.scheduler_address),
                         tmp_path / "fits")
        code = main(["build", "--force", "--reports", str(tmp_path / "cli"), "--scheduler", cluster.scheduler_address])
    assert on_dask == serial
    assert code == 0


def test_a_failed_analysis_is_named_with_its_reason_and_the_others_finish(synthetic_case, monkeypatch, capsys):
    evidence, analyses = synthetic_case
    real = steps.STEPS["frequentist"]

    def failing(analysis, *args, **kwargs):
        if analysis.id == "synthetic-pool-1":
            raise FloatingPointError("variance estimate did not converge")
        return real(analysis, *args, **kwargs)

    monkeypatch.setitem(steps.STEPS, "frequentist", failing)
    store = load_store(evidence)
    with pytest.raises(pipeline.AnalysisFailed) as info:
        pipeline.run_analyses(store, analyses, cache_dir=None)
    (failure,) = info.value.failures
    assert "analysis 'synthetic-pool-1'" in failure and "frequentist: " in failure
    assert "variance estimate did not converge" in failure
    assert sorted(info.value.results) == ["synthetic-pool-0", "synthetic-pool-2"]
    assert "the other 2 finished" in str(info.value)

    code = main(["build", "--evidence", str(evidence), "--analyses", str(analyses), "--force",
                 "--reports", str(evidence.parent / "failed-report")])
    assert code == 2
    assert "synthetic-pool-1" in capsys.readouterr().err
    assert not (evidence.parent / "failed-report" / "results.json").exists()


def test_jobs_below_one_is_a_usage_error(tmp_path):
    assert main(["build", "--jobs", "0", "--reports", str(tmp_path)]) == 2
