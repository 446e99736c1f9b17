"""One live stream of a trained detector, as operators see it: drift-aware, latched, explained.

Everything that turns a detector's raw scores into what a person reads lives here, so the live
engine, ``vigil detect replay``, the learn-normal backtest and the SKAB benchmark run the *same*
code and show the same figures:

* **Drift-aware normal** (`DriftGuard`). Plants drift: a pump warms up for hours, the seasons
  change the cooling water. A model frozen at training time turns that drift into a permanent
  alarm. The guard moves each tag's idea of "normal level" towards the recent level, slowly
  (a time constant of ``drift_s`` seconds, and never faster than ``max_rate`` training standard
  deviations nor ``max_rate_noise`` times its row-to-row noise per hour) and only on rows that
  are calm: no alarm active and
  severity below ``guard``. A developing fault raises the severity before it has moved the
  baseline far, which stops the re-baselining, so the fault is alarmed instead of absorbed.
  During an alarm only smooth tags (temperatures) the episode does not name keep being
  followed, at the same rate limits, so a warm-up that went on under a vibration alarm does
  not hold that alarm up once the vibration is back to normal.
  Updates happen at fixed row counts from the start of the stream (every ``ADAPT_BLOCK`` rows),
  so the result does not depend on how the rows were batched into calls.
* **Severity**: a bounded 0-100 figure with the alarm threshold at exactly 50
  (``100 * r / (1 + r)`` for r = score / threshold), instead of raw scores that span decades.
* **Episodes**: an alarm episode keeps the explanation of its peak row (the tags, their values
  and their normal range), so the alarm row, the panel and the CLI all quote one figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from app.core.ports.detector import AlarmLatch, DetectorState, Scores, top_tags


class LiveDetector(Protocol):
    """The part of the SDK's `Detector` a monitor uses (a guarded wrapper qualifies too)."""

    @property
    def tags(self) -> list[str]: ...

    def fit(self, history: np.ndarray, tags: Sequence[str]) -> None: ...

    def score(self, batch: np.ndarray) -> Scores: ...

    def reset(self) -> None: ...

    def get_state(self) -> DetectorState: ...

#: severity at which a detector's score equals its threshold
SEVERITY_AT_THRESHOLD = 50.0
#: rows between two re-baselining steps (fixed from the start of the stream: batch-invariant)
ADAPT_BLOCK = 10
#: default re-baselining settings (recorded with every model, so replays match live)
DRIFT_DEFAULTS: dict[str, float] = {
    "drift_s": 100.0,  # time constant of the re-baselining, in seconds (0 = off)
    "max_rate": 240.0,  # the fastest drift followed, in training standard deviations per hour
    # ... and in multiples of the tag's row-to-row noise per hour: a smooth signal (a
    # thermocouple) wanders over a window far more than it jitters, so its standard deviation
    # alone would let a sensor running away be followed
    "max_rate_noise": 600.0,
    "guard": 40.0,  # only rows below this severity (and no alarm active) move the baseline
    "max_gain": 3.0,  # the most the tolerated short-term spread of a tag may grow
    # during an alarm, tags whose row-to-row noise is below this fraction of their training
    # spread (smooth tags: temperatures) keep being followed, at the rate limits, unless the
    # episode names them; 0 = nothing is followed during an alarm
    "alarm_follow": 0.7,
}
#: settings added after models were first saved, with the value that reproduces those models
SETTINGS_BEFORE = {"max_rate_noise": 0.0, "alarm_follow": 0.0}


def recorded_drift(saved: object) -> dict[str, float] | None:
    """A saved model's drift settings as it was trained with: a setting the model predates is
    off for it, so a restored model behaves as it did when it was enabled."""
    if not isinstance(saved, dict):
        return None
    return {**SETTINGS_BEFORE, **saved}


#: the part of the training data shown as a tag's "normal range"
RANGE_QUANTILES = (0.01, 0.99)
LEVEL_ALPHA = 0.2  # the smoothed tag level quoted in explanations (~5 rows)


def severity(score: np.ndarray | float, threshold: float) -> np.ndarray:
    """0-100, monotonic in the score, exactly ``SEVERITY_AT_THRESHOLD`` at the threshold."""
    s = np.asarray(score, dtype=float)
    if not np.isfinite(threshold) or threshold <= 0:
        return np.full(s.shape, np.nan)
    r = np.clip(np.nan_to_num(s / threshold, nan=0.0, posinf=1e12), 0.0, 1e12)
    return 100.0 * r / (1.0 + r)


def severity_text(value: float | None) -> str:
    """'severity 73 (alarm at 50)', never '100' for a finite score nor '0' for a positive one."""
    if value is None or not np.isfinite(value):
        return "no severity yet"
    v = float(value)
    shown = 99 if v > 99 and v < 100 else (1 if 0 < v < 1 else round(v))
    return f"severity {shown:.0f}"


@dataclass(frozen=True)
class NormalRange:
    """Each tag's normal range (training quantiles) and centre, in engineering units."""

    lo: np.ndarray
    hi: np.ndarray
    centre: np.ndarray
    noise: np.ndarray  # short-term (row-to-row) noise
    scale: np.ndarray  # standard deviation over the whole window (never zero)

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> NormalRange:
        x = np.asarray(rows, dtype=float)
        lo, hi = np.quantile(x, RANGE_QUANTILES, axis=0)
        noise = block_noise(x)
        return cls(lo=lo, hi=hi, centre=np.median(x, axis=0), noise=noise,
                   scale=np.maximum(x.std(axis=0), noise))

    def to_json(self) -> dict[str, list[float]]:
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "centre": self.centre.tolist(),
                "noise": self.noise.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], n_tags: int) -> NormalRange | None:
        try:
            arrs = [np.asarray(data[k], dtype=float)
                    for k in ("lo", "hi", "centre", "noise", "scale")]
        except (KeyError, TypeError, ValueError):
            return None
        if any(a.shape != (n_tags,) for a in arrs):
            return None
        return cls(*arrs)


@dataclass
class DriftGuard:
    """Slow, guarded re-baselining of each tag's level and noise (see the module docstring).

    The detector sees ``centre + (row - centre - offset) / gain``: ``offset`` follows the calm
    rows' mean level minus the training centre, ``gain`` the calm rows' short-term noise
    (`step_noise`, blind to trends) relative to training, both with weight
    ``seconds / drift_s`` per calm row's seconds, as in recursive PCA's forgetting-factor
    updates. The level moves at most ``max_rate`` training standard deviations per hour: an
    exponential follower alone would trail any ramp at a fixed lag, however fast, so a sensor
    running away would be followed for ever; with the rate limit, a ramp faster than normal
    drift outruns the baseline and its severity keeps growing until it alarms. The limit is
    also at most ``max_rate_noise`` times the tag's row-to-row noise per hour: the standard
    deviation of a smooth signal over a training window is mostly slow wander (the demo
    thermocouple: 0.6 °C wander, 0.005 °C jitter), so a limit in standard deviations alone
    followed a thermocouple running away at 3 °C/min for a third of its climb. ``gain`` stays
    within [1, ``max_gain``]: a quieter plant never makes the model more jumpy, and a noisier
    one is forgiven at most that much.
    """

    centre: np.ndarray
    noise: np.ndarray  # training short-term noise per tag (`step_noise`)
    scale: np.ndarray  # training standard deviation per tag
    drift_s: float = DRIFT_DEFAULTS["drift_s"]
    max_rate: float = DRIFT_DEFAULTS["max_rate"]
    guard: float = DRIFT_DEFAULTS["guard"]
    max_gain: float = DRIFT_DEFAULTS["max_gain"]
    max_rate_noise: float = DRIFT_DEFAULTS["max_rate_noise"]
    alarm_follow: float = DRIFT_DEFAULTS["alarm_follow"]
    offset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gain: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _rows: list[np.ndarray] = field(default_factory=list)
    _busy: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.offset.shape != self.centre.shape:
            self.offset = np.zeros_like(self.centre)
        if self.gain.shape != self.centre.shape:
            self.gain = np.ones_like(self.centre)

    @property
    def enabled(self) -> bool:
        return self.drift_s > 0

    def apply(self, rows: np.ndarray) -> np.ndarray:
        return self.centre + (rows - self.centre - self.offset) / self.gain

    def rate_limit(self) -> np.ndarray:
        """The fastest each tag's level is followed, in its units per hour."""
        per_hour = self.max_rate * self.scale
        if self.max_rate_noise > 0:
            per_hour = np.minimum(per_hour, self.max_rate_noise * self.noise)
        return per_hour

    @property
    def smooth(self) -> np.ndarray:
        """The tags followed during an alarm (when not to blame): row-to-row noise below
        ``alarm_follow`` times the training spread, i.e. slow, smooth signals."""
        return self.noise < self.alarm_follow * self.scale

    def observe(self, rows: np.ndarray, calm: np.ndarray) -> None:
        """Remember the calm rows of the current block, and the others (see `end_block`)."""
        if not self.enabled:
            return
        if calm.any():
            self._rows.append(rows[calm])
        if self.alarm_follow > 0 and not calm.all():
            self._busy.append(rows[~calm])

    def end_block(self, period_s: float = 1.0, follow: np.ndarray | None = None) -> None:
        """Move offset and gain towards the calm rows' level and spread, by the seconds those
        rows cover (``period_s`` per row). A block without a calm row moves only the ``follow``
        tags (smooth tags not to blame for the active alarm), by their level alone, under the
        same rate limits: a smooth tag's slow warm-up goes on while another tag is in alarm, and
        is not left as a standing offset when that alarm's cause has gone."""
        if self._busy and not self._rows and follow is not None and follow.any():
            busy = np.vstack(self._busy)
            seconds = len(busy) * period_s
            step = min(1.0, seconds / self.drift_s) * (busy.mean(axis=0) - self.centre - self.offset)
            limit = self.rate_limit() * seconds / 3600.0
            self.offset = np.where(follow, self.offset + np.clip(step, -limit, limit),
                                   self.offset)
        self._busy = []
        if self._rows:
            calm = np.vstack(self._rows)
            seconds = len(calm) * period_s
            w = min(1.0, seconds / self.drift_s)
            step = w * (calm.mean(axis=0) - self.centre - self.offset)
            limit = self.rate_limit() * seconds / 3600.0
            self.offset = self.offset + np.clip(step, -limit, limit)
            if len(calm) >= ADAPT_BLOCK // 2 and self.max_gain > 1:
                ratio = step_noise(calm) / self.noise
                target = np.clip(ratio, 1.0, self.max_gain)
                self.gain = self.gain + w * (target - self.gain)
        self._rows = []


def step_noise(rows: np.ndarray) -> np.ndarray:
    """Each tag's short-term noise: the RMS of row-to-row steps over sqrt(2). A trend (a
    drifting level, a ramping sensor) barely changes it, so the guard forgives more noise
    only when the noise itself grew, never because a level is moving."""
    x = np.asarray(rows, dtype=float)
    if len(x) < 2:
        return np.zeros(x.shape[1] if x.ndim == 2 else 0)
    return np.sqrt(np.mean(np.diff(x, axis=0) ** 2, axis=0) / 2.0)


def block_noise(rows: np.ndarray) -> np.ndarray:
    """Training's short-term noise per tag (`step_noise`), never zero."""
    x = np.asarray(rows, dtype=float)
    floor = 1e-6 * np.maximum(np.abs(np.median(x, axis=0)), 1.0)
    return np.maximum(step_noise(x), floor)


@dataclass
class Episode:
    """One alarm episode; ``peak_*`` describe its most severe row so far."""

    start_t: float
    peak_t: float
    peak_severity: float
    tags: list[str]
    text: str
    end_t: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"start_t": self.start_t, "end_t": self.end_t, "peak_t": self.peak_t,
                "peak_severity": self.peak_severity, "tags": list(self.tags), "text": self.text}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Episode:
        return cls(start_t=float(d["start_t"]), peak_t=float(d["peak_t"]),
                   peak_severity=float(d["peak_severity"]), tags=[str(t) for t in d["tags"]],
                   text=str(d["text"]),
                   end_t=None if d.get("end_t") is None else float(d["end_t"]))


@dataclass(frozen=True)
class Change:
    """What the alarm should show after a batch: raised, updated (a new peak) or cleared."""

    kind: str  # "raise", "update" or "clear"
    t: float
    episode: Episode


@dataclass
class BatchResult:
    score: np.ndarray  # per row, the detector's raw score
    severity: np.ndarray  # per row, 0-100
    alarm: np.ndarray  # per row, the latched alarm state
    changes: list[Change]


#: a new peak must exceed the shown one by this much before the alarm text is rewritten
PEAK_STEP = 5.0


class Monitor:
    """A trained detector in service: drift guard + latch + episodes. Not thread-safe; the
    engine runs each group's batches in order on one worker."""

    def __init__(self, detector: LiveDetector, latch: AlarmLatch, normal: NormalRange | None,
                 *, units: Mapping[str, str] | None = None,
                 drift: Mapping[str, float] | None = None):
        self.detector = detector
        self.latch = latch
        self.tags = list(detector.tags)
        self.normal = normal
        self.units = dict(units or {})
        settings = {**DRIFT_DEFAULTS, **(drift or {})}
        m = len(self.tags)
        enabled = normal is not None
        self.drift = DriftGuard(centre=normal.centre.copy() if normal else np.zeros(m),
                                noise=normal.noise.copy() if normal else np.ones(m),
                                scale=normal.scale.copy() if normal else np.ones(m),
                                drift_s=float(settings["drift_s"]) if enabled else 0.0,
                                max_rate=float(settings["max_rate"]),
                                guard=float(settings["guard"]),
                                max_gain=float(settings["max_gain"]),
                                max_rate_noise=float(settings["max_rate_noise"]),
                                alarm_follow=float(settings["alarm_follow"]))
        self.period_s = 1.0  # seconds per row, learned from the row times
        self._last_t: float | None = None
        self._period_known = False
        self.rows_seen = 0
        self.episode: Episode | None = None
        self.history: list[Episode] = []
        self.last_severity: float | None = None
        self._level: np.ndarray | None = None

    @property
    def drift_settings(self) -> dict[str, float]:
        d = self.drift
        return {"drift_s": d.drift_s, "max_rate": d.max_rate, "guard": d.guard,
                "max_gain": d.max_gain, "max_rate_noise": d.max_rate_noise,
                "alarm_follow": d.alarm_follow}

    # ------------------------------------------------------------------ streaming

    def process(self, rows: np.ndarray,
                times: Sequence[float] | np.ndarray | None = None) -> BatchResult:
        """Score the next rows of the stream in order (split at re-baselining block edges)."""
        x = np.asarray(rows, dtype=float)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        t = np.arange(self.rows_seen, self.rows_seen + len(x), dtype=float) if times is None \
            else np.asarray(times, dtype=float)
        score_parts: list[np.ndarray] = []
        sev_parts: list[np.ndarray] = []
        alarm_parts: list[np.ndarray] = []
        changes: list[Change] = []
        i = 0
        while i < len(x):
            room = ADAPT_BLOCK - self.rows_seen % ADAPT_BLOCK
            j = min(len(x), i + room)
            score, sev, alarm = self._block(x[i:j], t[i:j], changes)
            score_parts.append(score)
            sev_parts.append(sev)
            alarm_parts.append(alarm)
            i = j
        return BatchResult(
            score=np.concatenate(score_parts) if score_parts else np.zeros(0),
            severity=np.concatenate(sev_parts) if sev_parts else np.zeros(0),
            alarm=np.concatenate(alarm_parts) if alarm_parts else np.zeros(0, dtype=bool),
            changes=changes)

    def _block(self, x: np.ndarray, t: np.ndarray,
               changes: list[Change]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        was_active = self.latch.active
        scores = self.detector.score(self.drift.apply(x))
        alarm = self.latch.update(scores.score)
        sev = severity(scores.score, self.latch.threshold)
        levels = self._levels(x)
        for k in range(len(x)):
            active = bool(alarm[k])
            if active and self.episode is None:
                self.episode = self._episode_at(float(t[k]), float(sev[k]), scores.contributions[k],
                                                levels[k], start=float(t[k]))
                changes.append(Change("raise", float(t[k]), self.episode))
            elif active and self.episode is not None:
                if sev[k] >= self.episode.peak_severity + PEAK_STEP or (
                        sev[k] > self.episode.peak_severity and not self.episode.tags):
                    self.episode = self._episode_at(float(t[k]), float(sev[k]),
                                                    scores.contributions[k], levels[k],
                                                    start=self.episode.start_t)
                    changes.append(Change("update", float(t[k]), self.episode))
            elif not active and self.episode is not None:
                self.episode.end_t = float(t[k])
                self.history.append(self.episode)
                del self.history[:-HISTORY_KEEP]
                changes.append(Change("clear", float(t[k]), self.episode))
                self.episode = None
        calm = ~alarm & (sev < self.drift.guard)
        if was_active:  # rows of a block that began in alarm are not proof of normal
            calm[:] = False
        self.drift.observe(x, calm)
        self._learn_period(t)
        self.rows_seen += len(x)
        if self.rows_seen % ADAPT_BLOCK == 0:
            self.drift.end_block(self.period_s, self._followed())
        if len(sev):
            self.last_severity = float(sev[-1])
        return scores.score, sev, alarm

    def _followed(self) -> np.ndarray | None:
        """During an episode: the smooth tags it does not name (see `DriftGuard.smooth`)."""
        if self.episode is None or self.drift.alarm_follow <= 0:
            return None
        follow = self.drift.smooth.copy()
        follow[[self.tags.index(tag) for tag in self.episode.tags]] = False
        return follow

    def _learn_period(self, t: np.ndarray) -> None:
        """Seconds per row, a slow average of the row spacing (gaps of more than a minute,
        e.g. the device was offline, are not the polling rate)."""
        for ti in t.tolist():
            if self._last_t is not None:
                dt = ti - self._last_t
                if 0 < dt <= 60.0:
                    self.period_s += (0.05 if self._period_known else 1.0) * (dt - self.period_s)
                    self._period_known = True
            self._last_t = ti

    def _levels(self, x: np.ndarray) -> np.ndarray:
        out = np.empty_like(x)
        level = self._level
        for k, row in enumerate(x):
            level = row.copy() if level is None else level + LEVEL_ALPHA * (row - level)
            out[k] = level
        self._level = level
        return out

    # ------------------------------------------------------------------ explanation

    def _episode_at(self, t: float, sev: float, contrib: np.ndarray, level: np.ndarray,
                    *, start: float) -> Episode:
        tags = top_tags(contrib, self.tags)
        idx = [self.tags.index(tag) for tag in tags]
        return Episode(start_t=start, peak_t=t, peak_severity=sev, tags=tags,
                       text=f"peak {self.explain(sev, idx, level)}")

    def normal_bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Each tag's normal range now: the training range moved by the absorbed drift."""
        if self.normal is None:
            return None
        d, c = self.drift, self.normal.centre
        return (c + d.offset + (self.normal.lo - c) * d.gain, c + d.offset + (self.normal.hi - c) * d.gain)

    def explain(self, sev: float, idx: Sequence[int], level: np.ndarray) -> str:
        """'severity 73: accel1_rms 0.41 g, normal 0.20–0.23 g, high; flow ...'."""
        bounds = self.normal_bounds()
        parts = []
        for i in idx:
            name = self.tags[i].rsplit(".", 1)[-1]
            unit = self.units.get(self.tags[i], "")
            value = float(level[i])
            if bounds is None:
                parts.append(f"{name} {_num(value, unit)}")
                continue
            lo, hi = float(bounds[0][i]), float(bounds[1][i])
            way = "high" if value > hi else "low" if value < lo else "unusual pattern"
            parts.append(f"{name} {_num(value, unit)}, normal {_range(lo, hi, unit)}, {way}")
        who = "; ".join(parts) if parts else "no single tag stands out"
        return f"{severity_text(sev)}: {who}"

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        """What must survive a restart: latch, absorbed drift, current and past episodes."""
        lat = self.latch
        return {
            "latch": {"active": lat.active, "above": lat._above, "below": lat._below,
                      "held": lat._held},
            "offset": self.drift.offset.tolist(),
            "gain": self.drift.gain.tolist(),
            "rows_seen": self.rows_seen,
            "period_s": self.period_s,
            "episode": self.episode.to_json() if self.episode else None,
            "history": [e.to_json() for e in self.history],
        }

    def restore(self, snap: Mapping[str, Any]) -> None:
        """Undo `snapshot`; anything malformed is ignored (a fresh stream is the safe default)."""
        try:
            lat = snap["latch"]
            offset = np.asarray(snap["offset"], dtype=float)
            gain = np.asarray(snap.get("gain", np.ones_like(offset)), dtype=float)
            episode = Episode.from_json(snap["episode"]) if snap.get("episode") else None
            history = [Episode.from_json(e) for e in snap.get("history", [])]
            active = bool(lat["active"])
            counters = int(lat["above"]), int(lat["below"]), int(lat["held"])
            rows_seen = int(snap.get("rows_seen", 0))
            period = float(snap.get("period_s", 1.0))
        except (KeyError, TypeError, ValueError):
            return
        shape = self.drift.centre.shape
        if offset.shape != shape or gain.shape != shape or not np.isfinite([*offset, *gain]).all():
            return
        self.latch.active = active
        self.latch._above, self.latch._below, self.latch._held = counters
        self.drift.offset = offset
        self.drift.gain = np.clip(gain, 1.0, max(self.drift.max_gain, 1.0))
        self.episode = episode if active else None
        self.history = history[-HISTORY_KEEP:]
        self.rows_seen = rows_seen - rows_seen % ADAPT_BLOCK
        if 0 < period <= 60.0:
            self.period_s, self._period_known = period, True


HISTORY_KEEP = 50


def _num(v: float, unit: str) -> str:
    return f"{_fmt(v)} {unit}".rstrip() if unit else _fmt(v)


def _range(lo: float, hi: float, unit: str) -> str:
    text = f"{_fmt(lo)}–{_fmt(hi)}"
    return f"{text} {unit}" if unit else text


def _fmt(v: float) -> str:
    """3 significant digits, grouped thousands, no scientific notation."""
    if not np.isfinite(v):
        return "?"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v == 0:
        return "0"
    digits = max(0, 2 - int(np.floor(np.log10(abs(v)))))
    return f"{v:.{digits}f}"
