"""Run every declared analysis of a store, step by step, on an engine (research.parallel).

Every step of every analysis is one task: on local processes or a Dask cluster the MCMC fits,
sensitivity grids and value-of-information simulations of one analysis run beside each other and
beside other analyses. Each task carries its own seeds and results come back in the order given,
so the output equals a serial run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from research.analyses import Analysis, load_analyses
from research.bayes.cache import DEFAULT_CACHE
from research.dataset import effect_table
from research.errors import InputError
from research.parallel import Engine, run_tasks
from research.pipeline.analysis import Prepared, Progress, assemble, prepare, run_step
from research.pipeline.selection import Selection, refuse
from research.store.loader import EvidenceError, Problem, Store


class AnalysisFailed(InputError):
    """One or more analyses failed; the others finished. ``results`` holds those that finished."""

    def __init__(self, failures: list[str], results: dict[str, Any]):
        self.failures, self.results = failures, results
        done = f"; the other {len(results)} finished" if results else ""
        super().__init__(f"{len(failures)} {'analysis' if len(failures) == 1 else 'analyses'} failed{done}:\n"
                         + "\n".join(failures))


@dataclass(frozen=True)
class _Refused:
    """A step refused by its declaration (EvidenceError), carried back from a worker as data."""

    problems: list[Problem]


def _step_task(analysis: Analysis, selection: Selection, step: str, cache_dir: Path | None,
               progress: Progress | None, announce: bool, figures: bool) -> dict[str, Any] | _Refused:
    if progress and announce:
        progress(f"analysis: {analysis.title}")
    try:
        return run_step(analysis, selection, step, cache_dir, progress, figures)
    except EvidenceError as exc:
        return _Refused(list(exc.problems))


def resolve_target(analysis: Analysis, store: Store) -> None:
    """The analysis' target must be a target record; its name is what the transport is shown for."""
    if analysis.target is None:
        return
    target = next((t for t in store["targets"] if t.id == analysis.target), None)
    if target is None:
        raise refuse(analysis, "target", f"refers to '{analysis.target}', which is not in targets")
    if analysis.transport and analysis.transport.target is None:
        analysis.transport.target = target.name


def estimate_notes(store: Store) -> dict[str, str]:
    """Estimate ids and their recorded notes (a result given only in words is shown in them)."""
    return {e.id: e.note for e in store["estimates"] if e.note}


def run_analyses(store: Store, analyses_dir: str | Path = "analyses", progress: Progress | None = None,
                 cache_dir: Path | None = DEFAULT_CACHE, table: pd.DataFrame | None = None,
                 engine: Engine | None = None, only: set[str] | None = None, mcmc: bool = True,
                 figures: bool = True) -> dict:
    """Run every declared analysis on the store (``only``: those ids); returns ``{analysis_id: result}``
    in declared order. ``mcmc=False`` leaves out the declared MCMC fits and ``figures=False`` the plots
    (what a claim check does not need).

    Each step of each analysis is one task on ``engine`` (this process by default; local processes
    or a Dask cluster otherwise). A refused declaration raises EvidenceError naming every problem;
    any other failure raises AnalysisFailed naming each failed analysis, its step and the reason,
    after the others have finished."""
    engine = engine or Engine()
    table = effect_table(store) if table is None else table
    notes = estimate_notes(store)
    prepared: list[Prepared] = []
    refused: list[Problem] = []
    for analysis in load_analyses(analyses_dir):
        if only is not None and analysis.id not in only:
            continue
        try:
            resolve_target(analysis, store)
            prepared.append(prepare(analysis, table, notes, mcmc=mcmc))
        except EvidenceError as exc:
            refused.extend(exc.problems)
    # Workers may run elsewhere: the fit cache is named absolutely (its writes are atomic and locked).
    cache = Path(cache_dir).resolve() if cache_dir is not None else None
    here = progress if engine.serial else None
    tasks, owners = [], {}  # task name -> (its analysis, its step)
    for item in prepared:
        if progress and not item.steps:
            progress(f"analysis: {item.analysis.title}")
        for index, step in enumerate(item.steps):
            name = f"{item.analysis.id}/{step}"
            tasks.append((name, _step_task, (item.analysis, item.selection, step, cache, here, index == 0, figures), {}))
            owners[name] = (item, step)
    if progress and not engine.serial and tasks:
        progress(f"analyses: {len(prepared)} ({len(tasks)} steps) on {engine.describe()}")

    def done(outcome) -> None:
        if progress and not engine.serial:
            item, step = owners[outcome.name]
            progress(f"analysis: {item.analysis.title}: {step} {'done' if outcome.ok else 'failed'}")

    outputs: dict[str, list[dict[str, Any]]] = {item.analysis.id: [] for item in prepared}
    errors: dict[str, list[str]] = {}
    for outcome in run_tasks(tasks, engine, on_done=done):
        item, step = owners[outcome.name]
        if not outcome.ok:
            errors.setdefault(item.analysis.id, []).append(f"{step}: {outcome.error}")
        elif isinstance(outcome.value, _Refused):
            refused.extend(outcome.value.problems)
        else:
            outputs[item.analysis.id].append(outcome.value)
    refused_ids = {p.record for p in refused}
    results = {item.analysis.id: assemble(item, outputs[item.analysis.id]) for item in prepared
               if item.analysis.id not in errors and item.analysis.id not in refused_ids}
    if errors:
        failures = [f"analysis '{item.analysis.id}' ({item.analysis.file}): {'; '.join(errors[item.analysis.id])}"
                    for item in prepared if item.analysis.id in errors]
        raise AnalysisFailed(failures + [str(p) for p in refused], results)
    if refused:
        raise EvidenceError(refused)
    return results
