"""``research extract ARTICLE``: draft claim records from an article, for a person to confirm."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from research.errors import InputError

err = Console(stderr=True, soft_wrap=True)


def _default_source(article: Path) -> str:
    return "src-" + (re.sub(r"[^a-z0-9]+", "-", article.stem.lower()).strip("-") or "article")


def extract(
    article: Path = typer.Argument(..., help="The article as plain text (UTF-8); Markdown bullets and images "
                                             "are read."),
    source: str = typer.Option(None, "--source", "-s",
                               help="Source id the drafts cite (default: src-<file name without extension>)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the drafts to this YAML file (default: print them)."),
    min_score: float = typer.Option(None, "--min-score", min=0, max=1,
                                    help="Keep non-numeric sentences whose check-worthiness reaches this "
                                         "(default 0.2; 0 keeps every sentence). Numeric claims are always kept."),
    evidence: Path = typer.Option(Path("evidence"), "--evidence", "-e",
                                  help="Evidence store to check the drafts against (source exists, ids are new)."),
) -> None:
    """Draft claim records from an article, best candidates first.

    Each draft gives its numbers (unit, multiplier, qualifier), location, place and period, and a check-worthiness
    score with its reasons as YAML comments. Nothing enters the store: review the file, then `research add claims`.
    """
    from research.extract import DEFAULT_MIN_SCORE, drafts_yaml, extract_claims
    from research.store import load_store
    from research.store.loader import EvidenceError

    try:
        text = article.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{article}: cannot be read as UTF-8 text: {exc}") from exc
    source = source or _default_source(article)
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", source):
        raise InputError(f"--source '{source}': a record id is lower-case letters, digits, '.', '_' or '-'")
    drafts = extract_claims(text, source, DEFAULT_MIN_SCORE if min_score is None else min_score)
    numeric = sum(d.kind == "numeric" for d in drafts)
    header = (f"Draft claims of {article.name} (source {source}): {len(drafts)} drafts, {numeric} numeric.\n"
              "Best candidates first. Each is a draft: confirm text, kind, quantities (names should match the\n"
              "fact quantities), place and period, delete what is not a claim, then run\n"
              "`research add claims FILE`. The comment above each record gives its check-worthiness and why.")
    notes = []
    if evidence.is_dir():
        try:  # as `research add claims` would see them; problems are notes, the drafts are still written
            load_store(evidence, extra={"claims": [(str(out or "draft"), d.record()) for d in drafts]})
        except EvidenceError as exc:
            grouped: dict[tuple[str, str], list[str]] = {}
            for problem in exc.problems:
                grouped.setdefault((problem.field, problem.message), []).append(problem.record)
            notes = [f"{field} {message}: {', '.join(ids) if len(ids) <= 3 else f'{len(ids)} drafts'}"
                     for (field, message), ids in grouped.items()]
    yaml_text = drafts_yaml(drafts, header)
    if out is None:
        sys.stdout.write(yaml_text)
    else:
        from research.store.write import atomic_write_text

        atomic_write_text(out, yaml_text)
        err.print(f"wrote {len(drafts)} draft claim(s) ({numeric} numeric) to {escape(str(out))}", highlight=False)
    if notes:
        err.print("[yellow]note[/] `research add claims` would refuse these drafts as they are "
                  "(add the source first; rename ids already in the store):", highlight=False)
    for note in notes:
        err.print(f"  {escape(note)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Claim checks")(extract)
