"""pytest fixtures for plugin authors (and Vigil's own plugin tests).

Use them with ``pytest -p app.plugin_testing`` (or automatically once Vigil is installed, through
its ``pytest11`` entry point). Everything is real: a pymodbus server on 127.0.0.1 over TCP, a
real `PluginHost` loading your plugin folder exactly as the workstation would, a real signed
journal in a temporary folder.

Fixtures:

``modbus_server(blocks, unit_ids=(1,)) -> SimServer``
    starts a Modbus TCP server in a background thread; ``blocks`` maps a 0-based holding/input
    register address to a list of register values (one shared register space per unit, as many
    real devices have). Stopped at the end of the test.
``plugin_host(*plugin_folders, with_builtins=False, **host_kwargs) -> PluginHost``
    a host that sees only the given plugin folders (plus the built-in plugins if asked),
    with a data dir and a real journal in ``tmp_path``.
``plugin_journal``
    the `Journal` that ``plugin_host`` writes to; read it back with `journal_events`.
``connect_driver(host, transport, server, **options) -> GuardedDriver``
    (plain function, use it inside ``asyncio.run``) makes and connects a driver for a server.
``read_points(driver, unit, profile, decoder_hook=None) -> dict``
    (async) reads and decodes every point of a profile, one request per point: a tiny stand-in
    for the runtime, enough to prove a device type or driver end to end.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app.core.codec import make_decoder
from app.core.model import Value
from app.core.ports.device_type import Decoder
from app.core.profiles import Point, Profile
from app.sdk.driver import Driver, LinkConfig

if TYPE_CHECKING:
    from app.core.journal import Journal, JournalEvent
    from app.plugin_host import GuardedDriver, PluginHost

__all__ = ["SimServer", "connect_driver", "journal_events", "read_points"]


class SimServer:
    """A pymodbus 3.16 TCP server on 127.0.0.1 (port chosen by the OS) in its own thread.

    ``action`` (optional) is pymodbus's ``SimDevice(action=...)`` hook: an ``async def`` that can
    edit registers, delay, or return an exception code, for fault injection.
    """

    def __init__(
        self,
        blocks: Mapping[int, Sequence[int]],
        unit_ids: Sequence[int] = (1,),
        action: Callable[..., Any] | None = None,
    ):
        self.host = "127.0.0.1"
        self.port = 0
        self._blocks = {int(a): [int(v) & 0xFFFF for v in vals] for a, vals in blocks.items()}
        self._unit_ids = list(unit_ids)
        self._action = action
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="vigil-test-modbus-server")

    def start(self, timeout: float = 10.0) -> SimServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"test Modbus server did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"test Modbus server failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._loop.run_forever()
        self._loop.run_until_complete(self._server.shutdown())
        self._loop.close()

    async def _serve(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        simdata = [
            SimData(address=a, values=vals, datatype=DataType.REGISTERS)
            for a, vals in sorted(self._blocks.items())
        ]
        devices = [SimDevice(id=u, simdata=simdata, action=self._action) for u in self._unit_ids]
        self._server = ModbusTcpServer(devices, address=(self.host, 0))
        await self._server.serve_forever(background=True)
        self.port = self._server.transport.sockets[0].getsockname()[1]
        self._ready.set()

    def link(self, transport: str = "tcp", timeout_s: float = 1.0, **options: Any) -> LinkConfig:
        """The `LinkConfig` a driver needs to reach this server."""
        return LinkConfig(
            transport=transport, host=self.host, port=self.port, timeout_s=timeout_s, options=options
        )

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10.0)


def connect_driver(
    host: PluginHost, transport: str, server: SimServer, timeout_s: float = 1.0, **options: Any
) -> GuardedDriver:
    """Build the ``transport`` driver through ``host`` for ``server``. Call ``await
    driver.connect()`` yourself inside your event loop (drivers bind to the running loop)."""
    return host.driver_factory(transport)(server.link(transport, timeout_s=timeout_s, **options))


async def read_points(
    driver: Driver,
    unit: int,
    profile: Profile,
    decoder_hook: Callable[[Profile, Point], Decoder | None] | None = None,
) -> dict[str, Value]:
    """Read and decode every point of ``profile``: ``{point name: value}``.

    ``decoder_hook`` is a device type's ``decoder(profile, point)``; where it returns None the
    standard codec is used, as in the runtime.
    """
    values: dict[str, Value] = {}
    for point in profile.points:
        block = await driver.read(unit, point.table.value, point.address, point.width)
        decode = (decoder_hook(profile, point) if decoder_hook else None) or make_decoder(profile, point)
        values[point.name] = decode(block, 0)
    return values


def journal_events(journal: Journal, kind: str | None = None) -> list[JournalEvent]:
    """Flush ``journal`` and return its events (optionally of one ``kind``, or a prefix like
    ``'plugin.*'``)."""
    from app.core.journal import read_events

    journal.flush()
    return read_events(journal.dir, kind)


@pytest.fixture
def modbus_server() -> Iterator[Callable[..., SimServer]]:
    """Factory: ``modbus_server({40000: [...]}, unit_ids=(1,), action=None) -> SimServer``."""
    started: list[SimServer] = []

    def start(
        blocks: Mapping[int, Sequence[int]],
        unit_ids: Sequence[int] = (1,),
        action: Callable[..., Any] | None = None,
    ) -> SimServer:
        server = SimServer(blocks, unit_ids, action).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def plugin_journal(tmp_path: Path) -> Iterator[Journal]:
    """A real signed journal in ``tmp_path/data/journal``, closed after the test."""
    from app.core.journal import Journal

    journal = Journal.open(tmp_path / "data" / "journal")
    yield journal
    journal.close()


@pytest.fixture
def plugin_host(tmp_path: Path, plugin_journal: Journal) -> Callable[..., PluginHost]:
    """Factory: ``plugin_host(folder, ..., with_builtins=False, **kwargs) -> PluginHost`` seeing
    only ``folder``s, plus Vigil's built-in plugins (the Modbus ``tcp``/``rtu`` drivers...) when
    ``with_builtins=True``; other `PluginHost` keywords pass through."""
    from app.plugin_host import PluginHost

    def make(*plugin_folders: Path, with_builtins: bool = False, **kwargs: Any) -> PluginHost:
        from app.core.paths import builtin_plugins_dir

        options: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "journal": plugin_journal,
            "builtin_dir": builtin_plugins_dir() if with_builtins else None,
            "user_dir": None,
            "frozen_dir": None,
            "entry_points": False,
            "plugin_dirs": [Path(f) for f in plugin_folders],
        }
        options.update(kwargs)
        return PluginHost(**options)

    return make
