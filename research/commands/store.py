"""Store commands: validate, query, add, schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from research.errors import InputError
from research.store.files import ReadError, decode, load_yaml, read_text

# The record kinds, for help texts: the store's schema loads only when a command runs
# (tests/test_results.py checks this list against research.store.schema.RECORD_TYPES).
RECORD_KINDS = ("sources", "claims", "facts", "studies", "estimates", "risk_of_bias", "gaps", "targets")


def load_store(path: Path):
    """The validated store, as research.store.load_store gives it; files unchanged since the last
    run are read from the validation cache (imported when a command reads the store)."""
    from research.store.incremental import load_validated_store

    return load_validated_store(path)

out = Console()
EVIDENCE = typer.Option(Path("evidence"), "--evidence", "-e", help="Evidence store folder.")


def validate(
    path: Path = typer.Argument(Path("evidence"), help="Evidence folder to validate."),
    strict_quotes: bool = typer.Option(False, "--strict-quotes",
                                       help="Treat a number missing from its own quote as an error, not a warning."),
) -> None:
    """Validate every record in the store (schema, values, references, duplicate ids), and check
    that each stored number is found in its own quote. Only files changed since the last run are
    read again (content hashes kept in .cache/store/ beside the store)."""
    from research.store import EvidenceError
    from research.store.incremental import validate_store

    validation = validate_store(path)
    quote_problems = validation.warnings
    if quote_problems and strict_quotes:
        raise EvidenceError(quote_problems)
    _print_warnings(quote_problems)
    counts = ", ".join(f"{validation.counts.get(k, 0)} {k}" for k in RECORD_KINDS)
    out.print(f"[green]OK[/] {escape(str(path))}: {counts}", highlight=False)


def query(
    sql: str = typer.Argument(..., help="SQL over tables: " + ", ".join(RECORD_KINDS)),
    evidence: Path = EVIDENCE,
    as_json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print rows as CSV."),
    allow_files: bool = typer.Option(
        False, "--allow-files",
        help="Allow any statement and file access (COPY TO, read_csv, ATTACH). Without it a query is one "
             "SELECT that reads only the store's tables."),
) -> None:
    """Run one SELECT on a DuckDB index built from the store (read-only, no file access)."""
    from research.store.index import QueryError, query_store  # pandas and duckdb load only when queried

    try:
        frame = query_store(evidence, sql, allow_files=allow_files)
    except QueryError as exc:
        raise InputError(f"query failed: {exc}") from exc
    if as_json:
        sys.stdout.write(frame.to_json(orient="records", force_ascii=False) + "\n")
    elif as_csv:
        sys.stdout.write(frame.to_csv(index=False))
    else:
        # Text cells: values from the store are shown as written, never read as console markup
        table = Table()
        for column in frame.columns:
            table.add_column(Text(str(column)))
        for row in frame.itertuples(index=False):
            table.add_row(*[Text("" if v is None else str(v)) for v in row])
        out.print(table)


def add(
    kind: str = typer.Argument(..., help="Record kind: " + ", ".join(RECORD_KINDS)),
    file: Path = typer.Argument(..., help="YAML file with one record or a list of records ('-' for stdin)."),
    evidence: Path = EVIDENCE,
    into: str = typer.Option(
        None, "--into",
        help="File name inside <evidence>/<kind>/: an existing file there or a new one (default <kind>.yaml)."),
    create: bool = typer.Option(False, "--create", help="Create the evidence folder if it does not exist."),
) -> None:
    """Validate new records against the whole store, then append them atomically under a lock."""
    name = "<stdin>" if str(file) == "-" else str(file)
    try:
        text = _stdin_text() if str(file) == "-" else read_text(file)
        data = load_yaml(text)
    except ReadError as exc:
        raise InputError(f"{name}: {exc}") from exc
    records = data if isinstance(data, list) else [data]
    if not records or not all(isinstance(r, dict) for r in records):
        raise InputError(f"{name}: expected a mapping or a list of mappings")
    from research.store.quotes import check_quotes
    from research.store.write import add_records

    try:
        store = add_records(evidence, kind, records, into, create=create)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    out.print(f"[green]added[/] {len(records)} {kind} record(s): {', '.join(str(r.get('id')) for r in records)}")
    added = {str(r.get("id")) for r in records}
    _print_warnings([p for p in check_quotes(store) if p.record in added])


def _stdin_text() -> str:
    buffer = getattr(sys.stdin, "buffer", None)  # bytes, so bad bytes are named by line
    return decode(buffer.read()) if buffer is not None else sys.stdin.read()


def schema(
    out_dir: Path = typer.Option(Path("evidence/schema"), "--out", help="Folder for the JSON Schema files."),
) -> None:
    """Export a JSON Schema for every record type."""
    from research.store import RECORD_TYPES, export_schemas
    from research.store.write import atomic_write_text

    for kind, schema_doc in export_schemas().items():
        atomic_write_text(out_dir / f"{kind}.schema.json", json.dumps(schema_doc, indent=2) + "\n")
    out.print(f"wrote {len(RECORD_TYPES)} schemas to {out_dir}", highlight=False, markup=False)


def _print_warnings(problems: list) -> None:
    warnings = Console(stderr=True, soft_wrap=True)
    for problem in problems:
        warnings.print(f"[yellow]warning[/] {escape(str(problem))}", highlight=False)


def register(app: typer.Typer) -> None:
    for command in (validate, query, add, schema):
        app.command(rich_help_panel="Evidence store")(command)
