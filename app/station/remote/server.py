"""The node side of the Vigil station protocol: answers workstations' requests over MQTT v5.

It runs beside the Sparkplug edge node, on its own MQTT connection (client id
``<node>-vigil``), over a started `Core`. Every request but log-in carries the session token
this node issued; it is resolved by the node's own `UserStore` (`session_for_token`: the role is
the account's role now, never one the caller claims) and must come from the station it was
issued to. Then the role-checked `Core`/`Actions` do the work, so each action is journaled with
the operator and the station. Anything refused (forged, ended or foreign session, malformed
request) is journaled as ``remote.refused`` and answered with the reason.

Retained topics let a station that joins late show the truth at once: the plant description,
the node's status (its Will says offline) and one topic per alarm that is not normal.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from app.core.alarms.types import AlarmQuery, AlarmState, AlarmView
from app.core.diagnostics import DeviceDiagnostics
from app.core.errors import VigilError
from app.core.users import AuthError, PermissionDenied, Role, Session
from app.station.engine import Core
from app.station.interface import JournalFilter
from app.station.local import LocalStation
from app.station.mqtt_link import BrokerConfig, make_client

from . import protocol as p
from . import wire

log = logging.getLogger(__name__)

#: requests waiting for a worker beyond this are refused ("busy"), so a flood of requests
#: cannot queue unbounded work on the node
MAX_PENDING = 64
#: how often the node looks at its status: a change (besides the per-device counters) goes out
STATUS_EVERY_S = 2.0
#: the whole status, counters and latencies included, goes out at least this often
STATUS_FULL_EVERY_S = 10.0
#: the publisher looks at the connection and resync flags at least this often
RECHECK_S = 0.5

Handler = Callable[[Session, Any, str], Any]


class StationProtocolServer:
    """Serve one node's `Core` to workstations under ``vigil/<group>/<node>/``."""

    def __init__(self, core: Core, broker: BrokerConfig, group: str, node_id: str):
        self.core = core
        self.broker = broker
        self.group, self.node_id = group, node_id
        self.topics = p.Topics(group, node_id)
        self.view = LocalStation(core)  # read-only queries answer exactly as in-process
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="vigil-remote")
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._outbox: queue.Queue[AlarmView] = queue.Queue(maxsize=10_000)
        self._resync = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._settings: dict[tuple[str, str], float] = {}
        #: what the last published status said, but for the per-device counters; None: publish
        self._status_key: tuple[object, ...] | None = None
        self._next_full_status = 0.0
        self.connected = threading.Event()
        self._handlers: dict[str, Handler] = {
            "login": self._login,
            "logout": lambda s, a, st: self.core.users.logout(s, reason=a.reason),
            "acknowledge": lambda s, a, st: self.core.acknowledge(a.alarm_ids, s),
            "shelve": lambda s, a, st: self.core.shelve(a.alarm_id, a.reason, a.until_ts, s),
            "unshelve": lambda s, a, st: self.core.unshelve(a.alarm_id, s),
            "out_of_service": lambda s, a, st: self.core.set_out_of_service(a.alarm_id, a.on, a.reason, s),
            "off_delay": lambda s, a, st: self.core.set_off_delay(a.alarm_id, a.seconds, s),
            "write": self._write,
            "note": lambda s, a, st: self.core.note(a.text, s),
            "record_access": self._record_access,
            "silence": lambda s, a, st: self.core.silence(a.sounding, a.until_ts, audio=a.audio, session=s),
            "console_setting": self._console_setting,
            "preview_normal": lambda s, a, st: wire.candidate_to_json(
                self.core.detectors.preview_normal(a.group, a.t0, a.t1)),
            "learn_normal": lambda s, a, st: wire.model_info_to_json(
                self.core.train_detector(a.group, a.t0, a.t1, s)),
            "alarms": lambda s, a, st: [wire.alarm_to_json(v) for v in self.view.alarms()],
            "alarm_history": self._alarm_history,
            "kpis": lambda s, a, st: wire._finite(self.view.alarm_kpis()),
            "detectors": lambda s, a, st: [wire.group_to_json(g) for g in self.view.detector_status()],
            "history": self._history,
            "journal": self._journal,
            "verify": lambda s, a, st: wire.verify_to_json(self.view.verify_journal()),
            "journal_head": lambda s, a, st: wire._finite(self.view.export_journal_head()),
            "diagnostics": lambda s, a, st: {k: wire.diagnostics_to_json(d)
                                            for k, d in self.view.diagnostics().items()},
            "problems": lambda s, a, st: [list(x) for x in self.view.problems()],
            "users": self._users,
            "user_add": self._user_add,
            "user_password": self._user_password,
            "user_disable": self._user_disable,
        }
        assert set(self._handlers) == set(p.ARGS), "every request kind needs a handler"

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        """Connect (in the background: a node keeps running while the broker is away) and
        publish the retained plant, status and alarm states at every (re)connection."""
        c = make_client(self.broker, f"{self.node_id}-vigil")
        c.will_set(self.topics.status, p.dumps({"online": False, "node": self.node_id}), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *a: self.connected.clear()
        c.on_message = self._on_message
        self._client = c
        self._unsubscribe = self.core.alarms.subscribe(self._on_alarm)
        self.core.diagnostics_listeners.append(self._on_device_state)
        c.connect_async(self.broker.host, self.broker.port, keepalive=10)
        c.loop_start()
        self._thread = threading.Thread(target=self._publisher, name="vigil-remote-pub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """A clean stop says offline (retained) itself; a crash leaves it to the Will."""
        self._stop.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._on_device_state in self.core.diagnostics_listeners:
            self.core.diagnostics_listeners.remove(self._on_device_state)
        if self._thread is not None:
            self._thread.join(5.0)
        c = self._client
        if c is not None:
            if self.connected.is_set():
                info = c.publish(self.topics.status, p.dumps({"online": False, "node": self.node_id}),
                                 qos=1, retain=True)
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(2.0)
            c.disconnect()
            c.loop_stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ publishing
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("station protocol: broker refused the connection: %s", reason)
            return
        client.subscribe(self.topics.requests, qos=1)
        client.publish(self.topics.plant, p.dumps(wire.plant_to_json(self.core.plant)), qos=1, retain=True)
        self.connected.set()
        self._resync.set()  # the publisher thread republishes status and every alarm

    def _on_device_state(self, diag: DeviceDiagnostics) -> None:
        """Core thread: a device went online, offline...: the next status look publishes."""
        self._status_key = None

    def _on_alarm(self, view: AlarmView) -> None:
        """Called on a core thread: enqueue only."""
        try:
            self._outbox.put_nowait(view)
        except queue.Full:
            self._resync.set()  # republish everything rather than lose a state

    def _publisher(self) -> None:
        """Alarm changes as they come, the status every STATUS_EVERY_S; it sleeps in between
        (a resync, the connection coming back and stop() wake it through the outbox)."""
        next_status = 0.0
        while not self._stop.is_set():
            if self._resync.is_set() and self.connected.is_set():
                self._resync.clear()
                for v in self.view.alarms():
                    self._publish_alarm(v)
                next_status = 0.0
                self._status_key = None
            if self.connected.is_set():
                timeout = min(RECHECK_S, max(0.0, next_status - time.monotonic()))
            else:
                next_status, timeout = 0.0, RECHECK_S  # the status goes out once the broker is back
            try:
                view = self._outbox.get(timeout=timeout)
            except queue.Empty:
                view = None
            if view is not None:
                self._publish_alarm(view)
            if time.monotonic() >= next_status and self.connected.is_set():
                next_status = time.monotonic() + STATUS_EVERY_S
                self._publish_status()

    def _publish_alarm(self, v: AlarmView) -> None:
        c = self._client
        if c is None:
            return
        topic = self.topics.alarm(v.id)
        c.publish(topic, p.dumps(wire.alarm_to_json(v)), qos=1, retain=not _settled(v))
        if _settled(v):
            # live stations saw the normal state above; late ones must find nothing retained
            c.publish(topic, b"", qos=1, retain=True)

    def _publish_status(self) -> None:
        """The status, when it changed: accounts, flood, detectors, problems, dropped samples
        and device states at once (a device's state change is signalled by the core); the
        per-device counters and latencies, which change with every poll, every
        STATUS_FULL_EVERY_S. Gathering them for a hundred devices is what costs."""
        c = self._client
        if c is None or not self.core.started:
            return
        try:
            dropped = self.view.dropped_counts()
            summary: dict[str, Any] = {
                "has_accounts": self.view.has_accounts(),
                "in_flood": self.view.in_flood(),
                "detectors": [wire.group_to_json(g) for g in self.view.detector_status()],
                "problems": [list(x) for x in self.view.problems()],
                "dropped": dropped,
            }
            key = (summary["has_accounts"], summary["in_flood"], p.dumps(summary["detectors"]),
                   repr(summary["problems"]), repr(sorted(dropped.items())))
            now = time.monotonic()
            if key == self._status_key and now < self._next_full_status:
                return
            self._status_key = key  # a device state change (another thread) sets it to None after
            self._next_full_status = now + STATUS_FULL_EVERY_S
            status = {
                "online": True,
                "node": self.node_id,
                "t": time.time(),
                **summary,
                "diagnostics": {k: wire.diagnostics_to_json(d) for k, d in self.view.diagnostics().items()},
            }
        except Exception as e:  # a status must never stop the publisher
            log.warning("station protocol: status not published: %s", e)
            self._status_key = None
            return
        c.publish(self.topics.status, p.dumps(status), qos=1, retain=True)

    # ------------------------------------------------------------------ requests
    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        reply_to = getattr(props, "ResponseTopic", None)
        corr = getattr(props, "CorrelationData", None)
        with self._pending_lock:
            busy = self._pending >= MAX_PENDING
            if not busy:
                self._pending += 1
        if busy:
            if reply_to:
                busy_reply = p.Reply(ok=False, error="node busy; try again", error_kind="error")
                self._reply(reply_to, corr, busy_reply)
            return
        self._pool.submit(self._handle, msg.topic, bytes(msg.payload), reply_to, corr)

    def _handle(self, topic: str, payload: bytes, reply_to: str | None, corr: bytes | None) -> None:
        try:
            self._handle_one(topic, payload, reply_to, corr)
        except Exception as e:  # a bug here: say so to the station rather than let it wait
            log.exception("station protocol: request failed")
            if reply_to and reply_to.startswith(f"{self.topics.base}/reply/"):
                self._reply(reply_to, corr, p.Reply(ok=False, error=f"node error: {type(e).__name__}: {e}",
                                                    error_kind="error"))
        finally:
            with self._pending_lock:
                self._pending -= 1

    def _handle_one(self, topic: str, payload: bytes, reply_to: str | None, corr: bytes | None) -> None:
        try:
            req, args = p.parse_request(payload)
        except p.ProtocolError as e:
            self._refused("?", "?", str(e))
            if reply_to:
                self._reply(reply_to, corr, p.Reply(ok=False, error=str(e), error_kind="invalid"))
            return
        if topic != self.topics.request(req.station) or reply_to != self.topics.reply(req.station):
            # a request speaks for the station whose topic it came in on, and is answered only
            # on that station's reply topic, never wherever a request points
            self._refused(req.station, req.kind, f"station '{req.station}' does not match the request "
                          f"topic {topic!r} or response topic {reply_to!r}")
            return
        try:
            session = self._session(req)
        except AuthError as e:
            self._refused(req.station, req.kind, str(e))
            self._reply(reply_to, corr, p.Reply(ok=False, error=str(e), error_kind="auth"))
            return
        try:
            result = self._handlers[req.kind](session, args, req.station)
        except PermissionDenied as e:
            self._reply(reply_to, corr, p.Reply(ok=False, error=str(e), error_kind="permission"))
            return
        except AuthError as e:
            self._reply(reply_to, corr, p.Reply(ok=False, error=str(e), error_kind="auth"))
            return
        except (VigilError, ValueError, KeyError) as e:
            text = str(e) if not isinstance(e, KeyError) else f"unknown: {e}"
            self._reply(reply_to, corr, p.Reply(ok=False, error=text, error_kind="error"))
            return
        if isinstance(result, _Stream):
            n = 0
            for n, chunk in enumerate(result.chunks):
                self._reply(reply_to, corr, p.Reply(ok=True, result=chunk, chunk=n, last=False))
            self._reply(reply_to, corr, p.Reply(ok=True, result=None, chunk=n + 1, last=True))
        else:
            self._reply(reply_to, corr, p.Reply(ok=True, result=result))

    def _session(self, req: p.Request) -> Session:
        """The session a request runs as; AuthError (journaled by the store) when refused."""
        if req.kind == "login":
            return Session("anonymous", Role.VIEWER, time.time(), station=req.station)
        if not req.token:
            if req.kind in p.READ_ONLY or req.kind in p.ANONYMOUS:
                return Session("anonymous", Role.VIEWER, time.time(), station=req.station)
            raise AuthError(f"{req.kind}: nobody is logged in at station '{req.station}'; log in first")
        session = self.core.users.session_for_token(req.token)
        if session.station != req.station:
            raise AuthError(f"session of '{session.user}' was issued to another station, "
                            f"not '{req.station}'; log in again")
        return session

    def _refused(self, station: str, kind: str, reason: str) -> None:
        try:
            body = {"station": station, "request": kind, "reason": reason[:500]}
            self.core.journal.append("remote.refused", "remote", body, critical=True)
        except Exception as e:  # a closed journal at shutdown
            log.warning("station protocol: refusal not journaled: %s", e)

    def _reply(self, topic: str, corr: bytes | None, reply: p.Reply) -> None:
        c = self._client
        if c is None:
            return
        props = Properties(PacketTypes.PUBLISH)
        if corr is not None:
            props.CorrelationData = corr
        c.publish(topic, reply.model_dump_json().encode("utf-8"), qos=1, properties=props)

    # ------------------------------------------------------------------ handlers
    def _login(self, s: Session, a: p.LoginArgs, station: str) -> dict[str, Any]:
        return wire.session_to_json(self.core.users.authenticate(a.user, a.password, station=station))

    def _record_access(self, s: Session, a: p.AccessArgs, station: str) -> None:
        """A station's viewer read patient or plant data: journaled whoever it is. With nobody
        logged in there it is ``anonymous`` at that station (the values reach a station without a
        log-in, so the record must not wait for one)."""
        if s.token:
            self.core.record_access(a.kind, a.scope, s)
        else:
            self.core.record_access(a.kind, a.scope, None, station=station)

    # account administration: the node's own user store checks the role and journals the
    # change (``user.added``...); the station it came from is journaled beside it
    def _admin(self, s: Session, action: str, station: str, **context: Any) -> None:
        """An administrator's remote account action: ``action.remote`` with the station before
        it runs; anyone else is refused (``action.refused``, with the station)."""
        where = {"action": action, "permission": "user.manage", **context, "station": station}
        if not s.can("user.manage"):
            self.core.journal.append("action.refused", s.user, {**where, "role": s.role.label},
                                     critical=True)
            raise PermissionDenied(s.user, s.role, "user.manage")
        self.core.journal.append("action.remote", s.user, where, critical=True)

    def _users(self, s: Session, a: p.UsersArgs, station: str) -> list[dict[str, Any]]:
        self._admin(s, "user.list", station)
        return [wire.user_to_json(u) for u in self.view.users()]

    def _user_add(self, s: Session, a: p.UserAddArgs, station: str) -> None:
        role = Role.parse(a.role)
        self._admin(s, "user.add", station, user=a.name, role=role.label)
        self.core.users.add(s, a.name, a.password, role)

    def _user_password(self, s: Session, a: p.UserPasswordArgs, station: str) -> None:
        if a.name != s.user:  # one's own password needs no administrator
            self._admin(s, "user.passwd", station, user=a.name)
        self.core.users.set_password(s, a.name, a.password)

    def _user_disable(self, s: Session, a: p.UserDisableArgs, station: str) -> None:
        self._admin(s, "user.disable" if a.disabled else "user.enable", station, user=a.name)
        self.core.users.set_disabled(s, a.name, a.disabled)

    def _write(self, s: Session, a: p.WriteArgs, station: str) -> dict[str, Any]:
        r = self.core.write_setpoint(a.device, a.point, a.value, s)
        return {"old": r.old, "new": r.new, "readback": r.readback}

    def _console_setting(self, s: Session, a: p.SettingArgs, station: str) -> None:
        key = (station, a.name)
        if self._settings.get(key) != a.value:
            self.core.journal.append("settings.changed", s.user, {
                "setting": a.name, "old": self._settings.get(key), "new": a.value, "station": station},
                critical=True)
            self._settings[key] = a.value

    def _alarm_history(self, s: Session, a: p.AlarmHistoryArgs, station: str) -> _Stream:
        q = AlarmQuery(**{**a.model_dump(), "kinds": tuple(a.kinds)})
        rows = self.view.alarm_history(q)
        return _chunked(rows)

    def _history(self, s: Session, a: p.HistoryArgs, station: str) -> _Stream:
        series = self.view.history(a.tags, a.t0, a.t1, a.max_points)
        return _Stream(chunk for tag, ser in series.items() for chunk in wire.series_chunks(tag, ser))

    def _journal(self, s: Session, a: p.JournalArgs, station: str) -> _Stream:
        rows = self.view.journal_events(JournalFilter(a.kind, a.actor, a.text, a.limit))
        return _chunked(rows)


class _Stream:
    """A handler's answer sent as several replies (history, journal, alarm history)."""

    def __init__(self, chunks: Iterator[Any]):
        self.chunks = chunks


def _chunked(rows: list[dict[str, Any]]) -> _Stream:
    size = p.JOURNAL_CHUNK  # looked up at each call (tests make it small)
    return _Stream(wire._finite(rows[i:i + size]) for i in range(0, len(rows), size))


def _settled(v: AlarmView) -> bool:
    """Normal and acknowledged, not shelved or out of service: nothing for a station to show."""
    return v.state is AlarmState.NORMAL and v.shelved_until is None and v.out_of_service_by is None
