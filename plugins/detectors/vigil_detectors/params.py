"""Detector parameters are checked where they are declared, before any fitting, so a bad
``--set alpha=-5`` is refused by name with its allowed range instead of surfacing later as a
LinAlgError (or, worse, a model that trains and alarms on nonsense)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.sdk import DetectorError


@dataclass(frozen=True)
class Param:
    """One parameter's kind and range. ``lo_open``/``hi_open``: the bound itself is excluded."""

    kind: type  # float, int or bool
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false"
        what = "a whole number" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            return f"{what} in {left}{self.lo:g}, {self.hi:g}{right}"
        if self.lo is not None:
            return f"{what} {'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{what} {'<' if self.hi_open else '<='} {self.hi:g}"
        return what

    def accepts(self, value: Any) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False  # JSON true is not 1, and "3" is text, not a number
        if self.kind is int and not float(value).is_integer():
            return False
        v = float(value)
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))


def check_params(detector: str, params: Mapping[str, Any], rules: Mapping[str, Param]) -> None:
    """Raise DetectorError naming every unknown parameter, or the first value out of range."""
    unknown = sorted(set(params) - set(rules))
    if unknown:
        raise DetectorError(f"{detector}: unknown parameter(s) {unknown}; known: {sorted(rules)}")
    for name, value in params.items():
        rule = rules[name]
        if not rule.accepts(value):
            raise DetectorError(f"{detector}: parameter '{name}' must be {rule.describe()}, got {value!r}")


FRACTION = Param(float, 0.0, 1.0, lo_open=True)  # (0, 1]
