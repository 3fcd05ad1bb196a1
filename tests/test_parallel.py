"""Tasks give the same outcomes, in the same order, serially, on local processes and on Dask."""

from __future__ import annotations

import math
import operator

import pytest

from research.errors import InputError
from research.parallel import Engine, run_tasks

TASKS = [
    ("sqrt-16", math.sqrt, (16.0,), {}),
    ("divide-by-zero", operator.truediv, (1.0, 0.0), {}),
    ("power", pow, (2, 10), {}),
]


def _values(outcomes):
    return [(o.name, o.value, o.ok) for o in outcomes]


def test_serial_run_reports_the_failed_task_and_finishes_the_others():
    outcomes = run_tasks(TASKS)
    assert _values(outcomes) == [("sqrt-16", 4.0, True), ("divide-by-zero", None, False), ("power", 1024, True)]
    assert "ZeroDivisionError" in outcomes[1].error


def test_local_processes_give_the_serial_outcomes():
    done = []
    outcomes = run_tasks(TASKS, Engine(jobs=2), on_done=lambda o: done.append(o.name))
    assert _values(outcomes) == _values(run_tasks(TASKS))
    assert sorted(done) == sorted(name for name, *_ in TASKS)


def test_an_input_error_keeps_its_message():
    def refuse():
        raise InputError("analysis 'x': where: unknown column 'foo'")

    (outcome,) = run_tasks([("x", refuse, (), {})])
    assert outcome.error == "analysis 'x': where: unknown column 'foo'"


def test_jobs_below_one_is_refused():
    with pytest.raises(InputError, match="--jobs"):
        Engine(jobs=0)


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        run_tasks(TASKS, Engine(scheduler="tcp://127.0.0.1:9", connect_timeout_s=1.0))


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_outcomes():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        outcomes = run_tasks(TASKS, Engine(scheduler=cluster.scheduler_address))
    assert _values(outcomes) == _values(run_tasks(TASKS))
