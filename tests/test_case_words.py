"""No case lives in the code: the words of the first case (its place, country, system, currency and fee
unit) appear nowhere in research/, so another case reads in its own words."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE_WORDS = ["Almaty", "Алматы", "Алмат", "Kazakhstan", "Казахстан", "Қазақстан", "Sergek", "Сергек",
              "tenge", "тенге", "теңге", "MRP", "МРП", "Astana", "Астана", "kolesa"]
PATTERN = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, CASE_WORDS)) + r")", re.IGNORECASE)


def _text_files(folder: Path):
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def test_no_word_of_the_first_case_in_research():
    found = []
    for path in _text_files(ROOT / "research"):
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            match = PATTERN.search(line)
            if match:
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not found, "case words in the code (move them to evidence/ records):\n" + "\n".join(found)


def test_the_word_check_finds_a_case_word():
    # the check itself must be able to fail
    assert PATTERN.search("fines in MRP, paid in tenge") and PATTERN.search("в Алматы")
    assert not PATTERN.search("a Kazakh-language quote") and not PATTERN.search("improvement")


def test_the_first_cases_target_is_a_record_with_a_sourced_generation_date():
    from research.analyses import load_analyses
    from research.grade import target_of
    from research.store import load_store

    store = load_store(ROOT / "evidence")
    (target,) = store["targets"]
    fact = next(f for f in store["facts"] if f.id == target.generation_fact)
    raw = (ROOT / "evidence" / "raw" / "almaty-sources.md").read_text(encoding="utf-8")
    assert fact.date == "2017-09-15" and fact.quote in raw  # read in the source dossier, not typed in code
    analyses = load_analyses(ROOT / "analyses")
    assert analyses and all(a.target == target.id for a in analyses)
    graded = target_of({"target": target.id}, store["targets"], {f.id: f.date for f in store["facts"]})
    assert graded.generation_since == 2017 and graded.name == target.name
