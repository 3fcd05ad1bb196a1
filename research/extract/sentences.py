"""Split an article into located sentences, with the locations the claim records use.

Locations: "headline" (a first line without closing punctuation); "paragraph N, sentence M"
for body paragraphs (the headline is not counted); "bullet N" for list items ("bullet N,
sentence M" when an item has several sentences); "image caption" for the alt text of a
Markdown image ("image caption N" when there are several; ", sentence M" added when it has
several sentences).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words after which a full stop does not end a sentence (English, Russian, Kazakh).
ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "no", "vs", "etc", "e.g", "i.e", "approx", "fig", "inc", "ltd", "jr",
    "sr", "gen", "col", "lt", "sgt", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
    "nov", "dec", "т.е", "т.д", "т.п", "т.к", "г", "гг", "ул", "им", "тыс", "млн", "млрд", "руб", "см", "стр",
    "пр", "д", "др", "проф", "н.э", "жж", "ж", "б.з.д",
}
_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*(?:\[[^\]]*\][^\]]*)*)\]\((?P<url>[^)]*)\)")
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d+[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
# A sentence ends at . ! ? … (and closing quotes or brackets) before a space and a capital, digit or quote.
_END = re.compile(r"""[.!?…]+["'”»’)\]]*(?=\s+["'“«(\[]?[\d\w])""", re.UNICODE)


@dataclass(frozen=True)
class Sentence:
    """One sentence of the article and where it stands."""

    text: str
    location: str
    block: str  # "headline", "paragraph", "bullet", "image caption", "heading"
    block_number: int  # paragraph, bullet or caption number (1-based; 0 for the headline)
    sentence_number: int  # 1-based within its block


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph; abbreviations, initials and decimals do not end a sentence."""
    text = " ".join(text.split())
    sentences, start = [], 0
    for match in _END.finditer(text):
        before = text[start:match.start()].split()
        last_word = before[-1].lower().lstrip("(\"'«“[") if before else ""
        abbreviation = last_word in ABBREVIATIONS and (last_word != "no" or text[match.end():].lstrip()[:1].isdigit())
        if match.group().startswith(".") and (abbreviation or re.fullmatch(r"[^\W\d_]", last_word)):
            continue  # "e.g. Foo", "тыс. камер", "No. 5", the initial in "S. Azirbek"
        sentences.append(text[start:match.end()].strip())
        start = match.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences


def _blocks(text: str) -> list[str]:
    """Paragraph blocks. With blank lines in the text, a paragraph runs to the next blank line
    (wrapped lines are joined); without, every line is a paragraph. Bullets and headings always
    start a block of their own."""
    lines = text.replace("\r\n", "\n").split("\n")
    one_per_line = re.search(r"\n\s*\n", text.strip()) is None
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        stripped = line.strip()
        if not stripped:
            current = None
            continue
        if current is None or one_per_line or _BULLET.match(line) or _HEADING.match(line) or _IMAGE.fullmatch(stripped):
            current = [stripped]
            blocks.append(current)
            if _HEADING.match(line):
                current = None
        else:
            current.append(stripped)
    return [" ".join(block) for block in blocks]


def _ends_sentence(line: str) -> bool:
    return bool(re.search(r"""[.!?…:;]["'”»’)\]]*$""", line.strip()))


def segment_article(text: str) -> list[Sentence]:
    """Every sentence of the article with its location, in reading order."""
    out: list[Sentence] = []
    counters = {"paragraph": 0, "bullet": 0, "image caption": 0, "heading": 0}
    blocks = _blocks(text)
    images = sum(len(_IMAGE.findall(b)) for b in blocks)
    for index, block in enumerate(blocks):
        captions = [m.group("alt").strip() for m in _IMAGE.finditer(block)]
        block = _IMAGE.sub(" ", block).strip()
        for caption in captions:
            counters["image caption"] += 1
            where = "image caption" if images == 1 else f"image caption {counters['image caption']}"
            sentences = split_sentences(caption)
            for number, sentence in enumerate(sentences, start=1):
                at = where if len(sentences) == 1 else f"{where}, sentence {number}"
                out.append(Sentence(sentence, at, "image caption", counters["image caption"], number))
        if not block:
            continue
        if index == 0 and not _BULLET.match(block) and not _ends_sentence(block):
            out.append(Sentence(_HEADING.sub("", block).strip(), "headline", "headline", 0, 1))
            continue
        if _HEADING.match(block):
            counters["heading"] += 1
            out.append(Sentence(_HEADING.sub("", block).strip(), f"heading {counters['heading']}", "heading",
                                counters["heading"], 1))
            continue
        kind = "bullet" if _BULLET.match(block) else "paragraph"
        counters[kind] += 1
        sentences = split_sentences(_BULLET.sub("", block, count=1))
        for number, sentence in enumerate(sentences, start=1):
            if kind == "bullet" and len(sentences) == 1:
                where = f"bullet {counters[kind]}"
            else:
                where = f"{kind} {counters[kind]}, sentence {number}"
            out.append(Sentence(sentence, where, kind, counters[kind], number))
    return out
