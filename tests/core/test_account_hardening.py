"""Accounts hardening (#17): account changes check the session like every other action, the
store cannot be deleted or edited behind the journal's back, scrypt at OWASP's cost with a
rehash at log-in, the same work on every failure path, an absolute session lifetime, and
growing delays instead of a hard lock-out. Real files, real journal, real scrypt."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

import app.core.users as users_mod
from app.cli import main as vigil
from app.core.errors import VigilError
from app.core.journal import Journal, read_events
from app.core.users import MAX_FAILED_LOGINS, AuthError, Role, Session, UserStore

try:  # the composition root moved (base: app.core.engine)
    from app.station import Core
except ImportError:  # pragma: no cover - the base commit
    from app.core.engine import Core  # type: ignore[no-redef]

PW = {"ada": "admin-pass-1", "otto": "operator-pass"}


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
    yield store, journal, clock, admin
    journal.close()


def test_account_changes_refuse_forged_stale_and_role_edited_sessions(env):
    store, _, _, admin = env
    forged = Session("ada", Role.ADMINISTRATOR, admin.since, token="00" * 16)
    otto = store.authenticate("otto", PW["otto"])
    promoted = dataclasses.replace(otto, role=Role.ADMINISTRATOR)  # same token, edited role
    stale = store.authenticate("ada", PW["ada"])
    store.logout(stale)
    for bad in (forged, promoted, stale):
        with pytest.raises(AuthError, match="refused"):
            store.add(bad, f"eve{id(bad) % 1000}", "long-enough-pw", Role.ADMINISTRATOR)
        with pytest.raises(AuthError, match="refused"):
            store.set_password(bad, "ada", "hijacked-pass")
        with pytest.raises(AuthError, match="refused"):
            store.set_disabled(bad, "otto", True)
    with pytest.raises(AuthError, match="refused"):  # one's own password, with a forged session
        store.set_password(Session("otto", Role.OPERATOR, 0.0, token="ff" * 16), "otto", "hijacked-pass")
    assert [u["name"] for u in store.list()] == ["ada", "otto"]
    store.authenticate("ada", PW["ada"])  # password unchanged
    store.authenticate("otto", PW["otto"])


def test_session_has_an_absolute_lifetime(env):
    store, _, clock, _ = env
    s = store.authenticate("otto", PW["otto"])
    store.check_session(s)
    clock.t += 11 * 3600
    store.check_session(s)  # busy all shift: still fine
    clock.t += 2 * 3600
    with pytest.raises(AuthError, match="older than"):
        store.check_session(s)


def test_growing_delays_instead_of_a_five_minute_lockout(env):
    store, _, clock, _ = env
    for _ in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthError):
            store.authenticate("ada", "wrong-password")
    with pytest.raises(AuthError):  # waiting: even the right password is refused
        store.authenticate("ada", PW["ada"])
    clock.t += 16  # the first delay is short: the real administrator gets back in
    store.authenticate("ada", PW["ada"])
    for _ in range(MAX_FAILED_LOGINS + 1):  # a sixth failure in a row waits longer
        clock.t += 60
        with pytest.raises(AuthError):
            store.authenticate("ada", "wrong-password")
    clock.t += 16
    with pytest.raises(AuthError):
        store.authenticate("ada", PW["ada"])
    clock.t += 15
    store.authenticate("ada", PW["ada"])


def test_unknown_user_costs_the_same_file_rewrite_as_a_wrong_password(env, tmp_path):
    store, _, _, _ = env
    path = tmp_path / "users.json"
    before = path.stat().st_ino, path.stat().st_mtime_ns
    with pytest.raises(AuthError):
        store.authenticate("nobody-here", "whatever-pass")
    assert (path.stat().st_ino, path.stat().st_mtime_ns) != before


def test_scrypt_at_owasp_cost_and_older_hashes_rehashed_at_login(env, tmp_path, monkeypatch):
    store, _, _, _ = env
    assert getattr(users_mod, "SCRYPT_N_DEFAULT", users_mod.SCRYPT_N) == 2**17
    record = {u["name"]: u for u in json.loads((tmp_path / "users.json").read_text())["users"]}
    old_n = record["otto"]["n"]
    assert old_n < 2**17  # made at the cheaper in-process test cost
    monkeypatch.setattr(users_mod, "SCRYPT_N", 2**17)
    store.authenticate("otto", PW["otto"])
    record = {u["name"]: u for u in json.loads((tmp_path / "users.json").read_text())["users"]}
    assert record["otto"]["n"] == 2**17
    assert UserStore(tmp_path / "users.json").authenticate("otto", PW["otto"]).user == "otto"


def _cli(monkeypatch, args, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return vigil(args)


def test_deleted_store_is_not_a_first_start(tmp_path, monkeypatch, capsys):
    d = str(tmp_path / "data")
    assert _cli(monkeypatch, ["users", "add", "ada", "--role", "administrator", "--data-dir", d],
                PW["ada"] + "\n") == 0
    (tmp_path / "data" / "users.json").unlink()
    capsys.readouterr()
    assert _cli(monkeypatch, ["users", "add", "mallory", "--role", "administrator", "--data-dir", d],
                "mallory-pass\n") == 1
    assert "not a first start" in capsys.readouterr().err
    assert not (tmp_path / "data" / "users.json").exists()


def test_edited_store_is_refused_at_start(tmp_path, monkeypatch):
    data = tmp_path / "data"
    d = str(data)
    assert _cli(monkeypatch, ["users", "add", "ada", "--role", "administrator", "--data-dir", d],
                PW["ada"] + "\n") == 0
    assert _cli(monkeypatch, ["users", "add", "otto", "--as", "ada", "--data-dir", d],
                PW["ada"] + "\n" + PW["otto"] + "\n") == 0
    doc = json.loads((data / "users.json").read_text())
    for u in doc["users"]:
        if u["name"] == "otto":
            u["role"] = "administrator"  # promoted by hand
    (data / "users.json").write_text(json.dumps(doc))
    core = Core(data, plugins_enabled=False)
    with pytest.raises(VigilError, match="journal recorded operator"):
        core.start()
    core.stop()
    refused = [e for e in read_events(data / "journal") if e.kind == "users.refused"]
    assert refused and refused[0].critical


def test_deleted_store_does_not_turn_shell_commands_into_commissioning(tmp_path, monkeypatch, capsys):
    """Before accounts exist a note is written as the OS user; after they do, deleting
    users.json must not bring that back."""
    d = str(tmp_path / "data")
    assert _cli(monkeypatch, ["users", "add", "ada", "--role", "administrator", "--data-dir", d],
                PW["ada"] + "\n") == 0
    (tmp_path / "data" / "users.json").unlink()
    assert _cli(monkeypatch, ["journal", "note", "--actor", "mallory", "--data-dir", d, "all fine"]) != 0
    assert not [e for e in read_events(tmp_path / "data" / "journal") if e.kind == "note"]
