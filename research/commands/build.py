"""``research build``: the main job, with a progress display."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from research.commands._common import JOBS, SCHEDULER

out = Console(stderr=True)


def build(
    evidence: Path = typer.Option(Path("evidence"), "--evidence", "-e", help="Evidence store folder."),
    analyses: Path = typer.Option(Path("analyses"), "--analyses", help="Folder of declared analyses."),
    reports: Path = typer.Option(Path("reports"), "--reports", help="Where the report is written."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when nothing changed."),
    jobs: int = JOBS,
    scheduler: str = SCHEDULER,
) -> None:
    """Validate the store, run the declared analyses, check the claims and build the report.

    With --jobs or --scheduler each step of each analysis (the fits, the prior sensitivity, transport,
    value of information, every MCMC fit) is a task of its own. Results are the same on any engine:
    each task carries its own seeds."""
    started = time.perf_counter()
    from research.results import up_to_date  # answers "nothing changed" before the numerical libraries load

    if not force and up_to_date(evidence, analyses, reports) is not None:
        out.print(f"[green]up to date[/] (nothing changed since the last build; {time.perf_counter() - started:.1f} s). "
                  "Use --force to rebuild.")
        return
    from research.parallel import Engine
    from research.pipeline import build as run_build

    engine = Engine(jobs=jobs, scheduler=scheduler or None)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=True, disable=not out.is_terminal) as bar:
        task = bar.add_task("starting", total=None)

        def step(message: str) -> None:
            bar.update(task, description=escape(message))  # messages carry titles from declarations
            if not out.is_terminal:
                out.print(f"- {message}", highlight=False, markup=False)

        outcome = run_build(evidence, analyses, reports, force=force, progress=step, engine=engine)
    seconds = time.perf_counter() - started
    if outcome.up_to_date:
        out.print(f"[green]up to date[/] (nothing changed since the last build; {seconds:.1f} s). Use --force to rebuild.")
        return
    claims = outcome.results["claims"]
    labels = {}
    for verdict in claims:
        labels[verdict["label"]] = labels.get(verdict["label"], 0) + 1
    summary = ", ".join(f"{n} {label.replace('_', ' ')}" for label, n in sorted(labels.items()))
    out.print(f"[green]built[/] in {seconds:.1f} s: {len(outcome.results['analyses'])} analyses; "
              f"{len(claims)} claims ({summary})")
    for path in outcome.written:
        out.print(f"  wrote {path}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Main job")(build)
