"""The planner issues the fewest block reads, never splits a point, and keeps every limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.codec import make_decoder
from app.core.errors import ConfigError
from app.core.planner import build_plan, count_reads, pack_intervals
from app.core.profiles import Profile, Table


def _profile(points: list[dict], **device) -> Profile:
    dev = {"id": "t", **device}
    return Profile.model_validate({"device": dev, "points": points})


def _feasible(spans: list[tuple[int, int]], max_count: int, max_gap: int) -> bool:
    """A block is readable when its span fits and no run of unused registers exceeds max_gap."""
    start = min(s for s, _ in spans)
    end = max(e for _, e in spans)
    if end - start > max_count:
        return False
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    gap = 0
    for a in range(start, end):
        gap = 0 if a in covered else gap + 1
        if gap > max_gap:
            return False
    return True


def _partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1 :]]
        yield [[first], *part]


def _brute_force_minimum(spans, max_count, max_gap) -> int:
    best = len(spans)
    for part in _partitions(list(range(len(spans)))):
        if len(part) < best and all(_feasible([spans[i] for i in b], max_count, max_gap) for b in part):
            best = len(part)
    return best


layouts = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from([1, 1, 2, 4])), min_size=1, max_size=7
)


@settings(max_examples=150, deadline=None)
@given(layouts, st.integers(4, 12), st.integers(0, 5))
def test_pack_intervals_matches_brute_force_optimum(raw, max_count, max_gap):
    spans = [(a, a + w) for a, w in raw]
    blocks = pack_intervals(spans, max_count, max_gap)
    assert sorted(i for b in blocks for i in b) == list(range(len(spans)))
    for b in blocks:
        assert _feasible([spans[i] for i in b], max_count, max_gap)
    assert len(blocks) == _brute_force_minimum(spans, max_count, max_gap)


def test_neighbours_merge_and_gaps_split():
    prof = _profile(
        [
            {"name": "a", "table": "holding", "address": 0, "type": "uint16"},
            {"name": "b", "table": "holding", "address": 1, "type": "float32"},
            {"name": "c", "table": "holding", "address": 5, "type": "int16"},  # gap 2 <= 2
            {"name": "d", "table": "holding", "address": 20, "type": "int16"},  # gap 14 > 2
            {"name": "e", "table": "input", "address": 1, "type": "int16"},  # other table
            {"name": "f", "table": "coil", "address": 3, "type": "bool"},
            {"name": "g", "table": "coil", "address": 4, "type": "bool"},
        ],
        max_gap=2,
    )
    (group,) = build_plan(prof, 0.5)
    assert group.scan_class == "normal" and group.interval_s == 0.5
    got = [(b.table.value, b.address, b.count, [i.point.name for i in b.items]) for b in group.blocks]
    assert got == [
        ("holding", 0, 6, ["a", "b", "c"]),
        ("holding", 20, 1, ["d"]),
        ("input", 1, 1, ["e"]),
        ("coil", 3, 2, ["f", "g"]),
    ]
    offsets = {i.point.name: i.offset for b in group.blocks for i in b.items}
    assert offsets == {"a": 0, "b": 1, "c": 5, "d": 0, "e": 0, "f": 0, "g": 1}


def test_limit_is_respected_and_points_never_split():
    # four float32 at 0,2,4,6 with a 5-register limit: a read may hold two of them, never 2.5
    prof = _profile(
        [{"name": f"p{i}", "table": "input", "address": 2 * i, "type": "float32"} for i in range(4)],
        max_registers_per_read=5,
    )
    (group,) = build_plan(prof, 1.0)
    assert [(b.address, b.count) for b in group.blocks] == [(0, 4), (4, 4)]


def test_scan_classes_get_their_own_groups_and_intervals():
    prof = _profile(
        [
            {"name": "fast1", "table": "holding", "address": 0, "type": "uint16", "scan": "fast"},
            {"name": "slow1", "table": "holding", "address": 1, "type": "uint16", "scan": "slow"},
            {"name": "fast2", "table": "holding", "address": 2, "type": "uint16", "scan": "fast"},
        ],
        scan_classes={"fast": 1.0, "slow": 10.0},
    )
    plan = build_plan(prof, 0.2)
    assert [(g.scan_class, g.interval_s, len(g.blocks)) for g in plan] == [
        ("fast", 0.2, 1),
        ("slow", 2.0, 1),
    ]
    assert count_reads(plan) == 2


def test_scan_classes_polled_at_the_same_multiple_share_their_reads():
    # the default "fast" and "normal" both poll every interval: neighbours in the two classes
    # are one request, not two, and a class at another multiple keeps its own group
    prof = _profile(
        [
            {"name": "vib", "table": "input", "address": 0, "type": "float32", "scan": "fast"},
            {"name": "flow", "table": "input", "address": 2, "type": "float32", "scan": "fast"},
            {"name": "temp", "table": "input", "address": 4, "type": "float32", "scan": "normal"},
            {"name": "hours", "table": "input", "address": 6, "type": "uint32", "scan": "slow"},
            {"name": "run", "table": "coil", "address": 0, "type": "bool", "scan": "normal"},
        ],
        scan_classes={"fast": 1.0, "normal": 1.0, "slow": 10.0},
    )
    plan = build_plan(prof, 0.5)
    assert [(g.scan_class, g.interval_s) for g in plan] == [("fast+normal", 0.5), ("slow", 5.0)]
    every_poll = plan[0]
    assert [(b.table, b.address, b.count) for b in every_poll.blocks] == [
        (Table.INPUT, 0, 6),
        (Table.COIL, 0, 1),
    ]
    assert [i.point.name for i in every_poll.blocks[0].items] == ["vib", "flow", "temp"]
    assert count_reads(plan) == 3


def test_bits_in_one_register_share_a_read():
    prof = _profile(
        [
            {"name": f"b{i}", "table": "holding", "address": 7, "type": "bool", "bit": i}
            for i in range(3)
        ]
    )
    (group,) = build_plan(prof, 1.0)
    (block,) = group.blocks
    assert (block.address, block.count) == (7, 1)
    assert [block.items[i].decode([0b101], 0) for i in range(3)] == [True, False, True]


def test_items_carry_the_codec_decoder():
    prof = _profile([{"name": "x", "table": "holding", "address": 0, "type": "int32", "scale": 0.5}])
    item = build_plan(prof, 1.0)[0].blocks[0].items[0]
    regs = [0xFFFF, 0xFFFE]
    assert item.decode(regs, 0) == make_decoder(prof, prof.points[0])(regs, 0) == -1.0


def test_point_wider_than_a_read_is_refused_with_its_name():
    prof = _profile(
        [{"name": "serial_no", "table": "holding", "address": 0, "type": "string", "count": 20}],
        max_registers_per_read=10,
    )
    with pytest.raises(ConfigError) as e:
        build_plan(prof, 1.0)
    assert "serial_no" in str(e.value) and "max_registers_per_read" in str(e.value)
