"""The poll planner: a device profile -> scan groups of block reads.

Every Modbus request costs a round trip (and, on a serial bus, bus time shared by every device),
so points that sit near each other are read together. Scan classes polled at the same multiple
of the device's interval share one scan group (the default ``fast`` and ``normal`` both poll at
every interval, and reading their neighbouring points in separate requests would only double
the round trips). Per table and scan group, points are sorted by address and packed greedily
into blocks: a block grows while its span stays within
``max_registers_per_read`` (``max_bits_per_read`` for coils and discrete inputs) and the run of
unused registers it would have to span to reach the next point is at most ``max_gap``.

Why greedy is optimal here: a block is feasible when its span and its internal gaps are small
enough, and any contiguous (in address order) sub-run of a feasible block is feasible too. For
such "interval" constraints, taking as many points as fit before starting a new block gives the
minimum number of blocks (the classic exchange argument). The tests check this against a
brute-force search over every partition of small random layouts.

A point is never split across reads: a point wider than the per-read limit can never be read,
and the profile is refused with the point and field named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from app.core.codec import make_decoder
from app.core.errors import ConfigError
from app.core.model import Value
from app.core.profiles import Point, Profile, Table

Decoder = Callable[[Sequence[int] | Sequence[bool], int], Value]


class BlockItem(NamedTuple):
    """One point inside a block read: ``decode(words, offset)`` gives its engineering value."""

    point: Point
    offset: int
    decode: Decoder


class ReadBlock(NamedTuple):
    """One Modbus read request: ``count`` registers (or bits) of ``table`` from ``address``."""

    table: Table
    address: int
    count: int  # type: ignore[assignment]  # shadows tuple.count (a mypy limitation)
    items: tuple[BlockItem, ...]


class ScanGroup(NamedTuple):
    """All the block reads of the scan classes sharing one multiple, repeated every
    ``interval_s`` seconds; ``scan_class`` names them (``"fast+normal"``)."""

    scan_class: str
    interval_s: float
    blocks: tuple[ReadBlock, ...]


#: tables in the order their blocks are issued within a scan group
_TABLE_ORDER = (Table.HOLDING, Table.INPUT, Table.COIL, Table.DISCRETE)


def pack_intervals(
    spans: Sequence[tuple[int, int]], max_count: int, max_gap: int
) -> list[list[int]]:
    """Group address spans ``(start, end)`` (end exclusive) into the fewest block reads.

    Returns lists of indices into ``spans``, each list one block, in address order. Every span
    must already fit ``max_count`` on its own (``build_plan`` checks this first).
    """
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1]))
    blocks: list[list[int]] = []
    current: list[int] = []
    block_start = block_end = 0
    for i in order:
        start, end = spans[i]
        if current:
            new_end = max(block_end, end)
            gap = start - block_end
            if gap <= max_gap and new_end - block_start <= max_count:
                current.append(i)
                block_end = new_end
                continue
            blocks.append(current)
        current = [i]
        block_start, block_end = start, end
    if current:
        blocks.append(current)
    return blocks


def _limit_for(profile: Profile, table: Table) -> tuple[int, str]:
    if table.is_bit_table:
        return profile.device.max_bits_per_read, "max_bits_per_read"
    return profile.device.max_registers_per_read, "max_registers_per_read"


#: the floor of every scan group's interval (a plant file's ``interval_ms`` is at least 10)
MIN_INTERVAL_S = 0.01


def build_plan(profile: Profile, interval_s: float) -> list[ScanGroup]:
    """Turn ``profile`` into scan groups for a device polled every ``interval_s`` seconds.

    A scan class's interval is ``interval_s`` times its multiple in ``[device] scan_classes``.
    Raises ConfigError (naming the profile, point and field) if a point cannot be read whole.
    """
    problems = []
    for i, p in enumerate(profile.points):
        limit, field = _limit_for(profile, p.table)
        if p.width > limit:
            problems.append(
                f"point '{p.name}' (points[{i}]), field 'count': {p.width} registers cannot be "
                f"read in one request ([device] {field} = {limit})"
            )
    if problems:
        raise ConfigError(profile.path or profile.device.id, problems)

    multiples = profile.device.scan_classes
    by_multiple: dict[float, dict[Table, list[Point]]] = {}
    for p in profile.points:
        by_multiple.setdefault(multiples[p.scan], {}).setdefault(p.table, []).append(p)

    groups = []
    for multiple in sorted(by_multiple):
        tables = by_multiple[multiple]
        names = sorted({p.scan for points in tables.values() for p in points})
        blocks: list[ReadBlock] = []
        for table in _TABLE_ORDER:
            points = tables.get(table)
            if not points:
                continue
            limit, _ = _limit_for(profile, table)
            spans = [(p.address, p.address + p.width) for p in points]
            for members in pack_intervals(spans, limit, profile.device.max_gap):
                address = min(spans[m][0] for m in members)
                end = max(spans[m][1] for m in members)
                items = tuple(
                    BlockItem(points[m], points[m].address - address, make_decoder(profile, points[m]))
                    for m in members
                )
                blocks.append(ReadBlock(table, address, end - address, items))
        # never faster than the shortest poll interval a plant file may set
        interval = max(MIN_INTERVAL_S, interval_s * multiple)
        groups.append(ScanGroup("+".join(names), interval, tuple(blocks)))
    return groups


def count_reads(plan: Sequence[ScanGroup]) -> int:
    """Block reads issued per full cycle of every scan group (each group counted once)."""
    return sum(len(g.blocks) for g in plan)
