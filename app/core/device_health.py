"""One device's communication health, as the runtime keeps it: request and error counts by
kind, latencies, the last good sample, and the state (connecting, online, offline...).

The runtime updates it on the core thread; ``snapshot`` hands any thread a copy (with latency
percentiles), and every state change is reported once through ``on_change`` (the station turns
that into the device's comm-loss alarm).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from app.core.diagnostics import DeviceDiagnostics, percentile

log = logging.getLogger(__name__)


class DeviceHealth:
    """``lock`` is shared by all devices of a runtime (its diagnostics are read all at once)."""

    def __init__(
        self,
        device: str,
        latency_window: int,
        lock: threading.Lock,
        on_change: Callable[[DeviceDiagnostics], None],
    ) -> None:
        self.diag = DeviceDiagnostics(device)
        self.latencies: deque[float] = deque(maxlen=latency_window)
        self._lock = lock
        self._on_change = on_change

    def record_error(
        self, kind: str, text: str, code: int | None = None, latency: float | None = None
    ) -> None:
        with self._lock:
            d = self.diag
            d.requests += kind not in ("connect",)
            d.errors[kind] = d.errors.get(kind, 0) + 1
            if code is not None:
                d.exception_codes[code] = d.exception_codes.get(code, 0) + 1
            d.last_error = text
            d.last_error_t = time.time()
            if latency is not None:
                self.latencies.append(latency)

    def record_good(self, t: float, latency: float) -> None:
        with self._lock:
            d = self.diag
            d.requests += 1
            d.last_good_t = t
            self.latencies.append(latency)

    def set_state(self, state: str, last_error: str) -> None:
        with self._lock:
            changed = self.diag.state != state
            self.diag.state = state
            self.diag.last_error = last_error
        if changed:
            self.notify()

    def notify(self) -> None:
        """Report the current diagnostics (a copy) to ``on_change``; it must not raise."""
        with self._lock:
            snap = self.snapshot_locked()
        try:
            self._on_change(snap)
        except Exception as e:
            log.warning("on_diagnostics callback raised %s: %s", type(e).__name__, e)

    def snapshot_locked(self) -> DeviceDiagnostics:
        """A copy with latency percentiles; the caller holds the lock."""
        d = self.diag
        snap = replace(d, errors=dict(d.errors), exception_codes=dict(d.exception_codes))
        if self.latencies:
            ordered = sorted(self.latencies)
            snap.latency_p50_ms = percentile(ordered, 0.50) * 1000.0
            snap.latency_p99_ms = percentile(ordered, 0.99) * 1000.0
        return snap
