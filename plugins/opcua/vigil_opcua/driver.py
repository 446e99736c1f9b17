"""The OPC UA driver: one asyncua client per device, fed by one subscription, read as slots.

Why a subscription and a cache: the runtime polls every ``interval_ms``, but OPC UA servers push
changes (sampled at ``sampling_ms``, filtered by the deadband) far more cheaply than they answer
reads. ``read`` therefore never touches the network: it returns the newest value the
subscription delivered, with its status mapped as `vigil_opcua.layout` describes. A write goes
to the server at once and is read back from the server, not from the cache.

Why the client is rebuilt on every connect: asyncua's own reconnect can hang on Linux, so the
driver never reuses a client. ``connect`` makes a new `asyncua.Client`, bounds the whole
connect-resolve-subscribe sequence by the link timeout, and on any failure abandons that client
(a hung one included: its disconnect is bounded too). The runtime sees ``CommError`` and calls
``connect`` again with its own backoff. A lost connection (asyncua's supervisor, or a
subscription gone silent for three keep-alive periods) turns ``connected`` false, which sends
the runtime down the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from struct import error as struct_error
from typing import Any

from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, Subscription

from app.sdk import CommError, DeviceException, LinkConfig
from vigil_opcua.config import OpcUaConfig, PointConfig, parse_options
from vigil_opcua.layout import (
    SLOT,
    VARIANT_SLOT,
    build_profile,
    catalogue_words,
    slot_words,
    status_error,
    status_name,
    words_value,
)

log = logging.getLogger("vigil.opcua")
#: how often a quiet subscription still hears from the server
KEEPALIVE_S = 1.0


def _quiet_asyncua_logs() -> None:
    """asyncua logs every lost connection with a traceback; the runtime already reports them per
    device. Leave the logger alone if someone configured it on purpose."""
    for name in ("asyncua", "asyncua.client", "asyncua.common"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.CRITICAL)


class _Slot:
    __slots__ = ("code", "node", "point", "slot_type", "value", "variant_type")

    def __init__(self, point: PointConfig, node: Any, slot_type: str, variant_type: ua.VariantType) -> None:
        self.point = point
        self.node = node
        self.slot_type = slot_type
        self.variant_type = variant_type
        self.value: Any = None
        self.code: int = ua.StatusCodes.BadWaitingForInitialData


class OpcUaDriver:
    """`app.sdk.Driver` for ``transport = "opcua"``; settings come from the device's options."""

    def __init__(self, link: LinkConfig) -> None:
        self.link = link
        self.timeout_s = float(link.timeout_s)
        self.config: OpcUaConfig | None
        self.config, self.problems = parse_options(dict(link.options))
        self._client: Client | None = None
        self._subscription: Subscription | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._slots: list[_Slot] = []
        self._catalogue: list[int] = []
        self._lost: str | None = None
        self._last_publish = 0.0
        #: notifications applied since connect (diagnostics and the benchmark)
        self.updates = 0
        _quiet_asyncua_logs()

    # -- Driver protocol ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        if self._client is None or self._lost is not None:
            return False
        sub = self._subscription
        if sub is None:
            return False
        last = sub.last_publish_at or self._last_publish
        # the server answers a publish at least every keep-alive period (about 1 s, see
        # _subscribe); three missed in a row, plus one timeout, means the session is gone
        return time.monotonic() - last < 3 * KEEPALIVE_S + self.timeout_s

    async def connect(self) -> None:
        await self.close()
        if self.config is None:
            raise CommError("opcua: bad device options: " + "; ".join(self.problems), kind="connect")
        cfg = self.config
        client = Client(cfg.endpoint, timeout=self.timeout_s, watchdog_intervall=max(self.timeout_s, 1.0))
        self._client, self._lost = client, None
        try:
            await asyncio.wait_for(self._open(client, cfg), timeout=self.timeout_s * 3 + 1.0)
        except CommError:
            await self.close()
            raise
        except TimeoutError:
            await self.close()
            raise CommError(
                f"opcua {cfg.endpoint}: no session within {self.timeout_s * 3 + 1:g} s (client abandoned)",
                kind="connect",
            ) from None
        except (OSError, ua.UaError, ValueError) as e:
            await self.close()
            raise CommError(
                f"opcua {cfg.endpoint}: cannot connect: {e or type(e).__name__}", kind="connect"
            ) from None

    async def close(self) -> None:
        client, self._client = self._client, None
        consumer, self._consumer = self._consumer, None
        self._subscription = None
        if consumer is not None:
            consumer.cancel()
            with contextlib.suppress(BaseException):
                await consumer
        if client is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(client.disconnect(), timeout=self.timeout_s)
            with contextlib.suppress(BaseException):
                client.disconnect_socket()

    async def read(self, unit: int, table: str, address: int, count: int) -> list[int] | list[bool]:
        if table == "input":
            end = address + count
            if address < 0 or end > len(self._catalogue):
                raise DeviceException(2, f"opcua: catalogue has {len(self._catalogue)} registers")
            return self._catalogue[address:end]
        slot = self._slot_at(table, address)
        where = f"opcua {slot.point.name} ({slot.point.where})"
        if not self.connected:
            raise CommError(f"{where}: {self._lost or 'not connected'}", kind="io")
        cfg = self.config
        assert cfg is not None
        error = status_error(slot.code, cfg.uncertain_as_good, where)
        if error is not None:
            raise error
        try:
            words = slot_words(slot.slot_type, slot.value)
        except (TypeError, ValueError, OverflowError, struct_error) as e:
            raise DeviceException(
                4, f"{where}: value {slot.value!r} does not fit {slot.slot_type}: {e}"
            ) from None
        if count != len(words):
            raise DeviceException(2, f"{where}: slot holds {len(words)} registers, asked for {count}")
        return words

    async def write(self, unit: int, table: str, address: int, values: list[int] | list[bool]) -> None:
        slot = self._slot_at(table, address)
        where = f"opcua {slot.point.name} ({slot.point.where})"
        if slot.point.access != "rw":
            raise DeviceException(1, f"{where}: read-only in the plant file")
        if self._client is None:
            raise CommError(f"{where}: not connected", kind="io")
        value = words_value(slot.slot_type, values)
        if slot.slot_type == "bool" and len(values) != 1:
            raise DeviceException(3, f"{where}: a bool slot takes one register")
        typed = _as_variant_value(value, slot.variant_type)
        try:
            await asyncio.wait_for(
                slot.node.write_value(ua.DataValue(ua.Variant(typed, slot.variant_type))), self.timeout_s
            )
            dv = await asyncio.wait_for(slot.node.read_data_value(), self.timeout_s)
        except ua.UaStatusCodeError as e:
            raise DeviceException(4, f"{where}: server refused the write: {status_name(e.code)}") from None
        except TimeoutError:
            raise CommError(
                f"{where}: no answer to the write within {self.timeout_s:g} s", kind="timeout"
            ) from None
        except (OSError, ua.UaError) as e:
            raise CommError(f"{where}: write failed: {e}", kind="io") from None
        self._apply(slot, dv)

    # -- internals ------------------------------------------------------------------------
    def _slot_at(self, table: str, address: int) -> _Slot:
        if table != "holding" or address % SLOT or not 0 <= address // SLOT < len(self._slots):
            raise DeviceException(2, f"opcua: no point at {table} {address}")
        return self._slots[address // SLOT]

    async def _open(self, client: Client, cfg: OpcUaConfig) -> None:
        if cfg.security_policy != "None":
            await client.set_security_string(
                f"{cfg.security_policy},{cfg.security_mode},{cfg.certificate},{cfg.private_key}"
            )
        if cfg.username:
            client.set_user(cfg.username)
            client.set_password(cfg.password)
        client.connection_lost_callback = self._on_lost
        await client.connect()
        nodes = [await self._resolve(client, p) for p in cfg.points]
        values = await client.read_attributes(nodes, ua.AttributeIds.Value)
        slots = []
        for p, node, dv in zip(cfg.points, nodes, values, strict=True):
            code = int(dv.StatusCode.value) if dv.StatusCode is not None else 0
            if code in (ua.StatusCodes.BadNodeIdUnknown, ua.StatusCodes.BadNodeIdInvalid):
                raise self._not_found(client, p, status_name(code))
            vtype = dv.Value.VariantType if dv.Value is not None else ua.VariantType.Null
            slot_type = p.type or VARIANT_SLOT.get(vtype)
            if slot_type is None:
                raise CommError(
                    f"opcua {cfg.endpoint}: point '{p.name}' ({p.where}) has data type {vtype.name}; "
                    "Vigil polls Boolean, integer and floating-point variables (set 'type' to force one)",
                    kind="connect",
                )
            if vtype is ua.VariantType.Null:
                vtype = {
                    "bool": ua.VariantType.Boolean,
                    "float64": ua.VariantType.Double,
                    "uint64": ua.VariantType.UInt64,
                }.get(slot_type, ua.VariantType.Int64)
            slot = _Slot(p, node, slot_type, vtype)
            self._apply(slot, dv)
            slots.append(slot)
        self._slots = slots
        self._catalogue = catalogue_words(
            build_profile(cfg.endpoint, [(s.point, s.slot_type, s.node.nodeid.to_string()) for s in slots])
        )
        await self._subscribe(client, cfg)

    async def _resolve(self, client: Client, p: PointConfig) -> Any:
        """The node of a point. Node ids are only parsed here (their existence is checked by the
        one batched read that follows); browse paths are translated by the server."""
        try:
            if p.node is not None:
                return client.get_node(p.node)
            return await client.nodes.root.get_child(list(p.browse_path))
        except (ua.UaStatusCodeError, ValueError) as e:
            raise self._not_found(client, p, str(e)) from None

    @staticmethod
    def _not_found(client: Client, p: PointConfig, why: str) -> CommError:
        return CommError(
            f"opcua {client.server_url.geturl()}: point '{p.name}': cannot find {p.where}: {why}",
            kind="connect",
        )

    async def _subscribe(self, client: Client, cfg: OpcUaConfig) -> None:
        keepalive = max(1, math.ceil(KEEPALIVE_S * 1000.0 / cfg.publishing_ms))
        sub_params = ua.CreateSubscriptionParameters()
        sub_params.RequestedPublishingInterval = cfg.publishing_ms
        sub_params.RequestedMaxKeepAliveCount = keepalive
        sub_params.RequestedLifetimeCount = keepalive * 10
        sub_params.MaxNotificationsPerPublish = 0  # no limit: one publish carries a whole burst
        sub_params.PublishingEnabled = True
        sub_params.Priority = 0
        sub = await client.create_subscription(
            sub_params, handler=None, queue_maxsize=max(1000, 4 * len(self._slots))
        )
        requests = []
        for i, s in enumerate(self._slots):
            params = ua.MonitoringParameters()
            params.ClientHandle = i + 1
            params.SamplingInterval = s.point.sampling_ms
            params.QueueSize = 1
            params.DiscardOldest = True
            if s.point.deadband > 0 and s.slot_type != "bool":
                f = ua.DataChangeFilter()
                f.Trigger = ua.DataChangeTrigger.StatusValue
                f.DeadbandType = ua.DeadbandType.Absolute
                f.DeadbandValue = s.point.deadband
                params.Filter = f
            item = ua.MonitoredItemCreateRequest()
            item.ItemToMonitor = ua.ReadValueId(NodeId=s.node.nodeid, AttributeId=ua.AttributeIds.Value)
            item.MonitoringMode = ua.MonitoringMode.Reporting
            item.RequestedParameters = params
            requests.append(item)
        results = await sub.create_monitored_items(requests)
        for s, r in zip(self._slots, results, strict=True):
            if isinstance(r, ua.StatusCode):
                raise CommError(
                    f"opcua {cfg.endpoint}: cannot monitor '{s.point.name}': {status_name(r.value)}",
                    kind="connect",
                )
        self._subscription = sub
        self._last_publish = time.monotonic()
        self._consumer = asyncio.create_task(self._consume(sub), name="vigil-opcua-subscription")

    async def _consume(self, sub: Subscription) -> None:
        slots = self._slots
        try:
            while True:
                ev = await sub.next_event(timeout=None)
                if ev is None:
                    self._lost = "subscription ended"
                    return
                self._last_publish = time.monotonic()
                if isinstance(ev, DataChangeEvent):
                    item = ev.data.monitored_item
                    i = int(item.ClientHandle) - 1
                    if 0 <= i < len(slots):
                        self._apply(slots[i], item.Value)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # asyncua internals: the link is no longer trustworthy
            self._lost = f"subscription failed: {type(e).__name__}: {e}"

    def _apply(self, slot: _Slot, dv: ua.DataValue | None) -> None:
        self.updates += 1
        if dv is None:
            slot.code, slot.value = ua.StatusCodes.BadNoData, None
            return
        sc = dv.StatusCode
        slot.code = int(sc.value) if sc is not None else 0
        slot.value = dv.Value.Value if dv.Value is not None else None

    async def _on_lost(self, exc: Exception) -> None:
        self._lost = f"connection lost: {exc or type(exc).__name__}"


def _as_variant_value(value: bool | int | float, vtype: ua.VariantType) -> Any:
    if vtype is ua.VariantType.Boolean:
        return bool(value)
    if vtype in (ua.VariantType.Float, ua.VariantType.Double):
        return float(value)
    return int(value)
