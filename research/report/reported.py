"""What published results say when the store cannot pool an analysis.

When an analysis has too few estimates with a usable uncertainty, the one-page summary still
owes the reader an answer: the headline figures the reviews report (overall, where the change
is larger, where it is not significant), why no probability of benefit can be computed, and
which data gaps would change that. Everything here is sorted and worded from the analysis views
that research.report.context builds from the typed results; no number is derived beyond rounding.
"""

from __future__ import annotations

import re
from typing import Any

REVIEW_DESIGNS = frozenset({"meta_analysis", "systematic_review", "narrative_review"})
_OVERALL_OUTCOME = re.compile(r"\b(overall|all|total)\b", re.I)
_OVERALL_SUBGROUP = re.compile(r"^\s*all\b", re.I)
_CLOSED_GAP = "filled"
TOP_GAPS = 3


def reported_summary(analysis: dict[str, Any], ranked_gaps: list[dict[str, Any]]) -> dict[str, Any]:
    """Group an analysis's reported results for the one-page summary.

    ``analysis`` is a view from ``research.report.context`` (its ``reported`` rows keep the raw
    ``value`` and ``significant_flag``); ``ranked_gaps`` is the gap register in rank order.
    """
    rows = analysis["reported"]
    # a row says something only with a number, or as "not significant" (no direction needed)
    shown = [row for row in rows if row["value"] is not None or row["significant_flag"] is False or row["narrative"]]
    sources: dict[str, int] = {}
    for row in shown:
        sources.setdefault(row["study_label"], len(sources) + 1)
    items = [_item(row, sources) for row in shown]

    overall = [i for i in items if i["overall"] and i["value"] is not None]
    if not overall:  # no row says "overall"/"all"/"total": the rows without a subgroup are the headline
        overall = [i for i in items if not i["subgroup"] and i["value"] is not None]
    reference = [i["value"] for i in overall if not i["secondary"]] or [i["value"] for i in overall]
    rest = [i for i in items if i not in overall]
    not_significant = [i for i in rest if i["significant"] is False]
    rest = [i for i in rest if i not in not_significant]
    ranges = [i for i in rest if i["value"] is None and i["narrative"]]
    rest = [i for i in rest if i not in ranges]
    lowest = min(reference) if reference else None
    larger = [i for i in rest if lowest is not None and i["value"] is not None and i["value"] < min(lowest, 0.0)]
    other = [i for i in rest if i not in larger]

    groups = [
        ("Overall", overall),
        ("Larger reductions in" if lowest is not None and lowest < 0 else "Reductions in", larger),
        ("Not significant in", not_significant),
        ("Other results", other),
        ("Ranges across studies (no single figure)", ranges),
    ]
    for _, group in groups:
        for item in group:
            # the group title already says "not significant"
            said = [] if group is not_significant else [item["significance"]]
            # a study's number of evaluations describes its overall result, not its subgroups
            if group is overall and not item["subgroup"] and item["n_units"]:
                said.append(item["n_units"])
            item["notes"] = "; ".join(said)
    designs = {row["design"] for row in rows}
    noun = "reviews" if designs and designs <= REVIEW_DESIGNS else "published results"
    gap_ids = analysis["gap_ids"]
    by_id = {g["id"]: g for g in ranked_gaps}
    ranked = sorted(
        (by_id[g] for g in dict.fromkeys(gap_ids) if g in by_id and by_id[g]["status"] != _CLOSED_GAP),
        key=lambda g: g["position"],
    )
    return {
        "noun": noun,
        "bottom_line": _bottom_line(overall, not_significant, noun),
        "groups": [{"title": title, "entries": group} for title, group in groups if group],
        "sources": [{"n": n, "label": label, "end": "" if label[-1:] in ".?!" else "."} for label, n in sources.items()],
        "has_secondary": any(i["secondary"] for i in items),
        "why_no_probability": _why_no_probability(analysis),
        # gaps the analysis declares: the intervention as the case has it was never evaluated
        "unevaluated_gaps": [g for g in ranked if g["id"] in set(analysis["not_evaluated_ids"])],
        "gaps": ranked[:TOP_GAPS],
        "more_gaps": max(len(ranked) - TOP_GAPS, 0),
        "unregistered_gaps": [g for g in gap_ids if g not in by_id],
    }


def _item(row: dict[str, Any], sources: dict[str, int]) -> dict[str, Any]:
    outcome, subgroup = row["outcome"], row["subgroup"]
    overall = (not subgroup and bool(_OVERALL_OUTCOME.search(outcome))) or bool(_OVERALL_SUBGROUP.match(subgroup))
    if subgroup and len(outcome.split()) == 1:
        label = subgroup  # "crime" + "car parks" reads as "car parks"
    elif subgroup:
        label = f"{outcome}, {subgroup}"
    else:
        label = outcome
    significant = row["significant_flag"]
    return {
        "id": row["estimate_id"],
        "label": label,
        "subgroup": subgroup,
        "overall": overall,
        "value": row["value"],
        "pct": row["percent_change"] if row["value"] is not None else None,
        # a range as recorded, when there is no single figure: "all crashes: range across studies 8%-49%"
        "narrative": (": " + row["narrative"][:1].lower() + row["narrative"][1:]) if row["narrative"] else "",
        "significant": significant,
        "significance": {True: "significant", False: "not significant"}.get(significant, "significance not reported"),
        "n_units": row["n_units"],
        "secondary": row["secondary"],
        "source_n": sources[row["study_label"]],
    }


def _range(values: list[float]) -> str:
    low, high = sorted(abs(round(v)) for v in (min(values), max(values)))
    return f"{low}%" if low == high else f"{low}% to {high}%"


def _bottom_line(overall: list[dict[str, Any]], not_significant: list[dict[str, Any]], noun: str) -> str:
    primary = [i for i in overall if not i["secondary"]] or overall
    if not primary:
        return f"The {noun} give no overall figure."
    values = [i["value"] for i in primary]
    flags = {i["significant"] for i in primary}
    tested = {True: "a significant ", False: "a non-significant "}.get(flags.pop()) if len(flags) == 1 else None
    tested = tested or "an "
    subject = noun[0].upper() + noun[1:]
    if all(v < 0 for v in values):
        text = f"{subject} report {tested}average reduction of {_range(values)}"
    elif all(v > 0 for v in values):
        text = f"{subject} report {tested}average increase of {_range(values)}"
    else:
        text = f"{subject} report overall changes from {min(values):+.0f}% to {max(values):+.0f}%"
    if not_significant:
        n = len(not_significant)
        places = "one setting or outcome" if n == 1 else f"{n} of the settings or outcomes"
        text += f", but no significant change in {places} reported"
    return text + "."


def _why_no_probability(analysis: dict[str, Any]) -> str:
    reason = analysis["status_reason"]
    text = "the figures above are headline results as published: their confidence intervals and the per-study "
    text += "data behind them are not available here, so they cannot be pooled"
    return text + (f" ({reason})." if reason else ".")
