"""What a parsed display is: placeholders bound to tags, the static picture around them, and
every problem found, each with the element and the line it is on."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a display file, said where it is."""

    source: str  # file path or '<overview>'
    line: int | None
    element: str  # the element's id, or its tag name when it has none
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.element}: {self.message}"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Binding:
    """One element in Vigil's namespace: a symbol drawn in ``box``, bound to ``tag``."""

    id: str
    line: int
    symbol: str
    box: Box
    #: every vigil:* attribute of the element (parameters already replaced), without the prefix
    attrs: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.attrs.get("tag")

    @property
    def goto(self) -> str | None:
        return self.attrs.get("goto")

    def tags(self) -> list[str]:
        """Every tag this element reads (its own, the setpoint, the command, the fault)."""
        return [self.attrs[k] for k in ("tag", "setpoint", "command", "fault") if self.attrs.get(k)]

    def device(self) -> str | None:
        """The device this element is about: ``vigil:device`` or its tag's device."""
        if self.attrs.get("device"):
            return self.attrs["device"]
        tag = self.tag
        return tag.split(".", 1)[0] if tag and "." in tag else None


@dataclass(frozen=True)
class Display:
    name: str
    source: str
    title: str
    level: int
    style: str  # "plant" or "medical"
    params: tuple[str, ...]
    width: float
    height: float
    #: the SVG without the bound placeholders (what the static renderer draws), b'' when broken
    background: bytes
    bindings: tuple[Binding, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def tags(self) -> set[str]:
        return {t for b in self.bindings for t in b.tags()}

    def devices(self) -> set[str]:
        return {d for b in self.bindings if (d := b.device())}
