"""Approving a plugin from the window (#17): Help → Plugins… has an *Approve…* button for a
plugin awaiting approval, greyed out unless an administrator is logged in; it asks for
confirmation showing the plugin's id and SHA-256 (Cancel is the default) and approves through
the same role-checked core action as `vigil plugins approve`: journaled, sealed, refused for
files changed since they were shown. Real station on the demo plant, real journal, pytest-qt."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QMessageBox

from app.core.journal import read_events
from app.core.users import Role
from app.plugin_host.loader import fingerprint
from app.plugin_host.trust import journal_approvals
from app.station.engine import Core
from app.station.local import LocalStation
from app.ui.problems import PluginsDialog

PID = "acme.bedside_extras"


def _drop_plugin(user: Path) -> Path:
    folder = user / "bedside_extras"
    (folder / "acme_bedside").mkdir(parents=True)
    (folder / "plugin.toml").write_text(textwrap.dedent(f"""\
        [plugin]
        id = "{PID}"
        name = "Bedside extras"
        version = "0.3.1"
        api = "1.0"

        [[detectors]]
        name = "bedside_z"
        factory = "acme_bedside.det:make"
        """), encoding="utf-8")
    (folder / "acme_bedside" / "__init__.py").write_text("", encoding="utf-8")
    (folder / "acme_bedside" / "det.py").write_text("def make():\n    raise RuntimeError('never')\n",
                                                     encoding="utf-8")
    return folder


@pytest.fixture
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalStation, Path]]:
    user = tmp_path / "user-plugins"
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(user))
    monkeypatch.delenv("VIGIL_NO_PLUGINS", raising=False)
    folder = _drop_plugin(user)
    core = Core(tmp_path / "data", window=False)
    core.start()
    st = LocalStation(core)
    admin = st.create_administrator("ada", "admin-pass-1")
    core.services.users.add(admin, "olga", "olga-password-1", Role.OPERATOR)
    try:
        yield st, folder
    finally:
        core.stop()


def _dialog(qtbot, st: LocalStation) -> PluginsDialog:
    session = st.core.actions.session
    dlg = PluginsDialog(st.plugins(), station=st, may_approve=bool(session and session.can("plugin.approve")),
                        refusal="needs the administrator role")
    qtbot.addWidget(dlg)
    dlg.show()
    (row,) = [i for i, r in enumerate(dlg.rows) if r.id == PID]
    dlg.table.selectRow(row)
    return dlg


def test_an_administrator_approves_after_seeing_id_and_sha256(qtbot, station, tmp_path: Path) -> None:
    st, folder = station
    digest = fingerprint(folder)[0]
    assert st.login("ada", "admin-pass-1")
    dlg = _dialog(qtbot, st)
    row = dlg.selected()
    assert row is not None and row.awaiting_approval and row.sha256 == digest
    assert dlg.approve_button.isEnabled()

    dlg.approve_button.click()
    box = dlg.confirm_box
    assert box is not None and box.isVisible()
    shown = box.text() + box.informativeText()
    assert PID in shown and digest in shown
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    dlg.grab().save(str(tmp_path / "plugins-dialog.png"))
    box.grab().save(str(tmp_path / "plugins-confirm.png"))

    box.button(QMessageBox.StandardButton.Cancel).click()  # cancelling approves nothing
    assert journal_approvals(st.core.data_dir / "journal") == {}

    dlg.approve_button.click()
    approve = next(b for b in dlg.confirm_box.buttons()
                   if dlg.confirm_box.buttonRole(b) is QMessageBox.ButtonRole.AcceptRole)
    approve.click()
    assert "approved by ada" in dlg.result_label.text()
    assert not dlg.approve_button.isEnabled()  # done: it loads from the next start
    assert journal_approvals(st.core.data_dir / "journal") == {PID: digest}
    (event,) = read_events(st.core.data_dir / "journal", kind="plugin.approved")
    assert (event.actor, event.critical, event.body["sha256"]) == ("ada", True, digest)


def test_an_operator_sees_the_button_greyed_and_the_core_refuses_anyway(qtbot, station) -> None:
    st, _folder = station
    assert st.login("olga", "olga-password-1")
    dlg = _dialog(qtbot, st)
    assert not dlg.approve_button.isEnabled()
    assert "administrator" in dlg.approve_button.toolTip()
    # a stale screen or a script: the station's own check refuses and journals it
    dlg.may_approve = True
    dlg._update_button()
    dlg.approve_button.click()
    approve = next(b for b in dlg.confirm_box.buttons()
                   if dlg.confirm_box.buttonRole(b) is QMessageBox.ButtonRole.AcceptRole)
    approve.click()
    assert dlg.result_label.text().startswith("Not approved")
    assert journal_approvals(st.core.data_dir / "journal") == {}
    st.core.journal.flush(timeout=10.0)
    refused = read_events(st.core.data_dir / "journal", kind="action.refused")
    assert any(e.actor == "olga" and "plugin.approve" in str(e.body) for e in refused)


def test_files_changed_after_they_were_shown_are_not_approved(qtbot, station) -> None:
    st, folder = station
    assert st.login("ada", "admin-pass-1")
    dlg = _dialog(qtbot, st)
    dlg.approve_button.click()
    (folder / "acme_bedside" / "det.py").write_text("import os  # swapped after the look\n", encoding="utf-8")
    approve = next(b for b in dlg.confirm_box.buttons()
                   if dlg.confirm_box.buttonRole(b) is QMessageBox.ButtonRole.AcceptRole)
    approve.click()
    assert "changed since they were shown" in dlg.result_label.text()
    assert journal_approvals(st.core.data_dir / "journal") == {}
