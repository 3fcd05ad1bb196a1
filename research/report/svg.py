"""Inline SVG figures only when they are well-formed and cannot run code or fetch anything."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from markupsafe import Markup

_SVG_PROLOGUE = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?(<!--.*?-->\s*)*", re.S)
_FORBIDDEN_TAGS = {"script", "foreignobject", "iframe", "object", "embed"}


def safe_svg(svg: Any) -> Markup | None:
    """Inline an SVG figure only if it is well-formed and cannot run code or fetch anything."""
    if not isinstance(svg, str) or "<svg" not in svg:
        return None
    body = _SVG_PROLOGUE.sub("", svg, count=1).strip()
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    if local_name(root.tag) != "svg":
        return None
    for element in root.iter():
        if local_name(element.tag).lower() in _FORBIDDEN_TAGS:
            return None
        for name, value in element.attrib.items():
            attr = local_name(name).lower()
            if attr.startswith("on"):
                return None
            if attr == "href" and not (value.startswith("#") or value.startswith("data:image/")):
                return None
            if "url(" in value and not re.fullmatch(r"\s*url\(\s*#[^)]*\)\s*", value) and attr != "style":
                return None
    if re.search(r"url\(\s*['\"]?(?!#)", body) or "@import" in body:
        return None
    return Markup(body)


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
