"""A point's engineering range: explicit, derived from its limits, or honestly absent."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.profiles import Point


def _point(**fields: object) -> Point:
    base: dict[str, object] = {"name": "p", "table": "holding", "address": 0, "type": "uint16"}
    base.update(fields)
    return Point.model_validate(base)


def test_explicit_range_wins_over_limits() -> None:
    assert _point(range=[0, 100], hi=85, hihi=95).engineering_range == (0.0, 100.0)


def test_range_from_upper_limits_only_starts_at_zero() -> None:
    low, high = _point(hi=85, hihi=95).engineering_range or (None, None)
    assert low == 0.0 and high == pytest.approx(104.5)


def test_range_from_both_sides_is_padded() -> None:
    assert _point(lolo=10, hihi=20).engineering_range == pytest.approx((9.0, 21.0))


def test_no_marks_no_range() -> None:
    assert _point().engineering_range is None
    assert _point(table="coil", type="bool").engineering_range is None


@pytest.mark.parametrize("bad", [[5, 5], [10, 0]])
def test_empty_or_reversed_range_is_refused(bad: list[int]) -> None:
    with pytest.raises(ValidationError, match="lowest < highest"):
        _point(range=bad)


def test_range_on_a_string_is_refused() -> None:
    with pytest.raises(ValidationError, match="numeric"):
        _point(type="string", count=4, range=[0, 1])
