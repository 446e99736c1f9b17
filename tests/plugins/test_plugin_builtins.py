"""The built-in plugins are ordinary plugins: each passes ``vigil plugins check``, and the
built-in Modbus TCP driver works through the host's guard against a real server."""

from __future__ import annotations

import asyncio

import pytest

from app.core.paths import builtin_plugins_dir
from app.plugin_host import PluginHost, PluginState, check_plugin_folder
from app.plugin_testing import connect_driver
from app.sdk import DeviceException

BUILTIN = sorted(
    p for p in builtin_plugins_dir().iterdir() if (p / "plugin.toml").is_file() and p.name[0] not in "_."
)


@pytest.mark.parametrize("folder", BUILTIN, ids=lambda p: p.name)
def test_builtin_plugin_passes_check(folder):
    result = check_plugin_folder(folder)
    assert result.ok, result.problems


def test_builtin_plugins_are_all_usable(tmp_path):
    host = PluginHost(data_dir=tmp_path, user_dir=None, frozen_dir=None, entry_points=False)
    states = {r.id: (r.state, r.reason) for r in host.records()}
    assert all(s is PluginState.AVAILABLE for s, _ in states.values()), states
    assert {"vigil.modbus", "vigil.sunspec"} <= set(states)
    assert {"tcp", "rtu"} <= set(host.transports())
    assert "sunspec" in host.device_type_names()


def test_builtin_tcp_driver_through_the_guard(plugin_host, modbus_server):
    server = modbus_server({100: [1, 2, 3, 65535]})
    host = plugin_host(with_builtins=True)

    async def go():
        driver = connect_driver(host, "tcp", server)
        await driver.connect()
        try:
            values = await driver.read(1, "holding", 100, 4)
            with pytest.raises(DeviceException):
                await driver.read(1, "holding", 5000, 2)  # undefined in the server: exception 2
            return values, driver.connected
        finally:
            await driver.close()

    assert asyncio.run(go()) == ([1, 2, 3, 65535], True)
    assert host.record("vigil.modbus").warnings == []
