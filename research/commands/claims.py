"""Claim commands: ``claims`` (verdicts, ``--json``), ``claims diff REV``, ``claims export``, ``check ID``.

The analyses a verdict reads come, fastest first, from ``--results``, from the last build's
``reports/results.json`` when it was computed from exactly the current evidence, declarations, code
and library versions, or else from running only the analyses the checked claims declare (without
MCMC unless ``--mcmc`` is given, and without figures).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from research.commands._common import print_json
from research.errors import InputError

if TYPE_CHECKING:  # the results module is imported on use: the CLI starts without it
    from research.results import AnalysisResult

EVIDENCE = typer.Option(Path("evidence"), "--evidence", "-e", help="Evidence store folder.")
CHECKS = typer.Option(Path("analyses/claim-checks.yaml"), "--checks", help="Declared claim checks.")
ANALYSES_DIR = typer.Option(Path("analyses"), "--analyses", help="Folder of declared analyses.")
RESULTS = typer.Option(None, "--results", help="Analysis results as JSON (a results.json or {id: result}) "
                                               "instead of running the analyses.")
NO_ANALYSES = typer.Option(False, "--no-analyses", help="Judge causal claims on the reviews' reported results only.")
REPORTS = typer.Option(Path("reports"), "--reports", help="Folder of the last build: its results.json is reused when "
                                                          "evidence, declarations and code are unchanged.")
MCMC = typer.Option(False, "--mcmc", help="When the analyses have to be run, include their declared MCMC fits (slow).")

claims_app = typer.Typer(help="Verdicts on the article's claims, computed from the evidence.",
                         invoke_without_command=True, no_args_is_help=False)


def _read_results(path: Path) -> dict[str, AnalysisResult]:
    """Typed analysis results from a results.json or a JSON mapping of analysis id to result."""
    from research.results import Results, coerce_analyses

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
        raise InputError(f"{path}: cannot be read as JSON: {exc}") from exc
    try:
        if isinstance(data, dict) and isinstance(data.get("analyses"), list):
            return Results.coerce(data).by_id()
        if isinstance(data, dict):
            return coerce_analyses({k: {"id": k, **v} for k, v in data.items() if isinstance(v, dict)})
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from exc
    raise InputError(f"{path}: expected a mapping of analysis id to result")


def needed_analyses(checks: Path, claim_ids: set[str] | None = None) -> set[str]:
    """Ids of the analyses that the declared checks of these claims (all claims: None) read."""
    from research.claims import load_plan

    plan = load_plan(checks)
    needed: set[str] = set()
    for entry in plan.claims:
        if claim_ids is not None and entry.claim not in claim_ids:
            continue
        for spec in entry.checks:
            needed.update(getattr(plan.typed_params(entry, spec), "analyses", None) or [])
    return needed


def _run_needed(store, analyses_dir: Path, needed: set[str] | None, mcmc: bool) -> dict[str, AnalysisResult]:
    """Run the named analyses (None: every declared one), without figures and without MCMC unless asked."""
    if needed is not None and not needed:
        return {}
    from research.pipeline import grade_analyses, run_analyses
    from research.results import coerce_analyses

    out = run_analyses(store, analyses_dir, cache_dir=None, only=needed, mcmc=mcmc, figures=False)
    grade_analyses(store, out)
    return coerce_analyses(out)


def _analyses(store, analyses_dir: Path, results: Path | None, skip: bool, *, evidence: Path | None = None,
              reports: Path | None = None, checks: Path | None = None, claim_ids: set[str] | None = None,
              mcmc: bool = False) -> dict[str, AnalysisResult]:
    """Analysis results from a file, from the last build when its inputs are unchanged, from the pipeline, or none."""
    if skip:
        return {}
    if results is not None:
        return _read_results(results)
    if evidence is not None and reports is not None:
        from research.results import input_fingerprint, previous_results

        previous = previous_results(reports, input_fingerprint(evidence, analyses_dir))
        if previous is not None:
            return previous.by_id()
    try:
        # one claim: only what its checks read; every claim: every declaration (each is checked)
        needed = needed_analyses(checks, claim_ids) if checks is not None and claim_ids is not None else None
        return _run_needed(store, analyses_dir, needed, mcmc)
    except ImportError as exc:  # the analysis layer is optional for claim checks
        typer.echo(f"note: analyses not run ({exc}); causal claims are judged on reported results", err=True)
        return {}


def load_store(evidence: Path, *, use_cache: bool = True):
    """The validated store; files unchanged since the last run are read from the validation cache
    (.cache/store/ beside the store; a store in a read-only place is loaded without it)."""
    from research.store.incremental import load_validated_store

    return load_validated_store(evidence, use_cache=use_cache)


def _require_checks(checks: Path) -> None:
    # without its declarations every claim would silently read "not enough evidence"
    if not checks.is_file():
        raise InputError(f"--checks {checks}: claim checks file not found")


def _verify(evidence: Path, checks: Path, analyses_dir: Path, results: Path | None, skip: bool,
            reports: Path | None = None, claim_ids: set[str] | None = None, mcmc: bool = False):
    from research.claims import verify_claims

    _require_checks(checks)
    store = load_store(evidence)
    previous = None
    if not skip and results is None and reports is not None:
        from research.results import input_fingerprint, previous_results

        previous = previous_results(reports, input_fingerprint(evidence, analyses_dir))
    if previous is not None:  # the last build's results and estimate rows: no numerical library needed
        return store, verify_claims(store, previous.by_id(), checks, previous.estimates)
    analyses = _analyses(store, analyses_dir, results, skip, checks=checks, claim_ids=claim_ids, mcmc=mcmc)
    return store, verify_claims(store, analyses, checks)


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
    reports: Path = REPORTS,
    mcmc: bool = MCMC,
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """List every claim with its verdict (subcommands: diff, export)."""
    ctx.obj = {"evidence": evidence, "checks": checks, "analyses": analyses, "results": results,
               "no_analyses": no_analyses, "json": as_json, "reports": reports, "mcmc": mcmc}
    if ctx.invoked_subcommand is not None:
        return
    _, verification = _verify(evidence, checks, analyses, results, no_analyses, reports, mcmc=mcmc)
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
        # a revision without a checks file is judged with the current declarations; a revision's
        # temporary copy keeps no cache
        store = load_store(evidence_dir, use_cache=evidence_dir == evidence)
        plan_file = checks_file if checks_file is not None else checks
        analyses = _analyses(store, opts["analyses"], None, opts["no_analyses"], checks=plan_file, mcmc=opts["mcmc"])
        return store, verify_claims(store, analyses, plan_file)

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
        old_store = load_store(Path(tmp) / rel_evidence, use_cache=False)
        old_checks = Path(tmp) / rel_checks
        old_plan = yaml.safe_load(old_checks.read_text(encoding="utf-8")) if old_checks.exists() else None
    new_store = load_store(evidence)
    new_analyses = _analyses(new_store, opts["analyses"], None, opts["no_analyses"], evidence=evidence,
                             reports=opts["reports"], checks=checks, mcmc=opts["mcmc"])
    new = verify_claims(new_store, new_analyses, checks)
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
                              opts["no_analyses"], opts["reports"], mcmc=opts["mcmc"])
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
    reports: Path = REPORTS,
    mcmc: bool = MCMC,
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
) -> None:
    """Explain the verdict on one claim: reasons, arithmetic, assumptions, records and gaps.

    Reuses the last build's results when nothing changed since; otherwise runs only the analyses
    this claim's checks read (no MCMC unless --mcmc)."""
    verification = _verification_of(claim_id, evidence, checks, analyses, results, no_analyses, reports, mcmc)
    _show(as_json, verification[claim_id].to_dict, lambda: verification.explain(claim_id))


def _verification_of(claim_id: str, evidence: Path, checks: Path, analyses: Path, results: Path | None,
                     no_analyses: bool, reports: Path | None, mcmc: bool):
    _, verification = _verify(evidence, checks, analyses, results, no_analyses, reports, {claim_id}, mcmc)
    if claim_id not in verification.claims:
        known = ", ".join(sorted(verification.claims)[:8])
        raise InputError(f"claim '{claim_id}' is not in {evidence} (claims include: {known}, ...)")
    return verification


def verify_one(claim_id: str, evidence: Path, checks: Path, analyses: Path, reports: Path | None = Path("reports"),
               mcmc: bool = False):
    """The verdict on one claim by the fast path of ``research check`` (see ``research.check``)."""
    return _verification_of(claim_id, evidence, checks, analyses, None, False, reports, mcmc)[claim_id]


def register(app: typer.Typer) -> None:
    app.add_typer(claims_app, name="claims", rich_help_panel="Claim checks")
    app.command(rich_help_panel="Claim checks")(check)
