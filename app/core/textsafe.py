"""Making device-supplied text safe to show and to export.

A device string is whatever the device (or whoever can write its registers) put there. Two
harms follow from passing it on as is:

* **spreadsheet formula injection**: a CSV cell starting with ``=``, ``+``, ``-``, ``@``, a tab
  or a carriage return is run as a formula by Excel/LibreOffice (``=HYPERLINK(...)`` exfiltrates
  the sheet when clicked). `csv_cell` prefixes such a cell with ``'`` (OWASP's advice), which
  spreadsheets show as text; a plain number such as ``-3.5`` is left alone.
* **screen and log spoofing**: control characters (escape sequences in a terminal) and Unicode
  bidi overrides (``U+202E`` reverses what follows, so ``ALARM`` can read as ``MRALA``) are
  stripped by `printable` when a device string is decoded.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable
from typing import Any, TextIO

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """``value`` as it may safely go into a CSV cell (non-strings unchanged)."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
        return value  # a number, not a formula
    except ValueError:
        return "'" + value


class SafeCsvWriter:
    """`csv.writer` whose every cell goes through `csv_cell`."""

    def __init__(self, f: TextIO, **fmtparams: Any):
        self._w = csv.writer(f, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow([csv_cell(c) for c in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(f: TextIO, **fmtparams: Any) -> SafeCsvWriter:
    """A drop-in for ``csv.writer(f)`` for every export of device or operator text."""
    return SafeCsvWriter(f, **fmtparams)


def printable(text: str) -> str:
    """``text`` without control characters (Unicode category Cc) and format characters (Cf:
    bidi overrides and isolates, zero-width joiners...)."""
    if text.isprintable():
        return text
    return "".join(ch for ch in text if ch == " " or unicodedata.category(ch) not in ("Cc", "Cf"))
