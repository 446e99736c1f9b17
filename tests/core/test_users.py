"""Accounts and roles: each role can do exactly what it should, refusals are journaled, and
passwords never leak into files."""

from __future__ import annotations

import json
import stat

import pytest

from app.core.errors import VigilError
from app.core.journal import Journal, read_events
from app.core.users import (
    LOCKOUT_S,
    MAX_FAILED_LOGINS,
    PERMISSIONS,
    AuthError,
    Authorizer,
    PermissionDenied,
    Role,
    UserStore,
)

PW = {"ada": "admin-pass-1", "otto": "operator-pass", "erin": "engineer-pass", "vic": "viewer-pass-9"}


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path):
    journal = Journal.open(tmp_path / "journal")
    clock = Clock()
    store = UserStore(tmp_path / "users.json", journal=journal, clock=clock)
    store.add(None, "ada", PW["ada"], Role.ADMINISTRATOR)
    admin = store.authenticate("ada", PW["ada"])
    store.add(admin, "otto", PW["otto"], Role.OPERATOR)
    store.add(admin, "erin", PW["erin"], Role.ENGINEER)
    store.add(admin, "vic", PW["vic"], Role.VIEWER)
    yield store, journal, clock, tmp_path
    journal.close()


def _events(tmp_path, kind):
    return [e.to_dict() for e in read_events(tmp_path / "journal") if e.kind == kind]


def test_first_account_must_be_an_administrator(tmp_path):
    store = UserStore(tmp_path / "users.json")
    with pytest.raises(VigilError, match="first account must be an administrator"):
        store.add(None, "bob", "long-enough", Role.OPERATOR)
    store.add(None, "root", "long-enough", Role.ADMINISTRATOR)
    with pytest.raises(PermissionDenied):
        store.add(None, "mallory", "long-enough", Role.ADMINISTRATOR)


def test_store_file_is_0600_and_holds_no_password(env):
    _store, journal, _, tmp_path = env
    path = tmp_path / "users.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    journal.flush()
    journal_bytes = (tmp_path / "journal" / "journal.sqlite").read_bytes()
    for pw in PW.values():
        assert pw not in text
        assert pw.encode() not in journal_bytes
    assert {u["name"] for u in json.loads(text)["users"]} == set(PW)


@pytest.mark.parametrize(
    ("user", "allowed"),
    [
        ("vic", {"view"}),
        ("otto", {"view", "alarm.acknowledge", "alarm.shelve", "setpoint.write", "journal.note",
                  "alarm.silence"}),
        ("erin", set(PERMISSIONS) - {"user.manage"}),
        ("ada", set(PERMISSIONS)),
    ],
)
def test_each_role_can_do_exactly_its_permissions(env, user, allowed):
    store, journal, _, tmp_path = env
    session = store.authenticate(user, PW[user])
    authz = Authorizer(journal)
    for perm in PERMISSIONS:
        if perm in allowed:
            authz.require(session, perm)
        else:
            with pytest.raises(PermissionDenied, match=f"may not {perm}"):
                authz.require(session, perm, tag="tank.valve_sp")
    journal.flush()
    refused = _events(tmp_path, "action.refused")
    assert len(refused) == len(set(PERMISSIONS) - allowed)
    assert all(e["actor"] == user for e in refused)


def test_only_administrators_manage_accounts(env):
    store, journal, _, tmp_path = env
    otto = store.authenticate("otto", PW["otto"])
    with pytest.raises(PermissionDenied):
        store.add(otto, "eve", "whatever-long", Role.ADMINISTRATOR)
    with pytest.raises(PermissionDenied):
        store.set_disabled(otto, "ada", True)
    with pytest.raises(PermissionDenied):
        store.set_password(otto, "ada", "new-admin-pass")
    store.set_password(otto, "otto", "new-operator-pass")  # one's own password is fine
    store.authenticate("otto", "new-operator-pass")
    journal.flush()
    assert len(_events(tmp_path, "action.refused")) == 3


def test_wrong_password_lockout_and_expiry(env):
    store, journal, clock, tmp_path = env
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthError):
            store.authenticate("otto", "wrong-password")
    with pytest.raises(AuthError):  # locked: even the right password is refused
        store.authenticate("otto", PW["otto"])
    clock.t += LOCKOUT_S + 1
    assert store.authenticate("otto", PW["otto"]).role is Role.OPERATOR
    journal.flush()
    reasons = [e["body"]["reason"] for e in _events(tmp_path, "user.login_failed")]
    assert reasons.count("wrong password") == MAX_FAILED_LOGINS - 1
    assert any("locked" in r for r in reasons)


def test_disabled_account_cannot_log_in_and_last_admin_stays(env):
    store, _, _, _ = env
    ada = store.authenticate("ada", PW["ada"])
    store.set_disabled(ada, "vic", True)
    with pytest.raises(AuthError):
        store.authenticate("vic", PW["vic"])
    with pytest.raises(VigilError, match="last enabled administrator"):
        store.set_disabled(ada, "ada", True)


def test_short_password_and_bad_names_refused(env):
    store, _, _, _ = env
    ada = store.authenticate("ada", PW["ada"])
    with pytest.raises(VigilError, match="too short"):
        store.add(ada, "sam", "short", Role.VIEWER)
    with pytest.raises(VigilError, match="user name"):
        store.add(ada, "sam smith", "long-enough", Role.VIEWER)
    with pytest.raises(VigilError, match="already exists"):
        store.add(ada, "otto", "long-enough", Role.VIEWER)


def test_corrupt_store_is_refused_with_a_message(tmp_path):
    (tmp_path / "users.json").write_text("{not json")
    with pytest.raises(VigilError, match=r"users\.json: user store is unreadable"):
        UserStore(tmp_path / "users.json")


def test_only_live_sessions_issued_by_the_store_are_accepted(env):
    from app.core.users import Session

    store, journal, _, tmp_path = env
    otto = store.authenticate("otto", PW["otto"])
    store.check_session(otto)
    forged = Session("otto", Role.OPERATOR, otto.since)  # same fields, no token
    with pytest.raises(AuthError, match="not a session issued"):
        store.check_session(forged)
    with pytest.raises(AuthError):
        store.check_session(Session("nobody", Role.ADMINISTRATOR, 0.0, "f" * 32))
    ada = store.authenticate("ada", PW["ada"])
    store.set_disabled(ada, "otto", True)
    with pytest.raises(AuthError, match=r"disabled|ended"):
        store.check_session(otto)
    erin = store.authenticate("erin", PW["erin"])
    store.logout(erin)
    with pytest.raises(AuthError, match="ended"):
        store.check_session(erin)
    journal.flush()
    assert len(_events(tmp_path, "action.refused")) == 4


def test_an_unknown_user_name_is_not_written_to_the_journal(env):
    store, journal, _, tmp_path = env
    with pytest.raises(AuthError):
        store.authenticate("Hunter2-typed-in-the-name-field", "x")
    journal.flush()
    raw = (tmp_path / "journal" / "journal.sqlite").read_bytes()
    assert b"Hunter2-typed-in-the-name-field" not in raw
    failed = _events(tmp_path, "user.login_failed")
    assert failed[-1]["actor"] == "unknown" and failed[-1]["body"]["attempted_user"] is None


def test_a_token_from_another_process_resolves_to_the_accounts_current_role(env):
    store, *_ = env
    otto = store.authenticate("otto", PW["otto"])
    again = store.session_for_token(otto.token)
    assert (again.user, again.role, again.token) == ("otto", otto.role, otto.token)
    with pytest.raises(AuthError, match="not a session issued"):
        store.session_for_token("0" * 32)
    with pytest.raises(AuthError):
        store.session_for_token("")
    store.logout(otto)
    with pytest.raises(AuthError, match="ended"):
        store.session_for_token(otto.token)
