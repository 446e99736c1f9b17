"""The Vigil station protocol: topics and message shapes (see PROTOCOL.md beside this file).

Sparkplug B carries the plant's values; everything else a workstation needs from a node
(log in, alarm actions, setpoint writes, history, journal) is MQTT v5 request/response under
``vigil/<group>/<node>/``. Both sides validate every message with the pydantic models below,
so a malformed or hostile message is refused with a reason, never half-executed.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: bumped on any incompatible change; a node refuses requests of another version
PROTOCOL_VERSION = 1
#: what a station id / node id may contain: it becomes one MQTT topic level and a client id
ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
#: history is streamed in replies of at most this many samples each
HISTORY_CHUNK = 2000
#: journal events per reply
JOURNAL_CHUNK = 500


class Topics:
    """Every topic of one node's station protocol."""

    def __init__(self, group: str, node: str):
        self.group, self.node = group, node
        self.base = f"vigil/{group}/{node}"

    def request(self, station: str) -> str:
        """A station publishes its requests here (MQTT v5 response topic + correlation data)."""
        return f"{self.base}/req/{station}"

    @property
    def requests(self) -> str:
        return f"{self.base}/req/+"

    def reply(self, station: str) -> str:
        """The node answers one station here (readable by that station's client id only)."""
        return f"{self.base}/reply/{station}"

    def alarm(self, alarm_id: str) -> str:
        """Retained: the current state of one alarm (empty once normal and acknowledged)."""
        return f"{self.base}/alarm/{quote(alarm_id, safe=':.-_')}"

    @property
    def alarms(self) -> str:
        return f"{self.base}/alarm/#"

    @property
    def plant(self) -> str:
        """Retained: the plant description (devices, profiles, points, units, ranges, limits)."""
        return f"{self.base}/plant"

    @property
    def status(self) -> str:
        """Retained: node online/offline (offline is the Will), diagnostics, flood, detectors."""
        return f"{self.base}/status"


def parse_topic(topic: str) -> tuple[str, str, str, str] | None:
    """``vigil/<group>/<node>/<what>[/rest]`` -> (group, node, what, rest); None otherwise."""
    parts = topic.split("/", 4)
    if len(parts) < 4 or parts[0] != "vigil":
        return None
    return parts[1], parts[2], parts[3], parts[4] if len(parts) > 4 else ""


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Request(_Msg):
    """One request from a station. ``token`` is the session the node issued at log-in
    (empty: nobody logged in, a viewer's read-only queries only)."""

    v: int
    kind: str = Field(pattern=r"^[a-z_]{1,40}$")
    station: str = Field(pattern=ID_PATTERN)
    token: str = Field("", max_length=128)
    args: dict[str, Any] = Field(default_factory=dict)


class Reply(_Msg):
    """One reply. A streamed answer (history, journal) is several replies with the same
    correlation data, numbered by ``chunk``; the last has ``last`` set."""

    v: int = PROTOCOL_VERSION
    ok: bool
    result: Any = None
    error: str = ""
    #: auth: session refused; permission: role too low; invalid: malformed request; error: other
    error_kind: Literal["", "auth", "permission", "invalid", "error"] = ""
    chunk: int = 0
    last: bool = True


# ---------------------------------------------------------------- request arguments, by kind
class NoArgs(_Msg):
    pass


class LoginArgs(_Msg):
    user: str = Field(min_length=1, max_length=128)
    password: str = Field(max_length=1024)


class LogoutArgs(_Msg):
    reason: str = Field("logout", max_length=200)


class AckArgs(_Msg):
    alarm_ids: list[str] = Field(min_length=1, max_length=10_000)


class ShelveArgs(_Msg):
    alarm_id: str
    reason: str = Field(max_length=2000)
    until_ts: float


class AlarmIdArgs(_Msg):
    alarm_id: str


class OutOfServiceArgs(_Msg):
    alarm_id: str
    on: bool
    reason: str = Field(max_length=2000)


class OffDelayArgs(_Msg):
    alarm_id: str
    seconds: float


class WriteArgs(_Msg):
    device: str
    point: str
    value: bool | int | float | str


class NoteArgs(_Msg):
    text: str = Field(min_length=1, max_length=20_000)


class AccessArgs(_Msg):
    kind: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    scope: str = Field(max_length=1000)


class SilenceArgs(_Msg):
    sounding: list[str] = Field(max_length=10_000)
    until_ts: float
    audio: str = Field(max_length=500)


class SettingArgs(_Msg):
    name: str = Field(max_length=100)
    value: float


class LearnArgs(_Msg):
    group: str
    t0: float
    t1: float


class HistoryArgs(_Msg):
    tags: list[str] = Field(max_length=1000)
    t0: float
    t1: float
    max_points: int = Field(ge=1, le=10_000_000)


class AlarmHistoryArgs(_Msg):
    since: float | None = None
    until: float | None = None
    tag: str | None = None
    priority: str | None = None
    state: str | None = None
    actor: str | None = None
    alarm_id: str | None = None
    limit: int = Field(10_000, ge=1, le=100_000)
    kinds: list[str] = Field(default_factory=list)
    text: str | None = None


class JournalArgs(_Msg):
    kind: str | None = None
    actor: str | None = None
    text: str | None = None
    limit: int = Field(500, ge=1, le=100_000)


class UsersArgs(_Msg):
    pass


class UserAddArgs(_Msg):
    name: str = Field(min_length=1, max_length=128)
    password: str = Field(max_length=1024)
    role: str = Field(min_length=1, max_length=32)


class UserPasswordArgs(_Msg):
    name: str = Field(min_length=1, max_length=128)
    password: str = Field(max_length=1024)


class UserDisableArgs(_Msg):
    name: str = Field(min_length=1, max_length=128)
    disabled: bool


#: every request kind and its arguments; ``login`` is the one kind sent without a token
ARGS: dict[str, type[_Msg]] = {
    "login": LoginArgs,
    "logout": LogoutArgs,
    "acknowledge": AckArgs,
    "shelve": ShelveArgs,
    "unshelve": AlarmIdArgs,
    "out_of_service": OutOfServiceArgs,
    "off_delay": OffDelayArgs,
    "write": WriteArgs,
    "note": NoteArgs,
    "record_access": AccessArgs,
    "silence": SilenceArgs,
    "console_setting": SettingArgs,
    "preview_normal": LearnArgs,
    "learn_normal": LearnArgs,
    "alarms": NoArgs,
    "alarm_history": AlarmHistoryArgs,
    "kpis": NoArgs,
    "detectors": NoArgs,
    "history": HistoryArgs,
    "journal": JournalArgs,
    "verify": NoArgs,
    "journal_head": NoArgs,
    "diagnostics": NoArgs,
    "problems": NoArgs,
    "users": UsersArgs,
    "user_add": UserAddArgs,
    "user_password": UserPasswordArgs,
    "user_disable": UserDisableArgs,
}
#: kinds a station with nobody logged in may send (an anonymous viewer's reads)
READ_ONLY = frozenset(
    {"alarms", "alarm_history", "kpis", "detectors", "history", "journal", "verify", "journal_head",
     "diagnostics", "problems"}
)


#: requests also served with nobody logged in at the station (as an anonymous viewer there)
ANONYMOUS = frozenset({"record_access"})


class ProtocolError(ValueError):
    """A message that does not follow this protocol (named in the reply)."""


def parse_request(payload: bytes) -> tuple[Request, _Msg]:
    """Validate a request and its arguments; ProtocolError names what is wrong."""
    try:
        req = Request.model_validate_json(payload)
    except ValidationError as e:
        raise ProtocolError(f"malformed request: {_first(e)}") from None
    if req.v != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {req.v} not supported (this node speaks {PROTOCOL_VERSION})")
    model = ARGS.get(req.kind)
    if model is None:
        raise ProtocolError(f"unknown request kind '{req.kind}'")
    try:
        args = model.model_validate(req.args)
    except ValidationError as e:
        raise ProtocolError(f"{req.kind}: {_first(e)}") from None
    return req, args


def parse_reply(payload: bytes) -> Reply:
    try:
        return Reply.model_validate_json(payload)
    except ValidationError as e:
        raise ProtocolError(f"malformed reply: {_first(e)}") from None


def dumps(obj: Any) -> bytes:
    """Compact JSON; NaN and infinities are not JSON (they travel as null)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _first(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "message"
    return f"{where}: {err.get('msg', 'invalid')}"
