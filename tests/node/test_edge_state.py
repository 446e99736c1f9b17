"""What the edge node remembers per device for its births stays bounded and newest-first
whatever sets of tags the fan-out hands it."""

from __future__ import annotations

from app.core.model import Quality
from app.station.node.edge import MAX_TAG_SETS, _DeviceState
from app.station.node.model import DeviceDef
from app.station.node.tap import Poll


def test_many_tag_sets_fold_into_the_newest_value_per_tag() -> None:
    st = _DeviceState(DeviceDef("dev"))
    tags = [f"dev.p{i}" for i in range(10)]
    newest: dict[str, tuple[object, Quality, float]] = {}
    for k in range(5 * MAX_TAG_SETS):
        subset = tuple(t for i, t in enumerate(tags) if (k >> (i % 7)) & 1 or i == k % 10)
        quality = Quality.BAD_COMM if k % 5 == 0 else Quality.GOOD
        values = [k * 100 + i for i in range(len(subset))]
        st.remember(Poll("dev", float(k), subset, values, bytes([int(quality)] * len(subset))))
        for tag, value in zip(subset, values, strict=True):
            newest[tag] = (value, quality, float(k))
        assert len(st.last) <= MAX_TAG_SETS
    assert st.latest() == newest
