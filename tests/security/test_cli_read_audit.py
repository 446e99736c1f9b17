"""Reads from the shell are journaled (#17, HIPAA audit controls): `vigil history export` and
`vigil alarms history` record who (the OS user, and the --as account where given) read which
scope, like the window's record_access. While a running workstation holds the journal a read
of patient data (a vital-signs device) fails closed and says why; a plant-only read goes on
with a note. Real demo plant, real journal, real stores, the real `vigil` entry point."""

from __future__ import annotations

import getpass
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import main
from app.core.alarms.types import AlarmState
from app.core.journal import read_events
from app.station.engine import Core
from app.station.local import LocalStation

HR_HIHI = "vitals.heart_rate:HIHI"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Core]:
    """The demo plant running (it holds the journal), with a heart-rate alarm in its history."""
    data = tmp_path_factory.mktemp("read-audit") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIL_USER_PLUGINS_DIR", str(data.parent / "no-user-plugins"))
        core = Core(data, window=False, demo_interval_ms=100)
        core.start()
        try:
            LocalStation(core).create_administrator("ada", "admin-pass-1")
            assert core.simulator is not None
            core.simulator.call(lambda sim: setattr(sim.model._devices["vitals"].hr, "x", 30.0))
            deadline = time.monotonic() + 30.0
            while core.services.alarms.alarm(HR_HIHI).state is not AlarmState.UNACK_ACTIVE:
                assert time.monotonic() < deadline, "the heart-rate alarm never came"
                time.sleep(0.1)
            core.services.historian.flush(10.0)
            core.services.alarms.flush(10.0)
            core.journal.flush(timeout=10.0)
            yield core
        finally:
            core.stop()


def _access(data: Path) -> list:
    return read_events(data / "journal", kind="access.*")


def test_patient_export_fails_closed_while_the_journal_is_held(
    running: Core, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = running.data_dir
    out = tmp_path / "hr.csv"
    rc = main(["history", "export", "--data-dir", str(data), "--out", str(out),
               "--tags", "vitals.heart_rate"])
    err = capsys.readouterr().err
    assert rc == 1 and not out.exists()
    assert "patient data" in err and "cannot record who reads it" in err
    # every tag (the default) includes the monitor's too
    rc = main(["history", "export", "--data-dir", str(data), "--out", str(out)])
    assert rc == 1 and not out.exists()


def test_plant_only_export_goes_on_with_a_note_while_the_journal_is_held(
    running: Core, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tank.csv"
    rc = main(["history", "export", "--data-dir", str(running.data_dir), "--out", str(out),
               "--tags", "tank.level"])
    err = capsys.readouterr().err
    assert rc == 0 and out.read_text().count("tank.level") > 0
    assert "not recorded" in err


def test_patient_alarm_history_fails_closed_while_the_journal_is_held(
    running: Core, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["alarms", "history", "--data-dir", str(running.data_dir), "--json"])
    captured = capsys.readouterr()
    assert rc == 1 and "patient data" in captured.err
    assert "heart_rate" not in captured.out


def test_reads_are_journaled_with_os_user_account_and_scope(
    running: Core, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = running.data_dir
    running.stop()  # the workstation is gone: the command can write the journal itself
    out = tmp_path / "hr.csv"
    t0, t1 = time.time() - 3600, time.time()
    assert main(["history", "export", "--data-dir", str(data), "--out", str(out),
                 "--tags", "vitals.heart_rate", "--from", str(t0), "--to", str(t1)]) == 0
    assert out.read_text().count("vitals.heart_rate") > 0
    monkeypatch.setattr("sys.stdin", io.StringIO("admin-pass-1\n"))
    assert main(["alarms", "history", "--data-dir", str(data), "--tag", "vitals.heart_rate",
                 "--as", "ada", "--json"]) == 0
    assert HR_HIHI in capsys.readouterr().out
    export, history = _access(data)[-2:]
    me = getpass.getuser()
    assert (export.kind, export.actor, export.body["os_user"], export.body["role"]) == (
        "access.history_export", me, me, "os user")
    scope = json.loads(export.body["scope"])
    assert scope["tags"] == ["vitals.heart_rate"] and (scope["from"], scope["to"]) == (t0, t1)
    assert (history.kind, history.actor, history.body["os_user"], history.body["role"]) == (
        "access.alarm_history", "ada", me, "administrator")
    assert json.loads(history.body["scope"])["tag"] == "vitals.heart_rate"
    assert export.critical and "heart_rate\": " not in json.dumps(export.body)


def test_a_wrong_password_for_as_reads_nothing(
    running: Core, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    running.stop()
    monkeypatch.setattr("sys.stdin", io.StringIO("not-her-password\n"))
    out = tmp_path / "x.csv"
    assert main(["history", "export", "--data-dir", str(running.data_dir), "--out", str(out),
                 "--as", "ada"]) == 1
    assert not out.exists()
