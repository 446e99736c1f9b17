"""Sample fan-out: one completed poll (or any other batch) handed to every sink, on the core
thread, without letting a sink that raises stop the others or the polling.

Sinks implement `SampleSink.on_samples`; a `PollSink` also takes a completed device poll as
columns (``on_poll``), which spares a column store (the historian) walking one `Sample` tuple
per value. Both rules of the contract (app/CONTRACTS.md): return quickly, never raise; a raise
is caught, counted per sink, and logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Protocol

from app.core.model import Sample, Value

log = logging.getLogger(__name__)

_TAG = itemgetter(0)
_VALUE = itemgetter(1)
_QUALITY = itemgetter(2)
_map = map


class SampleSink(Protocol):
    def on_samples(self, batch: Sequence[Sample]) -> None: ...


class PollSink(SampleSink, Protocol):
    """A sink that can also take a device poll as columns (optional; see ``Runtime``).

    ``tags`` and ``values`` are parallel (the runtime may pass the same tags tuple every poll and
    a values list it does not touch again); ``qualities`` is one Quality code per value as bytes,
    or None when every value is GOOD. Every value shares the source time ``t``.
    """

    def on_poll(
        self, device: str, t: float, tags: tuple[str, ...], values: Sequence[Value], qualities: bytes | None
    ) -> None: ...


def _sink_calls(
    sink: SampleSink | Callable[[Sequence[Sample]], None],
) -> tuple[Callable[[Sequence[Sample]], None], Callable[..., None] | None]:
    """(on_samples, on_poll or None) of a sink; a plain callable is its own on_samples."""
    on_samples = getattr(sink, "on_samples", None)
    if on_samples is None:
        assert callable(sink)
        return sink, None
    return on_samples, getattr(sink, "on_poll", None)


class FanOut:
    """The sinks of one runtime and how many times each has raised (``errors``, per sink)."""

    def __init__(self, sinks: Sequence[SampleSink | Callable[[Sequence[Sample]], None]]):
        #: (on_samples or the callable itself, on_poll or None) per sink
        self._sinks = [_sink_calls(s) for s in sinks]
        self.errors = [0] * len(self._sinks)

    def emit(self, batch: list[Sample]) -> None:
        """Hand a batch that is not (or not only) one completed poll to every sink's on_samples."""
        for i, (on_samples, _on_poll) in enumerate(self._sinks):
            try:
                on_samples(batch)
            except Exception as e:
                self._failed(i, on_samples, e)

    def emit_poll(
        self, device: str, out: list[Sample], col_tags: list[tuple[str, ...]] | None, col_values: list[Value]
    ) -> None:
        """Hand one completed poll (``out``: every sample shares one time) to the sinks: as
        columns to those with ``on_poll``, as Samples to the others.

        ``col_tags`` (per block) and ``col_values`` are the poll's columns when every block was
        GOOD; otherwise (None) the columns are taken from ``out`` with qualities, once, and only
        if some sink wants them.
        """
        columns: tuple[str, float, tuple[str, ...], list[Value], bytes | None] | None = None
        for i, (on_samples, on_poll) in enumerate(self._sinks):
            try:
                if on_poll is None:
                    on_samples(out)
                    continue
                if columns is None:
                    t = out[0][3]
                    if col_tags is not None:
                        tags = col_tags[0] if len(col_tags) == 1 else tuple(chain.from_iterable(col_tags))
                        columns = (device, t, tags, col_values, None)
                    else:
                        columns = (device, t, tuple(_map(_TAG, out)), list(_map(_VALUE, out)),
                                   bytes(_map(_QUALITY, out)))
                on_poll(*columns)
            except Exception as e:
                self._failed(i, on_poll or on_samples, e)

    def _failed(self, i: int, sink: Callable[..., None], e: Exception) -> None:
        self.errors[i] += 1
        if self.errors[i] == 1:
            log.warning("sink %r raised %s: %s (counted; polling goes on)", sink, type(e).__name__, e)
