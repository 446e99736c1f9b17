"""Sparkplug B 3.0 topic names: ``spBv1.0/<group>/<type>/<node>[/<device>]`` and the host
applications' ``spBv1.0/STATE/<host id>``, formatted and parsed in one place."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass

NAMESPACE = "spBv1.0"
#: group, node, device and host ids: MQTT topic levels, so no '/', '+' or '#' (and no spaces,
#: so they survive shell scripts and ACL files)
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class TopicError(ValueError):
    """A topic or an id that is not Sparkplug B 3.0."""


class MessageType(enum.StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"

    @property
    def is_device(self) -> bool:
        return self.value.startswith("D")


def check_id(kind: str, value: str) -> str:
    """``value`` if it can be a Sparkplug group/node/device/host id; else a TopicError naming it."""
    if not _ID.match(value):
        raise TopicError(
            f"{kind} '{value}' cannot be used in a Sparkplug topic: use 1-64 letters, digits, "
            "'_', '-', '.' or ':' (no '/', '+', '#' or spaces)"
        )
    return value


@dataclass(frozen=True)
class Topic:
    """One edge-node or device topic."""

    group: str
    type: MessageType
    node: str
    device: str | None = None

    def __str__(self) -> str:
        base = f"{NAMESPACE}/{self.group}/{self.type.value}/{self.node}"
        return base if self.device is None else f"{base}/{self.device}"

    @classmethod
    def node_topic(cls, group: str, type: MessageType, node: str) -> Topic:
        if type.is_device:
            raise TopicError(f"{type.value} is a device message: it needs a device id")
        return cls(check_id("group id", group), type, check_id("node id", node))

    @classmethod
    def device_topic(cls, group: str, type: MessageType, node: str, device: str) -> Topic:
        if not type.is_device:
            raise TopicError(f"{type.value} is a node message: it takes no device id")
        return cls(
            check_id("group id", group), type, check_id("node id", node), check_id("device id", device)
        )


def parse_topic(topic: str) -> Topic:
    """The edge-node or device topic ``topic`` names; TopicError for anything else (a STATE
    topic included: see `parse_state_topic`)."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
        raise TopicError(f"'{topic}' is not a Sparkplug B edge topic ({NAMESPACE}/group/type/node[/device])")
    try:
        kind = MessageType(parts[2])
    except ValueError:
        raise TopicError(f"'{topic}': unknown message type '{parts[2]}'") from None
    if kind.is_device != (len(parts) == 5):
        raise TopicError(f"'{topic}': {kind.value} {'needs' if kind.is_device else 'takes no'} a device id")
    if len(parts) == 5:
        return Topic.device_topic(parts[1], kind, parts[3], parts[4])
    return Topic.node_topic(parts[1], kind, parts[3])


def state_topic(host_id: str) -> str:
    """Where a host application says whether it is online (retained, QoS 1)."""
    return f"{NAMESPACE}/STATE/{check_id('host id', host_id)}"


def parse_state_topic(topic: str) -> str | None:
    """The host id of a STATE topic, or None when ``topic`` is not one."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == NAMESPACE and parts[1] == "STATE" and _ID.match(parts[2]):
        return parts[2]
    return None


def state_payload(online: bool, timestamp_ms: int) -> bytes:
    """The STATE message body of Sparkplug 3.0: JSON ``{"online": bool, "timestamp": ms}``."""
    return json.dumps({"online": online, "timestamp": int(timestamp_ms)}).encode()


def parse_state_payload(data: bytes) -> tuple[bool, int]:
    """(online, timestamp ms) of a STATE message; TopicError when it is not one."""
    try:
        obj = json.loads(data)
        online, ts = obj["online"], obj["timestamp"]
    except (ValueError, TypeError, KeyError):
        raise TopicError("a STATE payload must be JSON {\"online\": bool, \"timestamp\": ms}") from None
    if not isinstance(online, bool) or not isinstance(ts, int) or isinstance(ts, bool):
        raise TopicError("a STATE payload must be JSON {\"online\": bool, \"timestamp\": ms}")
    return online, ts
