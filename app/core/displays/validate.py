"""Check a parsed display against a plant: every tag known and of the kind its symbol shows,
every symbol complete, every goto pointing at a display that exists."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from app.core.displays.model import Display, Problem
from app.core.displays.parse import PARAM
from app.core.displays.vocabulary import SYMBOLS
from app.core.plant import Plant
from app.core.profiles import DataType


def tag_kinds(plant: Plant) -> dict[str, str]:
    """Every tag of the plant and what it holds: 'number', 'bool' or 'string'."""
    out: dict[str, str] = {}
    for dev in plant.devices:
        profile = plant.profiles.get(dev.name)
        if profile is None:
            continue
        for p in profile.points:
            kind = "bool" if p.type is DataType.BOOL else "string" if p.type is DataType.STRING else "number"
            out[f"{dev.name}.{p.name}"] = kind
    return out


def goto_target(goto: str) -> tuple[str, dict[str, str]]:
    """'pump_faceplate?device=pump2&x=1' -> ('pump_faceplate', {'device': 'pump2', 'x': '1'})."""
    name, _, query = goto.partition("?")
    params: dict[str, str] = {}
    for part in query.split("&"):
        if "=" in part:
            k, v = part.split("=", 1)
            params[k.strip()] = v.strip()
    return name.strip(), params


def validate(
    display: Display,
    kinds: Mapping[str, str] | None = None,
    displays: Collection[str] | None = None,
    devices: Collection[str] | None = None,
) -> list[Problem]:
    """The display's own problems, then its bindings checked against ``kinds`` (tag -> kind),
    ``displays`` (names a goto may open) and ``devices``; a check is skipped when its
    collection is None. A tag still holding a declared parameter (``%device%.level``) is
    checked by its point: some device must have it."""
    problems = list(display.problems)
    src = display.source

    def add(line: int, element: str, message: str) -> None:
        problems.append(Problem(src, line, element, message))

    points = {t.split(".", 1)[1]: k for t, k in (kinds or {}).items() if "." in t}
    for b in display.bindings:
        where = f"#{b.id}"
        spec = SYMBOLS.get(b.symbol)
        if spec is None:
            continue  # said by the parser
        for need in spec.requires:
            if not b.attrs.get(need):
                add(b.line, where, f"symbol '{b.symbol}' needs vigil:{need}")
        if kinds is not None:
            for attr in ("tag", "setpoint", "command", "fault"):
                tag = b.attrs.get(attr)
                if not tag:
                    continue
                if "." not in tag:
                    add(b.line, where, f"vigil:{attr}='{tag}' is not a tag ('device.point')")
                    continue
                if PARAM.search(tag):
                    point = tag.split(".", 1)[1]
                    kind = points.get(point)
                    if kind is None:
                        add(
                            b.line,
                            where,
                            f"unknown point '{point}' in vigil:{attr}='{tag}': no device has it",
                        )
                        continue
                else:
                    kind = kinds.get(tag)
                    if kind is None:
                        add(b.line, where, f"unknown tag '{tag}' in vigil:{attr}")
                        continue
                if (
                    attr == "tag"
                    and spec.value != "any"
                    and kind != spec.value
                    and not (spec.value == "bool" and kind == "number")
                ):
                    add(b.line, where, f"symbol '{b.symbol}' shows a {spec.value} but '{tag}' is a {kind}")
        dev = b.attrs.get("device")
        if devices is not None and dev and not PARAM.search(dev) and dev not in devices:
            add(b.line, where, f"unknown device '{dev}'")
        if displays is not None and b.goto:
            name, _ = goto_target(b.goto)
            if name not in displays:
                add(b.line, where, f"vigil:goto='{b.goto}': no display named '{name}'")
    return problems
