"""``research init DIR``: scaffold a new case that validates and builds at once.

The case folder gets ``evidence/`` with one commented template per record kind (written from the
record schema, so the templates list every field the store accepts), ``analyses/`` with an example
analysis and an empty claim-check plan, and a short README. Nothing in the scaffold is evidence:
every template line is a comment until the researcher writes a record.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from research.errors import InputError

out = Console(stderr=True)

# What each record kind is for, as the template's first lines say it.
KIND_PURPOSE = {
    "sources": "Where things were read: articles, studies, reviews, data sets, official statements.",
    "claims": "The statements to check, verbatim, with the source and the place in it.",
    "facts": "Dated, sourced numbers (a count, a price, the day a programme started); unit 'date' and no value "
             "for a day.",
    "studies": "Evaluations of the intervention: design, setting, country, year.",
    "estimates": "Effect sizes of the studies, with counts (a, b, c, d) or an estimate with its interval or "
                 "standard error; a number that is missing is a gap, never a guess.",
    "risk_of_bias": "Risk of bias per study: RoB 2 for randomised trials (all five domains: randomisation, "
                    "deviations, missing_data, measurement, reporting; low / some_concerns / high), ROBINS-I for "
                    "non-randomised studies (confounding, selection, classification, deviations, missing_data, "
                    "measurement, reporting). design_level (Maryland scale, 1-5) is optional.",
    "gaps": "Data that would change a verdict or an estimate but is missing: what, why it matters, who may hold it.",
    "targets": "Where the evidence is applied (a place or population): GRADE's indirectness and the transport "
               "judge against it, and the report takes its place and setting words from it. An analysis names "
               "it with `target:`.",
}

EXAMPLE_ANALYSIS = """\
# An example analysis: pools the odds ratios of randomised trials. Change the filter, the words and
# the outcome family to your question; `research build` runs every file in this folder.
# The filter reads like SQL's WHERE over the effect table's columns (id, study, design, measure,
# outcome_family, country, year, poolable, ...); it is never run as SQL.
id: example-analysis
title: Example analysis
question: Does the intervention reduce the outcome?
intervention: the intervention
outcome: the outcome (odds ratio, intervention vs control)
# target: target-your-place     # a targets record: GRADE's indirectness judges against it
unit: trial                     # one unit effects vary across: "In 100 similar trials, ..."
units: trials
outcome_families: [the outcome]
outcome_family: the outcome
where: poolable AND design = 'randomised_experiment' AND measure = 'OR'
min_k: 3
method: REML
test: hksj
gaps: []
"""

EMPTY_PLAN = """\
# Claim checks: which checks run for which claim. A claim with no entry gets a verdict from its
# kind and the analyses alone. Example (`research check CLAIM-ID` explains a verdict):
#
#   claims:
#     - claim: claim-example
#       checks:
#         - check: cross_source
#           params: {claimed: "claim:studies", facts: [fact-example]}
#       gaps: [gap-example]
claims: []
"""

README = """\
# {name}

A case for Sightline: evidence records, declared analyses and claim checks.

- `evidence/<kind>/` holds the records, one folder per kind. Each has a `template.yaml` whose
  comments list every field; write records as a YAML list (or a CSV with one column per field).
  Every number carries its source, where it was read and the quoted wording; a missing number is
  a gap record, never a guess.
- `analyses/*.yaml` declares what is pooled and how; `analyses/claim-checks.yaml` which checks run
  for which claim.

From this folder, with no flags:

    research validate          # check every record and reference
    research build             # analyses, claim verdicts, reports/index.html and reports/summary.md
    research claims            # the verdicts
    research check CLAIM-ID    # why one claim got its verdict
"""


def _type_words(spec: dict, defs: dict) -> str:
    """A field's JSON Schema type in plain words for a template comment."""
    if "$ref" in spec:
        spec = defs.get(spec["$ref"].rsplit("/", 1)[-1], {})
    if "enum" in spec:
        return "one of: " + ", ".join(map(str, spec["enum"]))
    if "anyOf" in spec:
        kinds = [_type_words(s, defs) for s in spec["anyOf"] if s.get("type") != "null"]
        return " or ".join(dict.fromkeys(kinds)) or "text"
    if spec.get("type") == "array":
        return "list of " + _type_words(spec.get("items") or {}, defs)
    if spec.get("type") == "object":
        return "mapping"
    return {"string": "text", "number": "number", "integer": "whole number", "boolean": "true or false"}.get(
        str(spec.get("type")), "text")


def template_text(kind: str) -> str:
    """The commented template of one record kind, from its schema."""
    from research.store.schema import RECORD_TYPES

    model = RECORD_TYPES[kind]
    schema = model.model_json_schema()
    properties, defs = schema.get("properties", {}), schema.get("$defs", {})
    lines = [*textwrap.wrap(f"# {kind}: {KIND_PURPOSE.get(kind, '')}", width=100, subsequent_indent="# "), "#",
             "# Write records as a list below (remove the leading '# ' of the example). Fields:"]
    for name, field in model.model_fields.items():
        need = "required" if field.is_required() else "optional"
        said = f"# {name} ({need}; {_type_words(properties.get(name, {}), defs)})"
        if field.description:
            said += f": {field.description}"
        lines.extend(textwrap.wrap(said, width=100, subsequent_indent="#     "))
    lines += ["#", "# - id: " + {"risk_of_bias": "rob-", "targets": "target-"}.get(kind, kind.rstrip("s") + "-")
              + "your-id"]
    for name, field in model.model_fields.items():
        if name != "id" and field.is_required():
            lines.append(f"#   {name}: ...")
    return "\n".join(lines) + "\n"


def scaffold(folder: Path, force: bool = False) -> list[Path]:
    """Write the case folder; refuses to overwrite a file unless ``force``."""
    from research.store.schema import RECORD_TYPES
    from research.store.write import atomic_write_text

    files = {Path("README.md"): README.format(name=folder.resolve().name),
             Path("analyses/example-analysis.yaml"): EXAMPLE_ANALYSIS,
             Path("analyses/claim-checks.yaml"): EMPTY_PLAN}
    files.update({Path("evidence") / kind / "template.yaml": template_text(kind) for kind in RECORD_TYPES})
    existing = [str(folder / name) for name in files if (folder / name).exists()]
    if existing and not force:
        raise InputError(f"{folder}: already holds {', '.join(existing)}; use --force to overwrite them")
    written = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
        written.append(path)
    return written


def init(
    folder: Path = typer.Argument(..., help="Folder for the new case (created if missing)."),
    force: bool = typer.Option(False, "--force", help="Overwrite the scaffold's files if they exist."),
) -> None:
    """Start a new case: evidence/ with a commented template per record kind, analyses/ with an example
    analysis and an empty claim-check plan, and a README. It validates and builds at once."""
    from research.analyses import load_analyses
    from research.store import load_store

    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    written = scaffold(folder, force)
    load_store(folder / "evidence")  # the scaffold is a valid, empty store
    load_analyses(folder / "analyses")
    out.print(f"[green]created[/] {escape(str(folder))}: {len(written)} files", highlight=False)
    out.print(f"Next: cd {escape(str(folder))} && research build", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel="Main job")(init)
