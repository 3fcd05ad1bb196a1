"""Records and tables turned into the plain rows that results.json keeps (JSON-ready: see research.results.clean)."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from research.results import clean
from research.store.loader import Store


def store_flow(store: Store, table: pd.DataFrame, pooled_ids: set[str]) -> dict[str, int]:
    """Counts for a PRISMA-style flow of the records in the store."""
    with_uncertainty = int(table["vi"].notna().sum())
    return {
        "sources": len(store["sources"]),
        "studies": len(store["studies"]),
        "studies_with_estimates": int(table["study"].nunique()),
        "estimates": len(table),
        "estimates_with_uncertainty": with_uncertainty,
        "estimates_without_uncertainty": len(table) - with_uncertainty,
        "estimates_pooled": len(pooled_ids),
    }


def study_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = ["id", "study", "evaluation", "label", "outcome", "outcome_family", "measure", "yi", "vi", "design",
               "design_level", "rob_overall", "setting", "country", "monitoring", "year", "provenance"]
    return clean(frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records"))


def first_sentence(note: str | None) -> str | None:
    """The recorded wording of a result with no single figure, e.g. 'Range across studies: 8%-49%'."""
    if not note:
        return None
    sentence = " ".join(note.split()).split(". ")[0].rstrip(".")
    return sentence if "%" in sentence else None  # only wording that carries figures (a range), not remarks


def reported_rows(frame: pd.DataFrame, notes: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for row in frame.itertuples(index=False):
        rows.append({
            "estimate_id": row.id, "study": row.study, "source": row.source, "label": row.label,
            "outcome": row.outcome, "subgroup": row.subgroup, "percent_change": row.percent_change,
            "qualifier": row.qualifier,
            "significant": None if pd.isna(row.significant) else bool(row.significant),
            "provenance": row.provenance, "measure": row.measure, "design": row.design,
            "year": None if pd.isna(row.year) else int(row.year), "n_units": row.n_units,
            "narrative": first_sentence((notes or {}).get(row.id)) if row.measure == "narrative" else None,
        })
    return clean(rows)


def risk_of_bias(store: Store) -> list[dict[str, Any]]:
    titles = {s.id: s.title for s in store["studies"]}
    return [
        {"study": r.study, "title": titles.get(r.study, r.study), "tool": r.tool, "design_level": r.design_level,
         "domains": dict(r.domains), "overall": r.overall, "rationale": r.rationale}
        for r in store["risk_of_bias"]
    ]


def targets(store: Store) -> list[dict[str, Any]]:
    """Target records for GRADE and the report, with the year the intervention's current generation began."""
    from research.grade import generation_year

    dates = {f.id: f.date for f in store["facts"]}
    return [{**t.model_dump(mode="json"), "generation_date": dates.get(t.generation_fact or ""),
             "generation_since": generation_year(dates.get(t.generation_fact or ""))} for t in store["targets"]]


def claim_sources(store: Store) -> list[dict[str, Any]]:
    """The sources the claims were read in (id and kind), so the report can name them as the case does."""
    used = {c.source for c in store["claims"]}
    return [{"id": s.id, "kind": s.kind} for s in store["sources"] if s.id in used]
