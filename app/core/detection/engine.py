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

from app.core.detection.provenance import JournalProvenance, Provenance
from app.core.detection.registry import detector_class as builtin_detector_class
from app.core.detection.rows import RowAssembler, rows_from_series
from app.core.detection.store import LoadedModel, ModelRefused, load_model, save_model
from app.core.model import Sample
from app.core.ports.detector import AlarmLatch, Detector, DetectorError, top_tags

log = logging.getLogger(__name__)

DEFAULT_DETECTOR = "pca_t2q"  # best on SKAB (see README)
BASELINE_ALPHA = 0.02  # ~50 rows: the "just before" an explanation compares with
EXPLAIN_EVERY_ROWS = 10  # while an alarm is active, look again at which tags explain it
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

    @property
    def score(self) -> float | None:
        """The latest score in threshold units' scale (same units as ``threshold``)."""
        return self.last_score

    @property
    def state(self) -> str:
        return "anomaly" if self.alarm else "normal"


@dataclass
class _Group:
    name: str
    detector: Detector
    latch: AlarmLatch
    assembler: RowAssembler
    priority: str
    pending: deque[tuple[float, np.ndarray]] = field(default_factory=deque)
    rows_scored: int = 0
    dropped: int = 0
    errors: int = 0
    last_error: str = ""
    last_score: float | None = None
    last_t: float | None = None
    in_flight: int = 0
    reported: bool = False  # the alarm state last sent to on_anomaly
    #: slow average of each tag's contribution while no alarm is active: explanations name what
    #: changed, not a tag that has been a little off (a slow drift) all along
    baseline: np.ndarray | None = None
    explained: list[str] = field(default_factory=list)  # tags named in the last explanation
    explanation: str = ""
    last_anomaly_at: float | None = None
    rows_since_explained: int = 0


class DetectionEngine:
    """Live anomaly detection for any number of tag groups (usually one per device)."""

    def __init__(
        self,
        *,
        on_anomaly: AnomalyCallback,
        provenance: Provenance,
        models_dir: Path,
        detector_class: Callable[[str], type] = builtin_detector_class,
        batch_rows: int = 5,
        max_batch_age_s: float = 5.0,
        max_pending_rows: int = 10_000,
        actor: str = "system",
    ):
        self.on_anomaly = on_anomaly
        self.provenance = provenance
        self.models_dir = Path(models_dir)
        self.detector_class = detector_class
        self.batch_rows = max(1, batch_rows)
        self.max_batch_age_s = max_batch_age_s
        self.max_pending_rows = max_pending_rows
        self.actor = actor
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
        cls = self.detector_class(detector)
        det: Detector = cls(**(params or {}))
        det.fit(np.asarray(rows, dtype=float), list(tags))
        state = det.get_state()
        training = {"rows": len(rows),
                    "t0": float(window[0]) if window else None,
                    "t1": float(window[1]) if window else None}
        path = self.models_dir / f"{_SAFE_ID.sub('_', group)}-{detector}-{int(time.time())}.npz"
        sha = save_model(state, path, extra={"group": group, "training": training})
        self.provenance.record(actor or self.actor, {
            "group": group, "detector": detector, "tags": list(tags), "params": state.params,
            "threshold": state.threshold, "training": training, "sha256": sha, "file": path.name,
        })
        self._install(group, det, AlarmLatch.for_state(state), priority)
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
        det = cls.from_state(loaded.state)
        self._install(group, det, AlarmLatch.for_state(loaded.state), priority)
        self.provenance.loaded(actor or self.actor, {"group": group, "sha256": loaded.sha256,
                                                     "file": Path(path).name})
        return ModelInfo(group, loaded.state.detector, loaded.state.tags, loaded.sha256, Path(path),
                         loaded.state.threshold, dict(loaded.meta.get("training") or {}))

    def _install(self, group: str, det: Detector, latch: AlarmLatch, priority: str) -> None:
        with self._lock:
            old = self._groups.get(group)
            self._groups[group] = _Group(group, det, latch, RowAssembler(det.tags), priority)
        if old is not None and old.reported:
            self._notify(old, False, "model replaced")

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

    def _submit(self, g: _Group) -> None:
        rows = list(g.pending)
        g.pending.clear()
        g.in_flight += len(rows)
        fut = self._executor.submit(self._score, g, rows)
        self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)

    def _score(self, g: _Group, rows: list[tuple[float, np.ndarray]]) -> None:
        """Executor thread: score one batch in order, drive the latch, raise/clear the alarm."""
        try:
            x = np.vstack([r for _, r in rows])
            scores = g.detector.score(x)
            states = g.latch.update(scores.score)
        except Exception as e:  # a broken detector is reported, not fatal
            g.errors += 1
            g.last_error = f"{type(e).__name__}: {e}"
            log.warning("detector for %s failed on a batch: %s", g.name, g.last_error)
            return
        finally:
            g.in_flight -= len(rows)
        g.rows_scored += len(rows)
        g.last_score, g.last_t = float(scores.score[-1]), rows[-1][0]
        for i, active in enumerate(states):
            contrib = scores.contributions[i]
            g.rows_since_explained += 1
            changed = bool(active) != g.reported
            if changed or (active and g.rows_since_explained >= EXPLAIN_EVERY_ROWS):
                thr = g.latch.threshold
                ratio = float(scores.score[i]) / thr if thr > 0 else float("inf")
                excess = contrib - g.baseline if g.baseline is not None else contrib
                tags = top_tags(excess, g.detector.tags) or top_tags(contrib, g.detector.tags)
                # while active, re-explain only when the picture changed (the alarm engine
                # updates the text of an active anomaly alarm without a new transition)
                if changed or set(tags) != set(g.explained):
                    g.reported, g.explained, g.rows_since_explained = bool(active), tags, 0
                    g.explanation = _explain(g.reported, ratio, tags)
                    if changed and active:
                        g.last_anomaly_at = rows[i][0]
                    self._notify(g, g.reported, g.explanation)
            if not active:
                g.baseline = contrib.copy() if g.baseline is None else (
                    g.baseline + BASELINE_ALPHA * (contrib - g.baseline))

    def _notify(self, g: _Group, active: bool, explanation: str) -> None:
        try:
            self.on_anomaly(g.name, active, tag_or_device=g.name,
                            explanation=explanation, priority=g.priority)
        except Exception:
            log.exception("anomaly callback failed for %s", g.name)

    # ---------------------------------------------------------------- status

    def groups(self) -> list[GroupStatus]:
        with self._lock:
            return [GroupStatus(g.name, g.detector.name, g.detector.tags, g.reported, g.last_score,
                                g.last_t, g.rows_scored, g.assembler.skipped, g.dropped, g.errors,
                                g.last_error, g.latch.threshold, g.explanation, g.last_anomaly_at)
                    for g in self._groups.values()]


def _explain(active: bool, ratio: float, tags: list[str]) -> str:
    if not active:
        return "behaviour back within the learned normal range"
    who = ", ".join(tags) if tags else "no single tag stands out"
    return f"abnormal behaviour (score {ratio:.1f}x threshold); most unusual: {who}"



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
