"""Inline SVG figures only when every element, attribute and style is on an allow-list.

A figure is parsed as XML and checked against the shapes, text and paint that plots use; any
element, attribute, link or style not listed makes the figure refused (``None``; the report
then shows no picture rather than an unsafe one). What is inlined is written out again from the
checked tree, so the browser sees exactly what was checked: comments, processing instructions
and the (unrendered) metadata block are dropped. Links may only point inside the figure
(``#id``) or be an embedded raster image (``data:image/png;base64,...``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from markupsafe import Markup

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"

_SVG_PROLOGUE = re.compile(r"^\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>\[]*>\s*)?(<!--.*?-->\s*)*", re.S)

ELEMENTS = frozenset({
    "svg", "g", "defs", "title", "desc", "style", "symbol", "use", "clipPath", "mask", "marker", "pattern",
    "linearGradient", "radialGradient", "stop", "path", "rect", "circle", "ellipse", "line", "polyline",
    "polygon", "text", "tspan", "image",
})
DROPPED = frozenset({"metadata"})  # not rendered; removed with everything inside

# Presentation properties, allowed both as attributes and inside style="..." or <style>.
PAINT = frozenset({
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-dasharray",
    "stroke-dashoffset", "stroke-linecap", "stroke-linejoin", "stroke-miterlimit", "opacity", "clip-path",
    "clip-rule", "mask", "marker-start", "marker-mid", "marker-end", "font-family", "font-size", "font-weight",
    "font-style", "font-variant", "font-stretch", "text-anchor", "dominant-baseline", "alignment-baseline",
    "baseline-shift", "letter-spacing", "word-spacing", "text-decoration", "visibility", "display", "color",
    "shape-rendering", "image-rendering", "text-rendering", "paint-order", "vector-effect", "stop-color",
    "stop-opacity", "white-space",
})
ATTRIBUTES = PAINT | frozenset({
    "id", "class", "style", "transform", "d", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry",
    "fx", "fy", "dx", "dy", "width", "height", "viewBox", "points", "preserveAspectRatio", "version", "role",
    "aria-label", "aria-hidden", "aria-labelledby", "aria-describedby", "focusable", "markerWidth",
    "markerHeight", "markerUnits", "orient", "refX", "refY", "offset", "gradientUnits", "gradientTransform",
    "spreadMethod", "patternUnits", "patternContentUnits", "patternTransform", "clipPathUnits", "maskUnits",
    "maskContentUnits", "textLength", "lengthAdjust", "rotate", "type",
})
LINKING = frozenset({"use", "image"})  # the only elements that may carry an href
_LOCAL_HREF = re.compile(r"#[A-Za-z_][\w.:-]*")
_IMAGE_HREF = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*")
_LOCAL_URL = re.compile(r"url\(\s*['\"]?#[\w.:-]+['\"]?\s*\)")
_CSS_RULE = re.compile(r"\s*([^{}@]+?)\s*\{([^{}]*)\}\s*")
_CSS_SELECTOR = re.compile(r"[\w\s*.#,>:+~-]+")
_UNSAFE_VALUE = re.compile(r"[\\<>]|javascript:|expression\s*\(|@import|behavior|binding", re.I)


class UnsafeSvg(ValueError):
    """The figure has something not on the allow-list; the message says what."""


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _check_url(value: str, where: str) -> None:
    if "url(" in _LOCAL_URL.sub("", value).lower():
        raise UnsafeSvg(f"{where}: only url(#id) may be referenced")


def _check_css_value(value: str, where: str) -> None:
    if _UNSAFE_VALUE.search(value):
        raise UnsafeSvg(f"{where}: value {value.strip()[:40]!r} is not allowed")
    _check_url(value, where)


def check_declarations(css: str, where: str) -> None:
    """A style attribute or rule body: ``property: value`` pairs with allowed properties and values."""
    for declaration in css.split(";"):
        if not declaration.strip():
            continue
        name, colon, value = declaration.partition(":")
        name = name.strip().lower()
        if not colon or name not in PAINT:
            raise UnsafeSvg(f"{where}: style property {name!r} is not allowed")
        _check_css_value(value, where)


def check_stylesheet(css: str) -> None:
    """A <style> element: plain rules (no @-rules) whose selectors and declarations are allowed."""
    position = 0
    while position < len(css):
        if not css[position:].strip():
            return
        match = _CSS_RULE.match(css, position)
        if not match or not _CSS_SELECTOR.fullmatch(match.group(1)):
            raise UnsafeSvg("style element: only simple rules are allowed")
        check_declarations(match.group(2), "style element")
        position = match.end()


def _check_element(element: ET.Element) -> None:
    tag = element.tag
    name = local_name(tag)
    if not isinstance(tag, str) or _namespace(tag) != SVG_NS or name not in ELEMENTS:
        raise UnsafeSvg(f"element {local_name(tag) or tag!r} is not allowed")
    for attribute, value in element.attrib.items():
        attr_name, attr_ns = local_name(attribute), _namespace(attribute)
        where = f"<{name} {attr_name}>"
        if attr_name == "href" and attr_ns in ("", XLINK_NS):
            if name not in LINKING:
                raise UnsafeSvg(f"{where}: links are allowed only on use and image")
            pattern = _LOCAL_HREF if name == "use" else _IMAGE_HREF
            if not (pattern.fullmatch(value) or _LOCAL_HREF.fullmatch(value)):
                raise UnsafeSvg(f"{where}: link {value[:40]!r} is not allowed")
            continue
        if attr_ns == XML_NS and attr_name == "space":
            continue
        if attr_ns or attr_name not in ATTRIBUTES:
            raise UnsafeSvg(f"attribute {attr_name!r} on <{name}> is not allowed")
        if attr_name == "style":
            check_declarations(value, where)
        elif attr_name == "type" and name != "style":
            raise UnsafeSvg(f"{where}: not allowed")
        else:
            _check_url(value, where)
    if name == "style":
        if element.attrib.get("type", "text/css") != "text/css" or len(element):
            raise UnsafeSvg("style element: only a text/css stylesheet is allowed")
        check_stylesheet(element.text or "")


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(text: str) -> str:
    return _escape_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _attribute_name(attribute: str) -> str:
    namespace = _namespace(attribute)
    prefix = {XLINK_NS: "xlink:", XML_NS: "xml:"}.get(namespace, "")
    return prefix + local_name(attribute)


def _write(element: ET.Element, out: list[str], root: bool = False) -> None:
    name = local_name(element.tag)
    attributes = [(_attribute_name(k), v) for k, v in element.attrib.items()]
    if root:
        attributes = [("xmlns", SVG_NS)] + ([("xmlns:xlink", XLINK_NS)] if _uses_xlink(element) else []) + attributes
    out.append("<" + name + "".join(f' {k}="{_escape_attribute(v)}"' for k, v in attributes))
    children = [child for child in element if local_name(child.tag) not in DROPPED]
    if not children and not element.text:
        out.append("/>")
    else:
        out.append(">")
        if element.text:
            out.append(_escape_text(element.text))
        for child in children:
            _write(child, out)
        out.append(f"</{name}>")
    if element.tail and not root:
        out.append(_escape_text(element.tail))


def _uses_xlink(root: ET.Element) -> bool:
    return any(_namespace(k) == XLINK_NS for element in root.iter() for k in element.attrib)


def _remove_dropped(root: ET.Element) -> None:
    for parent in list(root.iter()):
        for child in list(parent):
            if local_name(child.tag) in DROPPED and _namespace(child.tag) == SVG_NS:
                tail = child.tail
                parent.remove(child)
                if tail and tail.strip():
                    raise UnsafeSvg("text after a metadata block")


def sanitize_svg(svg: str) -> str:
    """The figure re-written from its checked tree; UnsafeSvg names the first thing not allowed."""
    body = _SVG_PROLOGUE.sub("", svg, count=1).strip()
    if "<!DOCTYPE" in body or "<!ENTITY" in body:
        raise UnsafeSvg("document type declarations are not allowed")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise UnsafeSvg(f"not well-formed XML: {exc}") from None
    if local_name(root.tag) != "svg":
        raise UnsafeSvg("the root element is not <svg>")
    _remove_dropped(root)
    for element in root.iter():
        _check_element(element)
    out: list[str] = []
    _write(root, out, root=True)
    return "".join(out)


def safe_svg(svg: Any) -> Markup | None:
    """Inline an SVG figure only if everything in it is allowed; otherwise None."""
    if not isinstance(svg, str) or "<svg" not in svg:
        return None
    try:
        return Markup(sanitize_svg(svg))
    except UnsafeSvg:
        return None
