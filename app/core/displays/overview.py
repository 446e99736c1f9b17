"""The Level 1 overview, generated from the plant: one tile per device.

Each tile says the device's name, its communication state and its alarms counted by priority,
and shows its key values as moving analog indicators. The overview is written as display SVG
and read back through the same parser as a hand-made display, so it binds, validates and draws
exactly like one (and a plant engineer can save it and edit it in Inkscape).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

from app.core.displays.vocabulary import NAMESPACE
from app.core.plant import Plant
from app.core.profiles import DataType, Point

OVERVIEW = "overview"
TILE_W, TILE_H = 300.0, 300.0
GAP = 16.0
MAX_KEY_VALUES = 4
COLUMNS = 4


def key_points(points: list[Point], n: int = MAX_KEY_VALUES) -> list[Point]:
    """The values worth a glance: numeric points with a range, those with alarm limits first."""
    numeric = [
        p
        for p in points
        if p.type not in (DataType.BOOL, DataType.STRING) and p.engineering_range is not None
    ]
    numeric.sort(key=lambda p: 0 if p.has_limits else 1)  # stable: file order within each group
    return numeric[:n]


def overview_svg(plant: Plant, displays: Mapping[str, str] | None = None) -> str:
    """The overview as display SVG; a tile opens its device's display (``displays``: device ->
    goto) when there is one, else the device's faceplate."""
    displays = displays or {}
    devices = plant.enabled_devices()
    # a squarish grid fills a display area better than one long row scaled down to fit
    cols = max(1, min(COLUMNS, math.ceil(math.sqrt(len(devices)))))
    rows = max(1, -(-len(devices) // cols))
    width = GAP + cols * (TILE_W + GAP)
    height = 48.0 + rows * (TILE_H + GAP)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:vigil="{NAMESPACE}" '
        f'width="{width:g}" height="{height:g}" viewBox="0 0 {width:g} {height:g}" '
        f'vigil:title={quoteattr("Overview")} vigil:level="1">\n',
        f'  <text x="{GAP:g}" y="30" font-family="sans-serif" font-size="18" fill="#555555">'
        f"{escape(plant.info.name)} · {len(devices)} devices</text>\n",
    ]
    for i, dev in enumerate(devices):
        col, row = i % cols, i // cols
        x = GAP + col * (TILE_W + GAP)
        y = 48.0 + row * (TILE_H + GAP)
        goto = f" vigil:goto={quoteattr(displays[dev.name])}" if dev.name in displays else ""
        label = dev.description or (
            plant.profiles[dev.name].device.description if dev.name in plant.profiles else ""
        )
        out.append(
            f'  <rect id="tile_{dev.name}" x="{x:g}" y="{y:g}" width="{TILE_W:g}" height="{TILE_H:g}" '
            f'vigil:symbol="tile" vigil:device="{dev.name}"{goto} vigil:label={quoteattr(label[:60])}/>\n'
        )
        profile = plant.profiles.get(dev.name)
        if profile is None:
            continue
        for j, p in enumerate(key_points(profile.points)):
            out.append(
                f'  <rect id="kv_{dev.name}_{p.name}" x="{x + 12:g}" y="{y + 92 + j * 50:g}" '
                f'width="{TILE_W - 24:g}" height="44" vigil:symbol="indicator" '
                f'vigil:tag="{dev.name}.{p.name}" vigil:label={quoteattr(p.description or p.name)}/>\n'
            )
    out.append("</svg>\n")
    return "".join(out)
