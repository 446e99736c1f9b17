"""Local operator accounts, roles and the permission check every action passes through.

Passwords are hashed with scrypt (memory-hard; stdlib ``hashlib.scrypt``) and a per-user salt.
The store is a JSON file written atomically with mode 0600. No account ships: the first start
creates the administrator. Repeated failed logins lock the account for a while.

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Protocol

from app.core.errors import VigilError
from app.core.private import write_private

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_FAILED_LOGINS = 5
LOCKOUT_S = 300.0
MIN_PASSWORD_LEN = 8


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
    "user.manage": Role.ADMINISTRATOR,
}
OPERATOR_MAX_SHELVE_S = 8 * 3600.0


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
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=2**26, dklen=32)


class UserStore:
    """Accounts in ``users.json`` (0600). Thread-safe; every change is journaled by the caller's
    journal, never with the password."""

    def __init__(
        self,
        path: Path,
        journal: JournalLike | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.path = Path(path)
        self.journal = journal
        self.clock = clock
        self._lock = threading.Lock()
        self._users: dict[str, UserRecord] = {}
        #: token -> user name of every session issued and not yet ended
        self._sessions: dict[str, str] = {}
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
            if name in self._users or name == "system":
                raise VigilError(f"user '{name}' already exists")
            _check_password(password)
            salt = secrets.token_bytes(16)
            h = _hash(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
            self._users[name] = UserRecord(
                name=name,
                role=role.label,
                salt=base64.b64encode(salt).decode(),
                hash=base64.b64encode(h).decode(),
                created=self.clock(),
            )
            self._save()
        self._journal("user.added", actor, {"user": name, "role": role.label})

    def set_password(self, session: Session, name: str, password: str) -> None:
        """Administrators set anyone's password; a user may change their own."""
        with self._lock:
            if session.user != name:
                self._require_admin(session, "user.passwd")
            u = self._get(name)
            _check_password(password)
            salt = secrets.token_bytes(16)
            u.salt = base64.b64encode(salt).decode()
            u.hash = base64.b64encode(_hash(password, salt, u.n, u.r, u.p)).decode()
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
                self._sessions = {t: n for t, n in self._sessions.items() if n != name}
            self._save()
        self._journal("user.disabled" if disabled else "user.enabled", session.user, {"user": name})

    def _get(self, name: str) -> UserRecord:
        u = self._users.get(name)
        if u is None:
            raise VigilError(f"no user '{name}'")
        return u

    # ---- login -------------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> Session:
        """Check a password. Failures are journaled with the reason; the message shown to the
        person is the same for every failure so account names cannot be probed."""
        now = self.clock()
        session: Session | None = None
        with self._lock:
            u = self._users.get(name)
            if u is None:
                # spend the same time as a real check so names cannot be probed by timing
                _hash(password, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)
                reason = "unknown user"
            elif u.disabled:
                _hash(password, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)  # same time as a real check
                reason = "account disabled"
            elif u.locked_until > now:
                _hash(password, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)
                reason = f"account locked for {u.locked_until - now:.0f} s more"
            else:
                got = _hash(password, base64.b64decode(u.salt), u.n, u.r, u.p)
                if hmac.compare_digest(base64.b64decode(u.hash), got):
                    u.failed = 0
                    session = Session(u.name, Role.parse(u.role), now, secrets.token_hex(16))
                    self._sessions[session.token] = u.name
                    reason = ""
                else:
                    u.failed += 1
                    reason = "wrong password"
                    if u.failed >= MAX_FAILED_LOGINS:
                        u.locked_until = now + LOCKOUT_S
                        u.failed = 0
                        reason = f"wrong password; locked for {LOCKOUT_S:.0f} s"
                self._save()
        if session is not None:
            self._journal("user.login", name, {"role": session.role.label})
            return session
        self._journal(
            "user.login_failed",
            name if u is not None else "unknown",
            # an unknown name is not recorded: people type their password into the name field,
            # and the journal cannot forget what it was given
            {"attempted_user": name if u is not None else None, "reason": reason},
        )
        raise AuthError("login refused: wrong user name or password, or the account is locked")

    def logout(self, session: Session, reason: str = "logout") -> None:
        with self._lock:
            self._sessions.pop(session.token, None)
        self._journal("user.logout", session.user, {"reason": reason}, critical=False)

    def check_session(self, session: Session) -> None:
        """Refuse a session this store did not issue, that was ended, or whose account has since
        been disabled or had its role changed. Called by the core before every action."""
        with self._lock:
            owner = self._sessions.get(session.token) if session.token else None
            u = self._users.get(session.user)
            if owner != session.user or u is None:
                reason = "not a session issued by this workstation, or it has ended"
            elif u.disabled:
                reason = "the account has been disabled"
            elif Role.parse(u.role) is not session.role:
                reason = "the account's role has changed; log in again"
            else:
                return
        self._journal("action.refused", session.user, {"reason": f"session refused: {reason}"})
        raise AuthError(f"session of '{session.user}' refused: {reason}")


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
