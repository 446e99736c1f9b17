"""Every way plugin code can misbehave is contained: the plugin is disabled with a reason (or,
for a running driver, the failure becomes a CommError), the fault is journaled, and the rest of
the host keeps working."""

from __future__ import annotations

import asyncio
import re

import pytest
from plugin_factory import DETECTOR_SOURCE, write_plugin

from app.plugin_host import PluginState, PluginUnavailable
from app.plugin_testing import journal_events
from app.sdk import CommError, DeviceException, DiscoveryError, LinkConfig, MalformedReply

BUDGET = 0.3  # seconds; hanging plugin code below sleeps 2 s


def _detector_plugin(root, unique, tag, module_source, factory="mod:make", name=None):
    pkg = f"{tag}_{unique}"
    return write_plugin(
        root,
        tag,
        f"acme.{tag}{unique}",
        package=pkg,
        contributions=f"""
        [[detectors]]
        name = "{name or tag}"
        factory = "{pkg}.{factory}"
        """,
        files={f"{pkg}/mod.py": module_source},
    )


FAULTY_IMPORTS = {
    "raises_at_import": (
        "raise RuntimeError('boom at import')\n",
        "mod:make",
        "RuntimeError: boom at import",
    ),
    "exits_at_import": ("import sys\nsys.exit(3)\n", "mod:make", "SystemExit: 3"),
    "hangs_at_import": ("import time\ntime.sleep(2)\n", "mod:make", f"did not finish within {BUDGET:g} s"),
    "missing_attr": ("x = 1\n", "mod:make", "has no attribute 'make'"),
    "missing_module": ("x = 1\n", "nomod:make", "not found in"),
    "not_callable": ("make = 42\n", "mod:make", "is a int, not a factory"),
}


@pytest.mark.parametrize("tag", sorted(FAULTY_IMPORTS))
def test_faulty_import_disables_the_plugin_with_a_reason(tag, tmp_path, unique, plugin_host, plugin_journal):
    source, factory, expected = FAULTY_IMPORTS[tag]
    folder = _detector_plugin(tmp_path, unique, tag, source, factory)
    host = plugin_host(folder, import_budget_s=BUDGET)
    with pytest.raises(PluginUnavailable) as err:
        host.detector_factory(tag)
    rec = host.record(f"acme.{tag}{unique}")
    assert rec.state is PluginState.FAILED
    assert expected in rec.reason and expected in str(err.value)
    assert tag not in host.detector_names()  # gone from what the UI offers
    disabled = journal_events(plugin_journal, "plugin.disabled")
    assert len(disabled) == 1 and disabled[0].critical and expected in disabled[0].body["reason"]
    # asking again does not retry the broken import, it explains
    with pytest.raises(PluginUnavailable, match="failed"):
        host.detector_factory(tag)


FAULTY_FACTORIES = {
    "factory_raises": ("def make(**kw):\n    raise ValueError('bad params')\n", "ValueError: bad params"),
    "factory_hangs": ("import time\ndef make(**kw):\n    time.sleep(2)\n", "did not finish within"),
    "factory_garbage": ("def make(**kw):\n    return 42\n", "returned a int lacking fit, score, get_state"),
}


@pytest.mark.parametrize("tag", sorted(FAULTY_FACTORIES))
def test_faulty_detector_factory_is_contained(tag, tmp_path, unique, plugin_host):
    source, expected = FAULTY_FACTORIES[tag]
    host = plugin_host(_detector_plugin(tmp_path, unique, tag, source), call_budget_s=BUDGET)
    make = host.detector_factory(tag)  # imports fine
    with pytest.raises(PluginUnavailable, match=expected):
        make()
    rec = host.record(f"acme.{tag}{unique}")
    assert rec.state is PluginState.FAILED and expected in rec.reason


def test_a_broken_plugin_leaves_the_others_working_and_a_second_provider_takes_over(
    tmp_path, unique, plugin_host
):
    broken = _detector_plugin(
        tmp_path / "a", unique, "aaa", "raise ImportError('no numpy here')\n", name="shared"
    )
    good = write_plugin(
        tmp_path / "b",
        "bbb",
        f"acme.bbb{unique}",
        package=f"bbb_{unique}",
        contributions=f'[[detectors]]\nname = "shared"\nfactory = "bbb_{unique}.det:ZShift"\n',
        files={f"bbb_{unique}/det.py": DETECTOR_SOURCE.format(name="shared")},
    )
    host = plugin_host(broken, good)
    assert any("also provided by" in w for w in host.record(f"acme.bbb{unique}").warnings)
    det = host.detector_factory("shared")()
    assert type(det.inner).__module__ == f"bbb_{unique}.det"
    assert host.record(f"acme.aaa{unique}").state is PluginState.FAILED
    assert "ImportError: no numpy here" in host.record(f"acme.aaa{unique}").reason


def test_two_plugins_shipping_the_same_package_name_are_told_apart(tmp_path, plugin_host, unique):
    pkg = f"common_{unique}"
    src = DETECTOR_SOURCE.format(name="x")
    one = write_plugin(
        tmp_path / "a",
        "one",
        "acme.one",
        package=pkg,
        contributions=f'[[detectors]]\nname = "one"\nfactory = "{pkg}.det:ZShift"\n',
        files={f"{pkg}/det.py": src},
    )
    two = write_plugin(
        tmp_path / "b",
        "two",
        "acme.two",
        package=pkg,
        contributions=f'[[detectors]]\nname = "two"\nfactory = "{pkg}.det:ZShift"\n',
        files={f"{pkg}/det.py": src},
    )
    host = plugin_host(one, two)
    host.detector_factory("one")()
    with pytest.raises(PluginUnavailable, match=f"package name '{pkg}' is already used by"):
        host.detector_factory("two")
    assert host.record("acme.one").state is PluginState.LOADED


# ---------------------------------------------------------------- drivers at run time

DRIVER_SOURCE = """
import asyncio
from app.sdk import DeviceException


class Flaky:
    def __init__(self, link):
        self.mode = link.options.get("mode", "ok")
        self._open = False

    @property
    def connected(self):
        if self.mode == "bad_connected":
            raise RuntimeError("confused")
        return self._open

    async def connect(self):
        self._open = True

    async def close(self):
        if self.mode == "bad_close":
            raise OSError("close failed")
        self._open = False

    async def read(self, unit, table, address, count):
        if self.mode == "raises":
            return 1 / 0
        if self.mode == "short":
            return [0] * (count - 1)
        if self.mode == "floats":
            return [0.5] * count
        if self.mode == "hangs":
            await asyncio.sleep(2)
        if self.mode == "exception_code":
            raise DeviceException(2)
        return list(range(address, address + count))

    async def write(self, unit, table, address, values):
        raise KeyError("no writes")


def not_a_driver(link):
    return object()


def sync_read(link):
    class Half:
        connected = False
        async def connect(self): pass
        async def close(self): pass
        def read(self, *a): return []
        async def write(self, *a): pass
    return Half()


def refuses(link):
    raise PermissionError("licence missing")
"""


@pytest.fixture
def driver_host(tmp_path, unique, plugin_host):
    pkg = f"flaky_{unique}"
    folder = write_plugin(
        tmp_path,
        "flaky",
        "acme.flaky",
        package=pkg,
        contributions=f"""
        [[drivers]]
        transport = "flaky"
        factory = "{pkg}.drv:Flaky"
        [[drivers]]
        transport = "garbage"
        factory = "{pkg}.drv:not_a_driver"
        [[drivers]]
        transport = "halfsync"
        factory = "{pkg}.drv:sync_read"
        [[drivers]]
        transport = "refuses"
        factory = "{pkg}.drv:refuses"
        """,
        files={f"{pkg}/drv.py": DRIVER_SOURCE},
    )
    return plugin_host(folder, driver_call_budget_s=BUDGET)


def _read(host, mode, *, count=3):
    async def go():
        driver = host.driver_factory("flaky")(LinkConfig("flaky", options={"mode": mode}))
        await driver.connect()
        try:
            return await driver.read(1, "holding", 10, count)
        finally:
            await driver.close()

    return asyncio.run(go())


def test_guarded_driver_passes_good_reads_and_sdk_errors_through(driver_host):
    assert _read(driver_host, "ok") == [10, 11, 12]
    with pytest.raises(DeviceException) as err:
        _read(driver_host, "exception_code")
    assert err.value.code == 2
    assert driver_host.record("acme.flaky").warnings == []


@pytest.mark.parametrize(
    ("mode", "error", "kind", "text"),
    [
        ("raises", CommError, "plugin", "raised ZeroDivisionError"),
        ("hangs", CommError, "timeout", f"did not finish within {BUDGET:g} s"),
        ("short", MalformedReply, None, "returned 2 items, asked for 3"),
        ("floats", MalformedReply, None, "not 16-bit unsigned integers"),
    ],
)
def test_misbehaving_driver_becomes_a_comm_failure_not_a_crash(
    driver_host, plugin_journal, mode, error, kind, text
):
    with pytest.raises(error, match=text) as err:
        _read(driver_host, mode)
    if kind:
        assert err.value.kind == kind
    rec = driver_host.record("acme.flaky")
    assert rec.state is PluginState.LOADED  # one bad reply does not remove the driver
    if mode != "hangs":  # a timeout is a link condition, not a plugin fault
        assert any(text in w for w in rec.warnings)
        faults = journal_events(plugin_journal, "plugin.fault")
        assert len(faults) == 1 and text in faults[0].body["message"]
    assert _read(driver_host, "ok") == [10, 11, 12]  # and it still works afterwards


def test_driver_close_and_connected_never_raise(driver_host):
    async def go(mode):
        driver = driver_host.driver_factory("flaky")(LinkConfig("flaky", options={"mode": mode}))
        await driver.connect()
        state = driver.connected
        await driver.close()
        with pytest.raises(CommError, match="KeyError"):
            await driver.write(1, "holding", 0, [1])
        return state

    assert asyncio.run(go("bad_connected")) is False
    assert asyncio.run(go("bad_close")) is True
    assert len(driver_host.record("acme.flaky").warnings) >= 3


@pytest.mark.parametrize(
    ("transport", "text"),
    [
        ("garbage", "lacking connect, close, read, write"),
        ("halfsync", "read (must be async)"),
        ("refuses", "licence"),
    ],
)
def test_driver_factory_garbage_or_raising_disables_the_plugin(driver_host, transport, text):
    with pytest.raises(PluginUnavailable, match=re.escape(text)):
        driver_host.driver_factory(transport)(LinkConfig(transport))
    rec = driver_host.record("acme.flaky")
    assert rec.state is PluginState.FAILED and text in rec.reason


# ------------------------------------------------------------------- device types

DEVICE_TYPE_SOURCE = """
import asyncio


class Bad:
    def __init__(self, mode):
        self.mode = mode

    async def discover(self, driver, unit):
        if self.mode == "raises":
            raise KeyError("model 999")
        if self.mode == "hangs":
            await asyncio.sleep(2)
        return {"not": "a profile"}


def raises():
    return Bad("raises")


def hangs():
    return Bad("hangs")


def garbage():
    return Bad("garbage")


def sync_discover():
    class S:
        def discover(self, driver, unit):
            return None
    return S()
"""


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("raises", "discover raised KeyError: 'model 999'"),
        ("hangs", f"discover did not finish within {BUDGET:g} s"),
        ("garbage", "discover returned dict, expected a Profile"),
    ],
)
def test_device_type_discover_faults_become_discovery_errors(tmp_path, unique, plugin_host, name, text):
    pkg = f"dt_{unique}"
    entries = "".join(
        f'[[device_types]]\nname = "{n}"\nfactory = "{pkg}.dt:{n}"\n' for n in ("raises", "hangs", "garbage")
    )
    folder = write_plugin(
        tmp_path,
        "dt",
        "acme.dt",
        package=pkg,
        contributions=entries,
        files={f"{pkg}/dt.py": DEVICE_TYPE_SOURCE},
    )
    host = plugin_host(folder, call_budget_s=BUDGET)
    dt = host.device_type(name)
    with pytest.raises(DiscoveryError, match=text):
        asyncio.run(dt.discover(object(), 1))
    assert any(text in w for w in host.record("acme.dt").warnings)


def test_device_type_without_async_discover_is_refused(tmp_path, unique, plugin_host):
    pkg = f"dts_{unique}"
    folder = write_plugin(
        tmp_path,
        "dts",
        "acme.dts",
        package=pkg,
        contributions=f'[[device_types]]\nname = "s"\nfactory = "{pkg}.dt:sync_discover"\n',
        files={f"{pkg}/dt.py": DEVICE_TYPE_SOURCE},
    )
    host = plugin_host(folder)
    with pytest.raises(PluginUnavailable, match=r"discover \(must be async\)"):
        host.device_type("s")
    assert host.record("acme.dts").state is PluginState.FAILED


def test_fail_reported_by_a_caller_disables_the_owner(tmp_path, unique, plugin_host, plugin_journal):
    """The UI or the detector engine can report garbage they found (a widget raising, a detector
    returning NaN scores): the owning plugin is disabled with that reason and journaled."""
    folder = _detector_plugin(tmp_path, unique, "owned", DETECTOR_SOURCE.format(name="owned"), "mod:ZShift")
    host = plugin_host(folder)
    owner = host.owner("detector", "owned")
    assert owner == f"acme.owned{unique}"
    host.fail(owner, "score returned NaN for every row")
    assert host.record(owner).state is PluginState.FAILED
    assert "owned" not in host.detector_names() and host.owner("detector", "owned") is None
    event = journal_events(plugin_journal, "plugin.disabled")[-1]
    assert event.body["plugin"] == owner and "NaN" in event.body["reason"] and event.critical


def test_a_factory_refusing_its_parameters_keeps_the_plugin_in_service(tmp_path, unique, plugin_host):
    """DetectorError from a factory means the caller's parameters are wrong (the SDK's way to
    say so): the caller gets that message, and the plugin is not disabled for everyone."""
    from app.sdk import DetectorError

    source = (
        "from app.sdk import DetectorError\n"
        + DETECTOR_SOURCE.format(name="picky").replace(
            "        self.k = float(k)\n",
            "        if not isinstance(k, (int, float)) or k <= 0:\n"
            "            raise DetectorError(f'k must be a number > 0, got {k!r}')\n"
            "        self.k = float(k)\n")
    )
    host = plugin_host(_detector_plugin(tmp_path, unique, "picky", source, factory="mod:ZShift"),
                       call_budget_s=5.0)
    make = host.detector_factory("picky")
    with pytest.raises(DetectorError, match=r"detector 'picky': k must be a number > 0, got -1"):
        make(k=-1)
    assert host.record(f"acme.picky{unique}").state is PluginState.LOADED
    assert make(k=2.0).k == 2.0  # still in service
