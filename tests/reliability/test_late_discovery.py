"""Issue #18, defect 7: a device whose register map is discovered at start (SunSpec) and is
offline then was dropped for the whole session: no COMM alarm, no retry. Now its COMM alarm is
raised meanwhile, discovery is retried with backoff, and once the device answers it is polled."""

from __future__ import annotations

import socket
import time

from vigil_sunspec.simulate import SF_OFFSETS, sunspec_registers

from app.core.journal import read_events
from app.plugin_testing import SimServer
from app.station import Core


class _ServerOnPort(SimServer):
    """The plugin-testing server, on a port chosen before it starts (the plant names it)."""

    def __init__(self, blocks, port: int) -> None:
        super().__init__(blocks)
        self._fixed_port = port

    async def _serve(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        simdata = [SimData(address=a, values=v, datatype=DataType.REGISTERS)
                   for a, v in sorted(self._blocks.items())]
        self._server = ModbusTcpServer([SimDevice(id=1, simdata=simdata)],
                                       address=(self.host, self._fixed_port))
        await self._server.serve_forever(background=True)
        self.port = self._fixed_port
        self._ready.set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.05)
    return what()


def test_an_offline_device_type_is_alarmed_retried_and_then_polled(tmp_path):
    port = _free_port()
    plant = tmp_path / "plant.toml"
    plant.write_text(
        f'[[devices]]\nname = "inv1"\ndevice_type = "sunspec"\nhost = "127.0.0.1"\nport = {port}\n'
        "interval_ms = 100\ntimeout_ms = 200\nreconnect_max_ms = 500\n"
    )
    core = Core(tmp_path / "data", plant)
    core.start()
    inverter = None
    try:
        assert any("inv1" in p and "discovery failed" in p for p in core.config_problems)
        # meanwhile: the device's COMM alarm, after its on-delay
        assert _wait(lambda: core.alarms.alarm("inv1:COMM").condition), "no COMM alarm while undiscovered"
        inverter = _ServerOnPort(
            sunspec_registers(raw={"ac_frequency": 5002}, sf={SF_OFFSETS["ac_frequency"]: -2}), port
        ).start()
        sample = _wait(lambda: (s := core.latest().get("inv1.ac_frequency")) is not None
                       and s.quality.is_good and s)
        assert sample and abs(sample.value - 50.02) < 1e-9, "never polled after it came back"
        assert _wait(lambda: not core.alarms.alarm("inv1:COMM").condition), "COMM alarm stuck"
        assert [d.name for d in core.plant.devices] == ["inv1"]
        assert not any("discovery failed" in p for p in core.config_problems)
    finally:
        core.stop()
        if inverter is not None:
            inverter.stop()
    kinds = [e.kind for e in read_events(tmp_path / "data" / "journal")]
    assert "device.discovery_failed" in kinds and "device.discovered" in kinds
