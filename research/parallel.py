"""Run independent tasks serially, on local processes, or on a Dask cluster.

This module owns the choice of engine, never the scheduling itself: local processes come from
``concurrent.futures.ProcessPoolExecutor`` and remote workers from ``dask.distributed.Client``
(the user starts the scheduler and workers as usual and passes its address). Every task returns a
``TaskOutcome``, so one failed task is reported by name with its reason while the others still
finish. Results come back in the order the tasks were given, whatever order they finished in, so
a parallel run writes the same output as a serial one (each task carries its own seeds).

It imports nothing from the layers above; the pipeline hands it plain functions and arguments.
"""

from __future__ import annotations

import multiprocessing
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from research.errors import InputError


@dataclass(frozen=True)
class TaskOutcome:
    """What one task gave back: its value, or why it failed."""

    name: str
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Engine:
    """Where tasks run: ``jobs`` local processes (1 = in this process) or a Dask scheduler address."""

    jobs: int = 1
    scheduler: str | None = None
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise InputError(f"--jobs: must be at least 1, got {self.jobs}")

    @property
    def serial(self) -> bool:
        return self.scheduler is None and self.jobs == 1

    def describe(self) -> str:
        if self.scheduler:
            return f"Dask cluster at {self.scheduler}"
        return "this process" if self.jobs == 1 else f"{self.jobs} local processes"


def _run_one(name: str, function: Callable[..., Any], args: tuple, kwargs: dict) -> TaskOutcome:
    """Call one task; a failure becomes data naming the task, so the others carry on."""
    try:
        return TaskOutcome(name, value=function(*args, **kwargs))
    except InputError as exc:
        return TaskOutcome(name, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - reported per task, with the last frame for the maintainer
        last = traceback.extract_tb(exc.__traceback__)[-1:] or []
        where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
        return TaskOutcome(name, error=f"{type(exc).__name__}: {exc}{where}")


def run_tasks(
    tasks: Sequence[tuple[str, Callable[..., Any], tuple, dict]],
    engine: Engine = Engine(),
    on_done: Callable[[TaskOutcome], None] | None = None,
) -> list[TaskOutcome]:
    """Run ``(name, function, args, kwargs)`` tasks on ``engine``; outcomes in the order given.

    Functions and arguments must be picklable (module-level functions, plain data) when the
    engine is not serial.
    """
    if engine.serial or len(tasks) <= 1 and engine.scheduler is None:
        outcomes = []
        for name, function, args, kwargs in tasks:
            outcome = _run_one(name, function, args, kwargs)
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
        return outcomes
    if engine.scheduler:
        return _run_on_dask(tasks, engine.scheduler, engine.connect_timeout_s, on_done)
    return _run_on_processes(tasks, engine.jobs, on_done)


def _run_on_processes(tasks, jobs: int, on_done) -> list[TaskOutcome]:
    # "spawn": the numerical libraries hold threads and caches that do not survive a fork.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context) as pool:
        futures = [pool.submit(_run_one, name, function, args, kwargs) for name, function, args, kwargs in tasks]
        outcomes = []
        for (name, *_), future in zip(tasks, futures):
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker that died takes only its own task with it
                outcome = TaskOutcome(name, error=f"worker failed: {type(exc).__name__}: {exc}")
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    return outcomes


def _run_on_dask(tasks, address: str, timeout_s: float, on_done) -> list[TaskOutcome]:
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - dask is a declared dependency
        raise InputError("--scheduler: dask.distributed is not installed") from exc
    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"--scheduler: cannot reach the Dask scheduler at {address}: {exc}") from exc
    try:
        futures = [client.submit(_run_one, name, function, args, kwargs, key=f"sightline-{index}-{name}", pure=False)
                   for index, (name, function, args, kwargs) in enumerate(tasks)]
        outcomes = []
        for (name, *_), future in zip(tasks, futures):
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails its task, not the run
                outcome = TaskOutcome(name, error=f"worker failed: {type(exc).__name__}: {exc}")
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
        return outcomes
    finally:
        client.close()


__all__ = ["Engine", "TaskOutcome", "run_tasks"]
