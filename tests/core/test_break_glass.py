"""Emergency access and log-in alarms (#17): a one-time break-glass code made by an
administrator (HIPAA emergency access procedure) opens one short session, journaled as
critical and raising an urgent technical alarm; a burst of failed log-ins raises an alarm too;
every failed log-in costs the same scrypt work. Real journal, real station, real scrypt."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

import app.core.users as users_mod
from app.cli import main as vigil
from app.core.alarms.types import AlarmState
from app.core.errors import VigilError
from app.core.journal import Journal, read_events
from app.core.users import EMERGENCY_USER, Role, UserStore, account_events
from app.station.engine import Core

ADA = "admin-pass-1"


def _cli(monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return vigil(args)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(tmp_path / "no-user-plugins"))
    d = tmp_path / "data"
    assert _cli(monkeypatch, ["users", "add", "ada", "--role", "administrator", "--data-dir", str(d)],
                ADA + "\n") == 0
    return d


def _emergency_code(monkeypatch, capsys, data: Path, role: str = "operator") -> str:
    capsys.readouterr()
    assert _cli(monkeypatch, ["users", "emergency-code", "--as", "ada", "--role", role,
                              "--data-dir", str(data)], ADA + "\n") == 0
    match = re.search(r": ([0-9a-f]{6}(?:-[0-9a-f]{6}){4})\n", capsys.readouterr().out)
    assert match, "the code is printed once"
    return match.group(1)


def test_break_glass_opens_one_short_session_journaled_and_alarmed(data, monkeypatch, capsys):
    code = _emergency_code(monkeypatch, capsys, data)
    journal_bytes = b"".join(p.read_bytes() for p in (data / "journal").glob("journal.sqlite*"))
    assert code.encode() not in journal_bytes and code.encode() not in (data / "users.json").read_bytes()

    core = Core(data, window=False, plugins_enabled=False)
    core.start()
    try:
        actions = core.services.actions
        session = actions.login(EMERGENCY_USER, code)
        assert session.role is Role.OPERATOR and session.user.startswith(f"{EMERGENCY_USER}:")
        alarm = core.services.alarms.alarm("station.break_glass:SYSTEM")
        assert alarm.state is AlarmState.UNACK_ACTIVE and alarm.priority == "urgent"
        actions.resolve(session)  # a live session the core accepts for actions
        actions.logout()
        assert core.services.alarms.alarm("station.break_glass:SYSTEM").state is AlarmState.UNACK_RTN
        with pytest.raises(VigilError, match="login refused"):
            actions.login(EMERGENCY_USER, code)  # one time only
    finally:
        core.stop()
    (used,) = read_events(data / "journal", kind="user.emergency_login")
    assert used.critical and used.body["role"] == "operator"
    # after a restart the used code is still spent: the journal is the record
    store = UserStore(data / "users.json")
    store.reconcile(account_events(data / "journal"))
    with pytest.raises(VigilError):
        store.authenticate(EMERGENCY_USER, code)


def test_an_emergency_code_is_never_an_administrators_and_needs_one(data, monkeypatch, capsys):
    assert _cli(monkeypatch, ["users", "emergency-code", "--as", "ada", "--role", "administrator",
                              "--data-dir", str(data)], ADA + "\n") == 1
    assert "never an administrator" in capsys.readouterr().err
    assert _cli(monkeypatch, ["users", "add", "otto", "--as", "ada", "--data-dir", str(data)],
                ADA + "\n" + "operator-pass\n") == 0
    assert _cli(monkeypatch, ["users", "emergency-code", "--as", "otto", "--data-dir", str(data)],
                "operator-pass\n") == 1
    assert not read_events(data / "journal", kind="user.emergency_code")


def test_a_burst_of_failed_log_ins_raises_an_alarm(data):
    core = Core(data, window=False, plugins_enabled=False)
    core.start()
    try:
        actions = core.services.actions
        for name in ("ada", "nobody", "ada", "root", "ada"):
            with pytest.raises(VigilError):
                actions.login(name, "wrong-password")
        alarm = core.services.alarms.alarm("station.login_failures:SYSTEM")
        assert alarm.state is AlarmState.UNACK_ACTIVE
        assert "5 failed log-ins" in (alarm.description or "") + str(alarm)
    finally:
        core.stop()


def test_every_failed_log_in_costs_one_scrypt(tmp_path, monkeypatch):
    """Unknown name, disabled account, waiting account, wrong password, wrong emergency code:
    each does exactly one scrypt, like a successful check, so timing tells nothing apart."""
    journal = Journal.open(tmp_path / "journal")
    try:
        store = UserStore(tmp_path / "users.json", journal=journal)
        store.add(None, "ada", ADA, Role.ADMINISTRATOR)
        admin = store.authenticate("ada", ADA)
        store.add(admin, "dora", "disabled-pass", Role.OPERATOR)
        store.set_disabled(admin, "dora", True)
        store.add(admin, "walt", "waiting-pass", Role.OPERATOR)
        store.create_emergency_code(admin)
        for _ in range(users_mod.MAX_FAILED_LOGINS):
            with pytest.raises(VigilError):
                store.authenticate("walt", "wrong-password")
        calls: list[int] = []
        real = users_mod._hash

        def counted(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
            calls.append(1)
            return real(password, salt, n, r, p)

        monkeypatch.setattr(users_mod, "_hash", counted)
        for name, pw in (("nobody", "x" * 9), ("dora", "disabled-pass"), ("walt", "waiting-pass"),
                         ("ada", "wrong-password"), (EMERGENCY_USER, "not-the-code")):
            calls.clear()
            with pytest.raises(VigilError, match="wrong user name or password, or the account is locked"):
                store.authenticate(name, pw)
            assert len(calls) == 1, name
        calls.clear()
        store.authenticate("ada", ADA)
        assert len(calls) == 1
    finally:
        journal.close()
