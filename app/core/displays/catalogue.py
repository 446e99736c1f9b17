"""Where displays come from and which ones a plant gets.

Three kinds of folder, later ones overriding earlier ones by file name: the built-in displays
(package data beside this module), displays contributed by plugins (``[[displays]]`` in
``plugin.toml``), and the ``displays/`` folder beside the plant file. The overview is generated.
A built-in display is offered only when every tag it names exists in the plant, because the
built-ins are drawn for the demo plant; a plugin's or the plant's own display is always offered,
and shows its problems when it does not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from app.core.displays.model import Display, Problem
from app.core.displays.overview import OVERVIEW, overview_svg
from app.core.displays.parse import parse_display
from app.core.displays.validate import tag_kinds, validate
from app.core.plant import Plant

BUILTIN_DIR = Path(__file__).with_name("builtin")
#: the most a display file may be (a hostile file must not fill memory)
MAX_DISPLAY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class DisplaySource:
    name: str
    origin: str  # "built-in", "plant", "plugin <id>", "generated"
    path: Path | None


def plant_display_folder(plant: Plant) -> Path | None:
    """``displays/`` beside the plant file (None for the built-in demo plant)."""
    if not plant.path or plant.path.startswith("<"):
        return None
    return Path(plant.path).parent / "displays"


def read_display(path: Path, name: str, params: Mapping[str, str] | None = None) -> Display:
    """Read and parse one display file; an unreadable or huge file is a display with a problem."""
    try:
        size = path.stat().st_size
        if size > MAX_DISPLAY_BYTES:
            raise OSError(f"{size} bytes is more than a display may be ({MAX_DISPLAY_BYTES})")
        data = path.read_bytes()
    except OSError as e:
        problem = Problem(str(path), None, "file", f"cannot read: {getattr(e, 'strerror', None) or e}")
        return Display(name, str(path), name, 2, "plant", (), 0.0, 0.0, b"", (), (problem,))
    return parse_display(data, str(path), name, params)


class DisplayCatalogue:
    """The displays one plant can show, by name."""

    def __init__(self, plant: Plant, plugin_folders: list[tuple[str, Path]] = (), *, builtin: bool = True):  # type: ignore[assignment]
        self.plant = plant
        self.kinds = tag_kinds(plant)
        self.sources: dict[str, DisplaySource] = {}
        #: built-in displays left out because they do not fit this plant, with why
        self.hidden: dict[str, str] = {}
        folders: list[tuple[str, Path]] = []
        if builtin:
            folders.append(("built-in", BUILTIN_DIR))
        folders.extend((f"plugin {pid}", folder) for pid, folder in plugin_folders)
        own = plant_display_folder(plant)
        if own is not None:
            folders.append(("plant", own))
        for origin, folder in folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.svg")):
                name = path.stem
                if name == OVERVIEW:
                    continue  # the overview is always the generated one
                if origin == "built-in":
                    why = self._misfit(path, name)
                    if why:
                        self.hidden[name] = why
                        continue
                self.sources[name] = DisplaySource(name, origin, path)
        self.sources[OVERVIEW] = DisplaySource(OVERVIEW, "generated", None)

    def _misfit(self, path: Path, name: str) -> str:
        d = read_display(path, name)
        if d.params:
            if d.params == ("device",) and not self._instances(name):
                return f"no device of this plant uses profile '{name}'"
            return ""
        missing = sorted(t for t in d.tags() if t not in self.kinds)
        if missing:
            return f"this plant has no {', '.join(missing[:3])}"
        return ""

    def _instances(self, profile_id: str) -> list[str]:
        return [d.name for d in self.plant.devices if d.profile == profile_id]

    def names(self) -> list[str]:
        """The overview first, then the others by name."""
        return [OVERVIEW, *sorted(n for n in self.sources if n != OVERVIEW)]

    def entries(self) -> list[tuple[str, str]]:
        """What a display chooser offers, as (goto, title): the overview, each display, and a
        display named after a profile (taking the parameter ``device``) once per device using
        that profile."""
        out: list[tuple[str, str]] = [(OVERVIEW, "Overview")]
        for goto in sorted(set(self.device_displays().values())):
            name, _, dev = goto.partition("?device=")
            out.append((goto, f"{dev} ({name})" if dev else name))
        taken = {g.partition("?")[0] for _, g in self.device_displays().items()}
        for name in sorted(self.sources):
            if name != OVERVIEW and name not in taken and not self._instances(name):
                out.append((name, name.replace("_", " ")))
        return out

    def device_displays(self) -> dict[str, str]:
        """Device -> the goto of its Level 2 display: one named like the device, else one
        named like its profile (opened with ``device=<name>``)."""
        out: dict[str, str] = {}
        for dev in self.plant.devices:
            if dev.name in self.sources and dev.name != OVERVIEW:
                out[dev.name] = dev.name
            elif dev.profile and dev.profile in self.sources:
                out[dev.name] = f"{dev.profile}?device={dev.name}"
        return out

    def __contains__(self, name: object) -> bool:
        return name in self.sources

    def load(self, name: str, params: Mapping[str, str] | None = None) -> Display:
        """The display, parsed with ``params``, its problems including the plant checks."""
        src = self.sources.get(name)
        if src is None:
            problem = Problem(
                name, None, "display", f"no display named '{name}' (known: {', '.join(self.names())})"
            )
            return Display(name, name, name, 2, "plant", (), 0.0, 0.0, b"", (), (problem,))
        if src.path is None:
            display = parse_display(
                overview_svg(self.plant, self.device_displays()).encode(), "<overview>", OVERVIEW
            )
        else:
            display = read_display(src.path, name, params)
        problems = validate(display, self.kinds, self.sources, [d.name for d in self.plant.devices])
        missing = [p for p in display.params if not (params or {}).get(p)]
        if missing:
            problems.append(
                Problem(display.source, None, "svg", f"opened without parameter(s) {', '.join(missing)}")
            )
        if problems != list(display.problems):
            from dataclasses import replace

            display = replace(display, problems=tuple(problems))
        return display
