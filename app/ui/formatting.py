"""How values, qualities and ages are written on screen, in one place so every view agrees."""

from __future__ import annotations

import math
import time

from app.core.model import Quality

QUALITY_TEXT = {
    Quality.GOOD: "good",
    Quality.UNCERTAIN: "uncertain",
    Quality.BAD_COMM: "BAD comm",
    Quality.BAD_CONFIG: "BAD config",
    Quality.BAD_DEVICE: "BAD device",
    Quality.STALE: "STALE",
}


def quality_text(q: Quality | int | None) -> str:
    if q is None:
        return "no value yet"
    return QUALITY_TEXT.get(Quality(q), str(q))


def format_value(value: object, digits: int = 2) -> str:
    """Numbers with a fixed number of decimals so columns do not jitter; bools as words."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if abs(value) >= 1e6:
            return f"{value:.4g}"
        return f"{value:.{digits}f}"
    return str(value)


def format_age(t: float | None, now: float | None = None) -> str:
    """Age of a value: operators judge freshness at a glance, so keep it short.

    Whole seconds (counted down, so "3 s" means at least 3 and under 4): a table refreshed once
    a second cannot honestly show tenths, and tenths changed on every refresh, repainting every
    age cell of a plant where nothing happened."""
    if t is None:
        return "—"
    age = (time.time() if now is None else now) - t
    if age < 0:
        age = 0.0
    if age < 120:
        return f"{math.floor(age)} s"
    if age < 7200:
        return f"{age / 60:.0f} min"
    return f"{age / 3600:.1f} h"


def format_clock(t: float | None, now: float | None = None) -> str:
    """Time of day for today's events (what a shift reads), the full date for older ones."""
    if t is None:
        return "—"
    today = time.localtime(time.time() if now is None else now)[:3]
    lt = time.localtime(t)
    return time.strftime("%H:%M:%S" if lt[:3] == today else "%Y-%m-%d %H:%M", lt)


def format_time(t: float | None) -> str:
    if t is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
