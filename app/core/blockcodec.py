"""Decode a whole block read at once: the polling hot path.

Decoding point by point (``codec.make_decoder``) costs a slice, a bytes join and a
``struct.unpack`` per point, which made decoding the biggest cost of a poll (measured with
``tests/benchmarks/poll.py``). A block's numeric points can instead be read by one precompiled
``struct.Struct.unpack_from`` per byte/word-order combination, over the block packed into
bytes once.

Why two buffers are enough: with ``B`` = the registers packed big-endian and ``L`` = packed
little-endian, every (byte order, word order) pair is one of four (buffer, endianness) views:

    byte big,    word big    -> B read big-endian
    byte little, word big    -> L read big-endian
    byte big,    word little -> L read little-endian
    byte little, word little -> B read little-endian

(reversing the bytes of a run of registers reverses both the words and the bytes in each.)
Bools, strings and points that overlap another point of the same view keep their per-point
decoder. The result is checked against ``codec.make_decoder`` for random layouts in the tests.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from app.core.model import Value
from app.core.planner import ReadBlock
from app.core.profiles import DataType, Profile

BlockDecoder = Callable[[Sequence[int] | Sequence[bool]], list[Value]]

_CODE = {
    DataType.INT16: "h",
    DataType.UINT16: "H",
    DataType.INT32: "i",
    DataType.UINT32: "I",
    DataType.INT64: "q",
    DataType.UINT64: "Q",
    DataType.FLOAT32: "f",
    DataType.FLOAT64: "d",
}

#: (byte order, word order) -> (buffer, struct endianness)
_VIEW = {
    ("big", "big"): ("B", ">"),
    ("little", "big"): ("L", ">"),
    ("big", "little"): ("L", "<"),
    ("little", "little"): ("B", "<"),
}


def compile_block(profile: Profile, block: ReadBlock) -> BlockDecoder:
    """Return ``decode(words) -> values`` (one per ``block.items``, same order) for ``block``."""
    n_items = len(block.items)
    if block.table.is_bit_table:
        offsets = [item.offset for item in block.items]
        return lambda words: [bool(words[o]) for o in offsets]

    # numeric points per view, in address order; the rest fall back to their own decoder
    views: dict[tuple[str, str], list[int]] = {}
    fallback: list[int] = []
    for idx, item in enumerate(block.items):
        p = item.point
        if p.type in _CODE:
            key = _VIEW[(profile.byte_order(p), profile.word_order(p))]
            views.setdefault(key, []).append(idx)
        else:
            fallback.append(idx)

    unpackers: list[tuple[str, struct.Struct, list[int]]] = []
    for (buf, endian), members in views.items():
        members.sort(key=lambda i: block.items[i].offset)
        fmt, pos, kept = [endian], 0, []
        for i in members:
            item = block.items[i]
            start = item.offset * 2
            if start < pos:  # overlaps the previous point of this view
                fallback.append(i)
                continue
            if start > pos:
                fmt.append(f"{start - pos}x")
            fmt.append(_CODE[item.point.type])
            pos = start + item.point.width * 2
            kept.append(i)
        unpackers.append((buf, struct.Struct("".join(fmt)), kept))

    scaled = [
        (i, it.point.scale, it.point.offset)
        for _, _, kept in unpackers
        for i in kept
        if (it := block.items[i]).point.scale != 1.0 or it.point.offset != 0.0
    ]
    slow = [(i, block.items[i].decode, block.items[i].offset) for i in sorted(fallback)]
    need_b = any(buf == "B" for buf, _, _ in unpackers)
    need_l = any(buf == "L" for buf, _, _ in unpackers)
    pack_b = struct.Struct(f">{block.count}H").pack
    pack_l = struct.Struct(f"<{block.count}H").pack

    def decode(words: Sequence[int] | Sequence[bool]) -> list[Value]:
        values: list[Value] = [None] * n_items
        buffers = {}
        if need_b:
            buffers["B"] = pack_b(*words)
        if need_l:
            buffers["L"] = pack_l(*words)
        for buf, unpacker, kept in unpackers:
            for i, raw in zip(kept, unpacker.unpack_from(buffers[buf]), strict=True):
                values[i] = raw
        for i, scale, offset in scaled:
            values[i] = values[i] * scale + offset  # type: ignore[operator]
        for i, dec, off in slow:
            values[i] = dec(words, off)
        return values

    return decode
