"""Report figures (research.plots.report): valid SVG that says what the numbers say."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from research.plots.report import icon_array, prisma_flow, rob_traffic_light
from research.verbal import natural_frequency

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0
    return root


@pytest.mark.parametrize("p", [0.0, 0.005, 0.37, 0.835, 1.0])
def test_icon_array_colours_as_many_icons_as_the_natural_frequency(p):
    root = parse(icon_array(p))
    groups = root.findall(".//svg:g", NS)
    benefit = [g for g in groups if "benefit" in g.get("class", "")]
    assert len(groups) == 100
    assert len(benefit) == natural_frequency(p).count
    assert f"{natural_frequency(p).count} of 100" in root.get("aria-label")


def test_icon_array_escapes_its_labels():
    svg = icon_array(0.5, label="<cities>", outcome='fewer "crashes" & more')
    root = parse(svg)
    assert "<cities>" in root.get("aria-label")
    assert "&lt;cities&gt;" in svg


def test_rob_plot_has_one_mark_per_study_and_domain():
    records = [
        {"study": "s1", "title": "First", "domains": {"confounding": "high", "selection": "low"}, "overall": "high"},
        {"study": "s2", "title": "Second <b>", "domains": {"confounding": "some_concerns"}, "overall": "unclear"},
    ]
    svg = rob_traffic_light(records)
    root = parse(svg)
    circles = [c for c in root.findall(".//svg:circle", NS) if c.find("svg:title", NS) is not None]
    assert len(circles) == 2 * 3  # two studies x (two domains + overall)
    titles = [c.find("svg:title", NS).text for c in circles]
    assert "s1 \u2014 First, confounding: High" in titles
    assert "s2 \u2014 Second <b>, selection: Not assessed" in titles
    assert "&lt;b&gt;" in svg


def test_rob_plot_without_records_says_so():
    root = parse(rob_traffic_light([]))
    assert "no assessments" in root.get("aria-label")


def test_prisma_flow_shows_counts_and_exclusions():
    flow = {"sources": 40, "studies": 30, "studies_with_estimates": 24, "estimates": 50,
            "estimates_with_uncertainty": 20, "estimates_without_uncertainty": 30, "estimates_pooled": 15}
    root = parse(prisma_flow(flow))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for value in ("40", "30", "24", "50", "20", "15"):
        assert value in texts
    assert "6" in texts  # studies without any number: 30 - 24


def test_prisma_flow_with_missing_counts():
    root = parse(prisma_flow({"sources": 3}))
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "3" in texts and "not available" in texts
    parse(prisma_flow(None))
