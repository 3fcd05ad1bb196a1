"""Report figures drawn directly as SVG: an icon array, a risk-of-bias traffic-light plot (see
``research.plots.rob`` for the per-tool robvis-style figures) and a PRISMA-style flow of records.

They are plain SVG strings (no matplotlib) so the report stays small, crisp at any zoom and free
of external resources. Every piece of text is XML-escaped here, because record ids and titles
come from the evidence files.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping
from xml.sax.saxutils import escape, quoteattr

from research.results import RiskOfBiasRow, StoreFlow
from research.verbal import natural_frequency

BENEFIT = "#1b7f5f"
NEUTRAL = "#c9ced6"
INK = "#1f2933"
MUTED = "#52606d"
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif\""

ROB_STYLE = {
    # judgement: (fill colour, symbol, label) - symbols keep the plot readable without colour
    "low": ("#2e9d5b", "+", "Low"),
    "some_concerns": ("#e9b949", "!", "Some concerns"),
    "high": ("#d64545", "\u2212", "High"),
    "unclear": ("#9aa5b1", "?", "Unclear"),
    None: ("#ffffff", "", "Not assessed"),
}


def svg_label(x: float, y: float, content: str, size: int = 12, anchor: str = "start", weight: str = "normal",
              fill: str = INK, extra: str = "") -> str:
    """A text element, its content escaped."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
        f'fill="{fill}" {FONT}{extra}>{escape(content)}</text>'
    )


def svg_figure(width: float, height: float, body: Iterable[str], label: str, css_class: str) -> str:
    """A self-contained, labelled SVG figure (role img, a title for screen readers)."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class={quoteattr(css_class)} role="img" '
        f'aria-label={quoteattr(label)} width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}"><title>{escape(label)}</title>{"".join(body)}</svg>'
    )


def icon_array(
    probability: float,
    total: int = 100,
    per_row: int = 10,
    label: str = "similar settings",
    outcome: str = "fewer events",
    icon_size: int = 22,
) -> str:
    """``total`` small city icons, the first ``round(p * total)`` coloured for "benefit".

    Returns an SVG string. The count shown comes from :func:`research.verbal.natural_frequency`,
    so the picture and the sentence next to it always agree.
    """
    freq = natural_frequency(probability, total)
    rows = -(-total // per_row)
    gap = 4
    width = per_row * (icon_size + gap) + gap
    legend_h = 44
    height = rows * (icon_size + gap) + gap + legend_h
    body = []
    for i in range(total):
        row, col = divmod(i, per_row)
        x, y = gap + col * (icon_size + gap), gap + row * (icon_size + gap)
        colour = BENEFIT if i < freq.count else NEUTRAL
        body.append(_city_icon(x, y, icon_size, colour, benefit=i < freq.count))
    ly = rows * (icon_size + gap) + gap + 16
    body.append(f'<rect x="{gap}" y="{ly - 10}" width="12" height="12" fill="{BENEFIT}"/>')
    # the legend stays short so it fits; the full outcome is in the title and the caption beside the figure
    body.append(svg_label(gap + 18, ly, f"{freq.count} of {total}: benefit", 12))
    body.append(f'<rect x="{gap}" y="{ly + 8}" width="12" height="12" fill="{NEUTRAL}"/>')
    body.append(svg_label(gap + 18, ly + 18, f"{freq.rest} of {total}: no benefit", 12, fill=MUTED))
    description = f"Icon array: {freq.count} of {total} {label} {outcome}; {freq.rest} do not"
    return svg_figure(width, height, body, description, "figure icon-array")


def _city_icon(x: float, y: float, size: float, colour: str, benefit: bool) -> str:
    # three buildings of different heights: reads as "a city" at small sizes
    s = size / 22.0
    parts = [
        f'<rect x="{x + 1 * s:.1f}" y="{y + 9 * s:.1f}" width="{6 * s:.1f}" height="{12 * s:.1f}" fill="{colour}"/>',
        f'<rect x="{x + 8 * s:.1f}" y="{y + 2 * s:.1f}" width="{6 * s:.1f}" height="{19 * s:.1f}" fill="{colour}"/>',
        f'<rect x="{x + 15 * s:.1f}" y="{y + 6 * s:.1f}" width="{6 * s:.1f}" height="{15 * s:.1f}" fill="{colour}"/>',
    ]
    return f'<g class="{"icon benefit" if benefit else "icon"}">{"".join(parts)}</g>'


def rob_traffic_light(records: Iterable[RiskOfBiasRow | Mapping[str, Any]],
                      domains: Iterable[str] | None = None) -> str:
    """Risk-of-bias traffic-light plot: one row per study, one column per domain plus overall.

    ``records`` are risk-of-bias assessments (``study``, ``domains``, ``overall``, optional ``title``) as
    results hold them or as plain data; ``domains`` fixes the column order (a tool's own order), else
    domains appear as met. Returns an SVG string; with no records, a short SVG that says so.
    """
    rows = rob_rows(records)
    if not rows:
        body = [svg_label(8, 24, "No risk-of-bias assessments in the store.", 13, fill=MUTED)]
        return svg_figure(360, 40, body, "Risk of bias: no assessments", "figure rob-plot")
    domains = list(domains or [])
    for r in rows:
        for name in r.domains:
            if name not in domains:
                domains.append(name)
    columns = domains + ["overall"]
    label_w = min(max(len(_row_label(r)) for r in rows) * 6.6 + 16, 330)
    cell = 34
    header_h = 118
    width = label_w + cell * len(columns) + 12
    height = header_h + cell * len(rows) + 70
    body = []
    for j, name in enumerate(columns):
        cx = label_w + j * cell + cell / 2
        pretty = name.replace("_", " ")
        weight = "bold" if name == "overall" else "normal"
        body.append(
            f'<text transform="translate({cx + 4:.1f},{header_h - 8}) rotate(-50)" font-size="11" '
            f'font-weight="{weight}" fill="{INK}" {FONT}>{escape(pretty[:28])}</text>'
        )
    for i, r in enumerate(rows):
        cy = header_h + i * cell + cell / 2
        if i % 2 == 0:
            body.append(f'<rect x="0" y="{cy - cell / 2:.1f}" width="{width:.1f}" height="{cell}" fill="#f5f7fa"/>')
        body.append(svg_label(6, cy + 4, _row_label(r), 12))
        judgements: dict[str, str | None] = {**r.domains, "overall": r.overall}
        for j, name in enumerate(columns):
            cx = label_w + j * cell + cell / 2
            judgement = judgements.get(name)
            fill, symbol, text = ROB_STYLE.get(judgement, ROB_STYLE[None])
            stroke = INK if judgement is None else "none"
            body.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="11" fill="{fill}" stroke="{stroke}" stroke-width="0.6">'
                f"<title>{escape(_row_label(r))}, {escape(name.replace('_', ' '))}: {escape(text)}</title></circle>"
            )
            if symbol:
                body.append(svg_label(cx, cy + 4.5, symbol, 14, anchor="middle", weight="bold", fill="#ffffff"))
    ly = header_h + len(rows) * cell + 24
    x = 6.0
    for key in ("low", "some_concerns", "high", "unclear", None):
        fill, symbol, text = ROB_STYLE[key]
        stroke = INK if key is None else "none"
        body.append(f'<circle cx="{x + 7:.1f}" cy="{ly:.1f}" r="7" fill="{fill}" stroke="{stroke}" stroke-width="0.6"/>')
        body.append(svg_label(x + 18, ly + 4, text, 11))
        x += 18 + len(text) * 6.5 + 16
    return svg_figure(max(width, x), height, body, f"Risk of bias for {len(rows)} studies", "figure rob-plot")


def rob_rows(records: Iterable[RiskOfBiasRow | Mapping[str, Any]]) -> list[RiskOfBiasRow]:
    """The assessments as typed rows (plain data is validated; typed rows are kept as they are)."""
    return [RiskOfBiasRow.model_validate(r) for r in records]


def _row_label(record: RiskOfBiasRow) -> str:
    study = record.study or "?"
    title = record.title
    label = f"{study} \u2014 {title}" if title else study
    label = label if len(label) <= 48 else label[:47] + "\u2026"
    level = record.design_level  # the optional Maryland Scientific Methods Scale level
    return f"{label} (SMS {level})" if level else label


FLOW_STEPS = (
    ("sources", "Sources in the store"),
    ("studies", "Studies recorded"),
    ("studies_with_estimates", "Studies with an effect estimate"),
    ("estimates", "Effect estimates recorded"),
    ("estimates_with_uncertainty", "Estimates with a margin of error"),
    ("estimates_pooled", "Estimates used in a pooled analysis"),
)
FLOW_ASIDES = {
    "studies_with_estimates": ("studies", "Studies with no number (see data gaps)"),
    "estimates_with_uncertainty": ("estimates", "No margin of error: shown as reported"),
}


def prisma_flow(flow: StoreFlow | Mapping[str, Any] | None) -> str:
    """A PRISMA-style flow of records in the store, from sources to pooled estimates.

    ``flow`` is the results' ``store.flow`` (plain data is validated); missing counts are shown as
    "not available".
    """
    flow = StoreFlow.model_validate(flow or {})
    box_w, box_h, gap = 300, 44, 26
    aside_w = 270
    width = box_w + aside_w + 60
    height = len(FLOW_STEPS) * (box_h + gap) + 10
    body = [
        '<defs><marker id="prisma-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{MUTED}"/></marker></defs>'
    ]
    for i, (key, title) in enumerate(FLOW_STEPS):
        y = 6 + i * (box_h + gap)
        body.append(
            f'<rect x="6" y="{y}" width="{box_w}" height="{box_h}" rx="6" fill="#eef2f7" stroke="#9aa5b1"/>'
        )
        body.append(svg_label(18, y + 18, title, 12, fill=MUTED))
        body.append(svg_label(18, y + 36, _count(getattr(flow, key)), 15, weight="bold"))
        if i:
            body.append(
                f'<line x1="{6 + box_w / 2}" y1="{y - gap + 2}" x2="{6 + box_w / 2}" y2="{y - 2}" stroke="{MUTED}" '
                'stroke-width="1.5" marker-end="url(#prisma-arrow)"/>'
            )
        if key in FLOW_ASIDES:
            parent, aside_title = FLOW_ASIDES[key]
            excluded = _difference(getattr(flow, parent), getattr(flow, key))
            if key == "estimates_with_uncertainty" and flow.estimates_without_uncertainty is not None:
                excluded = flow.estimates_without_uncertainty
            ay = y - gap / 2 - box_h / 2
            ax = 6 + box_w + 40
            body.append(
                f'<line x1="{6 + box_w / 2}" y1="{ay + box_h / 2}" x2="{ax - 2}" y2="{ay + box_h / 2}" '
                f'stroke="{MUTED}" stroke-width="1.2" stroke-dasharray="4 3" marker-end="url(#prisma-arrow)"/>'
            )
            body.append(
                f'<rect x="{ax}" y="{ay}" width="{aside_w}" height="{box_h}" rx="6" fill="#fff7e6" stroke="#e9b949"/>'
            )
            body.append(svg_label(ax + 10, ay + 18, aside_title, 11, fill=MUTED))
            body.append(svg_label(ax + 10, ay + 36, _count(excluded), 14, weight="bold"))
    label = "Flow of records: " + ", ".join(f"{t} {_count(getattr(flow, k))}" for k, t in FLOW_STEPS)
    return svg_figure(width, height, body, label, "figure prisma-flow")


def _count(value: int | None) -> str:
    return "not available" if value is None else f"{value:,}"


def _difference(total: int | None, part: int | None) -> int | None:
    return None if total is None or part is None else total - part


__all__ = ["icon_array", "prisma_flow", "rob_rows", "rob_traffic_light"]
