"""The OPC UA plugin against a real asyncua server on 127.0.0.1: values through the whole core,
status codes as qualities, a reconnect after the server restarts, a client rebuilt after a
connect that hangs, user login, and a setpoint write that the core role-checks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest
from asyncua import ua
from uaserver import UaTestServer
from vigil_opcua.config import parse_options
from vigil_opcua.device import OpcUaDeviceType
from vigil_opcua.driver import OpcUaDriver
from vigil_opcua.layout import status_error

from app.core.errors import VigilError
from app.core.journal import read_events
from app.core.model import Quality
from app.core.users import Role
from app.sdk import CommError, DeviceException, LinkConfig, make_decoder
from app.station import Core

PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def ua_server(tmp_path_factory):
    certs = tmp_path_factory.mktemp("opcua-certs")
    server = UaTestServer(users={"vigil": PASSWORD}, secure_dir=certs).start()
    yield server
    server.stop()


def points(server: UaTestServer) -> list[dict]:
    ns = server.idx
    return [
        {"name": "temperature", "node": f"ns={ns};s=Boiler.Temperature", "unit": "°C", "hi": 80.0},
        {"name": "level", "browse_path": ["0:Objects", f"{ns}:Boiler", f"{ns}:Level"]},
        {"name": "running", "node": f"ns={ns};s=Boiler.Running", "access": "rw"},
        {
            "name": "setpoint",
            "node": f"ns={ns};s=Boiler.Setpoint",
            "access": "rw",
            "min": 0.0,
            "max": 100.0,
            "deadband": 0.1,
        },
        {"name": "pressure", "node": f"ns={ns};s=Boiler.Pressure", "sampling_ms": 20},
    ]


def options(server: UaTestServer, endpoint: str | None = None, **extra) -> dict:
    return {
        "endpoint": endpoint or server.endpoint,
        "publishing_ms": 50,
        "sampling_ms": 50,
        "points": points(server),
        **extra,
    }


def toml_value(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def write_plant(path: Path, server: UaTestServer) -> Path:
    opts = options(server)
    lines = [
        '[plant]\nname = "OPC UA test"\n',
        "[[devices]]",
        'name = "boiler"',
        'transport = "opcua"',
        'device_type = "opcua"',
        "interval_ms = 100",
        "timeout_ms = 1000",
        "[devices.options]",
    ]
    lines += [f"{k} = {toml_value(v)}" for k, v in opts.items() if k != "points"]
    for p in opts["points"]:
        lines.append("[[devices.options.points]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in p.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def wait_for(core: Core, tag: str, pred, timeout: float = 20.0):
    """Wait for the newest sample of ``tag`` to satisfy ``pred`` (the timeout only bounds a
    broken test)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = core.latest().get(tag)
        if last is not None and pred(last):
            return last
        time.sleep(0.02)
    raise AssertionError(f"{tag}: condition not met within {timeout} s; last sample {last}")


@pytest.fixture
def core(ua_server, tmp_path):
    c = Core(
        tmp_path / "data", plant_path=write_plant(tmp_path / "plant.toml", ua_server), plugins_enabled=False
    )
    c.start()
    yield c
    c.stop()


def good(value):
    return lambda s: s.quality == Quality.GOOD and s.value == pytest.approx(value)


def test_values_arrive_through_discovery_subscription_and_runtime(core, ua_server):
    assert core.config_problems == []
    profile = core.plant.profiles["boiler"]
    assert profile.device.id.startswith("opcua-")
    assert [p.type.value for p in profile.points] == ["float64", "int64", "bool", "float64", "float64"]
    assert profile.point("temperature").hi == 80.0 and profile.point("temperature").unit == "°C"
    wait_for(core, "boiler.temperature", good(21.5))
    wait_for(core, "boiler.level", good(7))
    wait_for(core, "boiler.running", lambda s: s.quality == Quality.GOOD and s.value is True)
    wait_for(core, "boiler.pressure", good(1.25))
    # a change on the server arrives through the subscription
    ua_server.set("Temperature", 30.5)
    wait_for(core, "boiler.temperature", good(30.5))
    ua_server.set("Temperature", 21.5)


def test_status_codes_become_qualities(core, ua_server):
    wait_for(core, "boiler.temperature", good(21.5))
    try:
        ua_server.set("Temperature", 99.0, ua.StatusCodes.BadSensorFailure)
        ua_server.set("Level", 7, ua.StatusCodes.BadNoCommunication)
        ua_server.set("Pressure", 1.5, ua.StatusCodes.UncertainLastUsableValue)
        bad = wait_for(core, "boiler.temperature", lambda s: s.quality == Quality.BAD_DEVICE)
        assert bad.value is None  # never shown as a number
        wait_for(core, "boiler.level", lambda s: s.quality == Quality.BAD_COMM)
        wait_for(core, "boiler.pressure", lambda s: s.quality == Quality.BAD_DEVICE)
        # the other points are untouched, and the device stays online
        assert core.latest()["boiler.setpoint"].quality == Quality.GOOD
        diag = core.diagnostics()["boiler"]
        assert diag.state == "online"
        assert (
            "BadSensorFailure" in str(diag.last_error)
            or "Uncertain" in str(diag.last_error)
            or "BadNoCommunication" in str(diag.last_error)
        )
    finally:
        ua_server.set("Temperature", 21.5)
        ua_server.set("Level", 7)
        ua_server.set("Pressure", 1.25)
    wait_for(core, "boiler.temperature", good(21.5))
    wait_for(core, "boiler.level", good(7))


def test_reconnects_after_the_server_restarts(core, ua_server):
    wait_for(core, "boiler.temperature", good(21.5))
    ua_server.down()
    try:
        wait_for(core, "boiler.temperature", lambda s: s.quality == Quality.BAD_COMM)
        ua_server.set("Temperature", 42.0)  # changed while the server was away
    finally:
        ua_server.up()
    wait_for(core, "boiler.temperature", good(42.0), timeout=40.0)
    assert core.diagnostics()["boiler"].state == "online"
    ua_server.set("Temperature", 21.5)


def test_setpoint_writes_are_role_checked_by_the_core(core, ua_server):
    wait_for(core, "boiler.setpoint", good(50.0))
    users = core.users
    users.add(None, "ada", "admin-pass-1", Role.ADMINISTRATOR)
    ada = users.authenticate("ada", "admin-pass-1")
    users.add(ada, "vic", "viewer-pass-1", Role.VIEWER)
    users.add(ada, "olga", "operator-pass", Role.OPERATOR)
    try:
        core.login("vic", "viewer-pass-1")
        with pytest.raises(VigilError):
            core.write_setpoint("boiler", "setpoint", 61.5)
        assert ua_server.get("Setpoint") == 50.0
        core.login("olga", "operator-pass")
        with pytest.raises(VigilError, match="above the maximum"):
            core.write_setpoint("boiler", "setpoint", 150.0)
        result = core.write_setpoint("boiler", "setpoint", 61.5)
        assert (result.old, result.new, result.readback) == (50.0, 61.5, 61.5)
        assert ua_server.get("Setpoint") == 61.5
        result = core.write_setpoint("boiler", "running", False)
        assert result.readback is False and ua_server.get("Running") is False
        with pytest.raises(VigilError, match="read-only"):
            core.write_setpoint("boiler", "temperature", 10.0)
    finally:
        ua_server.set("Setpoint", 50.0)
        ua_server.set("Running", True)
    core.journal.flush()
    events = read_events(core.data_dir / "journal")
    writes = [(e.actor, e.body["tag"], e.body["readback"]) for e in events if e.kind == "setpoint.write"]
    assert writes == [("olga", "boiler.setpoint", 61.5), ("olga", "boiler.running", False)]
    assert any(e.kind == "action.refused" and e.actor == "vic" for e in events)


# ------------------------------------------------------------------ the driver on its own


class HangThenForward:
    """A TCP front for the OPC UA server that first accepts and says nothing (a server or
    gateway stuck mid-handshake: a fault a real server cannot be made to show on demand), then,
    once ``forward`` is set, relays to the real server."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.forward = False
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self._conns.append(conn)
            if self.forward:
                up = socket.create_connection(("127.0.0.1", self.target_port))
                self._conns.append(up)
                for a, b in ((conn, up), (up, conn)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        with contextlib.suppress(OSError):
            b.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop = True
        for c in [self.sock, *self._conns]:
            with contextlib.suppress(OSError):
                c.close()


def test_a_connect_that_hangs_is_abandoned_and_the_next_one_uses_a_new_client(ua_server):
    front = HangThenForward(ua_server.port)
    endpoint = f"opc.tcp://127.0.0.1:{front.port}/vigil/"
    driver = OpcUaDriver(LinkConfig(transport="opcua", timeout_s=0.3, options=options(ua_server, endpoint)))

    async def go():
        with pytest.raises(CommError, match=r"no session within .* \(client abandoned\)") as e:
            await driver.connect()
        assert e.value.kind == "connect" and not driver.connected
        front.forward = True
        await driver.connect()
        try:
            assert driver.connected
            first = driver._client
            profile = await OpcUaDeviceType().discover(driver, 0)
            p = profile.point("temperature")
            assert make_decoder(profile, p)(await driver.read(0, "holding", p.address, p.width), 0) == 21.5
            await driver.connect()  # every connect builds a fresh client
            assert driver._client is not first and driver.connected
        finally:
            await driver.close()

    try:
        asyncio.run(go())
    finally:
        front.close()


def test_the_deadband_filters_small_changes_at_the_server(ua_server):
    """Setpoint has a 5.0 deadband, temperature none. A change of temperature made after a
    change of setpoint arrives in the same or a later publish, so once it is seen, a setpoint
    change that passed the filter would have been seen too."""
    opts = options(ua_server)
    for p in opts["points"]:
        if p["name"] == "setpoint":
            p["deadband"] = 5.0
    driver = OpcUaDriver(LinkConfig(transport="opcua", timeout_s=2.0, options=opts))

    async def value(profile, name):
        p = profile.point(name)
        return make_decoder(profile, p)(await driver.read(0, "holding", p.address, p.width), 0)

    async def wait_value(profile, name, want):
        for _ in range(500):  # bounds a broken test at about 10 s
            if await value(profile, name) == want:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{name} never read {want}")

    async def go():
        await driver.connect()
        try:
            profile = await OpcUaDeviceType().discover(driver, 0)
            assert await value(profile, "setpoint") == 50.0
            ua_server.set("Setpoint", 52.0)  # inside the deadband
            ua_server.set("Temperature", 22.5)
            await wait_value(profile, "temperature", 22.5)
            assert await value(profile, "setpoint") == 50.0
            ua_server.set("Setpoint", 60.0)  # beyond it
            ua_server.set("Temperature", 23.5)
            await wait_value(profile, "temperature", 23.5)
            assert await value(profile, "setpoint") == 60.0
        finally:
            await driver.close()

    try:
        asyncio.run(go())
    finally:
        ua_server.set("Setpoint", 50.0)
        ua_server.set("Temperature", 21.5)


def test_user_login_and_a_wrong_password(ua_server, monkeypatch):
    monkeypatch.setenv("BOILER_OPCUA_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_OPCUA_PASSWORD", "guess")

    async def connect(env: str):
        opts = options(ua_server, username="vigil", password_env=env)
        driver = OpcUaDriver(LinkConfig(transport="opcua", timeout_s=2.0, options=opts))
        try:
            await driver.connect()
            return driver.connected
        finally:
            await driver.close()

    assert asyncio.run(connect("BOILER_OPCUA_PASSWORD")) is True
    with pytest.raises(CommError, match=r"BadUserAccessDenied|BadIdentityToken|cannot connect"):
        asyncio.run(connect("WRONG_OPCUA_PASSWORD"))


def test_basic256sha256_sign_and_encrypt_with_a_user_login(ua_server, monkeypatch):
    monkeypatch.setenv("BOILER_OPCUA_PASSWORD", PASSWORD)
    opts = options(
        ua_server,
        security_policy="Basic256Sha256",
        security_mode="SignAndEncrypt",
        certificate=ua_server.client_cert,
        private_key=ua_server.client_key,
        username="vigil",
        password_env="BOILER_OPCUA_PASSWORD",
    )
    driver = OpcUaDriver(LinkConfig(transport="opcua", timeout_s=3.0, options=opts))

    async def go():
        await driver.connect()
        try:
            client = driver._client
            assert client is not None and client.security_policy.URI.endswith("#Basic256Sha256")
            profile = await OpcUaDeviceType().discover(driver, 0)
            p = profile.point("level")
            assert make_decoder(profile, p)(await driver.read(0, "holding", p.address, p.width), 0) == 7
        finally:
            await driver.close()

    asyncio.run(go())
    no_key = OpcUaDriver(LinkConfig(transport="opcua", options={**opts, "private_key": ""}))

    async def refused():
        with pytest.raises(CommError, match="needs 'certificate' and 'private_key'"):
            await no_key.connect()

    asyncio.run(refused())


def test_bad_options_are_named_and_never_disable_the_plugin(ua_server):
    cfg, problems = parse_options(
        {
            "endpoint": "http://x",
            "security_policy": "Basic999",
            "colour": 1,
            "points": [{"name": "a"}, {"name": "b", "node": "ns=2;s=x", "type": "text"}],
        }
    )
    assert cfg is None
    assert "options.'endpoint': needs an opc.tcp://host:port/... address" in problems
    assert any("security_policy" in p and "Basic999" in p for p in problems)
    assert "options.'colour': unknown field (typo?)" in problems
    assert any(p.startswith("options.points[0] 'a': give exactly one of 'node'") for p in problems)
    assert any("options.points[1] 'b', 'type'" in p for p in problems)
    driver = OpcUaDriver(LinkConfig(transport="opcua", options={"endpoint": "opc.tcp://127.0.0.1:1"}))

    async def go():
        with pytest.raises(CommError, match=r"bad device options: options\.'points'"):
            await driver.connect()

    asyncio.run(go())
    missing = OpcUaDriver(
        LinkConfig(
            transport="opcua",
            timeout_s=2.0,
            options={
                "endpoint": ua_server.endpoint,
                "points": [{"name": "ghost", "node": f"ns={ua_server.idx};s=Boiler.Ghost"}],
            },
        )
    )

    async def go_missing():
        with pytest.raises(CommError, match="point 'ghost': cannot find"):
            await missing.connect()

    asyncio.run(go_missing())


def test_status_mapping_table():
    assert status_error(ua.StatusCodes.Good, False, "x") is None
    assert isinstance(status_error(ua.StatusCodes.BadNotConnected, False, "x"), CommError)
    assert isinstance(status_error(ua.StatusCodes.BadOutOfService, False, "x"), DeviceException)
    assert isinstance(status_error(ua.StatusCodes.UncertainSensorNotAccurate, False, "x"), DeviceException)
    assert status_error(ua.StatusCodes.UncertainSensorNotAccurate, True, "x") is None
    assert "BadOutOfService" in str(status_error(ua.StatusCodes.BadOutOfService, False, "pump.flow"))
