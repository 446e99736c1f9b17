"""A small synchronous MQTT client for tests: subscribe, publish, collect what arrives."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from app.station.mqtt_link import BrokerConfig, make_client


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    t: float = field(default_factory=time.monotonic)


class Probe:
    """Connects at construction (bounded), records every message on its subscriptions."""

    def __init__(self, cfg: BrokerConfig, client_id: str, *, subscribe: tuple[str, ...] = (),
                 timeout: float = 5.0, protocol_v5: bool = True) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self.connect_rc: ReasonCode | None = None
        self.suback: dict[int, list[ReasonCode]] = {}
        self.client = make_client(cfg, client_id, protocol_v5=protocol_v5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self._subs = subscribe
        self.client.connect(cfg.host, cfg.port, keepalive=10)
        self.client.loop_start()
        self.wait_for(lambda: self.connect_rc is not None, timeout, "CONNACK")

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, rc: ReasonCode,
                    props: object = None) -> None:
        with self._cond:
            self.connect_rc = rc
            self._cond.notify_all()
        if not rc.is_failure:
            for topic in self._subs:
                client.subscribe(topic, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: object, mid: int, rcs: list[ReasonCode],
                      props: object = None) -> None:
        with self._cond:
            self.suback[mid] = rcs
            self._cond.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    @property
    def connected(self) -> bool:
        return self.connect_rc is not None and not self.connect_rc.is_failure

    def wait_subscribed(self, count: int, timeout: float = 5.0) -> None:
        self.wait_for(lambda: len(self.suback) >= count, timeout, "SUBACK")

    def wait_for(self, pred: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._cond.wait(left)

    def wait_message(self, pred: Callable[[Received], bool], timeout: float = 5.0,
                     what: str = "a message") -> Received:
        found: list[Received] = []

        def check() -> bool:
            found[:] = [m for m in self.messages if pred(m)]
            return bool(found)

        self.wait_for(check, timeout, what)
        return found[0]

    def topics(self) -> list[str]:
        with self._cond:
            return [m.topic for m in self.messages]

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                timeout: float = 5.0) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(timeout)
        return info

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
