"""The live detector engine: learn normal per group of tags, score polls, raise anomaly alarms.

Flow: ``on_samples`` (core thread, must return at once) assembles one row per poll cycle per
group (`RowAssembler`, GOOD rows only) and queues it; once a group has ``batch_rows`` rows, or
its oldest queued row is ``max_batch_age_s`` older than its newest, the batch is scored in a
single-thread executor (scikit-learn costs ~4 ms a call: never one row per call; one worker keeps
each group's rows in order). The detector's latch turns scores into one alarm per episode and the
``on_anomaly`` callback (the alarm engine's ``set_anomaly``) raises or clears it with an
explanation naming the tags that contributed most.

Training (`learn_rows`, `learn_history`) saves the model file, journals ``model.trained`` with
its SHA-256, training window, detector and parameters; `load_model` refuses a file whose hash the
journal does not vouch for.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.core.detection.candidate import CandidateReport, evaluate, never_moved
from app.core.detection.monitor import Change, Monitor, NormalRange, recorded_drift, severity_text
from app.core.detection.persist import LiveState
from app.core.detection.provenance import JournalProvenance, Provenance
from app.core.detection.registry import detector_class as builtin_detector_class
from app.core.detection.rows import RowAssembler, rows_from_series
from app.core.detection.store import LoadedModel, ModelRefused, load_model, save_model
from app.core.model import Sample
from app.core.ports.detector import AlarmLatch, Detector, DetectorError, check_detector_params

log = logging.getLogger(__name__)

DEFAULT_DETECTOR = "pca_t2q"  # best on SKAB (see README)
BACKTEST_HISTORY_S = 4 * 3600.0  # "recent history" a learn-normal candidate is backtested on
SAVE_EVERY_S = 60.0  # live state (latch, absorbed drift, episodes) is saved at least this often
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")


class AnomalyCallback(Protocol):
    """Same shape as ``AlarmEngine.set_anomaly``."""

    def __call__(self, source_id: str, active: bool, *, tag_or_device: str, explanation: str,
                 priority: str = "medium") -> Any: ...


class HistorianLike(Protocol):
    def query(self, tags: Sequence[str], t0: float | None = None, t1: float | None = None,
              max_points: int | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ModelInfo:
    """What was trained or loaded, as shown to people and journaled."""

    group: str
    detector: str
    tags: list[str]
    sha256: str
    path: Path
    threshold: float
    training: dict[str, Any]


@dataclass
class GroupStatus:
    group: str
    detector: str
    tags: list[str]
    alarm: bool
    last_score: float | None
    last_t: float | None
    rows_scored: int
    rows_skipped: int
    rows_dropped: int
    errors: int
    last_error: str
    threshold: float = float("nan")
    explanation: str = ""  # the last explanation sent with a raise, update or clear
    last_anomaly_at: float | None = None  # sample time of the row that last raised the alarm
    severity: float | None = None  # the latest row's severity, 0-100, alarm at 50
    peak_severity: float | None = None  # the current (or last) episode's peak severity
    episodes: int = 0  # episodes remembered (survive restarts)

    @property
    def score(self) -> float | None:
        """The latest raw score (same units as ``threshold``)."""
        return self.last_score

    @property
    def severity_text(self) -> str:
        return severity_text(self.severity)

    @property
    def state(self) -> str:
        return "anomaly" if self.alarm else "normal"


@dataclass
class _Group:
    name: str
    monitor: Monitor
    assembler: RowAssembler
    priority: str
    sha256: str = ""
    pending: deque[tuple[float, np.ndarray]] = field(default_factory=deque)
    rows_scored: int = 0
    dropped: int = 0
    errors: int = 0
    last_error: str = ""
    last_score: float | None = None
    last_t: float | None = None
    in_flight: int = 0
    reported: bool = False  # the alarm state last sent to on_anomaly
    explanation: str = ""
    last_anomaly_at: float | None = None

    @property
    def detector_name(self) -> str:
        return str(getattr(self.monitor.detector, "name", "?"))

    @property
    def latch(self) -> AlarmLatch:
        return self.monitor.latch


class DetectionEngine:
    """Live anomaly detection for any number of tag groups (usually one per device)."""

    def __init__(
        self,
        *,
        on_anomaly: AnomalyCallback,
        provenance: Provenance,
        models_dir: Path,
        detector_class: Callable[[str], Any] = builtin_detector_class,
        batch_rows: int = 5,
        max_batch_age_s: float = 5.0,
        max_pending_rows: int = 10_000,
        actor: str = "system",
        units: dict[str, str] | None = None,
        drift: dict[str, float] | None = None,
    ):
        self.on_anomaly = on_anomaly
        self.provenance = provenance
        self.models_dir = Path(models_dir)
        self.detector_class = detector_class
        self.batch_rows = max(1, batch_rows)
        self.max_batch_age_s = max_batch_age_s
        self.max_pending_rows = max_pending_rows
        self.actor = actor
        self.units = dict(units or {})  # tag -> engineering unit, quoted in explanations
        self.drift = dict(drift or {})  # re-baselining settings for new models (monitor.DRIFT_DEFAULTS)
        self.live_state = LiveState(self.models_dir / "live_state.json")
        self._last_save = time.monotonic()
        self._groups: dict[str, _Group] = {}
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-detect")
        self._futures: set[Future[None]] = set()

    # ---------------------------------------------------------------- training and loading

    def learn_rows(self, group: str, tags: Sequence[str], rows: np.ndarray, *, detector: str,
                   params: dict[str, Any] | None = None, window: tuple[float, float] | None = None,
                   actor: str | None = None, priority: str = "medium") -> ModelInfo:
        """Fit ``detector`` on normal ``rows`` (time x tags), save, journal, and start scoring.

        Blocking (it fits a model): call it from a worker, never the GUI thread.
        """
        det, normal = fit_candidate(self.detector_class, detector, tags, rows, params)
        state = det.get_state()
        training = {"rows": len(rows),
                    "t0": float(window[0]) if window else None,
                    "t1": float(window[1]) if window else None}
        monitor = Monitor(det, AlarmLatch.for_state(state), normal, units=self.units,
                          drift=self.drift)
        path = self.models_dir / f"{_SAFE_ID.sub('_', group)}-{detector}-{int(time.time())}.npz"
        sha = save_model(state, path, extra={"group": group, "training": training,
                                             "normal": normal.to_json(),
                                             "drift": monitor.drift_settings})
        self.provenance.record(actor or self.actor, {
            "group": group, "detector": detector, "tags": list(tags), "params": state.params,
            "threshold": state.threshold, "training": training, "sha256": sha, "file": path.name,
            "drift": monitor.drift_settings,
        })
        self._install(group, monitor, priority, sha)
        return ModelInfo(group, detector, list(tags), sha, path, state.threshold, training)

    def learn_history(self, group: str, tags: Sequence[str], historian: HistorianLike, t0: float,
                      t1: float, *, detector: str, params: dict[str, Any] | None = None,
                      actor: str | None = None, priority: str = "medium") -> ModelInfo:
        """Learn normal from the historian's GOOD rows of ``tags`` between ``t0`` and ``t1``."""
        series = historian.query(list(tags), t0, t1)
        _, rows = rows_from_series(tags, series)
        if len(rows) == 0:
            raise DetectorError(f"group {group!r}: no time in {t0:.0f}..{t1:.0f} has GOOD values "
                                f"for all of {', '.join(tags)}; pick another training window")
        return self.learn_rows(group, tags, rows, detector=detector, params=params,
                               window=(t0, t1), actor=actor, priority=priority)

    def load_model(self, group: str, path: Path, *, actor: str | None = None,
                   priority: str = "medium") -> ModelInfo:
        """Put a saved model into service, only if the journal vouches for its SHA-256."""
        loaded: LoadedModel = load_model(path, self.provenance.vouches)
        if not self.provenance.vouches_for(loaded.sha256, group):
            raise ModelRefused(f"{path}: refused for detector group {group!r}: the journal's sealed "
                               "model.trained event for this file names another group")
        cls = self.detector_class(loaded.state.detector)
        check_detector_params(cls, loaded.state.params, loaded.state.detector)
        det = cls.from_state(loaded.state)
        normal = NormalRange.from_json(loaded.meta.get("normal") or {}, len(loaded.state.tags))
        monitor = Monitor(det, AlarmLatch.for_state(loaded.state), normal, units=self.units,
                          drift=recorded_drift(loaded.meta.get("drift")))
        snap = self.live_state.get(group, loaded.sha256)
        if snap is not None:
            monitor.restore(snap)
        self._install(group, monitor, priority, loaded.sha256)
        self.provenance.loaded(actor or self.actor, {"group": group, "sha256": loaded.sha256,
                                                     "file": Path(path).name})
        return ModelInfo(group, loaded.state.detector, loaded.state.tags, loaded.sha256, Path(path),
                         loaded.state.threshold, dict(loaded.meta.get("training") or {}))

    def _install(self, group: str, monitor: Monitor, priority: str, sha256: str) -> None:
        new = _Group(group, monitor, RowAssembler(monitor.tags), priority, sha256)
        restored = monitor.episode
        if restored is not None:  # an alarm that was active at shutdown is still this episode
            new.reported, new.explanation = True, _raised_text(restored.text)
            new.last_anomaly_at = restored.start_t
        elif monitor.history:
            last = monitor.history[-1]
            new.explanation, new.last_anomaly_at = _cleared_text(last.text), last.start_t
        with self._lock:
            old = self._groups.get(group)
            self._groups[group] = new
        if old is not None and old.reported:
            self._notify(old, False, "model replaced")
        self.save_state()

    def remove(self, group: str) -> None:
        with self._lock:
            old = self._groups.pop(group, None)
        if old is not None and old.reported:
            self._notify(old, False, "detection switched off")

    # ---------------------------------------------------------------- live scoring

    def on_samples(self, batch: Sequence[Sample]) -> None:
        """Sample sink (core thread): assemble rows and hand full batches to the executor."""
        try:
            with self._lock:
                for g in self._groups.values():
                    for row in g.assembler.add(batch):
                        g.pending.append(row)
                    while len(g.pending) > self.max_pending_rows:
                        g.pending.popleft()
                        g.dropped += 1
                    if g.pending and (len(g.pending) >= self.batch_rows
                                      or g.pending[-1][0] - g.pending[0][0] >= self.max_batch_age_s):
                        self._submit(g)
        except Exception:  # a sink must never raise into the runtime
            log.exception("detection engine: on_samples failed")

    def flush(self, timeout: float = 10.0) -> bool:
        """Score every queued row now and wait for it (tests, shutdown). False on timeout."""
        with self._lock:
            for g in self._groups.values():
                if g.pending:
                    self._submit(g)
            futures = list(self._futures)
        deadline = time.monotonic() + timeout
        for f in futures:
            try:
                f.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return False
        return True

    def close(self) -> None:
        self.flush()
        self._executor.shutdown(wait=True)
        self.save_state()

    def save_state(self) -> None:
        """Write every group's latch, absorbed drift and episodes (survives a restart)."""
        with self._lock:
            snaps = {g.name: (g.sha256, g.monitor.snapshot()) for g in self._groups.values()}
        try:
            self.live_state.save(snaps)
        except OSError as e:  # a full disk must not stop detection; say so in the log
            log.warning("detection: cannot save live state to %s: %s", self.live_state.path, e)
        self._last_save = time.monotonic()

    def _submit(self, g: _Group) -> None:
        rows = list(g.pending)
        g.pending.clear()
        g.in_flight += len(rows)
        fut = self._executor.submit(self._score, g, rows)
        self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)

    def _score(self, g: _Group, rows: list[tuple[float, np.ndarray]]) -> None:
        """Executor thread: score one batch in order through the group's monitor (drift guard,
        latch, episodes) and raise, update or clear the alarm."""
        try:
            x = np.vstack([r for _, r in rows])
            result = g.monitor.process(x, [t for t, _ in rows])
        except Exception as e:  # a broken detector is reported, not fatal
            g.errors += 1
            g.last_error = f"{type(e).__name__}: {e}"
            log.warning("detector for %s failed on a batch: %s", g.name, g.last_error)
            return
        finally:
            g.in_flight -= len(rows)
        g.rows_scored += len(rows)
        g.last_t = rows[-1][0]
        g.last_score = float(result.score[-1]) if len(result.score) else g.last_score
        for change in result.changes:
            self._announce(g, change)
        if result.changes or time.monotonic() - self._last_save >= SAVE_EVERY_S:
            self.save_state()

    def _announce(self, g: _Group, change: Change) -> None:
        ep = change.episode
        if change.kind == "clear":
            g.reported, g.explanation = False, _cleared_text(ep.text)
        else:
            g.reported, g.explanation = True, _raised_text(ep.text)
            if change.kind == "raise":
                g.last_anomaly_at = change.t
        self._notify(g, g.reported, g.explanation)

    def _notify(self, g: _Group, active: bool, explanation: str) -> None:
        try:
            self.on_anomaly(g.name, active, tag_or_device=g.name,
                            explanation=explanation, priority=g.priority)
        except Exception:
            log.exception("anomaly callback failed for %s", g.name)

    # ---------------------------------------------------------------- status

    def groups(self) -> list[GroupStatus]:
        with self._lock:
            return [self._status(g) for g in self._groups.values()]

    def episodes(self, group: str) -> list[dict[str, Any]]:
        """The group's remembered alarm episodes, oldest first (the current one last)."""
        with self._lock:
            g = self._groups.get(group)
            if g is None:
                return []
            eps = [*g.monitor.history, *([g.monitor.episode] if g.monitor.episode else [])]
            return [e.to_json() for e in eps]

    @staticmethod
    def _status(g: _Group) -> GroupStatus:
        m = g.monitor
        ep = m.episode or (m.history[-1] if m.history else None)
        return GroupStatus(g.name, g.detector_name, m.tags, g.reported, g.last_score,
                           g.last_t, g.rows_scored, g.assembler.skipped, g.dropped, g.errors,
                           g.last_error, g.latch.threshold, g.explanation, g.last_anomaly_at,
                           severity=m.last_severity,
                           peak_severity=ep.peak_severity if ep else None,
                           episodes=len(m.history) + (1 if m.episode else 0))


def fit_candidate(lookup: Callable[[str], Any], detector: str, tags: Sequence[str],
                  rows: np.ndarray, params: dict[str, Any] | None = None
                  ) -> tuple[Detector, NormalRange]:
    """Validate ``params`` against the detector's declared ranges, fit it on ``rows``, and
    measure each tag's normal range. Blocking (fits a model)."""
    cls = lookup(detector)
    check_detector_params(cls, params or {}, detector)
    det: Detector = cls(**(params or {}))
    x = np.asarray(rows, dtype=float)
    det.fit(x, list(tags))
    return det, NormalRange.from_rows(x)


def _raised_text(episode_text: str) -> str:
    return f"abnormal behaviour, {episode_text}"


def _cleared_text(episode_text: str) -> str:
    return f"behaviour back within the learned normal range (the episode's {episode_text})"


class DetectorEngine(DetectionEngine):
    """The engine as the Core facade builds it: wired to the journal, alarm engine, historian
    and plugin host it already has (``Core._make_detector_engine``)."""

    def __init__(self, *, journal: Any, alarms: Any, historian: Any, models_dir: Path,
                 plugins: Any = None, **kw: Any):
        lookup = builtin_detector_class if plugins is None else plugins.detector_class
        super().__init__(on_anomaly=alarms.set_anomaly, provenance=JournalProvenance(journal),
                         models_dir=models_dir, detector_class=lookup, **kw)
        self.historian = historian

    def learn_normal(self, group: str, t0: float, t1: float, *, actor: str | None = None,
                     detector: str = DEFAULT_DETECTOR, tags: Sequence[str] | None = None,
                     params: dict[str, Any] | None = None, priority: str = "medium") -> ModelInfo:
        """"Learn normal" for a device (``group``) from the historian between ``t0`` and ``t1``.

        ``tags`` defaults to every numeric tag of the device that has GOOD data in the window.
        """
        if tags is None:
            tags = numeric_tags(self.historian, group, t0, t1)
            if not tags:
                raise DetectorError(f"device {group!r}: the historian holds no numeric GOOD data "
                                    f"between {t0:.0f} and {t1:.0f}")
        return self.learn_history(group, tags, self.historian, t0, t1, detector=detector,
                                  params=params, actor=actor, priority=priority)

    def preview_normal(self, group: str, t0: float, t1: float, *,
                       detector: str = DEFAULT_DETECTOR, params: dict[str, Any] | None = None,
                       history_s: float = BACKTEST_HISTORY_S,
                       now: float | None = None) -> CandidateReport:
        """What `learn_normal` would build from ``t0``..``t1``, judged before enabling it:
        coverage warnings and a backtest on the recent history (nothing saved or journaled).
        Blocking (fits a model): call it from a worker."""
        tags = numeric_tags(self.historian, group, t0, t1)
        if not tags:
            raise DetectorError(f"device {group!r}: the historian holds no numeric GOOD data "
                                f"between {t0:.0f} and {t1:.0f}")
        left_out = never_moved(self.historian, group, t0, t1, tags)

        def fit(rows: np.ndarray) -> tuple[Detector, NormalRange]:
            if len(rows) == 0:
                raise DetectorError(f"group {group!r}: no time in the window has GOOD values for "
                                    f"all of {', '.join(tags)}; pick another training window")
            return fit_candidate(self.detector_class, detector, tags, rows, params)

        return evaluate(group, detector, tags, self.historian, t0, t1, fit=fit,
                        history_s=history_s, now=time.time() if now is None else now,
                        drift=self.drift, left_out=left_out)


def tag_units(plant: Any) -> dict[str, str]:
    """tag -> engineering unit from the plant's device profiles (explanations quote units)."""
    out: dict[str, str] = {}
    for device, profile in getattr(plant, "profiles", {}).items():
        for point in getattr(profile, "points", []):
            unit = getattr(point, "unit", "")
            if unit:
                out[f"{device}.{point.name}"] = str(unit)
    return out


def numeric_tags(historian: Any, device: str, t0: float, t1: float) -> list[str]:
    """The device's tags with numeric GOOD values that vary in the window. Left out: flags and
    constants (teach nothing) and counters that only ever rise (run hours, energy totals: every
    later value lies outside the training range, so they would alarm for ever)."""
    prefix = f"{device}."
    names = [t for t in historian.tags() if t.startswith(prefix)]
    out = []
    for tag, s in historian.query(names, t0, t1).items():
        v = np.asarray(s.value)
        if v.dtype.kind != "f" or len(v) < 2:
            continue
        good = v[(np.asarray(s.quality) == 0) & np.isfinite(v)]
        if len(good) > 2 and len(np.unique(good)) > 2 and not np.all(np.diff(good) >= 0):
            out.append(tag)
    return sorted(out)
