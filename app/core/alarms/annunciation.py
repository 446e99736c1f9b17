"""What the alarm sound should be doing now: which pattern, or silence. Qt-free, so the rules
are tested without a sound card; ``app/ui/annunciator.py`` plays what this decides.

The rules, as an operator meets them:

- An alarm sounds while it is active and unacknowledged, with the pattern of the highest
  priority sounding. Per priority the site chooses: until acknowledged (the default), once
  (one burst per episode), or off.
- *Silence* stops the sound for ``silence_s`` (its own permission, journaled by the core). When
  it runs out, whatever is still unacknowledged sounds again; a new alarm of a higher priority
  than what was silenced sounds at once.
- Devices of the vital-signs class use the IEC 60601-1-8 signals: high priority 10-pulse
  bursts (red, fast flashing), medium 3 pulses (yellow, slow flashing), low 1 pulse (cyan,
  steady). Plant devices use the same pulse counts by priority so the ear learns one language;
  urgent is the fastest repeat.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

PRIORITY_ORDER = ("low", "medium", "high", "urgent")


class Announced(Protocol):
    """What the annunciation reads of an alarm (``AlarmView`` fits; ``device`` and
    ``first_out`` are read when present)."""

    @property
    def id(self) -> str: ...

    @property
    def state(self) -> object: ...  # an AlarmState, or its string value

    @property
    def priority(self) -> str: ...


V = TypeVar("V", bound=Announced)
DEFAULT_SILENCE_S = 120.0


class SoundMode(enum.StrEnum):
    UNTIL_ACK = "until_ack"
    ONCE = "once"
    OFF = "off"

    @property
    def label(self) -> str:
        return {"until_ack": "until acknowledged", "once": "once", "off": "off"}[self.value]


class Convention(enum.StrEnum):
    """Which family of alarm signals a device's alarms use."""

    PLANT = "plant"
    MEDICAL = "medical"  # IEC 60601-1-8


@dataclass(frozen=True, slots=True)
class Pattern:
    """One burst of ``pulses`` tones, repeated every ``repeat_s`` while due; how the banner
    flashes (``flash_hz`` 0 = steady) and in which colour."""

    pulses: int
    pulse_s: float
    gap_s: float
    repeat_s: float
    freq_hz: float
    flash_hz: float
    colour: str  # a name the UI maps to its palette ("red", "yellow", "cyan", "orange", "blue")

    @property
    def burst_s(self) -> float:
        return self.pulses * self.pulse_s + (self.pulses - 1) * self.gap_s


#: IEC 60601-1-8 (from secondary sources, see DESIGN.md): high 10 pulses red fast flashing
#: (~2 Hz), medium 3 pulses yellow slow flashing (~0.6 Hz), low 1 pulse cyan steady
MEDICAL: dict[str, Pattern] = {
    "urgent": Pattern(10, 0.15, 0.1, 6.0, 960.0, 2.0, "red"),
    "high": Pattern(10, 0.15, 0.1, 6.0, 960.0, 2.0, "red"),
    "medium": Pattern(3, 0.2, 0.15, 10.0, 720.0, 0.6, "yellow"),
    "low": Pattern(1, 0.25, 0.0, 20.0, 600.0, 0.0, "cyan"),
}
PLANT: dict[str, Pattern] = {
    "urgent": Pattern(10, 0.12, 0.08, 4.0, 1000.0, 2.0, "red"),
    "high": Pattern(10, 0.15, 0.1, 8.0, 880.0, 1.0, "orange"),
    "medium": Pattern(3, 0.2, 0.15, 12.0, 700.0, 0.6, "yellow"),
    "low": Pattern(1, 0.25, 0.0, 30.0, 560.0, 0.0, "blue"),
}


def pattern(priority: str, convention: Convention = Convention.PLANT) -> Pattern:
    table = MEDICAL if convention is Convention.MEDICAL else PLANT
    return table.get(priority, table["low"])


def rank(priority: str) -> int:
    return PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else 0


@dataclass(frozen=True, slots=True)
class Due:
    """What should sound: the pattern of ``priority`` in ``convention``; ``alarms`` are the
    ids sounding (for the journal when someone silences them)."""

    priority: str
    convention: Convention
    alarms: tuple[str, ...]

    @property
    def pattern(self) -> Pattern:
        return pattern(self.priority, self.convention)


class Annunciation:
    """Decides the sound from the alarm views. Call :meth:`due` whenever alarms change and on
    a timer; :meth:`played` after each burst (for *once* mode); :meth:`silence` on Silence."""

    def __init__(
        self,
        modes: Mapping[str, SoundMode | str] | None = None,
        conventions: Mapping[str, Convention] | None = None,
        silence_s: float = DEFAULT_SILENCE_S,
    ):
        self.modes: dict[str, SoundMode] = {p: SoundMode.UNTIL_ACK for p in PRIORITY_ORDER}
        for p, m in (modes or {}).items():
            self.set_mode(p, m)
        #: device -> signal convention (devices not named use PLANT)
        self.conventions = dict(conventions or {})
        self.silence_s = float(silence_s)
        self.silenced_until: float | None = None
        self.silenced_rank = -1
        self._played_once: set[tuple[str, float | None]] = set()

    def set_mode(self, priority: str, mode: SoundMode | str) -> None:
        if priority not in PRIORITY_ORDER:
            raise ValueError(f"unknown priority '{priority}'")
        self.modes[priority] = SoundMode(mode)

    def sounding(self, views: Iterable[V]) -> list[V]:
        """Alarms that call for sound now (ignoring silence)."""
        out = []
        for v in views:
            if str(v.state) != "unack_active":
                continue
            p = str(v.priority)
            mode = self.modes.get(p, SoundMode.UNTIL_ACK)
            if mode is SoundMode.OFF:
                continue
            if mode is SoundMode.ONCE and (v.id, getattr(v, "first_out", None)) in self._played_once:
                continue
            out.append(v)
        return out

    def due(self, views: Iterable[Announced], now: float) -> Due | None:
        loud = self.sounding(views)
        if not loud:
            return None
        top = max(loud, key=lambda v: (rank(str(v.priority)), self._convention(v) is Convention.MEDICAL))
        top_rank = rank(str(top.priority))
        if self.silenced_until is not None:
            if now < self.silenced_until and top_rank <= self.silenced_rank:
                return None
            self.silenced_until = None  # over, or broken by a higher priority
            self.silenced_rank = -1
        return Due(str(top.priority), self._convention(top), tuple(sorted(v.id for v in loud)))

    def top(self, views: Iterable[Announced]) -> Due | None:
        """The most urgent unacknowledged active alarm, whatever the sound does (silenced, off,
        once): what the banner flashes until someone acknowledges it."""
        unacked = [v for v in views if str(v.state) == "unack_active"]
        if not unacked:
            return None
        top = max(unacked, key=lambda v: (rank(str(v.priority)), self._convention(v) is Convention.MEDICAL))
        return Due(str(top.priority), self._convention(top), tuple(sorted(v.id for v in unacked)))

    def played(self, views: Iterable[Announced]) -> None:
        """A burst was played: alarms in *once* mode have had their sound."""
        for v in views:
            if self.modes.get(str(v.priority)) is SoundMode.ONCE and str(v.state) == "unack_active":
                self._played_once.add((v.id, getattr(v, "first_out", None)))

    def silence(self, views: Iterable[Announced], now: float, duration_s: float | None = None) -> float:
        """Silence what sounds now; returns until when. A higher priority breaks the silence."""
        loud = self.sounding(views)
        self.silenced_rank = max((rank(str(v.priority)) for v in loud), default=-1)
        self.silenced_until = now + (self.silence_s if duration_s is None else float(duration_s))
        return self.silenced_until

    def is_silenced(self, now: float) -> bool:
        return self.silenced_until is not None and now < self.silenced_until

    def _convention(self, v: Announced) -> Convention:
        return self.conventions.get(str(getattr(v, "device", "")), Convention.PLANT)
