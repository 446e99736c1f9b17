"""Local operator accounts, roles and the permission check every action passes through.

Passwords are hashed with scrypt (memory-hard; stdlib ``hashlib.scrypt``) and a per-user salt.
The store is a JSON file written atomically with mode 0600. No account ships: the first start
creates the administrator, and a store that disagrees with the journal's account events (deleted,
edited) is refused at start (`UserStore.reconcile`). Repeated failed logins make the account wait,
longer after each failure (never a hard lock-out an attacker can aim at an administrator).

Role checks live here, in the core, so a refused action is refused whether it comes from the UI,
the CLI or a script; greyed-out buttons are only a courtesy on top.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from app.core.errors import VigilError
from app.core.private import write_private

#: OWASP's scrypt floor (N=2^17, r=8, p=1: 128 MiB per hash); older records are rehashed at log-in
SCRYPT_N_DEFAULT = 2**17
SCRYPT_N, SCRYPT_R, SCRYPT_P = SCRYPT_N_DEFAULT, 8, 1
#: failures allowed before a delay; then the delay doubles from FIRST_DELAY_S up to LOCKOUT_S, so
#: a stranger typing wrong passwords slows an account down but cannot shut an administrator out
MAX_FAILED_LOGINS = 5
FIRST_DELAY_S = 15.0
LOCKOUT_S = 300.0
#: a session ends this long after its log-in whatever happens (a console left logged in for days)
SESSION_MAX_S = 12 * 3600.0
MIN_PASSWORD_LEN = 8
#: break-glass (HIPAA emergency access): the user name an emergency code is typed with, and
#: how long such a session lasts
EMERGENCY_USER = "emergency"
EMERGENCY_SESSION_S = 3600.0


class Role(IntEnum):
    """Ordered: each role may do everything the roles below it may."""

    VIEWER = 0
    OPERATOR = 1
    ENGINEER = 2
    ADMINISTRATOR = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(r.name.lower() for r in cls)
            raise VigilError(f"unknown role '{text}' (roles: {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


#: permission -> the least role that holds it
PERMISSIONS: dict[str, Role] = {
    "view": Role.VIEWER,
    "alarm.acknowledge": Role.OPERATOR,
    "alarm.shelve": Role.OPERATOR,
    "setpoint.write": Role.OPERATOR,
    "journal.note": Role.OPERATOR,
    "alarm.silence": Role.OPERATOR,
    "station.close": Role.ENGINEER,  # closing an embedded workstation stops all monitoring
    "alarm.shelve_long": Role.ENGINEER,  # shelving longer than OPERATOR_MAX_SHELVE_S
    "alarm.out_of_service": Role.ENGINEER,
    "alarm.suppress": Role.ENGINEER,
    "detector.train": Role.ENGINEER,
    "plugin.manage": Role.ENGINEER,
    "config.edit": Role.ENGINEER,
    "demo.fault": Role.ENGINEER,  # injecting a simulator fault into the demo plant
    "user.manage": Role.ADMINISTRATOR,
}
OPERATOR_MAX_SHELVE_S = 8 * 3600.0
#: the longest a role may shelve an alarm (an engineer too: a shelved alarm is a silenced one)
MAX_SHELVE_S: dict[Role, float] = {
    Role.VIEWER: 0.0,
    Role.OPERATOR: OPERATOR_MAX_SHELVE_S,
    Role.ENGINEER: 24 * 3600.0,
    Role.ADMINISTRATOR: 72 * 3600.0,
}
#: the same for a vital-signs device (profile ``[device] alarm_signals = "medical"``): a
#: patient's alarm is never out of sight for long
MAX_SHELVE_MEDICAL_S: dict[Role, float] = {
    Role.VIEWER: 0.0,
    Role.OPERATOR: 30 * 60.0,
    Role.ENGINEER: 2 * 3600.0,
    Role.ADMINISTRATOR: 2 * 3600.0,
}


def max_shelve_s(role: Role, medical: bool) -> float:
    """How long ``role`` may shelve an alarm of a medical (vital-signs) device or another one."""
    return (MAX_SHELVE_MEDICAL_S if medical else MAX_SHELVE_S)[role]


class AuthError(VigilError):
    """Login refused (wrong name/password, disabled, locked). Deliberately vague to the user."""


class PermissionDenied(VigilError):
    def __init__(self, user: str, role: Role, permission: str):
        need = PERMISSIONS.get(permission, Role.ADMINISTRATOR)
        super().__init__(f"'{user}' ({role.label}) may not {permission}: needs the {need.label} role")
        self.user, self.role, self.permission = user, role, permission


class JournalLike(Protocol):
    def append(self, kind: str, actor: str, body: dict[str, Any], *, critical: bool = False) -> None: ...


@dataclass(frozen=True)
class Session:
    """Who is at the console. Every action takes one.

    Only sessions issued by `UserStore.authenticate` carry a ``token``; the core accepts a
    session for an action only while the store still knows that token, so a session cannot be
    forged, and disabling an account or logging out ends it at once.
    """

    user: str
    role: Role
    since: float
    token: str = field(default="", repr=False, compare=False)
    #: the workstation the session was issued to ('' for this process's own console); a remote
    #: action is journaled with it, and the token is refused from any other station
    station: str = field(default="", compare=False)

    def can(self, permission: str) -> bool:
        return self.role >= PERMISSIONS.get(permission, Role.ADMINISTRATOR)


#: the core's own identity for automatic actions (start-up, comm-loss alarms...)
SYSTEM = Session("system", Role.ADMINISTRATOR, 0.0)


@dataclass
class UserRecord:
    name: str
    role: str
    salt: str
    hash: str
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P
    disabled: bool = False
    failed: int = 0
    locked_until: float = 0.0
    created: float = field(default_factory=time.time)


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # scrypt needs 128*r*n*p bytes; twice that leaves room for OpenSSL's own overhead
    maxmem = max(2**26, 256 * r * n * p)
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=32)


def _failure_delay(failed: int) -> float:
    """Seconds an account waits after its ``failed``-th consecutive failure (0: none yet)."""
    if failed < MAX_FAILED_LOGINS:
        return 0.0
    return min(FIRST_DELAY_S * 2 ** (failed - MAX_FAILED_LOGINS), LOCKOUT_S)


class UserStore:
    """Accounts in ``users.json`` (0600). Thread-safe; every change is journaled by the caller's
    journal, never with the password."""

    def __init__(
        self,
        path: Path,
        journal: JournalLike | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
    ):
        self.path = Path(path)
        self.journal = journal
        self.clock = clock
        #: times how old a session is, so a wall-clock step neither ends one early nor keeps it
        #: past its limit (default: time.monotonic with the real wall clock, the injected one otherwise)
        self._monotonic = monotonic or (time.monotonic if clock is time.time else clock)
        #: token -> when the session was issued, on that steady clock
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._users: dict[str, UserRecord] = {}
        #: token -> (user name, issued at, station) of every session issued and not yet ended
        self._sessions: dict[str, tuple[str, float, str]] = {}
        #: unused emergency codes, from the journal (`reconcile`): code id -> its creation event
        self._emergency: dict[str, dict[str, Any]] = {}
        #: token -> role of each live break-glass session
        self._emergency_sessions: dict[str, Role] = {}
        self._load()

    # ---- persistence -------------------------------------------------------------------
    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            raw = json.loads(self.path.read_text("utf-8"))
            self._users = {u["name"]: UserRecord(**u) for u in raw.get("users", [])}
        except (ValueError, TypeError, KeyError) as e:
            raise VigilError(
                f"{self.path}: user store is unreadable ({e}); refusing to start "
                "with no accounts (restore it from backup)"
            ) from None

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"version": 1, "users": [asdict(u) for u in self._users.values()]}, indent=1)
        # a fresh mkstemp file, never a fixed name: a planted ``users.tmp`` link redirects nothing
        write_private(self.path, data.encode("utf-8"))

    def _journal(self, kind: str, actor: str, body: dict[str, Any], critical: bool = True) -> None:
        if self.journal is not None:
            self.journal.append(kind, actor, body, critical=critical)

    # ---- queries -----------------------------------------------------------------------
    def is_empty(self) -> bool:
        with self._lock:
            return not self._users

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "name": u.name,
                    "role": u.role,
                    "disabled": u.disabled,
                    "locked": u.locked_until > self.clock(),
                    "created": u.created,
                }
                for u in sorted(self._users.values(), key=lambda u: u.name)
            ]

    # ---- administration ----------------------------------------------------------------
    def _require_admin(self, session: Session | None, action: str) -> str:
        """The very first account may be created without a session; after that, only an
        administrator manages accounts."""
        if session is None:
            if self._users:
                raise PermissionDenied("anonymous", Role.VIEWER, "user.manage")
            return "setup"
        self._check_session_locked(session)
        if not session.can("user.manage"):
            self._journal(
                "action.refused",
                session.user,
                {"action": action, "permission": "user.manage", "role": session.role.label},
            )
            raise PermissionDenied(session.user, session.role, "user.manage")
        return session.user

    def add(self, session: Session | None, name: str, password: str, role: Role) -> None:
        with self._lock:
            actor = self._require_admin(session, "user.add")
            if session is None and role is not Role.ADMINISTRATOR:
                raise VigilError("the first account must be an administrator")
            if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
                raise VigilError(f"user name '{name}': use letters, digits, '.', '-', '_'")
            if name in self._users or name in ("system", EMERGENCY_USER):
                raise VigilError(f"user '{name}' already exists")
            _check_password(password)
            record = UserRecord(name=name, role=role.label, salt="", hash="", created=self.clock())
            _set_hash(record, password)
            self._users[name] = record
            self._save()
        self._journal("user.added", actor, {"user": name, "role": role.label})

    def set_password(self, session: Session, name: str, password: str) -> None:
        """Administrators set anyone's password; a user may change their own."""
        with self._lock:
            if session.user != name:
                self._require_admin(session, "user.passwd")
            else:
                self._check_session_locked(session)
            u = self._get(name)
            _check_password(password)
            _set_hash(u, password)
            u.failed, u.locked_until = 0, 0.0
            self._save()
        self._journal("user.password_changed", session.user, {"user": name})

    def set_disabled(self, session: Session, name: str, disabled: bool) -> None:
        with self._lock:
            self._require_admin(session, "user.disable")
            u = self._get(name)
            if disabled and u.role == Role.ADMINISTRATOR.label:
                admins = [
                    x for x in self._users.values() if x.role == Role.ADMINISTRATOR.label and not x.disabled
                ]
                if len(admins) <= 1:
                    raise VigilError("refusing to disable the last enabled administrator")
            u.disabled = disabled
            if disabled:
                self._sessions = {t: v for t, v in self._sessions.items() if v[0] != name}
            self._save()
        self._journal("user.disabled" if disabled else "user.enabled", session.user, {"user": name})

    def _get(self, name: str) -> UserRecord:
        u = self._users.get(name)
        if u is None:
            raise VigilError(f"no user '{name}'")
        return u

    # ---- login -------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, *, station: str = "") -> Session:
        """Check a password. Failures are journaled with the reason; the message shown to the
        person is the same for every failure so account names cannot be probed. ``station``:
        the remote workstation asking (its session is bound to it and journaled with it)."""
        now = self.clock()
        session: Session | None = None
        with self._lock:
            u = self._users.get(name)
            # Every failure path does the same work as a real check (one scrypt at today's
            # cost, one rewrite and fsync of the store), so neither the time taken nor the
            # disk reveals whether a name exists, is disabled or is waiting out a delay.
            if name == EMERGENCY_USER and self._emergency:
                session, reason = self._break_glass(password, now, station)
            elif u is None:
                _hash(password, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)
                reason = "unknown user"
            elif u.disabled:
                _hash(password, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)
                reason = "account disabled"
            elif u.locked_until > now:
                _hash(password, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)
                reason = f"account locked for {u.locked_until - now:.0f} s more"
            else:
                got = _hash(password, base64.b64decode(u.salt), u.n, u.r, u.p)
                if hmac.compare_digest(base64.b64decode(u.hash), got):
                    u.failed, u.locked_until = 0, 0.0
                    if (u.n, u.r, u.p) != (SCRYPT_N, SCRYPT_R, SCRYPT_P):
                        _set_hash(u, password)  # upgrade an older, cheaper hash now we know it
                    session = Session(u.name, Role.parse(u.role), now, secrets.token_hex(16), station)
                    self._sessions[session.token] = (u.name, now, station)
                    self._note_start(session.token)
                    reason = ""
                else:
                    u.failed += 1
                    reason = "wrong password"
                    delay = _failure_delay(u.failed)
                    if delay:
                        u.locked_until = now + delay
                        reason = f"wrong password; locked for {delay:.0f} s"
            self._save()
        if session is not None and name == EMERGENCY_USER:
            self._journal("user.emergency_login", session.user,
                          {"role": session.role.label, "code_id": session.user.split(":", 1)[1],
                           "lasts_s": EMERGENCY_SESSION_S})
            return session
        if session is not None:
            self._journal("user.login", name, {"role": session.role.label, **_at(station)})
            return session
        self._journal(
            "user.login_failed",
            name if u is not None else "unknown",
            # an unknown name is not recorded: people type their password into the name field,
            # and the journal cannot forget what it was given
            {"attempted_user": name if u is not None else None, "reason": reason, **_at(station)},
        )
        raise AuthError("login refused: wrong user name or password, or the account is locked")

    def logout(self, session: Session, reason: str = "logout") -> None:
        with self._lock:
            self._sessions.pop(session.token, None)
        self._journal("user.logout", session.user, {"reason": reason, **_at(session.station)}, critical=False)

    def check_session(self, session: Session) -> None:
        """Refuse a session this store did not issue, that was ended, or whose account has since
        been disabled or had its role changed, or that is older than `SESSION_MAX_S`. Called by
        the core before every action, and by this store before every change to an account."""
        with self._lock:
            self._check_session_locked(session)

    def session_for_token(self, token: str) -> Session:
        """The live session this store issued under ``token``, checked like any other.

        For requests that arrive from another process (a workstation talking to a node over
        the broker): they carry the token only, and the role is the account's role now, never
        one the caller claims. Refused (AuthError, journaled) when unknown, ended or expired."""
        with self._lock:
            issued = self._sessions.get(token) if token else None
            user = issued[0] if issued is not None else "unknown"
            u = self._users.get(user)
            role = Role.parse(u.role) if u is not None else Role.VIEWER
            session = Session(user, role, issued[1] if issued is not None else 0.0, token,
                              issued[2] if issued is not None else "")
            self._check_session_locked(session)
            return session

    def _note_start(self, token: str) -> None:
        """Remember when ``token`` was issued on the steady clock (and forget ended sessions)."""
        self._started = {t: v for t, v in self._started.items() if t in self._sessions}
        self._started[token] = self._monotonic()

    def _session_age(self, token: str, issued_wall: float) -> float:
        started = self._started.get(token)
        return self.clock() - issued_wall if started is None else self._monotonic() - started

    def _check_session_locked(self, session: Session) -> None:
        issued = self._sessions.get(session.token) if session.token else None
        u = self._users.get(session.user)
        glass = self._emergency_sessions.get(session.token) if issued is not None else None
        if glass is not None and issued is not None and issued[0] == session.user:
            if glass is not session.role:
                reason = "not the role this emergency session was given"
            elif self._session_age(session.token, issued[1]) > EMERGENCY_SESSION_S:
                self._sessions.pop(session.token, None)
                reason = f"the emergency session is older than {EMERGENCY_SESSION_S / 60:.0f} min"
            else:
                return
        elif issued is None or issued[0] != session.user or u is None:
            reason = "not a session issued by this workstation, or it has ended"
        elif u.disabled:
            reason = "the account has been disabled"
        elif Role.parse(u.role) is not session.role:
            reason = "the account's role has changed; log in again"
        elif self._session_age(session.token, issued[1]) > SESSION_MAX_S:
            self._sessions.pop(session.token, None)
            reason = f"the session is older than {SESSION_MAX_S / 3600:.0f} h; log in again"
        else:
            return
        self._journal("action.refused", session.user, {"reason": f"session refused: {reason}"})
        raise AuthError(f"session of '{session.user}' refused: {reason}")

    # ---- break-glass emergency access ---------------------------------------------------
    def create_emergency_code(self, session: Session | None, role: Role = Role.OPERATOR) -> tuple[str, str]:
        """An administrator makes a one-time emergency code (HIPAA emergency access procedure):
        print it, seal it in an envelope, keep it where the night shift can break it open.

        Only its scrypt hash is kept, in a critical ``user.emergency_code`` journal event (the
        journal, not ``users.json``, is the record, so editing the store cannot add one). It
        opens one session of ``role`` (operator or engineer) for `EMERGENCY_SESSION_S`, typed
        as user ``emergency``; using it is journaled as critical and the station raises an
        alarm. Returns (code id, code). The running station learns of it at its next start."""
        if role > Role.ENGINEER:
            raise VigilError("an emergency code opens an operator or engineer session, "
                             "never an administrator's")
        with self._lock:
            actor = self._require_admin(session, "user.emergency_code")
            if session is None:
                raise VigilError("create the first administrator before an emergency code")
            code_id = secrets.token_hex(4)
            code = "-".join(secrets.token_hex(3) for _ in range(5))  # 120 bits, readable aloud
            salt = secrets.token_bytes(16)
            record = {"code_id": code_id, "role": role.label, "salt": base64.b64encode(salt).decode(),
                      "hash": base64.b64encode(_hash(code, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)).decode(),
                      "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
            self._emergency[code_id] = record
        self._journal("user.emergency_code", actor, record)
        return code_id, code

    def _break_glass(self, code: str, now: float, station: str = "") -> tuple[Session | None, str]:
        """Check ``code`` against every unused emergency code (called with the lock held)."""
        for code_id, rec in list(self._emergency.items()):
            got = _hash(code, base64.b64decode(rec["salt"]), int(rec["n"]), int(rec["r"]), int(rec["p"]))
            if hmac.compare_digest(base64.b64decode(rec["hash"]), got):
                del self._emergency[code_id]  # one time only
                role = Role.parse(str(rec["role"]))
                session = Session(f"{EMERGENCY_USER}:{code_id}", role, now, secrets.token_hex(16), station)
                self._sessions[session.token] = (session.user, now, station)
                self._note_start(session.token)
                self._emergency_sessions[session.token] = role
                return session, ""
        return None, "wrong emergency code"

    def _load_emergency_codes(self, events: Iterable[tuple[str, dict[str, Any]]]) -> None:
        codes: dict[str, dict[str, Any]] = {}
        for kind, body in events:
            cid = body.get("code_id") if isinstance(body, dict) else None
            if not isinstance(cid, str):
                continue
            if kind == "user.emergency_code":
                codes[cid] = dict(body)
            elif kind == "user.emergency_login":
                codes.pop(cid, None)
        with self._lock:
            self._emergency = codes

    # ---- integrity against the journal -------------------------------------------------
    def reconcile(self, events: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Refuse a store that disagrees with the signed journal's account events.

        ``users.json`` is a plain file: deleting it would otherwise look like a first start
        (where anyone creates an administrator), and editing it could promote or re-enable an
        account. The journal records every ``user.added`` / ``user.disabled`` /
        ``user.enabled``, so at start the two must agree; when they do not, the store is
        refused loudly (journaled as critical) and the fix is to restore it from backup.
        """
        events = list(events)
        roles: dict[str, str] = {}
        disabled: dict[str, bool] = {}
        for kind, body in events:
            user = body.get("user") if isinstance(body, dict) else None
            if not isinstance(user, str):
                continue
            if kind == "user.added":
                roles[user] = str(body.get("role", ""))
                disabled[user] = False
            elif kind in ("user.disabled", "user.enabled"):
                disabled[user] = kind == "user.disabled"
        self._load_emergency_codes(events)
        problems: list[str] = []
        with self._lock:
            if roles and not self._users:
                problems.append(
                    f"the store is missing or empty, but the journal records {len(roles)} account(s) "
                    f"({', '.join(sorted(roles)[:5])}): this is not a first start")
            else:
                for u in self._users.values():
                    if u.name not in roles:
                        problems.append(f"account '{u.name}' is not in the journal (was it added by hand?)")
                    elif u.role != roles[u.name]:
                        problems.append(f"account '{u.name}' is {u.role} in the store but the journal "
                                        f"recorded {roles[u.name]}")
                    elif disabled.get(u.name) and not u.disabled:
                        problems.append(f"account '{u.name}' was disabled, but the store has it enabled")
        if problems:
            self._journal("users.refused", "system", {"path": str(self.path), "problems": problems})
            raise VigilError(
                f"{self.path}: the account store does not match the journal ({'; '.join(problems)}); "
                "refusing to start. Restore users.json from backup (it is not recreated on purpose)")


def _at(station: str) -> dict[str, str]:
    """The ``station`` field of a journal body: only for a remote workstation's session."""
    return {"station": station} if station else {}


def _set_hash(u: UserRecord, password: str) -> None:
    """Give ``u`` a fresh salt and a hash at today's scrypt cost."""
    salt = secrets.token_bytes(16)
    u.salt = base64.b64encode(salt).decode()
    u.n, u.r, u.p = SCRYPT_N, SCRYPT_R, SCRYPT_P
    u.hash = base64.b64encode(_hash(password, salt, u.n, u.r, u.p)).decode()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LEN:
        raise VigilError(f"password too short: at least {MIN_PASSWORD_LEN} characters")


class Authorizer:
    """The single gate every action passes: checks the session's role and journals refusals."""

    def __init__(self, journal: JournalLike | None = None):
        self.journal = journal

    def require(self, session: Session, permission: str, **context: Any) -> None:
        if session.can(permission):
            return
        if self.journal is not None:
            self.journal.append(
                "action.refused",
                session.user,
                {"permission": permission, "role": session.role.label, **context},
                critical=True,
            )
        raise PermissionDenied(session.user, session.role, permission)


def account_events(journal_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """The journal's account events in order, for `UserStore.reconcile`; none in a new journal."""
    from app.core.journal.reader import read_events
    from app.core.journal.store import db_path

    if not db_path(journal_dir).exists():
        return []
    kinds = ("user.added", "user.disabled", "user.enabled", "user.emergency_code", "user.emergency_login")
    out: list[tuple[str, dict[str, Any]]] = []
    # a journal that continues an older one (Vigil 0.1's version-1 journal, kept whole in
    # v1-<id>/) names it in a critical journal.continued event: its accounts come first. Only
    # the folders the journal itself names count, so a planted folder proves nothing.
    for cont in read_events(journal_dir, kind="journal.continued"):
        previous = cont.body.get("previous_journal_id")
        archive = journal_dir / f"v1-{previous}"
        if isinstance(previous, str) and previous.isalnum() and db_path(archive).exists():
            out += [(e.kind, e.body) for e in read_events(archive, kind="user.") if e.kind in kinds]
    return out + [(e.kind, e.body) for e in read_events(journal_dir, kind="user.") if e.kind in kinds]
