"""Claim commands: ``claims`` (verdicts, ``--json``), ``claims diff REV``, ``claims export``, ``check ID``."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from research.commands._common import print_json
from research.errors import InputError
from research.store import load_store

EVIDENCE = typer.Option(Path("evidence"), "--evidence", "-e", help="Evidence store folder.")
CHECKS = typer.Option(Path("analyses/claim-checks.yaml"), "--checks", help="Declared claim checks.")
ANALYSES_DIR = typer.Option(Path("analyses"), "--analyses", help="Folder of declared analyses.")
RESULTS = typer.Option(None, "--results", help="Analysis results as JSON (a results.json or {id: result}) "
                                               "instead of running the analyses.")
NO_ANALYSES = typer.Option(False, "--no-analyses", help="Judge causal claims on the reviews' reported results only.")

claims_app = typer.Typer(help="Verdicts on the article's claims, computed from the evidence.",
                         invoke_without_command=True, no_args_is_help=False)


def _analyses(store, analyses_dir: Path, results: Path | None, skip: bool) -> dict[str, Any]:
    """Analysis results from a file, from the pipeline, or none."""
    if skip:
        return {}
    if results is not None:
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
            raise InputError(f"{results}: cannot be read as JSON: {exc}") from exc
        if isinstance(data, dict) and isinstance(data.get("analyses"), list):
            return {a["id"]: a for a in data["analyses"] if isinstance(a, dict) and "id" in a}
        if isinstance(data, dict):
            return data
        raise InputError(f"{results}: expected a mapping of analysis id to result")
    try:
        from research.pipeline import run_analyses

        return run_analyses(store, analyses_dir)
    except ImportError as exc:  # the analysis layer is optional for claim checks
        typer.echo(f"note: analyses not run ({exc}); causal claims are judged on reported results", err=True)
        return {}


def _require_checks(checks: Path) -> None:
    # without its declarations every claim would silently read "not enough evidence"
    if not checks.is_file():
        raise InputError(f"--checks {checks}: claim checks file not found")


def _verify(evidence: Path, checks: Path, analyses_dir: Path, results: Path | None, skip: bool):
    from research.claims import verify_claims

    _require_checks(checks)
    store = load_store(evidence)
    return store, verify_claims(store, _analyses(store, analyses_dir, results, skip), checks)


def _show(as_json: bool, data: Callable[[], dict], text: Callable[[], str], default=None) -> None:
    """Print the result as JSON or as text (only the form asked for is built)."""
    if as_json:
        print_json(data(), indent=1, ensure_ascii=False, default=default)
    else:
        typer.echo(text())


def _options(ctx: typer.Context, no_analyses: bool, as_json: bool = False) -> dict[str, Any]:
    """The group's options, with the flags that a subcommand may also set."""
    opts = dict(ctx.obj)
    opts["no_analyses"] = opts["no_analyses"] or no_analyses
    opts["json"] = opts["json"] or as_json
    return opts


@claims_app.callback()
def claims(
    ctx: typer.Context,
    evidence: Path = EVIDENCE,
    checks: Path = CHECKS,
    analyses: Path = ANALYSES_DIR,
    results: Path = RESULTS,
    no_analyses: bool = NO_ANALYSES,
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """List every claim with its verdict (subcommands: diff, export)."""
    ctx.obj = {"evidence": evidence, "checks": checks, "analyses": analyses, "results": results,
               "no_analyses": no_analyses, "json": as_json}
    if ctx.invoked_subcommand is not None:
        return
    _, verification = _verify(evidence, checks, analyses, results, no_analyses)
    _show(as_json, verification.to_dict, verification.summary)


@claims_app.command("diff")
def diff(
    ctx: typer.Context,
    rev: str = typer.Argument(..., help="Git revision of the evidence to compare with (e.g. HEAD~3)."),
    to: str = typer.Option(None, "--to", help="Second revision (default: the working tree)."),
    no_analyses: bool = NO_ANALYSES,
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
    code: bool = typer.Option(False, "--code", help="Take the old verdicts from REV's own code as well as its "
                                                    "evidence (shows changes of the verdict scale, with the rule "
                                                    "that now decides each claim)."),
) -> None:
    """Which verdicts changed between the evidence at REV and now, and which inputs changed."""
    from research.claims import verify_claims
    from research.claims.revisions import diff_verifications, evidence_at

    opts = _options(ctx, no_analyses, as_json)
    evidence, checks = opts["evidence"], opts["checks"]
    _require_checks(checks)
    if code:
        _diff_with_code(rev, opts)
        return

    def verify(evidence_dir: Path, checks_file: Path | None):
        # a revision without a checks file is judged with the current declarations
        store = load_store(evidence_dir)
        analyses = _analyses(store, opts["analyses"], None, opts["no_analyses"])
        return store, verify_claims(store, analyses, checks_file if checks_file is not None else checks)

    with tempfile.TemporaryDirectory(prefix="claims-diff-") as tmp:
        old_evidence, old_checks = evidence_at(rev, evidence, Path(tmp) / "old", checks)
        if to is None:
            new_evidence, new_checks, new_name = evidence, checks, "working tree"
        else:
            new_evidence, new_checks = evidence_at(to, evidence, Path(tmp) / "new", checks)
            new_name = to
        old_store, old = verify(old_evidence, old_checks)
        new_store, new = verify(new_evidence, new_checks)
        result = diff_verifications(old, new, old_store, new_store, rev, new_name)
    _show(opts["json"], result.to_dict, result.summary, default=str)


def _diff_with_code(rev: str, opts: dict[str, Any]) -> None:
    import yaml

    from research.claims import verify_claims
    from research.claims.revisions import diff_with_code, repo_root, verdicts_at

    evidence, checks = opts["evidence"], opts["checks"]
    root = repo_root(evidence)
    with tempfile.TemporaryDirectory(prefix="claims-diff-") as tmp:
        rel_evidence = evidence.resolve().relative_to(root).as_posix()
        rel_checks = checks.resolve().relative_to(root).as_posix()
        old_verdicts = verdicts_at(rev, root, Path(tmp), no_analyses=opts["no_analyses"], evidence=rel_evidence,
                                   checks=rel_checks)
        old_store = load_store(Path(tmp) / rel_evidence)
        old_checks = Path(tmp) / rel_checks
        old_plan = yaml.safe_load(old_checks.read_text(encoding="utf-8")) if old_checks.exists() else None
    new_store = load_store(evidence)
    new = verify_claims(new_store, _analyses(new_store, opts["analyses"], None, opts["no_analyses"]), checks)
    new_plan = yaml.safe_load(checks.read_text(encoding="utf-8")) if checks.exists() else None
    result = diff_with_code(old_verdicts, new, old_store, new_store, old_plan, new_plan, f"{rev} (its code)",
                            "working tree")
    _show(opts["json"], result.to_dict, result.summary, default=str)


@claims_app.command("export")
def export(
    ctx: typer.Context,
    output: Path = typer.Option(Path("reports/claimreview.jsonld"), "--out", help="File for the JSON-LD list."),
    url: str = typer.Option(None, "--url", help="Address of the published fact-check page (adds url#claim-id)."),
    date: str = typer.Option(None, "--date", help="datePublished (YYYY-MM-DD; default today)."),
    no_analyses: bool = NO_ANALYSES,
) -> None:
    """Write schema.org ClaimReview JSON-LD for every checked claim (opinions are not rated)."""
    from research.store.write import atomic_write_text

    opts = _options(ctx, no_analyses)
    try:
        published = dt.date.fromisoformat(date) if date else dt.date.today()
    except ValueError as exc:
        raise InputError(f"--date: expected YYYY-MM-DD, got {date!r}") from exc
    _, verification = _verify(opts["evidence"], opts["checks"], opts["analyses"], opts["results"],
                              opts["no_analyses"])
    reviews = verification.claimreviews(published, url)
    atomic_write_text(output, json.dumps(reviews, indent=1, ensure_ascii=False) + "\n")
    typer.echo(f"wrote {len(reviews)} ClaimReview objects to {output}")


def check(
    claim_id: str = typer.Argument(..., help="Id of the claim to explain."),
    evidence: Path = EVIDENCE,
    checks: Path = CHECKS,
    analyses: Path = ANALYSES_DIR,
    results: Path = RESULTS,
    no_analyses: bool = NO_ANALYSES,
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
) -> None:
    """Explain the verdict on one claim: reasons, arithmetic, assumptions, records and gaps."""
    _, verification = _verify(evidence, checks, analyses, results, no_analyses)
    if claim_id not in verification.claims:
        known = ", ".join(sorted(verification.claims)[:8])
        raise InputError(f"claim '{claim_id}' is not in {evidence} (claims include: {known}, ...)")
    _show(as_json, verification[claim_id].to_dict, lambda: verification.explain(claim_id))


def register(app: typer.Typer) -> None:
    app.add_typer(claims_app, name="claims", rich_help_panel="Claim checks")
    app.command(rich_help_panel="Claim checks")(check)
