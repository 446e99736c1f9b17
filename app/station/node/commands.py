"""Sparkplug DCMD writes on a node: executed only for a Vigil session this node issued (the
operator's role checked, the write journaled with the operator), or, where the plant file says
so, for a trusted foreign Sparkplug host (journaled as that host). Everything else is refused
and journaled as ``action.refused``.

Who may publish a DCMD at all is the broker's ACL (packaging/mosquitto/vigil.acl); this is the
second lock: a command must also prove which operator sent it, once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.core.errors import VigilError
from app.core.model import Value
from app.core.sparkplug import (
    MAX_COMMAND_AGE_S,
    NONCE_METRIC,
    SESSION_METRIC,
    PayloadError,
    SpMetric,
    decode_payload,
)
from app.station.node.model import MetricDef, NodeModel

if TYPE_CHECKING:
    from app.station.engine import Core

log = logging.getLogger(__name__)

#: nonces remembered (each for twice the accepted command age); beyond it the oldest go
MAX_NONCES = 100_000
VIA = "sparkplug DCMD"


class CommandExecutor:
    """Runs on the node's command thread, one DCMD at a time."""

    def __init__(self, core: Core, model: NodeModel, *, group: str, node_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.model = model
        self.group = group
        self.node_id = node_id
        self.clock = clock
        self._nonces: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ entry points
    def execute(self, device: str, data: bytes) -> None:
        dev = self.model.devices.get(device)
        if dev is None:
            self._refuse(device, [], f"no device '{device}' on node '{self.node_id}'")
            return
        try:
            payload = decode_payload(data, {m.alias: m.datatype for m in dev.metrics})
        except PayloadError as e:
            self._refuse(device, [], str(e))
            return
        token = nonce = None
        writes: list[tuple[MetricDef, Value]] = []
        unknown: list[str] = []
        for m in payload.metrics:
            if m.name == SESSION_METRIC:
                token = m.value if isinstance(m.value, str) else None
            elif m.name == NONCE_METRIC:
                nonce = m.value if isinstance(m.value, str) else None
            else:
                target = dev.by_alias.get(m.alias) if m.alias is not None else dev.by_name.get(m.name or "")
                if target is None:
                    unknown.append(m.name or f"alias {m.alias}")
                else:
                    writes.append((target, _value(m)))
        tags = [f"{device}.{m.name}" for m, _ in writes]
        if unknown:
            self._refuse(device, tags, f"no such metric(s) on '{device}': {', '.join(unknown)}")
            return
        if not writes:
            self._refuse(device, tags, "the command writes nothing")
            return
        if token:
            self._as_session(device, writes, token, nonce, payload.timestamp_ms)
            return
        host = self.core.plant.node.accept_foreign_writes_as
        if host:
            for target, value in writes:
                self._foreign_write(host, device, target, value)
            return
        self._refuse(device, tags, "no Vigil session in the command, and this plant does not accept "
                     "foreign Sparkplug writes (plant file [node] accept_foreign_writes_as)")

    def refuse_overload(self, device: str) -> None:
        self._refuse(device, [], "too many commands waiting; this one was not executed")

    # ------------------------------------------------------------------ the two ways in
    def _as_session(self, device: str, writes: list[tuple[MetricDef, Value]], token: str,
                    nonce: str | None, timestamp_ms: int | None) -> None:
        tags = [f"{device}.{m.name}" for m, _ in writes]
        now = self.clock()
        if timestamp_ms is None or abs(now - timestamp_ms / 1000.0) > MAX_COMMAND_AGE_S:
            self._refuse(device, tags, f"the command's time is missing or more than {MAX_COMMAND_AGE_S:g} s "
                         "from the node's clock (a replay, or a clock to fix)")
            return
        if not nonce:
            self._refuse(device, tags, f"the command carries no {NONCE_METRIC}")
            return
        if not self._first_use(nonce, now):
            self._refuse(device, tags, "the command was already received once (replayed)")
            return
        try:
            session = self.core.users.session_for_token(token)
        except VigilError as e:  # the user store journaled the refusal of the session itself
            self._refuse(device, tags, str(e))
            return
        for m, value in writes:
            try:
                self.core.actions.write_setpoint(device, m.name, value, session)
            except VigilError as e:  # refused (role, limits) or failed: journaled by Actions
                log.warning("DCMD write %s.%s by %s: %s", device, m.name, session.user, e)
            except Exception as e:  # a write that failed on the device: journaled by Actions
                log.warning("DCMD write %s.%s by %s failed: %s", device, m.name, session.user, e)

    def _foreign_write(self, host: str, device: str, m: MetricDef, value: Value) -> None:
        """A write from the foreign host the plant file trusts: the same checks and journal
        record as a workstation's write, with the host as the actor."""
        tag = f"{device}.{m.name}"
        journal = self.core.journal
        body: dict[str, Any] = {"tag": tag, "via": VIA, "node": self.node_id}
        if any(d.name == device and d.unit == 0 for d in self.core.plant.devices):
            why = "unit 0 is broadcast (every device on the line would take it)"
            journal.append("setpoint.refused", host, {**body, "value": value, "error": why}, critical=True)
            return
        try:
            result = self.core.runtime.write(device, m.name, value)
        except Exception as e:
            journal.append("setpoint.failed", host, {**body, "value": value, "error": str(e)}, critical=True)
            return
        journal.append("setpoint.write", host,
                       {**body, "old": result.old, "new": result.new, "readback": result.readback},
                       critical=True)

    # ------------------------------------------------------------------ helpers
    def _first_use(self, nonce: str, now: float) -> bool:
        with self._lock:
            horizon = now - 2 * MAX_COMMAND_AGE_S
            nonces = self._nonces
            while nonces and (len(nonces) >= MAX_NONCES or next(iter(nonces.values())) < horizon):
                nonces.popitem(last=False)
            if nonce in self._nonces:
                return False
            self._nonces[nonce] = now
            return True

    def _refuse(self, device: str, tags: list[str], reason: str) -> None:
        log.warning("DCMD to %s refused: %s", device, reason)
        self.core.journal.append(
            "action.refused", "sparkplug",
            {"action": "setpoint.write", "via": VIA, "node": self.node_id, "device": device,
             "tags": tags, "reason": reason},
            critical=True,
        )


def _value(m: SpMetric) -> Value:
    v = m.value
    return None if isinstance(v, bytes) else v
