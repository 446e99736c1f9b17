"""The window gives the C heap's free pages back (issue 18: its memory crept up over a soak
while the heap's bytes in use stayed flat)."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import pytest

from app.ui import memory

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or not memory.can_trim(),
                           reason="malloc_trim is glibc's")


@glibc
def test_free_pages_inside_the_heap_are_given_back() -> None:
    # 30 MB in blocks below the mmap threshold (so they live inside the heap), then every block
    # but one in ten freed: whole free pages in the middle, which free() alone keeps
    blocks = [ctypes.create_string_buffer(4096) for _ in range(7500)]
    keep = blocks[::10]
    del blocks
    assert keep
    assert memory.trim_heap() is True


def test_the_window_collector_trims_once_a_minute_of_its_checks(qtbot: Any, monkeypatch: Any) -> None:
    from app.ui import app as ui_app

    calls: list[int] = []

    def trim() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(memory, "trim_heap", trim)
    collector = ui_app.settle_memory()
    try:
        collector.timer.stop()  # the test drives the checks
        per_minute = round(memory.TRIM_EVERY_S / (collector.timer.interval() / 1000))
        for _ in range(per_minute - 1):
            collector.check()
        assert calls == []
        collector.check()
        assert calls == [1] and collector.trims == 1
    finally:
        collector.timer.stop()
