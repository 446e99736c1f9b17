"""Accounts through the workstation, on the real demo plant: first-start administrator, log in,
shift handover, generic refusals and lockout, the idle lock, controls per role, the Users
dialog, and refusals by the core when a control is enabled by mistake. Every check reads the
real journal (`read_events`) and the real files in the data dir."""

from __future__ import annotations

import json
import math
import os
import stat
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from app.core.journal import read_events
from app.core.model import Quality
from app.core.users import MAX_FAILED_LOGINS, Role
from app.station import LocalStation
from app.ui import alarm_fields as af
from app.ui.main_window import MainWindow
from app.ui.session_ui import GENERIC_REFUSAL
from tests.ui.conftest import OPERATOR, sim_values, wait_for_good

ADMIN = ("admin", "admin-password-1")  # made by conftest.start_core
VIEWER = ("vera", "vera-password-1")
ENGINEER = ("emil", "emil-password-1")
CLICK = Qt.MouseButton.LeftButton


def events(core: Any, kind: str) -> list[Any]:
    core.journal.flush(timeout=5.0)
    return read_events(core.data_dir / "journal", kind=kind)


def add_users(core: Any) -> None:
    admin = core.users.authenticate(*ADMIN)  # a session for administration; the console keeps olga
    core.users.add(admin, VIEWER[0], VIEWER[1], Role.VIEWER)
    core.users.add(admin, ENGINEER[0], ENGINEER[1], Role.ENGINEER)


def submit_login(qtbot: Any, win: Any, name: str, password: str) -> Any:
    """Open the log-in (or switch-user) dialog from the File menu and submit it."""
    act = win.act_switch if win.station.session is not None else win.act_login
    assert act.isEnabled()
    act.trigger()
    dlg = win.accounts.dialog
    assert dlg is not None and dlg.isVisible()
    if act is win.act_switch:  # the handover reminds the operator to keep the signed head
        assert "Export signed head" in dlg.intro.text()
    qtbot.keyClicks(dlg.name, name)
    qtbot.keyClicks(dlg.password, password)
    qtbot.mouseClick(dlg.ok_btn, CLICK)
    return dlg


def login_as(qtbot: Any, win: Any, name: str, password: str) -> None:
    submit_login(qtbot, win, name, password)
    qtbot.waitUntil(lambda: (s := win.station.session) is not None and s.user == name, timeout=5000)
    qtbot.waitUntil(lambda: win.accounts.dialog is None, timeout=2000)
    assert win.user_button.text().startswith(f"{name} (")


def refused_in_dialog(qtbot: Any, dlg: Any) -> str:
    qtbot.waitUntil(lambda: dlg.problem.text() not in ("", "checking…"), timeout=5000)
    return dlg.problem.text()


def test_first_start_creates_the_administrator_and_no_password_is_stored_in_clear(qtbot, tmp_path):
    from app.station import Core

    core = Core(tmp_path / "data")
    core.start()
    settings = tmp_path / "ui-settings.json"
    win = MainWindow(LocalStation(core), settings_path=settings)
    qtbot.addWidget(win)
    win.show()
    try:
        assert core.users.is_empty() and core.session is None
        # view only, and the log-in action says what the first step is
        assert win.act_login.text() == "Create administrator…"
        assert "no accounts yet" in win.user_button.text()
        assert not win.alarm_panel.ack_btn.isEnabled() and not win.act_users.isEnabled()
        assert any("Create administrator" in m for m in win.messages)
        assert win.accounts.act_login in win.user_button.menu().actions()  # also from the status bar

        win.act_login.trigger()
        dlg = win.accounts.dialog
        qtbot.keyClicks(dlg.name, "ada")
        qtbot.keyClicks(dlg.password, "short")
        assert not dlg.ok_btn.isEnabled() and "at least 8 characters" in dlg.problem.text()
        dlg.password.clear()
        secret = "ada-first-password-9"
        qtbot.keyClicks(dlg.password, secret)
        qtbot.keyClicks(dlg.repeat, secret + "x")
        assert not dlg.ok_btn.isEnabled() and "differ" in dlg.problem.text()
        dlg.repeat.clear()
        qtbot.keyClicks(dlg.repeat, secret)
        assert dlg.ok_btn.isEnabled()
        qtbot.mouseClick(dlg.ok_btn, CLICK)
        qtbot.waitUntil(lambda: core.session is not None, timeout=5000)

        assert core.session.user == "ada" and core.session.role is Role.ADMINISTRATOR
        qtbot.waitUntil(lambda: win.user_button.text() == "ada (administrator)", timeout=2000)
        assert win.act_login.text() == "Log in…" and not win.act_login.isEnabled()
        assert win.act_users.isEnabled() and win.alarm_panel.ack_btn.isEnabled()
        added = events(core, "user.added")
        assert [(e.actor, e.body) for e in added] == [("setup", {"user": "ada", "role": "administrator"})]
        assert events(core, "user.login")[-1].actor == "ada"
        users_file = core.data_dir / "users.json"
        assert stat.S_IMODE(os.stat(users_file).st_mode) == 0o600
    finally:
        win.close()
        core.stop()
    # the password is nowhere in the data dir (journal and its WAL, users.json, settings) in clear
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()] + [settings]
    assert settings.exists() and len(files) > 3
    for f in files:
        assert secret.encode() not in f.read_bytes(), f


def test_each_role_gets_exactly_its_controls_and_shift_handover_is_journaled(qtbot, window, core):
    add_users(core)
    win = window
    panel, learn = win.alarm_panel, win.detectors.learn_btn
    controls = {
        "acknowledge": panel.ack_btn,
        "acknowledge page": panel.ack_page_btn,
        "shelve": panel.shelve_btn,
        "out of service": panel.oos_btn,
        "learn normal": learn,
        "users": win.act_users,
    }
    allowed = {
        "viewer": set(),
        "operator": {"acknowledge", "acknowledge page", "shelve"},
        "engineer": {"acknowledge", "acknowledge page", "shelve", "out of service", "learn normal"},
        "administrator": set(controls),
    }
    wait_for_good(qtbot, win, "tank.valve_setpoint")
    for (name, password), role in (
        (VIEWER, "viewer"),
        (OPERATOR, "operator"),
        (ENGINEER, "engineer"),
        (ADMIN, "administrator"),
    ):
        before = core.session.user
        login_as(qtbot, win, name, password)
        assert win.user_button.text() == f"{name} ({role})"
        enabled = {k for k, c in controls.items() if c.isEnabled()}
        assert enabled == allowed[role], role
        for k, c in controls.items():
            if k not in allowed[role]:
                tip = c.toolTip().lower()
                assert "needs the" in tip and f"{name} is {role}" in tip, (k, tip)
        assert "needs the engineer role" in learn.toolTip() or role in ("engineer", "administrator")
        # setpoints: the menu entry and the dialog's write button follow the role
        can_write = role != "viewer"
        assert win.tags.can_write is can_write
        dlg = win.open_setpoint("tank.valve_setpoint")
        qtbot.keyClicks(dlg.entry, "40")
        assert dlg.write_btn.isEnabled() is can_write
        if not can_write:
            assert "needs the operator role" in dlg.problem.text()
        dlg.close()
        # the handover is journaled: the previous person's session ended because of the switch
        logout = events(core, "user.logout")[-1]
        assert logout.actor == before and logout.body == {"reason": f"switch user to {name}"}
        assert events(core, "user.login")[-1].actor == name

    # log out from the status-bar menu: view only again, nothing enabled
    assert win.accounts.act_logout in win.user_button.menu().actions()
    win.accounts.act_logout.trigger()
    assert core.session is None and "view only" in win.user_button.text()
    assert not any(c.isEnabled() for c in controls.values())
    assert events(core, "user.logout")[-1].body == {"reason": "logout"}


def test_failed_logins_get_one_generic_message_and_the_account_locks(qtbot, window, core):
    win = window
    win.accounts.act_logout.trigger()
    name = OPERATOR[0]
    # an unknown user and a wrong password read exactly the same
    dlg = submit_login(qtbot, win, "nobody", "whatever-password")
    assert refused_in_dialog(qtbot, dlg) == GENERIC_REFUSAL
    dlg.close()
    for attempt in range(MAX_FAILED_LOGINS):
        dlg = submit_login(qtbot, win, name, f"wrong-password-{attempt}")
        assert refused_in_dialog(qtbot, dlg) == GENERIC_REFUSAL
        assert dlg.password.text() == ""  # never left in the field
        dlg.close()
    # now locked: even the right password is refused, with the same words
    dlg = submit_login(qtbot, win, *OPERATOR)
    assert refused_in_dialog(qtbot, dlg) == GENERIC_REFUSAL
    dlg.close()
    assert core.session is None and "view only" in win.user_button.text()
    reasons = [e.body["reason"] for e in events(core, "user.login_failed")]
    assert reasons[0] == "unknown user"
    assert reasons[-2].startswith("wrong password; locked") and reasons[-1].startswith("account locked")
    assert GENERIC_REFUSAL in win.messages
    # closing the dialog while the check still runs on a worker: the log-in still counts and
    # nothing touches the closed dialog (pytest-qt fails the test on an exception in a slot)
    dlg = submit_login(qtbot, win, *ADMIN)
    dlg.close()
    qtbot.waitUntil(lambda: win.user_button.text() == "admin (administrator)", timeout=5000)


def test_idle_lock_logs_out_journals_and_keeps_the_plant_visible(qtbot, core, tmp_path, monkeypatch):
    monkeypatch.setattr("app.ui.idle.MIN_IDLE_LOCK_S", 0.5)  # the real floor would make this wait
    settings = tmp_path / "ui-settings.json"
    settings.write_text(json.dumps({"idle_lock_s": 0.8}), encoding="utf-8")
    win = MainWindow(LocalStation(core), settings_path=settings)
    qtbot.addWidget(win)
    win.show()
    try:
        # the operator is busy while the plant comes up (however long that takes on a loaded
        # machine): the lock counts idle time from the last input, not from the window's opening
        def busy_until_good() -> None:
            win.accounts.idle.reset()
            row = win.tag_model.row_of("tank.level")
            assert row is not None and row.quality is Quality.GOOD

        qtbot.waitUntil(busy_until_good, timeout=5000)
        assert core.session is not None and core.session.user == OPERATOR[0]
        qtbot.keyClick(win.tags.search, Qt.Key.Key_A)  # input re-arms the watcher
        assert win.accounts.idle.idle_for() < 0.5
        qtbot.waitUntil(lambda: core.session is None, timeout=5000)
        lock = win.accounts.dialog
        assert lock is not None and lock.isVisible() and lock.mode == "locked"
        assert "view only" in lock.intro.text()
        logout = events(core, "user.logout")[-1]
        assert logout.actor == OPERATOR[0] and logout.body == {"reason": "idle lock"}
        assert not win.alarm_panel.ack_btn.isEnabled()
        # the plant stays on screen and keeps updating behind the lock
        row = win.tag_model.row_of("tank.level")
        t_locked = row.t
        qtbot.waitUntil(lambda: win.tag_model.row_of("tank.level").t > t_locked, timeout=3000)
        assert win.isVisible() and win.docks["tags"].isVisible()
        # log in again from the lock dialog
        qtbot.keyClicks(lock.name, OPERATOR[0])
        qtbot.keyClicks(lock.password, OPERATOR[1])
        qtbot.mouseClick(lock.ok_btn, CLICK)
        qtbot.waitUntil(win.alarm_panel.ack_btn.isEnabled, timeout=5000)
        assert core.session.user == OPERATOR[0] and win.accounts.dialog is None
    finally:
        win.close()
    assert json.loads(settings.read_text(encoding="utf-8"))["idle_lock_s"] == 0.8
    assert OPERATOR[1] not in settings.read_text(encoding="utf-8")

    # a setting that cannot be used falls back to the default, with a message (never "off")
    settings.write_text(json.dumps({"idle_lock_s": "soon"}), encoding="utf-8")
    again = MainWindow(LocalStation(core), settings_path=settings)
    qtbot.addWidget(again)
    assert again.accounts.idle.timeout_s == 600.0
    assert any("idle_lock_s must be a number" in m for m in again.messages)
    again.close()


def _fill_modal(qtbot: Any, fill: Any) -> None:
    """Fill the modal dialog a button is about to open (it runs its own event loop)."""

    def later() -> None:
        dlg = QApplication.activeModalWidget()
        assert dlg is not None
        fill(dlg)

    QTimer.singleShot(50, later)


def overflow_alarm(qtbot: Any, win: Any, core: Any) -> str:
    core.write_setpoint("tank", "valve_setpoint", 100.0)
    core.write_setpoint("tank", "pump_run", False)
    core.simulator.simulator.speed = 20.0
    # HIHI: at 20x the level passes HI and HIHI fast, and HI is suppressed under HIHI (issue 15)
    qtbot.waitUntil(lambda: "tank.level:HIHI" in win.alarm_model.visible_ids(), timeout=15000)
    return "tank.level:HIHI"


def test_a_refused_action_leaves_the_plant_untouched_and_is_journaled(qtbot, window, core):
    add_users(core)
    win = window
    wait_for_good(qtbot, win, "tank.level")
    alarm_id = overflow_alarm(qtbot, win, core)
    core.simulator.simulator.speed = 1.0
    login_as(qtbot, win, *VIEWER)
    panel = win.alarm_panel
    assert panel.select(alarm_id)
    assert not panel.ack_btn.isEnabled() and "needs the operator role" in panel.ack_btn.toolTip()
    # a control enabled by mistake (a stale screen) still cannot act: the core decides
    panel.ack_btn.setEnabled(True)
    qtbot.mouseClick(panel.ack_btn, CLICK)
    assert "acknowledge refused" in win.message_label.text()
    assert "needs the operator role" in win.message_label.text()
    qtbot.wait(300)
    assert af.state(win.alarm_model.by_id(alarm_id)) == "unack_active"

    before = sim_values(core)["tank"]["valve_setpoint"]
    dlg = win.open_setpoint("tank.valve_setpoint")
    qtbot.keyClicks(dlg.entry, "12.5")
    assert not dlg.write_btn.isEnabled()
    dlg.set_permission(True)  # the same mistake in the setpoint dialog
    qtbot.mouseClick(dlg.write_btn, CLICK)
    qtbot.mouseClick(dlg.confirm_btn, CLICK)
    qtbot.waitUntil(lambda: "Not written" in dlg.outcome.text(), timeout=5000)
    assert "needs the operator role" in dlg.outcome.text() and "Traceback" not in dlg.outcome.text()
    dlg.close()
    qtbot.wait(300)
    assert math.isclose(sim_values(core)["tank"]["valve_setpoint"], before)

    refused = [e for e in events(core, "action.refused") if e.actor == VIEWER[0]]
    perms = [e.body["permission"] for e in refused]
    assert perms == ["alarm.acknowledge", "setpoint.write"]
    assert refused[1].body["tag"] == "tank.valve_setpoint"
    assert not [e for e in events(core, "setpoint.write") if e.actor == VIEWER[0]]

    # an engineer may take the alarm out of service: button, reason dialog, core, journal
    login_as(qtbot, win, *ENGINEER)
    assert panel.select(alarm_id) and panel.oos_btn.isEnabled()

    def give_reason(form: Any) -> None:
        qtbot.keyClicks(form.reason, "level transmitter replaced, WO-17")
        form.buttons.button(form.buttons.StandardButton.Ok).click()

    _fill_modal(qtbot, give_reason)
    qtbot.mouseClick(panel.oos_btn, CLICK)
    qtbot.waitUntil(lambda: af.state(win.alarm_model.by_id(alarm_id)) == "out_of_service", timeout=5000)
    oos = events(core, "alarm.out_of_service")[-1]
    assert oos.actor == ENGINEER[0] and oos.body["reason"] == "level transmitter replaced, WO-17"


def test_administrator_manages_accounts_in_the_users_dialog(qtbot, window, core):
    win = window
    assert not win.act_users.isEnabled()  # olga is an operator
    assert win.open_users() is None and "needs the administrator role" in win.message_label.text()
    login_as(qtbot, win, *ADMIN)
    win.act_users.trigger()
    dlg = win.users_dialog
    assert dlg is not None and dlg.isVisible()
    assert [r.name for r in dlg.rows] == ["admin", "olga"]

    # add an engineer through the dialog's own form
    def add(form: Any) -> None:
        qtbot.keyClicks(form.name, "nina")
        form.role.setCurrentIndex(int(Role.ENGINEER))
        qtbot.keyClicks(form.password, "nina-password-1")
        qtbot.keyClicks(form.repeat, "nina-password-1")
        form.ok_btn.click()

    _fill_modal(qtbot, add)
    qtbot.mouseClick(dlg.add_btn, CLICK)
    qtbot.waitUntil(lambda: "nina" in [r.name for r in dlg.rows], timeout=5000)
    assert next(r for r in dlg.rows if r.name == "nina").role == "engineer"

    # disable olga; she can no longer log in (generic refusal), then enable her again
    assert dlg.select("olga")
    assert dlg.toggle_btn.text() == "Disable"
    qtbot.mouseClick(dlg.toggle_btn, CLICK)
    qtbot.waitUntil(lambda: next(r for r in dlg.rows if r.name == "olga").disabled, timeout=5000)
    olga_row = [r.name for r in dlg.rows].index("olga")
    assert dlg.table.item(olga_row, 2).text() == "disabled"
    assert dlg.select("olga") and dlg.toggle_btn.text() == "Enable"
    qtbot.mouseClick(dlg.toggle_btn, CLICK)
    qtbot.waitUntil(lambda: not next(r for r in dlg.rows if r.name == "olga").disabled, timeout=5000)

    # reset olga's password
    def reset(form: Any) -> None:
        qtbot.keyClicks(form.password, "olga-new-password-2")
        qtbot.keyClicks(form.repeat, "olga-new-password-2")
        form.ok_btn.click()

    assert dlg.select("olga")
    _fill_modal(qtbot, reset)
    qtbot.mouseClick(dlg.passwd_btn, CLICK)
    qtbot.waitUntil(lambda: dlg.message.text().startswith("done: reset"), timeout=5000)
    # refusals from the store are shown in the dialog, not raised
    dlg.add_user("nina", "another-password", Role.VIEWER)
    qtbot.waitUntil(lambda: dlg.message.text().startswith("Refused"), timeout=5000)
    assert "already exists" in dlg.message.text()
    dlg.close()

    login_as(qtbot, win, "olga", "olga-new-password-2")
    journal = {e.kind: e for e in events(core, "user.*")}
    assert journal["user.added"].body == {"user": "nina", "role": "engineer"}
    assert journal["user.added"].actor == "admin"
    assert journal["user.enabled"].body == {"user": "olga"}
    assert journal["user.password_changed"].actor == "admin"
    # the Users dialog used by a non-administrator is refused by the core and journaled
    from app.ui.users_dialog import UsersDialog

    stale = UsersDialog(win.station, win.tasks.submit, win)
    qtbot.addWidget(stale)
    stale.set_disabled("admin", True)
    qtbot.waitUntil(lambda: stale.message.text().startswith("Refused"), timeout=5000)
    assert "needs the administrator role" in stale.message.text()
    assert events(core, "action.refused")[-1].body["action"] == "user.disable"
    blob = b"".join(p.read_bytes() for p in core.data_dir.rglob("*") if p.is_file())
    for secret in (b"nina-password-1", b"olga-new-password-2", ADMIN[1].encode()):
        assert secret not in blob


def test_plugin_and_configuration_problems_are_visible(qtbot, tmp_path, monkeypatch):
    from tests.ui.conftest import start_core

    plugins = tmp_path / "user-plugins"
    future = plugins / "future_plugin"
    future.mkdir(parents=True)
    (future / "plugin.toml").write_text(
        '[plugin]\nid = "acme.future"\nname = "Future"\nversion = "2.0.0"\napi = "99.0"\n', encoding="utf-8"
    )
    broken_profile = plugins / "acme_profiles"
    (broken_profile / "profiles").mkdir(parents=True)
    (broken_profile / "plugin.toml").write_text(
        '[plugin]\nid = "acme.profiles"\nname = "Acme meters"\nversion = "0.1.0"\napi = "1.0"\n\n'
        '[[profiles]]\npath = "profiles"\n',
        encoding="utf-8",
    )
    (broken_profile / "profiles" / "acme_meter.toml").write_text("[device\nid = 'x'\n", encoding="utf-8")
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(plugins))
    from app.cli import main as vigil

    # not built in: it runs (and its profiles are read) only once approved
    assert vigil(["plugins", "approve", "acme.profiles", "--data-dir", str(tmp_path / "data")]) == 0
    core = start_core(tmp_path / "data")
    win = MainWindow(LocalStation(core), settings_path=tmp_path / "ui-settings.json")
    qtbot.addWidget(win)
    win.show()
    try:
        ind = win.problems
        assert ind.isVisible() and ind.text() == "2 configuration problems…"
        assert ind.objectName() == "problems"
        with qtbot.waitSignal(ind.open_requested, timeout=1000):
            qtbot.mouseClick(ind, CLICK)
        dlg = win.open_problems()
        rows = [(dlg.cell(r, 0), dlg.cell(r, 1), dlg.cell(r, 2)) for r in range(dlg.table.rowCount())]
        assert rows[0][:2] == ("plugin", "acme.future") and "99.0" in rows[0][2]
        assert rows[1][0] == "device profile" and "acme_meter.toml" in rows[1][1]
        dlg.close()

        plug = win.open_plugins()
        table = {plug.cell(r, 0): [plug.cell(r, c) for c in range(5)] for r in range(plug.table.rowCount())}
        assert table["acme.future"][1:4] == ["2.0.0", "user", "rejected"]
        assert "99.0" in table["acme.future"][4]
        assert table["vigil.modbus"][2:4] == ["builtin", "loaded"]
        assert "1 not usable" in plug.intro.text()
        plug.close()
    finally:
        win.close()
        core.stop()


def test_without_a_plugin_host_the_plugins_dialog_says_so(qtbot):
    from app.station.interface import ConfigProblem
    from app.ui.problems import PluginsDialog, ProblemsDialog

    dlg = PluginsDialog(None)
    qtbot.addWidget(dlg)
    assert dlg.table.rowCount() == 0
    assert "not available" in dlg.intro.text()
    problems = ProblemsDialog([ConfigProblem("configuration", "", "device 'x': discovery failed")])
    qtbot.addWidget(problems)
    assert problems.cell(0, 2) == "device 'x': discovery failed"


def test_idle_watcher_counts_only_input(qtbot):
    from PySide6.QtWidgets import QLineEdit

    from app.ui.idle import IdleWatcher, parse_idle_lock_s

    ticks = [100.0]
    watcher = IdleWatcher(5.0, clock=lambda: ticks[0])
    fired: list[bool] = []
    watcher.idle.connect(lambda: fired.append(True))
    field = QLineEdit()
    qtbot.addWidget(field)
    ticks[0] = 104.0
    field.update()
    QApplication.processEvents()  # paints and timers are not input
    assert watcher.idle_for() == 4.0
    qtbot.keyClick(field, Qt.Key.Key_X)
    assert watcher.idle_for() == 0.0
    ticks[0] = 109.5
    watcher._check()
    watcher._check()
    assert fired == [True]  # once per idle stretch
    watcher.stop()
    assert parse_idle_lock_s(None) == (600.0, None)
    assert parse_idle_lock_s(0)[1] is not None and parse_idle_lock_s(True)[1] is not None
    assert parse_idle_lock_s(30) == (30.0, None)


def test_detector_panel_states_score_against_threshold(qtbot):
    from app.ui.detector_panel import DetectorPanel, score_text

    assert score_text(0.42, 1.0) == "score 0.42 / threshold 1 (42 %)"
    assert score_text(26860.456, 8.21) == "score 26,860 / threshold 8.21 (3,272× threshold)"
    assert score_text(None, float("nan")) == "not trained"
    panel = DetectorPanel(status=lambda: [])
    qtbot.addWidget(panel)
    panel.show_status([{"name": "tank", "score": 2.5, "threshold": 1.25, "state": "anomaly",
                        "explanation": "tank.level +4.1σ", "last_anomaly_at": 1_700_000_000.0}])
    _, bar, value, why = panel.rows["tank"]
    assert value.text() == "severity 67 (alarm at 50)"  # 2x threshold, on the 0-100 scale
    assert round(bar.score) == 67
    assert "tank.level +4.1σ" in why.text() and "anomaly" in why.text()
    panel.show_status([{"name": "tank", "score": float("nan"), "threshold": float("nan")}])
    assert panel.rows["tank"][2].text() == "not trained" and bar.score is None
