"""The tag table's "last hour" sparklines (issue 19): from the historian's rollups in one batched
query off the GUI thread, only for rows on screen, nothing while hidden, and bad quality never
drawn as a normal line."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QColor

from app.core.historian import Historian, Series
from app.core.model import Quality, Sample
from app.ui.palette import LIGHT
from app.ui.sparklines import build_spark
from app.ui.tag_table import COL_SPARK, TagRow, TagTable, TagTableModel
from app.ui.tasks import TaskRunner

TAGS = [f"dev.p{i:02d}" for i in range(12)]
BAD_TAG = "dev.p01"


def test_a_sparkline_breaks_at_bad_quality_and_missing_time_and_keeps_to_its_range():
    t = np.arange(0.0, 100.0, 1.0)
    v = np.full(100, 50.0)
    v[90:] = 500.0  # off the engineering range: pinned to the top, never off the cell
    q = np.full(100, int(Quality.GOOD), np.int8)
    q[20:30] = int(Quality.BAD_COMM)
    keep = (t < 50) | (t >= 70)  # nothing stored for 20 s: the station was off
    spark = build_spark(Series(t[keep], v[keep], q[keep]), 0.0, 100.0, (0.0, 100.0), max_gap_s=5.0)
    assert [(run[0, 0], run[-1, 0]) for run in spark.runs] == [(0.0, 0.19), (0.30, 0.49), (0.70, 0.99)]
    assert spark.bad == ((0.20, 0.30),)  # marked, not drawn as a value
    assert all(np.all((run[:, 1] >= 0) & (run[:, 1] <= 1)) for run in spark.runs)
    assert spark.runs[0][0, 1] == pytest.approx(0.5) and spark.runs[-1][-1, 1] == 1.0
    assert (spark.lo, spark.hi, spark.fixed) == (50.0, 500.0, True)
    auto = build_spark(Series(t, v, np.full(100, int(Quality.GOOD), np.int8)), 0.0, 100.0, None)
    assert not auto.fixed and auto.runs[0][:, 1].min() > 0.0 and auto.runs[0][:, 1].max() < 1.0
    nothing = build_spark(Series(t, v, np.full(100, int(Quality.STALE), np.int8)), 0.0, 100.0, (0, 100))
    assert nothing.runs == () and nothing.bad == ((0.0, 0.99),) and nothing.lo is None


@pytest.fixture
def hour(tmp_path: Path):
    """An hour of 12 tags at 1 Hz through the real writer, rollups caught up; one tag went
    BAD_COMM for ten minutes in the middle."""
    now = time.time()
    h = Historian(tmp_path / "historian.sqlite", rollup_lag_s=0.0)
    h.start()
    for k in range(3600):
        t = now - 3600 + k
        bad = 1500 <= k < 2100
        h.on_samples(
            [
                Sample(
                    tag,
                    None if (tag == BAD_TAG and bad) else 40.0 + 10 * np.sin(k / 300 + i),
                    Quality.BAD_COMM if (tag == BAD_TAG and bad) else Quality.GOOD,
                    t,
                )
                for i, tag in enumerate(TAGS)
            ]
        )
    assert h.flush(30.0) and h.catch_up(30.0)
    yield h
    h.close()


def _table(qtbot, h: Historian, calls: list[list[str]]) -> tuple[TagTable, TaskRunner]:
    rows = [TagRow(tag, "dev", tag[4:], "bar", "", False, scale=(0.0, 100.0)) for tag in TAGS]
    rows.append(TagRow("dev.label", "dev", "label", "", "", False, numeric=False))
    model = TagTableModel(rows, LIGHT)
    tasks = TaskRunner()

    def history(tags, t0, t1, n):
        calls.append(list(tags))
        return h.query(tags, t0, t1, n)

    table = TagTable(model, history=history, run_async=tasks.submit, refresh_s=0.5)
    qtbot.addWidget(table)
    table.resize(820, 220)  # a few rows on screen, the rest below; the sparkline column too
    return table, tasks


def test_visible_rows_get_their_last_hour_from_the_rollups_in_one_query(qtbot, hour):
    calls: list[list[str]] = []
    table, tasks = _table(qtbot, hour, calls)
    before = hour.reader.rollup_rows_read
    table.show()
    qtbot.waitUntil(lambda: table.model.spark_of(TAGS[0]) is not None, timeout=5000)
    on_screen = table.visible_tags()
    assert 2 <= len(on_screen) < len(TAGS)
    assert calls[0] == on_screen  # one query for every row on screen, and only those
    assert hour.reader.rollup_rows_read > before  # answered from the 1-minute rollups
    assert all(table.model.spark_of(t) is None for t in TAGS if t not in on_screen)
    spark = table.model.spark_of(BAD_TAG)
    assert spark is not None and spark.fixed
    (a, b), = spark.bad
    assert 0.40 <= a <= 0.43 and 0.57 <= b <= 0.60  # the ten BAD minutes, marked
    inside = [run[:, 0][(run[:, 0] > a) & (run[:, 0] < b)] for run in spark.runs]
    assert not any(len(x) for x in inside), (spark.bad, inside)  # no line drawn through the outage
    assert "bad or stale" in table.model.data(
        table.model.index(table.model.row_index(BAD_TAG), COL_SPARK), 3  # ToolTipRole
    )

    # what the operator sees: the line in the text colour, the outage in the bad-quality colour
    image = table.view.viewport().grab().toImage()
    row = table.proxy.mapFromSource(table.model.index(table.model.row_index(BAD_TAG), COL_SPARK))
    rect = table.view.visualRect(row)
    colours = {image.pixelColor(x, y).name() for x in range(rect.left(), rect.right()) for y in
               range(rect.top(), rect.bottom())}
    assert QColor(LIGHT.bad_quality).name() in colours
    assert any(QColor(c).lightness() < 90 for c in colours)  # a dark line on the light cell
    tasks.wait()


def test_scrolling_fetches_the_new_rows_and_a_hidden_table_fetches_nothing(qtbot, hour):
    calls: list[list[str]] = []
    table, tasks = _table(qtbot, hour, calls)
    table.show()
    sparks = table.sparks
    assert sparks is not None
    qtbot.waitUntil(lambda: len(calls) == 1 and not sparks.busy, timeout=5000)
    table.view.scrollToBottom()
    qtbot.waitUntil(lambda: table.model.spark_of(TAGS[-1]) is not None, timeout=5000)
    assert TAGS[-1] in calls[-1] and TAGS[0] not in calls[-1]
    assert all("dev.label" not in c for c in calls)  # a string tag has no sparkline
    table.hide()
    qtbot.waitUntil(lambda: not sparks.busy, timeout=5000)
    n = len(calls)
    qtbot.wait(1500)  # three refresh periods
    table.refresh_sparks()
    assert len(calls) == n  # hidden: no query at all
    table.show()
    qtbot.waitUntil(lambda: len(calls) > n, timeout=5000)  # shown again: refreshed at once
    tasks.wait()
