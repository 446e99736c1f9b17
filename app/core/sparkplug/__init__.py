"""Sparkplug B 3.0, the protocol only (no MQTT client, no threads): topics, datatypes and
qualities, payload encoding and decoding, sequence numbers.

The edge node (app/station/node/) and the remote station's host application both build on it.
The wire format is the official ``sparkplug_b.proto`` of Eclipse Tahu (EPL-2.0, kept here with
its licence header) and the Python module protoc generated from it (``sparkplug_b_pb2``). The
one message a node sends many times a second, DATA with plain values, is written directly in
that wire format by ``datawriter`` (checked byte for byte against protobuf's in the tests).
"""

from app.core.sparkplug.commands import (
    MAX_COMMAND_AGE_S,
    NONCE_METRIC,
    SESSION_METRIC,
    build_write_command,
)
from app.core.sparkplug.datatypes import (
    SP_QUALITY_BAD,
    SP_QUALITY_GOOD,
    SP_QUALITY_STALE,
    SpDataType,
    datatype_for_point,
    sparkplug_quality,
    vigil_quality,
)
from app.core.sparkplug.payload import (
    BDSEQ,
    REBIRTH,
    AliasTable,
    PayloadError,
    SpMetric,
    SpPayload,
    add_metric,
    decode_payload,
    new_payload,
    to_ms,
)
from app.core.sparkplug.seq import SeqCounter, next_seq
from app.core.sparkplug.topics import (
    NAMESPACE,
    MessageType,
    Topic,
    TopicError,
    check_id,
    parse_state_payload,
    parse_state_topic,
    parse_topic,
    state_payload,
    state_topic,
)

__all__ = [
    "BDSEQ",
    "MAX_COMMAND_AGE_S",
    "NAMESPACE",
    "NONCE_METRIC",
    "REBIRTH",
    "SESSION_METRIC",
    "SP_QUALITY_BAD",
    "SP_QUALITY_GOOD",
    "SP_QUALITY_STALE",
    "AliasTable",
    "MessageType",
    "PayloadError",
    "SeqCounter",
    "SpDataType",
    "SpMetric",
    "SpPayload",
    "Topic",
    "TopicError",
    "add_metric",
    "build_write_command",
    "check_id",
    "datatype_for_point",
    "decode_payload",
    "new_payload",
    "next_seq",
    "parse_state_payload",
    "parse_state_topic",
    "parse_topic",
    "sparkplug_quality",
    "state_payload",
    "state_topic",
    "to_ms",
    "vigil_quality",
]
