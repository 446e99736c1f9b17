"""Backtesting a detector on a recorded CSV, exactly as the live engine would run it.

Train on the first N rows, then stream the rest in order in live-sized batches through the
detector and its `AlarmLatch`; one output row per streamed input row. Used by
``vigil detect replay`` and ``vigil detect train``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.core.detection.monitor import LiveDetector, Monitor, NormalRange
from app.core.errors import VigilError
from app.core.ports.detector import AlarmLatch, DetectorError

LIVE_BATCH_ROWS = 10


class CsvError(VigilError):
    """A CSV that cannot be used; the message names the file, line and column."""


@dataclass
class Table:
    path: Path
    time: list[str]
    tags: list[str]
    values: np.ndarray  # rows x tags, NaN where a cell is empty


def read_table(path: Path, *, sep: str = ",", time_col: str | None = None,
               ignore: Sequence[str] = ()) -> Table:
    """Read a wide CSV (one row per time, one column per tag). Empty cells become NaN; any other
    non-number is refused with its line and column. ``time_col`` None = the first column."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed by the with below
    except OSError as e:
        raise CsvError(f"{path}: cannot open ({e.strerror or e})") from None
    try:
        with fh:
            times, rows, header, cols = _read_rows(fh, path, sep, time_col, ignore)
    except UnicodeDecodeError:
        raise CsvError(f"{path}: not UTF-8 text{_where_not_utf8(path)}; save it as UTF-8 CSV "
                       "(e.g. 'iconv -f latin1 -t utf-8')") from None
    if not rows:
        raise CsvError(f"{path}: no data rows below the header")
    values = np.array(rows, dtype=float).reshape(len(rows), len(cols))
    return Table(Path(path), times, [header[i] for i in cols], values)


def _read_rows(fh: Any, path: Path, sep: str, time_col: str | None,
               ignore: Sequence[str]) -> tuple[list[str], list[list[float]], list[str], list[int]]:
    reader = csv.reader(fh, delimiter=sep)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise CsvError(f"{path}: empty file") from None
    except csv.Error as e:
        raise CsvError(f"{path}: line 1: {e}") from None
    if len(header) < 2:
        raise CsvError(f"{path}: line 1: found {len(header)} column(s) with separator {sep!r}; "
                       "wrong --sep?")
    tcol = header[0] if time_col is None else time_col
    if tcol not in header:
        raise CsvError(f"{path}: no time column {tcol!r} (columns: {', '.join(header)})")
    missing = [c for c in ignore if c not in header]
    if missing:
        raise CsvError(f"{path}: --ignore names unknown column(s): {', '.join(missing)}")
    ti = header.index(tcol)
    cols = [i for i, h in enumerate(header) if i != ti and h not in ignore]
    times: list[str] = []
    rows: list[list[float]] = []
    try:
        for line_no, rec in enumerate(reader, start=2):
            if not rec or all(not c.strip() for c in rec):
                continue
            if len(rec) != len(header):
                raise CsvError(f"{path}: line {line_no}: {len(rec)} fields, header has {len(header)}")
            row = []
            for i in cols:
                cell = rec[i].strip()
                if cell == "":
                    row.append(math.nan)
                    continue
                try:
                    row.append(float(cell))
                except ValueError:
                    raise CsvError(f"{path}: line {line_no}, column {header[i]!r}: "
                                   f"{cell[:30]!r} is not a number") from None
            times.append(rec[ti])
            rows.append(row)
    except csv.Error as e:
        raise CsvError(f"{path}: line {reader.line_num}: {e}") from None
    return times, rows, header, cols


def _where_not_utf8(path: Path) -> str:
    """" (line N, byte offset K: 0xXX)" for the first byte that is not UTF-8. The decoder's own
    error only knows its position in a read block, so look again at the file's bytes (the
    first 64 MiB: enough to name the place in any file a person would fix by hand)."""
    try:
        with open(path, "rb") as f:
            data = f.read(64 * 1024 * 1024)
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        return f" (line {line}, byte offset {e.start}: 0x{data[e.start]:02x})"
    except OSError:
        pass
    return ""


@dataclass
class ReplaySummary:
    trained_rows: int
    streamed_rows: int
    skipped_rows: int
    alarm_rows: int
    episodes: int
    threshold: float
    peak_severity: float | None = None  # the most severe row of the whole replay


def replay(det: LiveDetector, table: Table, train_rows: int,
           write_row: Callable[[str, float | None, bool, list[str]], None],
           batch_rows: int = LIVE_BATCH_ROWS) -> ReplaySummary:
    """Fit on ``table``'s first ``train_rows`` rows, stream the rest through the live `Monitor`
    (drift guard, latch, episodes), call ``write_row`` once per streamed row with (time,
    severity 0-100 or None when skipped, alarm, the episode's tags at its peak so far)."""
    if not 0 < train_rows < len(table.values):
        raise CsvError(f"{table.path}: --train-rows must be between 1 and {len(table.values) - 1} "
                       f"(the file has {len(table.values)} data rows)")
    train = table.values[:train_rows]
    try:
        det.fit(train, table.tags)
    except DetectorError as e:  # e.g. too few rows for this detector: say which file and rows
        raise CsvError(f"{table.path}: cannot train on the first {train_rows} rows: {e}") from None
    state = det.get_state()
    monitor = Monitor(det, AlarmLatch.for_state(state), NormalRange.from_rows(train))
    skipped = alarm_rows = episodes = 0
    peak: float | None = None
    streamed = table.values[train_rows:]
    times = table.time[train_rows:]
    for start in range(0, len(streamed), batch_rows):
        chunk = streamed[start:start + batch_rows]
        ok = np.isfinite(chunk).all(axis=1)  # rows with a missing value are skipped, as live
        result = monitor.process(chunk[ok]) if ok.any() else None
        tags_at: dict[int, list[str]] = {}
        if result is not None:
            row_of_ok = np.flatnonzero(ok)
            for change in result.changes:
                episodes += change.kind == "raise"
            sev = result.severity
            peak = max([peak or 0.0, *sev.tolist()]) if len(sev) else peak
            ep_tags = monitor.episode.tags if monitor.episode else []
            for pos, row in enumerate(row_of_ok.tolist()):
                tags_at[row] = ep_tags if result.alarm[pos] else []
        k = 0
        for j in range(len(chunk)):
            t = times[start + j]
            if not ok[j] or result is None:
                skipped += 1
                write_row(t, None, monitor.latch.active, [])
                continue
            active = bool(result.alarm[k])
            alarm_rows += active
            write_row(t, float(result.severity[k]), active, tags_at.get(j, []))
            k += 1
    return ReplaySummary(train_rows, len(streamed), skipped, alarm_rows, episodes, state.threshold,
                         peak)
