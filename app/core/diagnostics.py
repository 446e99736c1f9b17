"""Per-device communication health, as the runtime keeps it and hands it out.

Kept apart from the runtime so the UI, the CLI and the alarm engine can read the shape of
the diagnostics without importing the polling machinery.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

#: error kinds counted per device: no answer in time, Modbus exception response, reply that is
#: not a valid answer, link could not be opened, link broke / other I/O failure
ERROR_KINDS = ("timeout", "exception", "malformed", "connect", "io")
#: device states: first connection pending, answering, not answering (or unusable), disabled
STATES = ("connecting", "online", "offline", "disabled")


@dataclass
class DeviceDiagnostics:
    """Communication health of one device. ``Runtime.diagnostics()`` hands out copies.

    ``requests`` counts Modbus requests sent (reads and writes, answered or not); ``errors``
    counts failures by kind (ERROR_KINDS) and ``exception_codes`` the exception responses by
    code; latencies are over the last few hundred requests; ``last_good_t`` is when a read last
    succeeded (epoch s); ``overruns`` counts scan ticks skipped because the previous scan was
    still running; ``samples`` counts samples handed to the sinks.
    """

    device: str
    state: str = "connecting"
    requests: int = 0
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    exception_codes: dict[int, int] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    last_good_t: float | None = None
    last_error: str = ""
    last_error_t: float | None = None
    overruns: int = 0
    samples: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Delay before reconnect attempt ``attempt`` (0 = first retry): ``base * 2**attempt``
    capped at ``cap``, then scaled by a random factor in [0.5, 1] ("equal jitter") so that
    devices which failed together do not all retry in the same instant."""
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 30)))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of an already sorted, non-empty list."""
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[idx]
