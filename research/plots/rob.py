"""Risk-of-bias figures in the style of robvis (McGuinness & Higgins 2021, Res Synth Methods 12:55-61):
a traffic-light plot (one row per study, one column per domain plus overall) and a summary plot (for
each domain, the share of studies at each judgement, as stacked bars), one pair per tool (RoB 2 for
randomised trials, ROBINS-I for non-randomised studies). Plain SVG, drawn from the typed
assessments (research.results.RiskOfBiasRow; plain data is validated into them).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping
from xml.sax.saxutils import escape

from research.plots.report import FONT, INK, MUTED, ROB_STYLE, rob_rows, rob_traffic_light, svg_figure, svg_label
from research.results import RiskOfBiasRow
from research.store.schema import ROB_TOOL_DOMAINS

# Order of judgements in the summary bars, best first (robvis order), then what was not judged.
SUMMARY_ORDER = ("low", "some_concerns", "high", "unclear", None)
DOMAIN_LABELS = {
    "randomisation": "Randomisation process",
    "deviations": "Deviations from intended interventions",
    "missing_data": "Missing outcome data",
    "measurement": "Measurement of the outcome",
    "reporting": "Selection of the reported result",
    "confounding": "Confounding",
    "selection": "Selection of participants",
    "classification": "Classification of interventions",
    "overall": "Overall risk of bias",
}


def tool_of(record: RiskOfBiasRow) -> str:
    """The tool a record uses; records written before the tool was named are ROBINS-I style."""
    tool = record.tool or "ROBINS-I"
    return tool if tool in ROB_TOOL_DOMAINS else "ROBINS-I"


def domain_order(records: list[RiskOfBiasRow], tool: str) -> list[str]:
    """The tool's domains that any record judges, in the tool's own order."""
    used = {name for r in records for name in r.domains}
    return [name for name in ROB_TOOL_DOMAINS.get(tool, ()) if name in used]


def rob_summary(records: Iterable[RiskOfBiasRow | Mapping[str, Any]], tool: str = "ROBINS-I") -> str:
    """robvis-style summary plot: for each domain and overall, the share of studies at each judgement."""
    rows = rob_rows(records)
    if not rows:
        return svg_figure(360, 40, [svg_label(8, 24, "No risk-of-bias assessments in the store.", 13, fill=MUTED)],
                    "Risk of bias summary: no assessments", "figure rob-summary")
    domains = domain_order(rows, tool) + ["overall"]
    label_w, bar_w, bar_h, gap, top = 270, 360, 22, 10, 12
    width = label_w + bar_w + 20
    body = []
    for i, name in enumerate(domains):
        y = top + i * (bar_h + gap)
        label = DOMAIN_LABELS.get(name, name.replace("_", " ").capitalize())
        weight = "bold" if name == "overall" else "normal"
        body.append(svg_label(label_w - 8, y + bar_h / 2 + 4, label, 12, anchor="end", weight=weight))
        judged = [r.overall if name == "overall" else r.domains.get(name) for r in rows]
        x = float(label_w)
        for key in SUMMARY_ORDER:
            count = sum(1 for j in judged if (j if j in ROB_STYLE else None) == key)
            if not count:
                continue
            share = count / len(rows)
            fill, _, text = ROB_STYLE[key]
            stroke = INK if key is None else "none"
            span = bar_w * share
            body.append(f'<rect x="{x:.1f}" y="{y}" width="{span:.1f}" height="{bar_h}" fill="{fill}" '
                        f'stroke="{stroke}" stroke-width="0.6"><title>{escape(label)}: {count} of {len(rows)} '
                        f'{escape(text.lower())}</title></rect>')
            if span >= 34:
                colour = INK if key is None else "#ffffff"
                body.append(svg_label(x + span / 2, y + bar_h / 2 + 4, f"{share:.0%}", 11, anchor="middle", fill=colour))
            x += span
    axis_y = top + len(domains) * (bar_h + gap)
    for tick in (0, 25, 50, 75, 100):
        tx = label_w + bar_w * tick / 100
        body.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{axis_y - gap + 4}" stroke="#d9dee4" '
                    'stroke-width="0.6"/>')
        body.append(svg_label(tx, axis_y + 8, f"{tick}%", 10, anchor="middle", fill=MUTED))
    ly, x = axis_y + 30, 6.0
    for key in SUMMARY_ORDER:
        fill, _, text = ROB_STYLE[key]
        stroke = INK if key is None else "none"
        body.append(f'<rect x="{x:.1f}" y="{ly - 7}" width="14" height="14" fill="{fill}" stroke="{stroke}" '
                    'stroke-width="0.6"/>')
        body.append(svg_label(x + 20, ly + 4, text, 11))
        x += 20 + len(text) * 6.5 + 16
    title = f"{tool} summary: share of {len(rows)} stud{'y' if len(rows) == 1 else 'ies'} at each judgement"
    return svg_figure(max(width, x), ly + 16, body, title, "figure rob-summary")


def rob_figures(records: Iterable[RiskOfBiasRow | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One traffic-light and one summary plot per tool used, RoB 2 first."""
    rows = rob_rows(records)
    figures = []
    for tool in ROB_TOOL_DOMAINS:
        mine = [r for r in rows if tool_of(r) == tool]
        if mine:
            figures.append({"tool": tool, "n": len(mine),
                            "traffic_light": rob_traffic_light(mine, domain_order(mine, tool)),
                            "summary": rob_summary(mine, tool)})
    return figures


__all__ = ["rob_figures", "rob_summary", "tool_of", "domain_order", "FONT"]
