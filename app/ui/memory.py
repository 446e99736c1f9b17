"""Give the C heap's free pages back to the system while the window runs for months.

A soak of the window (tests/benchmarks/soak.py --census) showed the process's own memory
growing while the heap's bytes in use stayed flat: what grew was memory glibc's allocator had
been handed back (free chunks inside its arenas: Qt's paint buffers, worker-thread history
arrays, journal rows) and kept. glibc returns only the free space at the very top of an arena
on its own; ``malloc_trim(0)`` also releases every whole free page inside the arenas. Called
once a minute from the GUI thread it costs about a millisecond.

Elsewhere than glibc (macOS, Windows, musl) there is nothing to call and ``trim_heap`` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache

#: how often the window trims (seconds): often enough that a night shift stays flat
TRIM_EVERY_S = 60.0


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def can_trim() -> bool:
    """Whether this C library can give free heap pages back (glibc)."""
    return _malloc_trim() is not None


def trim_heap() -> bool:
    """Release the heap's free pages to the system; True when some memory was released."""
    fn = _malloc_trim()
    return bool(fn(0)) if fn is not None else False
