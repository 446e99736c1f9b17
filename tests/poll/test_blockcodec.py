"""The block decoder (hot path) gives exactly what the per-point codec gives, for any layout."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.blockcodec import compile_block
from app.core.planner import build_plan
from app.core.profiles import Profile

TYPES = ["int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string", "bool"]
ORDERS = st.sampled_from(["big", "little"])


@st.composite
def layouts(draw):
    points = []
    for i in range(draw(st.integers(1, 12))):
        t = draw(st.sampled_from(TYPES))
        p = {"name": f"p{i}", "table": "holding", "address": draw(st.integers(0, 30)), "type": t,
             "byte_order": draw(ORDERS), "word_order": draw(ORDERS)}
        if t == "string":
            p["count"] = draw(st.integers(1, 3))
        if t == "bool":
            p["bit"] = draw(st.integers(0, 15))
        if t not in ("string", "bool") and draw(st.booleans()):
            p["scale"] = draw(st.sampled_from([0.1, 2.0, -0.5]))
            p["offset"] = draw(st.sampled_from([0.0, -40.0, 3.5]))
        points.append(p)
    profile = Profile.model_validate({"device": {"id": "x", "max_gap": 124}, "points": points})
    words = draw(st.lists(st.integers(0, 0xFFFF), min_size=40, max_size=40))
    return profile, words


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


@settings(max_examples=200, deadline=None)
@given(layouts())
def test_block_decoder_matches_point_decoders(layout):
    profile, words = layout
    for group in build_plan(profile, 1.0):
        for block in group.blocks:
            data = words[block.address : block.address + block.count]
            order, decode = compile_block(profile, block)
            assert sorted(order) == list(range(len(block.items)))
            fast = decode(data)
            slow = [block.items[i].decode(data, block.items[i].offset) for i in order]
            assert all(same(f, s) for f, s in zip(fast, slow, strict=True)), (fast, slow)


def test_bit_tables():
    profile = Profile.model_validate({"device": {"id": "x"}, "points": [
        {"name": "a", "table": "coil", "address": 3, "type": "bool"},
        {"name": "b", "table": "coil", "address": 5, "type": "bool"},
    ]})
    (block,) = build_plan(profile, 1.0)[0].blocks
    order, decode = compile_block(profile, block)
    assert order == (0, 1) and decode([True, False, False]) == [True, False]
