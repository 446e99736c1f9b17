"""Vigil's convention for Sparkplug commands that act on the plant (DCMD writes).

A DCMD from a Vigil station carries, beside the metrics it writes (by alias, as born), two
String metrics by name: ``Vigil/Session`` (the session token the node issued at log-in) and
``Vigil/Nonce`` (unique per command). The node executes the writes only for a live session it
issued, checks the operator's role, and refuses a nonce it has already seen or a command whose
payload timestamp is too far from its clock, so a captured command cannot be played again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

from app.core.sparkplug.datatypes import SpDataType
from app.core.sparkplug.payload import SpValue, add_metric, new_payload, to_ms

SESSION_METRIC = "Vigil/Session"
NONCE_METRIC = "Vigil/Nonce"
#: how far a command's timestamp may be from the node's clock (stations and nodes run NTP)
MAX_COMMAND_AGE_S = 120.0


def build_write_command(
    writes: Iterable[tuple[int, SpDataType, SpValue]],
    session_token: str | None,
    *,
    nonce: str | None = None,
    now: float | None = None,
) -> bytes:
    """A DCMD payload writing ``(alias, datatype, value)`` items, signed in with the session
    (None: a foreign host's command, which carries no session)."""
    ts = to_ms(time.time() if now is None else now)
    payload = new_payload(ts, None)
    for alias, datatype, value in writes:
        add_metric(payload, datatype, value, alias=alias, timestamp_ms=ts)
    if session_token is not None:
        add_metric(payload, SpDataType.String, session_token, name=SESSION_METRIC)
        add_metric(payload, SpDataType.String, nonce or secrets.token_hex(16), name=NONCE_METRIC)
    return payload.SerializeToString()
