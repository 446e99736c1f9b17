"""How a node or a remote station reaches its MQTT broker: the address, credentials and TLS
files in one value (`BrokerConfig`), and a paho-mqtt 2.x client configured from it.

Both sides of the plant bus (the edge node that publishes, the stations that subscribe) build
their clients here, so credentials, TLS and reconnect behaviour are the same everywhere and a
bad ``--broker`` URL is refused with the part that is wrong named, before anything connects.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from app.core.errors import VigilError
from app.core.sparkplug.datawriter import uvarint

#: the URL schemes a broker may be given with, and their default ports
SCHEMES = {"mqtt": 1883, "mqtts": 8883}
#: paho's reconnect backoff: first retry after 1 s, doubling, capped at 5 s (a broker restart is
#: noticed quickly and a broker that stays down is not hammered)
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 5


class BrokerConfigError(VigilError):
    """A broker URL, credential or TLS file that cannot be used; the message names which."""


@dataclass(frozen=True)
class BrokerConfig:
    """Where the broker is and how to log in to it. ``password`` is kept out of `describe()`
    and of ``repr`` so it never reaches a log line."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: TLS with the system's trust store (``mqtts://`` without a CA file)
    tls: bool = False

    def __repr__(self) -> str:
        return f"BrokerConfig({self.describe()})"

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.tls_ca is not None or self.tls_cert is not None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str | None = None,
        password_file: Path | None = None,
        tls_ca: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> BrokerConfig:
        """``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]`` (TLS; default ports 1883 and 8883).
        The password is read from ``password_file`` (first line), never from an argument."""
        text = url.strip()
        if "://" not in text:
            raise BrokerConfigError(
                f"broker URL '{url}': no scheme; write it as mqtt://HOST:PORT or mqtts://HOST:PORT"
            )
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise BrokerConfigError(
                f"broker URL '{url}': scheme '{parts.scheme}' is not one of {', '.join(SCHEMES)}"
            )
        if parts.username or parts.password:
            raise BrokerConfigError(
                f"broker URL '{_redact(url)}': put the user in --username and the password in a "
                "--password-file, not in the URL (it would show in process lists and logs)"
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise BrokerConfigError(
                f"broker URL '{url}': unexpected '{parts.path}{'?' + parts.query if parts.query else ''}'"
                " after the host and port"
            )
        host = parts.hostname
        if not host:
            raise BrokerConfigError(f"broker URL '{url}': no host")
        try:
            port = parts.port
        except ValueError:
            raise BrokerConfigError(
                f"broker URL '{url}': port '{parts.netloc.rpartition(':')[2]}' is not a number in 1-65535"
            ) from None
        if port is None:
            port = SCHEMES[scheme]
        elif not 1 <= port <= 65535:
            raise BrokerConfigError(f"broker URL '{url}': port {port} is not in 1-65535")
        password = _read_password(password_file) if password_file is not None else None
        if password is not None and not username:
            raise BrokerConfigError("--password-file given without --username")
        if (tls_cert is None) != (tls_key is None):
            raise BrokerConfigError("--tls-cert and --tls-key go together: give both or neither")
        for flag, path in (("--tls-ca", tls_ca), ("--tls-cert", tls_cert), ("--tls-key", tls_key)):
            if path is not None and not Path(path).is_file():
                raise BrokerConfigError(f"{flag} {path}: no such file")
        return cls(
            host=host,
            port=port,
            username=username or None,
            password=password,
            tls_ca=Path(tls_ca) if tls_ca is not None else None,
            tls_cert=Path(tls_cert) if tls_cert is not None else None,
            tls_key=Path(tls_key) if tls_key is not None else None,
            tls=scheme == "mqtts",
        )

    def describe(self) -> str:
        """The broker as a person reads it in a log or status line: no password, ever."""
        scheme = "mqtts" if self.uses_tls else "mqtt"
        text = f"{scheme}://{self.host}:{self.port}"
        if self.username:
            text += f" as {self.username}"
        if self.tls_ca is not None:
            text += f" (CA {self.tls_ca})"
        return text


def make_client(
    cfg: BrokerConfig,
    client_id: str,
    *,
    will: tuple[str, bytes, int, bool] | None = None,
    protocol_v5: bool = True,
) -> mqtt.Client:
    """A paho-mqtt 2.x client for ``cfg``, configured (callback API 2, credentials, TLS, Last
    Will as ``(topic, payload, qos, retain)``, capped reconnect backoff) but not connected.

    The caller connects (``connect_async`` + ``loop_start`` keeps reconnecting by itself) and
    chooses clean-start/session settings, which differ between a Sparkplug edge node and a
    station."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if protocol_v5 else mqtt.MQTTv311,
    )
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password)
    if cfg.uses_tls:
        try:
            client.tls_set(
                ca_certs=str(cfg.tls_ca) if cfg.tls_ca is not None else None,
                certfile=str(cfg.tls_cert) if cfg.tls_cert is not None else None,
                keyfile=str(cfg.tls_key) if cfg.tls_key is not None else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ssl.SSLError) as e:
            raise BrokerConfigError(f"TLS files for {cfg.describe()} cannot be used: {e}") from e
    if will is not None:
        topic, payload, qos, retain = will
        client.will_set(topic, payload, qos=qos, retain=retain)
    client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
    return client


class Backoff:
    """The waits between reconnection attempts of a client driven without `loop_start`: as
    paho's own (`RECONNECT_MIN_S`, doubling, capped at `RECONNECT_MAX_S`), reset on a CONNACK."""

    def __init__(self, min_s: float = RECONNECT_MIN_S, max_s: float = RECONNECT_MAX_S) -> None:
        self.min_s, self.max_s = min_s, max_s
        self._delay: float | None = None

    def next(self) -> float:
        self._delay = self.min_s if self._delay is None else min(self._delay * 2, self.max_s)
        return self._delay

    def reset(self) -> None:
        self._delay = None


def pump(client: mqtt.Client, timeout: float, wake_fd: int | None = None) -> None:
    """One turn of a paho client's network loop run in the caller's thread (paho's documented
    ``loop_read``/``loop_write``/``loop_misc`` interface, in place of `loop_start`'s thread):
    wait up to ``timeout`` for the socket (or ``wake_fd``, another thread's way to end the wait
    early), then read a packet, write what is queued and keep the connection alive.

    Without paho's thread a ``publish`` made on the thread that pumps is written to the socket
    at once, on that thread: no wake-up of a second thread per message. Callbacks (on_connect,
    on_message, on_disconnect) run here, inside the call. A lost connection leaves
    ``client.socket()`` None (and calls on_disconnect); reconnecting is the caller's job."""
    sock = client.socket()
    if sock is None:
        return
    fd = sock.fileno()
    rlist = [fd] if wake_fd is None else [fd, wake_fd]
    wlist = [fd] if client.want_write() else []
    pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0  # TLS bytes already read
    try:
        readable, writable, _ = select.select(rlist, wlist, [], 0.0 if pending else max(0.0, timeout))
    except (OSError, ValueError):  # closed under us: loop_misc notices, the caller reconnects
        readable, writable = [], []
    if fd in readable or pending:
        client.loop_read()
    if writable and client.socket() is not None:
        client.loop_write()
    client.loop_misc()


#: a PUBLISH the socket took only part of is finished within this, or the connection is dropped
PARTIAL_WRITE_WAIT_S = 5.0
#: the largest remaining length a 4-byte variable byte integer can say
MQTT_MAX_REMAINING = 268_435_455
#: a batch of direct frames is written once it holds this much
BATCH_BYTES = 256 * 1024


class DirectPublisher:
    """QoS 0 PUBLISH frames written straight to the socket of a client driven with `pump`.

    Why: a node sends a hundred DDATA a second, and paho's ``publish`` spends several times the
    cost of the socket write on per-message bookkeeping a QoS 0 message does not need (a
    message id, a `MQTTMessageInfo` with its condition variable, queue entries, callbacks).
    A QoS 0 PUBLISH is just a fixed header, the topic and the payload (MQTT 3.1.1 §3.3; v5 adds
    an empty property list), so it is written here on the thread that pumps the client.

    Only when it is safe: on a plain TCP connection (TLS records go through paho) with nothing
    of paho's waiting to be written (so no frame of paho's is cut in two). Otherwise `publish`
    returns False and the caller publishes through paho. A frame the socket takes only in part
    is finished here before anything else is written; if that fails the connection is shut
    down (the stream cannot go on mid-frame), paho sees it closed and the node reconnects.

    Inside `batch` the frames are kept and written together when it ends: one system call, and
    one wake-up of the broker, for a round of a node's DDATA instead of one per message. The
    batch is written first whenever anything else must go out (a frame paho must send, or
    ``BATCH_BYTES`` gathered), so the order on the wire is the order of publishing.
    """

    def __init__(self, client: mqtt.Client, *, v5: bool = True) -> None:
        self.client = client
        self._properties = b"\x00" if v5 else b""
        self._heads: dict[str, bytes] = {}
        self._batch: list[bytes] | None = None  # None: not batching
        self._batch_bytes = 0
        self._batch_direct = False

    def topic_head(self, topic: str) -> bytes:
        """The variable header's topic name (and v5's empty properties) for ``topic``, kept."""
        head = self._heads.get(topic)
        if head is None:
            raw = topic.encode("utf-8")
            if not raw or len(raw) > 65535 or "+" in topic or "#" in topic:
                raise ValueError(f"not a topic to publish on: {topic!r}")
            head = len(raw).to_bytes(2, "big") + raw + self._properties
            if len(self._heads) < 100_000:
                self._heads[topic] = head
        return head

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Frames published inside are written together at the end (see the class)."""
        self._batch, self._batch_bytes = [], 0
        # checked once: inside a round only this thread uses the client, and paho writes
        # nothing of its own until the round ends and the network loop runs again
        self._batch_direct = self._writable()
        try:
            yield
        finally:
            self.flush()
            self._batch = None

    def publish(self, topic: str, payload: bytes) -> bool:
        """Write one QoS 0 PUBLISH now (or add it to the batch); False: not written (use
        ``client.publish``; a batch is written before False is returned)."""
        if not (self._batch is not None and self._batch_direct) and not self._writable():
            self.flush()
            return False
        head = self._heads.get(topic) or self.topic_head(topic)
        remaining = len(head) + len(payload)
        if remaining > MQTT_MAX_REMAINING:
            self.flush()
            return False
        # MQTT's variable byte integer is the protobuf varint, at most 4 bytes (MQTT 3.1.1 §2.2.3)
        parts = (b"\x30", uvarint(remaining), head, payload)
        if self._batch is not None:
            self._batch += parts  # joined once, when the batch is written
            self._batch_bytes += remaining
            if self._batch_bytes >= BATCH_BYTES:
                self.flush()
            return True
        frame = b"".join(parts)
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)
        try:
            sent = sock.send(frame)
        except OSError:  # would block, or the connection is gone: paho queues it, or finds out
            return False
        if sent < len(frame):
            self._finish(sock, memoryview(frame)[sent:])
        return True

    def _writable(self) -> bool:
        """A plain TCP connection with nothing of paho's waiting to be written."""
        sock = self.client.socket()
        return isinstance(sock, socket.socket) and not isinstance(sock, ssl.SSLSocket) \
            and not self.client.want_write()

    def flush(self) -> None:
        """Write the batch gathered so far (nothing to do outside a batch). Frames of a
        connection that is gone are dropped, as QoS 0 allows; the node re-births on reconnect."""
        if not self._batch:
            return
        data = b"".join(self._batch)
        self._batch.clear()
        self._batch_bytes = 0
        sock = self.client.socket()
        if not isinstance(sock, socket.socket):
            return
        try:
            sent = sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return
        if sent < len(data):
            self._finish(sock, memoryview(data)[sent:])

    @staticmethod
    def _finish(sock: socket.socket, rest: memoryview) -> None:
        deadline = time.monotonic() + PARTIAL_WRITE_WAIT_S
        try:
            while rest:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the broker took no data")
                if select.select([], [sock], [], left)[1]:
                    try:
                        rest = rest[sock.send(rest):]
                    except BlockingIOError:
                        continue
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _read_password(path: Path) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BrokerConfigError(f"--password-file {path}: cannot be read ({e})") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise BrokerConfigError(f"--password-file {path}: is empty")
    return password


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url
