"""When a GOOD value stops being current: the STALE decision, made in one place.

A GOOD sample is only as good as its age. If the core stops reporting a point for any reason
(its device went down, a slow scan class is not due, a consumer fell behind), the last value
must not keep looking current on any screen, local or remote. `StaleRule` holds the per-tag
limits (plain numbers, so it can travel to a remote station) and decides the quality to show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from app.core.model import Quality
from app.core.plant import Plant

#: a value is stale after this many of its own poll periods without news
STALE_PERIODS = 3.0
#: plus this much grace (seconds), for scheduling jitter
STALE_GRACE_S = 1.0


@dataclass(frozen=True)
class StaleRule:
    """Per tag: seconds without a new sample after which a GOOD value is shown STALE."""

    after_s: Mapping[str, float] = field(default_factory=dict)

    def quality(
        self, tag: str, quality: Quality | None, t: float | None, now: float, device_down: bool = False
    ) -> Quality | None:
        """The quality to show for a tag whose last sample had ``quality`` at time ``t``: the
        sample's own, or STALE once a GOOD value is too old or its device is not online."""
        if quality is not Quality.GOOD or t is None:
            return quality
        if device_down:
            return Quality.STALE
        limit = self.after_s.get(tag)
        if limit is not None and now - t > limit:
            return Quality.STALE
        return quality


def stale_rule(plant: Plant) -> StaleRule:
    """Three of each point's own poll periods (device interval x scan-class multiple) plus a
    second of grace: slow points are polled every 10 intervals and must not look stale between."""
    out: dict[str, float] = {}
    for d in plant.enabled_devices():
        prof = plant.profiles.get(d.name)
        if prof is None:
            continue
        for p in prof.points:
            period = d.interval_ms / 1000.0 * float(prof.device.scan_classes.get(p.scan, 1.0))
            out[f"{d.name}.{p.name}"] = STALE_PERIODS * period + STALE_GRACE_S
    return StaleRule(out)
