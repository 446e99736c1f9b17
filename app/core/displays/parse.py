"""Read a display file: SVG that Inkscape edits, with elements bound in Vigil's namespace.

The file is untrusted (it may come with a plugin or be mailed to a control room), so it is read
with defusedxml and no DTD at all: no entity expansion, no external entity, no file read. Every
element's line is kept, so each problem names the element's id and the line it is on.

Bound elements are placeholders: their ``x``, ``y``, ``width`` and ``height`` (moved by
``translate`` transforms of their groups, as Inkscape's layers do) give the box the symbol is
drawn in; they are taken out of the static picture the renderer draws.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

from app.core.displays.model import Binding, Box, Display, Problem
from app.core.displays.vocabulary import (
    ATTRIBUTES,
    NAMESPACE,
    SYMBOLS,
    UNSUPPORTED_ATTRIBUTES,
    UNSUPPORTED_ELEMENTS,
)

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
PARAM = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")
#: a parameter value may be a name, never markup
PARAM_VALUE = re.compile(r"^[A-Za-z0-9_.\- ]*$")
_NUMBER = re.compile(r"^\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*(px)?\s*$")
_TRANSLATE = re.compile(r"^\s*translate\(\s*(-?[0-9.e-]+)(?:[\s,]+(-?[0-9.e-]+))?\s*\)\s*$")
_NOT_DRAWN = "are not drawn by Qt's SVG renderer"
_MATRIX = re.compile(r"^\s*matrix\(([^)]*)\)\s*$")

for _prefix, _uri in (("", SVG_NS), ("vigil", NAMESPACE), ("xlink", XLINK_NS)):
    ET.register_namespace(_prefix, _uri)


class _LineParser(DefusedXMLParser):
    """defusedxml's parser (the pure-Python one) that remembers each element's line."""

    def __init__(self) -> None:
        super().__init__(forbid_dtd=True, forbid_entities=True, forbid_external=True)
        self.lines: dict[int, int] = {}

    def _start(self, tag: str, attr_list: Any) -> ET.Element:
        elem: ET.Element = super()._start(tag, attr_list)
        self.lines[id(elem)] = self.parser.CurrentLineNumber
        return elem


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ns(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    m = _NUMBER.match(text)
    return float(m.group(1)) if m else None


def _translate(text: str | None) -> tuple[float, float] | None:
    """The offset of a translate-only transform; None when it does more than move."""
    if not text or not text.strip():
        return (0.0, 0.0)
    m = _TRANSLATE.match(text)
    if m:
        return float(m.group(1)), float(m.group(2) or 0.0)
    m = _MATRIX.match(text)
    if m:
        try:
            a, b, c, d, e, f = (float(v) for v in re.split(r"[\s,]+", m.group(1).strip()))
        except ValueError:
            return None
        if (a, b, c, d) == (1.0, 0.0, 0.0, 1.0):
            return e, f
    return None


def substitute(text: str, params: Mapping[str, str]) -> str:
    """Replace ``%name%`` by the parameter's value; names without a value stay as they are."""
    return PARAM.sub(lambda m: params.get(m.group(1), m.group(0)), text)


def parse_display(data: bytes, source: str, name: str, params: Mapping[str, str] | None = None) -> Display:
    """Parse a display file. Never raises for a bad file: the problems are in the result."""
    params = dict(params or {})
    problems: list[Problem] = []

    def broken(line: int | None, element: str, message: str) -> Display:
        problems.append(Problem(source, line, element, message))
        return Display(name, source, name, 2, "plant", (), 0.0, 0.0, b"", (), tuple(problems))

    for key, value in params.items():
        if not PARAM_VALUE.match(value):
            return broken(None, "parameters", f"parameter '{key}' has a value that is not a name: {value!r}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return broken(None, "file", f"not UTF-8 text ({e.reason} at byte {e.start})")
    text = substitute(text, params)
    parser = _LineParser()
    try:
        parser.feed(text)
        root = parser.close()
    except defusedxml.DTDForbidden:
        return broken(
            _at(parser),
            "<!DOCTYPE>",
            "a DOCTYPE (DTD) is not allowed in a display: entities are never expanded",
        )
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden) as e:
        return broken(_at(parser), "<!ENTITY>", f"entities are not allowed in a display ({type(e).__name__})")
    except ET.ParseError as e:
        line = e.position[0] if e.position else None
        return broken(line, "file", f"not well-formed XML: {e}")
    lines = parser.lines

    def line_of(el: ET.Element) -> int:
        return lines.get(id(el), 0)

    def label(el: ET.Element) -> str:
        ident = el.get("id")
        return f"#{ident}" if ident else f"<{_local(el.tag)}>"

    if root.tag != f"{{{SVG_NS}}}svg":
        return broken(line_of(root), label(root), "the root element is not an SVG <svg> element")

    def vigil(el: ET.Element, attr: str) -> str | None:
        return el.get(f"{{{NAMESPACE}}}{attr}")

    title = vigil(root, "title") or name
    level = int(_number(vigil(root, "level")) or 2)
    style = vigil(root, "style") or "plant"
    declared = tuple(p.strip() for p in (vigil(root, "params") or "").split(",") if p.strip())
    width, height = _size(root)

    bindings: list[Binding] = []
    remove: list[tuple[ET.Element, ET.Element]] = []
    seen_ids: dict[str, int] = {}

    def walk(el: ET.Element, parent: ET.Element | None, dx: float, dy: float, moved_ok: bool) -> None:
        local = _local(el.tag)
        where = label(el)
        line = line_of(el)
        if el.get("id"):
            ident = el.get("id", "")
            if ident in seen_ids:
                problems.append(
                    Problem(source, line, where, f"id used twice (first on line {seen_ids[ident]})")
                )
            seen_ids.setdefault(ident, line)
        if _ns(el.tag) == SVG_NS and local in UNSUPPORTED_ELEMENTS:
            problems.append(Problem(source, line, where, f"<{local}>: {UNSUPPORTED_ELEMENTS[local]}"))
        for attr_name, value in el.attrib.items():
            ns, attr_local = _ns(attr_name), _local(attr_name)
            if ns == "" and attr_local in UNSUPPORTED_ATTRIBUTES and value.strip() not in ("", "none"):
                problems.append(
                    Problem(
                        source,
                        line,
                        where,
                        f"{attr_local}=: {UNSUPPORTED_ATTRIBUTES[attr_local]} {_NOT_DRAWN}",
                    )
                )
            if ns == "" and attr_local == "style":
                for prop in UNSUPPORTED_ATTRIBUTES:
                    if re.search(rf"(^|;)\s*{prop}\s*:\s*(?!none)", value):
                        problems.append(
                            Problem(
                                source,
                                line,
                                where,
                                f"style {prop}: {UNSUPPORTED_ATTRIBUTES[prop]} {_NOT_DRAWN}",
                            )
                        )
            if (
                attr_local == "href"
                and ns in ("", XLINK_NS)
                and (
                    (local == "image" and not value.startswith("data:"))
                    or (local == "use" and not value.startswith("#"))
                )
            ):
                problems.append(
                    Problem(
                        source,
                        line,
                        where,
                        "an image must be embedded (data: URL) and a <use> must point inside the file: "
                        "a display never reads other files",
                    )
                )
            if ns == NAMESPACE:
                spec = ATTRIBUTES.get(attr_local)
                if spec is None:
                    problems.append(Problem(source, line, where, f"unknown attribute vigil:{attr_local}"))
                elif spec.root and el is not root:
                    problems.append(
                        Problem(source, line, where, f"vigil:{attr_local} belongs on the root <svg> element")
                    )
                elif (m := PARAM.search(value)) and m.group(1) not in declared:
                    problems.append(
                        Problem(
                            source,
                            line,
                            where,
                            f"vigil:{attr_local}='{value}': parameter "
                            f"{m.group(0)} is not declared in the root's vigil:params",
                        )
                    )
        offset = _translate(el.get("transform"))
        if offset is None:
            moved_ok = False
            offset = (0.0, 0.0)
        x0, y0 = dx + offset[0], dy + offset[1]
        symbol = vigil(el, "symbol")
        bound = symbol is not None or any(vigil(el, a) for a in ("tag", "goto"))
        if bound and el is not root:
            if symbol is None:
                symbol = "nav" if vigil(el, "goto") and not vigil(el, "tag") else "value"
            if symbol not in SYMBOLS:
                problems.append(
                    Problem(
                        source,
                        line,
                        where,
                        f"unknown symbol '{symbol}' (known: {', '.join(sorted(SYMBOLS))})",
                    )
                )
            box = _box(el)
            if box is None:
                problems.append(
                    Problem(
                        source,
                        line,
                        where,
                        "a bound element needs x, y, width and height (draw it as a rectangle)",
                    )
                )
            elif not moved_ok:
                problems.append(
                    Problem(source, line, where, "only translate() may move a bound element or its groups")
                )
            else:
                attrs = {_local(k): v for k, v in el.attrib.items() if _ns(k) == NAMESPACE}
                attrs.pop("symbol", None)
                bindings.append(
                    Binding(
                        el.get("id") or f"{symbol}@{line}",
                        line,
                        symbol,
                        Box(box.x + x0, box.y + y0, box.width, box.height),
                        attrs,
                    )
                )
            if parent is not None:
                remove.append((parent, el))
            return
        for child in list(el):
            walk(child, el, x0, y0, moved_ok)

    walk(root, None, 0.0, 0.0, True)
    for parent, child in remove:
        parent.remove(child)
    background = ET.tostring(root, encoding="utf-8")
    return Display(
        name,
        source,
        title,
        level,
        style,
        declared,
        width,
        height,
        background,
        tuple(bindings),
        tuple(problems),
    )


def _at(parser: _LineParser) -> int | None:
    try:
        return int(parser.parser.CurrentLineNumber)
    except AttributeError:
        return None


def _size(root: ET.Element) -> tuple[float, float]:
    view_box = root.get("viewBox")
    if view_box:
        parts = re.split(r"[\s,]+", view_box.strip())
        if len(parts) == 4:
            try:
                return float(parts[2]), float(parts[3])
            except ValueError:
                pass
    return _number(root.get("width")) or 1280.0, _number(root.get("height")) or 800.0


def _box(el: ET.Element) -> Box | None:
    x, y = _number(el.get("x", "0")), _number(el.get("y", "0"))
    w, h = _number(el.get("width")), _number(el.get("height"))
    if x is None or y is None or w is None or h is None or w <= 0 or h <= 0:
        return None
    return Box(x, y, w, h)
