"""The display attribute vocabulary: what an SVG element may say in Vigil's namespace.

One table, used three ways: the parser and the validator check files against it, the published
description (``vocabulary.json`` beside this module, see `vocabulary_document`) is generated
from it, and the plugin guide points authors to that file. A symbol names what a bound element
shows; the Qt layer draws each symbol, the core only knows its name and which attributes it
needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the XML namespace of every Vigil attribute (``xmlns:vigil="https://vigil-scada.org/display/1"``)
NAMESPACE = "https://vigil-scada.org/display/1"
#: the version of the vocabulary this build reads (the namespace's last path segment)
VOCABULARY_VERSION = 1
VOCABULARY_FILE = Path(__file__).with_name("vocabulary.json")


@dataclass(frozen=True)
class Attribute:
    name: str
    description: str
    #: "tag" (a device.point), "display" (a display name, optional ``?key=value`` parameters),
    #: "symbol", "text", "number", "names" (comma-separated identifiers)
    kind: str
    #: only meaningful on the document's root ``<svg>`` element
    root: bool = False


@dataclass(frozen=True)
class Symbol:
    name: str
    description: str
    #: attributes the element must carry besides ``vigil:symbol``
    requires: tuple[str, ...] = ()
    #: further attributes the symbol reads
    optional: tuple[str, ...] = ()
    #: the bound tag must be a number ("number"), a bool ("bool") or either ("any")
    value: str = "any"


ATTRIBUTES: dict[str, Attribute] = {
    a.name: a
    for a in (
        Attribute("tag", "The tag the element shows: 'device.point'.", "tag"),
        Attribute("symbol", "What the element shows (one of the symbols below).", "symbol"),
        Attribute(
            "goto",
            "Clicking the element opens this display; parameters after '?': 'pump_faceplate?device=pump2'.",
            "display",
        ),
        Attribute("label", "Text shown with the symbol (default: the point's description).", "text"),
        Attribute("setpoint", "A tag whose value is drawn as the setpoint marker.", "tag"),
        Attribute("command", "The command tag of a valve or a pump (drawn against its feedback).", "tag"),
        Attribute("fault", "A bool tag that means the equipment has tripped or faulted.", "tag"),
        Attribute("device", "The device a tile, alarm indicator or banner is about.", "text"),
        Attribute("digits", "Decimals shown for a value (default 1).", "number"),
        Attribute("size", "Font size of a value, in display units (default: fits the box).", "number"),
        Attribute("orientation", "'horizontal' or 'vertical' (pipes and indicators).", "text"),
        Attribute("title", "The display's title, shown in the breadcrumb.", "text", root=True),
        Attribute(
            "level", "ISA-101 level of the display: 1 overview, 2 unit, 3 faceplate.", "number", root=True
        ),
        Attribute(
            "params",
            "Parameters the display takes, comma-separated; '%name%' in any attribute value is "
            "replaced by the value the caller gives.",
            "names",
            root=True,
        ),
        Attribute(
            "style", "'plant' (default) or 'medical' (IEC 60601-1-8 alarm colours).", "text", root=True
        ),
    )
}

SYMBOLS: dict[str, Symbol] = {
    s.name: s
    for s in (
        Symbol(
            "vessel",
            "Tank or vessel: level fill within the engineering range, LO/HI/LOLO/HIHI marks.",
            ("tag",),
            ("label",),
            "number",
        ),
        Symbol(
            "pump",
            "Centrifugal pump: running (filled), stopped (hollow), faulted.",
            ("tag",),
            ("command", "fault", "label"),
            "bool",
        ),
        Symbol("motor", "Motor: running, stopped, faulted.", ("tag",), ("command", "fault", "label"), "bool"),
        Symbol(
            "valve",
            "Valve: open, closed, travelling (command differs from position), position %.",
            ("tag",),
            ("command", "label"),
            "number",
        ),
        Symbol(
            "pipe",
            "A process line; flows when its tag is above zero (tag optional).",
            (),
            ("tag", "orientation"),
        ),
        Symbol(
            "indicator",
            "Moving analog indicator: pointer on the engineering range, normal band, alarm "
            "ranges, setpoint marker.",
            ("tag",),
            ("setpoint", "label", "orientation", "digits"),
            "number",
        ),
        Symbol("sparkline", "A short live trend with its normal band.", ("tag",), ("label",), "number"),
        Symbol("value", "The value with its unit and quality.", ("tag",), ("digits", "size", "label")),
        Symbol(
            "alarm",
            "Alarm indicator: shape, colour and priority number, shown only while an alarm exists "
            "on the tag (or any tag of 'device').",
            (),
            ("tag", "device"),
        ),
        Symbol("nav", "Navigation button to another display.", ("goto",), ("label",)),
        Symbol(
            "tile",
            "Overview tile of a device: name, communication state, alarm counts by priority.",
            ("device",),
            ("goto", "label"),
        ),
        Symbol(
            "banner",
            "Patient/bed banner: a pseudonymous bed label and the monitor's state.",
            ("device",),
            ("tag", "label"),
        ),
    )
}

#: SVG elements Qt's renderer (SVG 1.2 Tiny) cannot draw, or must not be fed from a file
UNSUPPORTED_ELEMENTS: dict[str, str] = {
    "script": "scripts are not run",
    "clipPath": "clip paths are not drawn by Qt's SVG renderer",
    "mask": "masks are not drawn by Qt's SVG renderer",
    "filter": "filters (blur, shadow) are not drawn by Qt's SVG renderer",
    "foreignObject": "foreign objects (HTML) are not drawn",
    "pattern": "pattern fills are not drawn by Qt's SVG renderer",
    "marker": "markers (arrow heads) are not drawn by Qt's SVG renderer",
    "iframe": "embedded documents are not drawn",
    "audio": "audio is not played",
    "video": "video is not played",
}
#: presentation attributes that refer to an unsupported element
UNSUPPORTED_ATTRIBUTES = {
    "clip-path": "clip paths",
    "mask": "masks",
    "filter": "filters",
    "marker-start": "markers",
    "marker-mid": "markers",
    "marker-end": "markers",
}


def vocabulary_document() -> dict[str, Any]:
    """The published description of the vocabulary (JSON Schema-like), as a dict."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{NAMESPACE}/vocabulary.json",
        "title": "Vigil display attributes",
        "description": (
            "Attributes in the namespace "
            f"{NAMESPACE} that bind SVG elements of a Vigil display to live tags. Bound "
            "elements are placeholders (usually <rect>) whose x, y, width and height give the "
            "box the symbol is drawn in."
        ),
        "namespace": NAMESPACE,
        "version": VOCABULARY_VERSION,
        "attributes": {
            a.name: {"description": a.description, "kind": a.kind, **({"root": True} if a.root else {})}
            for a in ATTRIBUTES.values()
        },
        "symbols": {
            s.name: {
                "description": s.description,
                "required": ["symbol", *s.requires],
                "optional": list(s.optional),
                "value": s.value,
            }
            for s in SYMBOLS.values()
        },
        "unsupported_svg": dict(UNSUPPORTED_ELEMENTS),
    }


def vocabulary_json() -> str:
    return json.dumps(vocabulary_document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m app.core.displays.vocabulary  rewrites the published file
    VOCABULARY_FILE.write_text(vocabulary_json(), encoding="utf-8")
    print(f"wrote {VOCABULARY_FILE}")
