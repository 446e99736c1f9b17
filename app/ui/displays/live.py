"""What every symbol reads: the latest sample per tag, the quality to show (the core's
`StaleRule`, exactly as the tag table applies it), the alarms per tag and per device, and each
device's communication state. GUI thread only; no Qt."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.alarms.annunciation import PRIORITY_ORDER
from app.core.model import Quality, Sample, Value
from app.station.interface import AlarmView, DeviceDiagnostics, StaleRule


@dataclass(frozen=True)
class TagView:
    value: Value
    quality: Quality | None  # None: no value yet
    t: float | None

    @property
    def good(self) -> bool:
        return self.quality is Quality.GOOD


NO_VALUE = TagView(None, None, None)


def rank(priority: str) -> int:
    return PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else 0


class LiveModel:
    def __init__(self, stale_rule: StaleRule):
        self.stale_rule = stale_rule
        self.samples: dict[str, Sample] = {}
        self.alarms: dict[str, AlarmView] = {}
        #: the same alarms indexed by tag and by device, so a symbol finds its own at once
        self._by_source: dict[str, dict[str, AlarmView]] = {}
        self._by_device: dict[str, dict[str, AlarmView]] = {}
        #: the most important alarm per tag and per device, asked for on every look of every
        #: symbol: worked out once per alarm change
        self._top_by_source: dict[str, AlarmView | None] = {}
        self._top_by_device: dict[str, AlarmView | None] = {}
        self.diagnostics: dict[str, DeviceDiagnostics] = {}
        self.devices_down: set[str] = set()
        self.now = time.time()

    # -- updates -------------------------------------------------------------------------
    def apply_samples(self, batch: Iterable[Sample]) -> set[str]:
        changed: set[str] = set()
        for s in batch:
            self.samples[s.tag] = s
            changed.add(s.tag)
        return changed

    def apply_alarms(self, views: Iterable[AlarmView]) -> set[str]:
        """Returns the tags and devices whose alarms changed."""
        changed: set[str] = set()
        for v in views:
            old = self.alarms.get(v.id)
            if old is not None:
                self._by_source.get(old.source, {}).pop(v.id, None)
                self._by_device.get(old.device, {}).pop(v.id, None)
            self.alarms[v.id] = v
            self._by_source.setdefault(v.source, {})[v.id] = v
            self._by_device.setdefault(v.device, {})[v.id] = v
            changed.add(v.source)
            changed.add(v.device)
            if old is not None:
                changed.add(old.source)
                changed.add(old.device)
        for key in changed:
            self._top_by_source.pop(key, None)
            self._top_by_device.pop(key, None)
        return changed

    def apply_diagnostics(self, diags: dict[str, DeviceDiagnostics]) -> set[str]:
        changed = {
            n
            for n, d in diags.items()
            if self.diagnostics.get(n) is None or self.diagnostics[n].state != d.state
        }
        self.diagnostics = dict(diags)
        self.devices_down = {n for n, d in diags.items() if (d.state or "unknown") != "online"}
        return changed

    # -- reads ---------------------------------------------------------------------------
    def view(self, tag: str) -> TagView:
        s = self.samples.get(tag)
        if s is None:
            return NO_VALUE
        device = tag.split(".", 1)[0]
        q = self.stale_rule.quality(tag, s.quality, s.t, self.now, device in self.devices_down)
        return TagView(s.value, q, s.t)

    def tag_alarm(self, tag: str) -> AlarmView | None:
        """The most important alarm on the operator's list for ``tag`` (None: none)."""
        try:
            return self._top_by_source[tag]
        except KeyError:
            views = self._by_source.get(tag)
            top = self._top_by_source[tag] = _top(views.values()) if views else None
            return top

    def device_alarm(self, device: str) -> AlarmView | None:
        try:
            return self._top_by_device[device]
        except KeyError:
            views = self._by_device.get(device)
            top = self._top_by_device[device] = _top(views.values()) if views else None
            return top

    def alarm_counts(self, device: str) -> dict[str, int]:
        """Alarms on the operator's list for ``device``, by priority."""
        out: dict[str, int] = {}
        for v in self._by_device.get(device, {}).values():
            if v.state.annunciating:
                out[v.priority] = out.get(v.priority, 0) + 1
        return out

    def comm_state(self, device: str) -> str:
        d = self.diagnostics.get(device)
        return "waiting" if d is None else (d.state or "unknown")


def _top(views: Iterable[AlarmView]) -> AlarmView | None:
    best: AlarmView | None = None
    for v in views:
        if not v.state.annunciating:
            continue
        if best is None or (rank(v.priority), v.state.needs_ack) > (
            rank(best.priority),
            best.state.needs_ack,
        ):
            best = v
    return best
