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
from typing import NamedTuple

from app.core.model import Value
from app.core.planner import ReadBlock
from app.core.profiles import DataType, Profile

BlockDecoder = Callable[[Sequence[int] | Sequence[bool]], list[Value]]


class CompiledBlock(NamedTuple):
    """``decode(words)`` returns the values of ``block.items[order[0]], block.items[order[1]]...``

    The order is the decoder's choice (numeric points grouped by view, then the rest) so the
    values come straight out of ``unpack_from`` without being shuffled back into item order.
    """

    order: tuple[int, ...]
    decode: BlockDecoder

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


def compile_block(profile: Profile, block: ReadBlock) -> CompiledBlock:
    """Compile the decoder of ``block``: numeric points by one ``unpack_from`` per view."""
    if block.table.is_bit_table:
        offsets = [item.offset for item in block.items]
        return CompiledBlock(tuple(range(len(offsets))), lambda words: [bool(words[o]) for o in offsets])

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

    unpackers: list[tuple[str, Callable[[bytes], tuple[Value, ...]]]] = []
    order: list[int] = []
    for (buf, endian), members in views.items():
        members.sort(key=lambda i: block.items[i].offset)
        fmt, pos = [endian], 0
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
            order.append(i)
        unpackers.append((buf, struct.Struct("".join(fmt)).unpack_from))

    scaled = [
        (k, block.items[i].point.scale, block.items[i].point.offset)
        for k, i in enumerate(order)
        if block.items[i].point.scale != 1.0 or block.items[i].point.offset != 0.0
    ]
    fallback.sort()
    slow = [(block.items[i].decode, block.items[i].offset) for i in fallback]
    order += fallback
    pack = {
        "B": struct.Struct(f">{block.count}H").pack,
        "L": struct.Struct(f"<{block.count}H").pack,
    }

    if len(unpackers) == 1 and not slow:
        (buf, unpack), pack_one = unpackers[0], pack[unpackers[0][0]]

        def decode_one_view(words: Sequence[int] | Sequence[bool]) -> list[Value]:
            values: list[Value] = list(unpack(pack_one(*words)))
            for k, scale, offset in scaled:
                values[k] = values[k] * scale + offset  # type: ignore[operator]
            return values

        return CompiledBlock(tuple(order), decode_one_view)

    def decode(words: Sequence[int] | Sequence[bool]) -> list[Value]:
        values: list[Value] = []
        packed: dict[str, bytes] = {}
        for buf, unpack in unpackers:
            data = packed.get(buf)
            if data is None:
                data = packed[buf] = pack[buf](*words)
            values.extend(unpack(data))
        for k, scale, offset in scaled:
            values[k] = values[k] * scale + offset  # type: ignore[operator]
        for dec, off in slow:
            values.append(dec(words, off))
        return values

    return CompiledBlock(tuple(order), decode)
