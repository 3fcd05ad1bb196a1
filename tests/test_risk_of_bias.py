"""Risk of bias for every design: RoB 2 for randomised trials (five domains; low, some concerns,
high), ROBINS-I for non-randomised studies, the Maryland level optional; robvis-style figures per tool.
All records here are made-up test data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from pydantic import ValidationError

from research.plots.rob import rob_figures, rob_summary
from research.store.schema import ROB2_DOMAINS, RiskOfBias, Study

NS = {"svg": "http://www.w3.org/2000/svg"}
ROB2_LOW = dict.fromkeys(ROB2_DOMAINS, "low")


def rob(**fields):
    base = {"id": "rob-x", "study": "study-x", "overall": "low", "rationale": "test data"}
    return RiskOfBias.model_validate(base | fields)


def test_rob2_needs_all_five_domains_and_its_own_scale():
    assert rob(tool="RoB 2", domains=ROB2_LOW).design_level is None  # Maryland level is optional
    with pytest.raises(ValidationError, match="missing reporting"):
        rob(tool="RoB 2", domains={k: v for k, v in ROB2_LOW.items() if k != "reporting"})
    with pytest.raises(ValidationError, match="not unclear"):
        rob(tool="RoB 2", domains=ROB2_LOW | {"measurement": "unclear"}, overall="some_concerns")
    with pytest.raises(ValidationError, match="not a RoB 2 domain"):
        rob(tool="RoB 2", domains=ROB2_LOW | {"confounding": "low"})


def test_robins_i_takes_any_of_its_domains_and_the_overall_is_no_better_than_the_worst():
    assert rob(domains={"confounding": "some_concerns"}, overall="some_concerns", design_level=3).tool == "ROBINS-I"
    with pytest.raises(ValidationError, match="not a ROBINS-I domain"):
        rob(domains={"randomisation": "low"})
    with pytest.raises(ValidationError, match="better than the worst domain"):
        rob(domains={"confounding": "high"}, overall="some_concerns")
    with pytest.raises(ValidationError):
        rob(tool="Maryland")


@pytest.mark.parametrize("design", ["quasi_randomised", "non_randomised_controlled", "randomised_experiment"])
def test_designs_include_quasi_randomised_and_non_randomised_controlled(design):
    study = Study.model_validate({"id": "s", "title": "t", "source": "src", "design": design, "intervention": "i"})
    assert study.design == design


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert float(root.get("width")) > 0 and float(root.get("height")) > 0
    return root


def test_one_traffic_light_and_summary_per_tool_with_the_tools_domain_order():
    records = [
        {"study": "t1", "tool": "RoB 2", "overall": "high",
         "domains": {"reporting": "low", "randomisation": "low", "deviations": "some_concerns",
                     "missing_data": "low", "measurement": "high"}},
        {"study": "o1", "domains": {"selection": "unclear", "confounding": "high"}, "overall": "high"},
    ]
    figures = rob_figures(records)
    assert [f["tool"] for f in figures] == ["RoB 2", "ROBINS-I"]
    assert _columns(figures[0]["traffic_light"]) == ["randomisation", "deviations", "missing data", "measurement",
                                                     "reporting", "overall"]
    assert _columns(figures[1]["traffic_light"]) == ["confounding", "selection", "overall"]


def _columns(svg: str) -> list[str]:
    """Domain of each mark of the first row, from its tooltip 'study, domain: judgement'."""
    titles = [c.find("svg:title", NS).text for c in _parse(svg).findall(".//svg:circle", NS)
              if c.find("svg:title", NS) is not None]
    first = titles[0].split(", ")[0]
    return [t.split(", ", 1)[1].split(":")[0] for t in titles if t.startswith(first + ", ")]


def test_summary_bars_give_each_judgements_share_of_the_studies():
    records = [{"study": f"s{i}", "tool": "RoB 2", "overall": level,
                "domains": dict.fromkeys(ROB2_DOMAINS, level)}
               for i, level in enumerate(["low", "low", "low", "high"])]
    root = _parse(rob_summary(records, "RoB 2"))
    bars = [r.find("svg:title", NS).text for r in root.findall(".//svg:rect", NS) if r.find("svg:title", NS) is not None]
    assert "Overall risk of bias: 3 of 4 low" in bars and "Overall risk of bias: 1 of 4 high" in bars
    assert "Randomisation process: 3 of 4 low" in bars
    assert len(bars) == 2 * (len(ROB2_DOMAINS) + 1)
    assert "no assessments" in _parse(rob_summary([])).get("aria-label")


def test_the_optional_maryland_level_follows_the_study_name():
    records = [{"study": "o1", "design_level": 3, "domains": {"confounding": "high"}, "overall": "high"}]
    assert "o1 (SMS 3), confounding: High" in rob_figures(records)[0]["traffic_light"]
