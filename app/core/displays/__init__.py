"""Process displays: SVG files bound to live tags (ISA-101 levels 1-3), Qt-free.

`parse_display` reads a file (hardened), `validate` checks it against a plant,
`DisplayCatalogue` finds the displays a plant gets, `overview_svg` generates Level 1.
"""

from app.core.displays.catalogue import DisplayCatalogue, DisplaySource, plant_display_folder, read_display
from app.core.displays.model import Binding, Box, Display, Problem
from app.core.displays.overview import OVERVIEW, key_points, overview_svg
from app.core.displays.parse import parse_display, substitute
from app.core.displays.validate import goto_target, tag_kinds, validate
from app.core.displays.vocabulary import ATTRIBUTES, NAMESPACE, SYMBOLS

__all__ = [
    "ATTRIBUTES",
    "NAMESPACE",
    "OVERVIEW",
    "SYMBOLS",
    "Binding",
    "Box",
    "Display",
    "DisplayCatalogue",
    "DisplaySource",
    "Problem",
    "goto_target",
    "key_points",
    "overview_svg",
    "parse_display",
    "plant_display_folder",
    "read_display",
    "substitute",
    "tag_kinds",
    "validate",
]
