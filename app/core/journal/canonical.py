"""Canonical JSON: the one byte form of an event body or checkpoint that is hashed and signed.

A hash chain or a signature is only checkable if every reader turns the same value into the same
bytes, so the journal uses a published standard, RFC 8785 (JSON Canonicalization Scheme): object
keys sorted by their UTF-16 code units, no whitespace, strings escaped minimally, numbers written
as ECMAScript writes an IEEE double (``1.0`` is ``1``, ``1e-7`` is ``1e-7``), UTF-8 bytes.

Integers beyond +/-(2**53 - 1) are refused: JCS numbers are doubles, so such an integer has no
exact canonical form and two implementations could disagree on it. NaN and Infinity have no
JSON spelling at all and are refused too, as are lone surrogates (not valid Unicode).

Written here rather than taken from the ``rfc8785`` package because this runs on the writer's
hot path for every event; the test suite checks it against ``rfc8785`` and against the
standalone verifier's own implementation with generated values.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: largest integer a double holds exactly; JCS numbers are doubles
MAX_SAFE_INTEGER = 2**53 - 1

_escape = json.encoder.encode_basestring  # C: minimal JSON escaping


class JournalBodyError(ValueError):
    """An event body cannot be written to the journal (not JSON, NaN/Infinity, bad text)."""


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def format_number(x: float) -> str:
    """An IEEE double in ECMAScript ``Number.prototype.toString`` form (RFC 8785 section 3.2.2.3)."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + format_number(-x)
    mantissa, _, exp_text = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # x = 0.digits * 10**n, i.e. n = position of the decimal point relative to the digits
    n = len(whole) - (len(whole + frac) - len(digits)) + (int(exp_text) if exp_text else 0)
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e > 0 else "-"
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(e)}"


def _encode(value: Any, out: list[str]) -> None:
    # bool before int: True is an int in Python
    if isinstance(value, str):
        out.append(_escape(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            out.append(int.__repr__(value))
        else:
            raise JournalBodyError(f"integer {value} is beyond +/-(2**53 - 1), which JSON "
                                   "numbers (IEEE doubles) cannot hold exactly; record it as a string")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise JournalBodyError("NaN and Infinity are not allowed in the journal (JSON has no "
                                   "such numbers); record them as null or as a string such as \"nan\"")
        if value.is_integer() and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            out.append(int.__repr__(int(value)))
        else:
            out.append(format_number(value))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise JournalBodyError(f"object key {key!r} is not a string")
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(_escape(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise JournalBodyError(
            f"only str, int, float, bool, None, list and dict can be journalled (got {type(value).__name__})"
        )


class _NeedsFullEncoder(Exception):
    pass


def _plain(value: Any) -> Any:
    """``value`` with integral floats made ints, when Python's C JSON encoder then writes JCS.

    That holds when every float left is one Python and ECMAScript both write as a plain decimal
    (1e-4 <= |x| < 1e16), every int is in the safe range and every key sorts the same by code
    point as by UTF-16 unit (no key outside the Basic Multilingual Plane). Anything else raises
    :class:`_NeedsFullEncoder`. Containers are copied only when something in them changed.
    """
    t = type(value)
    if t is str or value is None or t is bool:
        return value
    if t is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise _NeedsFullEncoder
    if t is float:
        if value.is_integer():
            if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return int(value)
        elif 1e-4 <= abs(value) < 1e16:
            return value
        raise _NeedsFullEncoder
    if t is dict:
        changed = None
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                raise _NeedsFullEncoder
            new = _plain(item)
            if new is not item or type(new) is not type(item):
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if t is list:
        items = [_plain(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    raise _NeedsFullEncoder


_C_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False, check_circular=True)


def canonical_json(value: Any, *, what: str = "event body") -> bytes:
    """Serialise ``value`` to RFC 8785 canonical JSON bytes, or raise :class:`JournalBodyError`."""
    try:
        try:
            return _C_ENCODER.encode(_plain(value)).encode("utf-8")
        except (_NeedsFullEncoder, ValueError):
            pass
        out: list[str] = []
        _encode(value, out)
        return "".join(out).encode("utf-8")
    except JournalBodyError as e:
        raise JournalBodyError(f"{what}: {e}") from None
    except RecursionError:
        raise JournalBodyError(f"{what}: nested too deeply (or refers to itself)") from None
    except UnicodeEncodeError as e:
        raise JournalBodyError(f"{what}: text is not valid Unicode ({e.reason})") from None


def legacy_json(value: Any, *, what: str = "event body") -> bytes:
    """The ``vigil-journal/1`` form (Python's sorted compact JSON): for verifying old journals only."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as e:
        raise JournalBodyError(f"{what}: {e}") from None
