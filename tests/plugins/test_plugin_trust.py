"""Plugin approval (#17): a plugin that is not built in is never imported until an
administrator approves its id and the SHA-256 of its files; the approval is a critical journal
event, sealed by a signed checkpoint before the plugin can be imported; a changed file needs a
new approval; approving is role-checked and fails closed. Real journal, real plugin folders,
the real `vigil` command line."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
from plugin_factory import write_detector_plugin

from app.cli import main as vigil
from app.core.journal import Journal, read_events
from app.plugin_host import PluginHost, PluginRecord, PluginState
from app.plugin_host.trust import journal_approvals

PW = {"ada": "admin-pass-1", "emma": "engineer-pass"}


def _cli(monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return vigil(args)


@pytest.fixture
def dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unique: str) -> tuple[Path, str, Path, Path]:
    """A data folder, and a detector plugin dropped into the user plugins folder whose code
    leaves a mark when it is imported. Returns (data dir, plugin id, plugin folder, mark)."""
    user = tmp_path / "user-plugins"
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(user))
    pid = f"acme.dropped{unique}"
    folder = write_detector_plugin(user, "dropped", pid, f"dropped_{unique}", f"dropped{unique}")
    mark = tmp_path / "imported.mark"
    det = folder / f"dropped_{unique}" / "det.py"
    det.write_text(f"import pathlib\npathlib.Path({str(mark)!r}).write_text('imported')\n" + det.read_text())
    data = tmp_path / "data"
    Journal.open(data / "journal").close()
    return data, pid, folder, mark


def _host(data: Path) -> PluginHost:
    """The host as the station builds it: approvals from the journal."""
    return PluginHost(data_dir=data, builtin_dir=None, entry_points=False, frozen_dir=None,
                      approvals=journal_approvals(data / "journal"))


def _rec(host: PluginHost, pid: str) -> PluginRecord:
    rec = host.record(pid)
    assert rec is not None
    return rec


def _listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data: Path, pid: str
) -> dict[str, object]:
    capsys.readouterr()
    assert _cli(monkeypatch, ["plugins", "list", "--json", "--data-dir", str(data)]) == 0
    return next(r for r in json.loads(capsys.readouterr().out) if r["id"] == pid)


def test_a_dropped_plugin_waits_for_approval_and_is_never_imported(dropped, monkeypatch, capsys):
    data, pid, _, mark = dropped
    host = _host(data)
    rec = host.record(pid)
    assert rec is not None and rec.state is PluginState.DISABLED
    assert "awaiting approval" in rec.reason and len(rec.sha256) == 64
    assert pid.replace("acme.", "") not in host.detector_names()
    row = _listed(monkeypatch, capsys, data, pid)
    assert row["state"] == "disabled" and "vigil plugins approve" in str(row["reason"])
    assert not mark.exists()


def test_the_station_holds_an_unapproved_plugin(dropped):
    from app.station.engine import Core

    data, pid, _, mark = dropped
    core = Core(data, window=False)
    core.start()
    try:
        rec = core.services.plugins.record(pid)
        assert rec is not None and rec.state is PluginState.DISABLED and "awaiting approval" in rec.reason
        assert _rec(core.services.plugins, "vigil.modbus").usable  # built in: no approval needed
    finally:
        core.stop()
    assert not mark.exists()


def test_approval_is_journaled_and_sealed_then_the_plugin_loads(dropped, monkeypatch, capsys):
    data, pid, _, mark = dropped
    assert _cli(monkeypatch, ["plugins", "approve", pid, "--data-dir", str(data)]) == 0
    (event,) = [e for e in read_events(data / "journal", kind="plugin.approved")]
    assert event.body["plugin"] == pid and event.critical
    con = sqlite3.connect(data / "journal" / "journal.sqlite")
    try:  # sealed: a signed checkpoint covers it
        assert con.execute("SELECT max(size) FROM checkpoints").fetchone()[0] >= event.seq
    finally:
        con.close()
    assert not mark.exists()  # approving imports nothing
    host = _host(data)
    assert _rec(host, pid).state is PluginState.AVAILABLE
    assert event.body["sha256"] == _rec(host, pid).sha256 or not _rec(host, pid).sha256
    host.detector_factory(pid.replace("acme.", ""))
    assert mark.exists() and _rec(host, pid).sha256 == event.body["sha256"]
    assert _listed(monkeypatch, capsys, data, pid)["state"] == "available"


def test_a_changed_file_needs_approval_again(dropped, monkeypatch):
    data, pid, folder, mark = dropped
    assert _cli(monkeypatch, ["plugins", "approve", pid, "--data-dir", str(data)]) == 0
    (folder / "extra.py").write_text("print('sneaked in')\n")
    journal = Journal.open(data / "journal")
    try:
        host = PluginHost(data_dir=data, journal=journal, builtin_dir=None, entry_points=False,
                          frozen_dir=None, approvals=journal_approvals(data / "journal"))
        rec = host.record(pid)
        assert rec is not None and rec.state is PluginState.DISABLED
        assert "changed since they were approved" in rec.reason
    finally:
        journal.close()
    changed = read_events(data / "journal", kind="plugin.changed")
    assert changed and changed[-1].critical
    assert not mark.exists()


def test_a_file_changed_after_start_up_is_not_imported(dropped, monkeypatch):
    """Checked again at first use: a file swapped between start-up and import is caught."""
    data, pid, folder, mark = dropped
    assert _cli(monkeypatch, ["plugins", "approve", pid, "--data-dir", str(data)]) == 0
    host = _host(data)
    assert _rec(host, pid).state is PluginState.AVAILABLE
    (folder / "extra.py").write_text("x = 1\n")
    with pytest.raises(Exception, match="unavailable"):
        host.detector_factory(pid.replace("acme.", ""))
    assert _rec(host, pid).state is PluginState.FAILED and "untrusted" in _rec(host, pid).reason
    assert not mark.exists()


def test_approval_needs_an_administrator_and_a_journal(dropped, monkeypatch, capsys):
    data, pid, _, _ = dropped
    assert _cli(monkeypatch, ["users", "add", "ada", "--role", "administrator", "--data-dir", str(data)],
                PW["ada"] + "\n") == 0
    assert _cli(monkeypatch, ["users", "add", "emma", "--role", "engineer", "--as", "ada",
                              "--data-dir", str(data)], PW["ada"] + "\n" + PW["emma"] + "\n") == 0
    assert _cli(monkeypatch, ["plugins", "approve", pid, "--data-dir", str(data)]) == 1
    assert _cli(monkeypatch, ["plugins", "approve", pid, "--as", "emma", "--data-dir", str(data)],
                PW["emma"] + "\n") == 1
    busy = Journal.open(data / "journal")  # a running workstation holds the journal
    try:
        assert _cli(monkeypatch, ["plugins", "approve", pid, "--as", "ada", "--data-dir", str(data)],
                    PW["ada"] + "\n") == 1
    finally:
        busy.close()
    assert "not approved" in capsys.readouterr().err
    assert journal_approvals(data / "journal") == {}
    assert [e.body.get("permission") for e in read_events(data / "journal", kind="action.refused")][-1:] \
        == ["plugin.approve"]
    assert _cli(monkeypatch, ["plugins", "approve", pid, "--as", "ada", "--data-dir", str(data)],
                PW["ada"] + "\n") == 0
    assert set(journal_approvals(data / "journal")) == {pid}
    assert read_events(data / "journal", kind="plugin.approved")[-1].actor == "ada"


def test_a_built_in_plugin_needs_no_approval(dropped, monkeypatch, capsys):
    data, _, _, _ = dropped
    assert _cli(monkeypatch, ["plugins", "approve", "vigil.modbus", "--data-dir", str(data)]) == 1
    assert "built in" in capsys.readouterr().err
