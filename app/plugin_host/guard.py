"""Containment: run plugin code so that raising, hanging or returning garbage becomes a
`PluginFault` (or, for drivers, a `CommError`) instead of a crash or a frozen app.

Synchronous plugin code (module imports, detector and device-type factories) runs in a daemon
worker thread with a time budget: if it overruns, the caller gets a fault at once and the
thread is abandoned (Python cannot kill a thread; a daemon thread at least never blocks exit).
Driver factories are the exception: asyncio clients bind to the running loop when built, so they
are called on the caller's thread, with exceptions and return types still checked.
Async driver calls are bounded with ``asyncio.wait_for``; a driver that blocks the loop
synchronously cannot be interrupted by anything in-process (documented in the guide).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from app.core.ports.detector import DetectorError, DetectorState, Scores
from app.core.ports.device_type import Decoder, DiscoveryError
from app.core.ports.driver import CommError, DriverError, MalformedReply, TableName
from app.core.profiles import Point, Profile

T = TypeVar("T")


class PluginFault(Exception):
    """Plugin code failed: ``kind`` is 'import', 'raised', 'timeout' or 'garbage'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def describe_exception(e: BaseException) -> str:
    """One line for a person: 'ZeroDivisionError: division by zero'."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def call_with_budget(fn: Callable[..., T], budget_s: float, *args: Any, what: str = "", **kwargs: Any) -> T:
    """Call ``fn`` in a daemon thread; return its result or raise `PluginFault` on exception or
    when it takes longer than ``budget_s`` seconds."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # SystemExit from plugin code is a fault too
            box["error"] = e
        finally:
            done.set()

    worker = threading.Thread(target=run, daemon=True, name=f"plugin-call {what}"[:60])
    worker.start()
    if not done.wait(budget_s):
        raise PluginFault("timeout", f"{what or 'plugin code'} did not finish within {budget_s:g} s")
    if "error" in box:
        err = box["error"]
        kind = "import" if isinstance(err, ImportError) else "raised"
        raise PluginFault(kind, f"{what or 'plugin code'} raised {describe_exception(err)}") from err
    return box["value"]


def call_contained(fn: Callable[..., T], *args: Any, what: str = "", **kwargs: Any) -> T:
    """Call ``fn`` on this thread; any exception becomes a `PluginFault`."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        raise PluginFault("raised", f"{what or 'plugin code'} raised {describe_exception(e)}") from e


FaultSink = Callable[[str], None]


def _check_reply(table: TableName, count: int, values: object) -> str | None:
    """Why ``values`` is not a valid read result, or None when it is."""
    if not isinstance(values, list):
        return f"read returned {type(values).__name__}, expected a list"
    if len(values) != count:
        return f"read returned {len(values)} items, asked for {count}"
    if table in ("coil", "discrete"):
        if not all(isinstance(v, bool | int) and v in (0, 1) for v in values):
            return "read returned non-boolean values for a bit table"
    elif not all(type(v) is int and 0 <= v <= 0xFFFF for v in values):
        return "read returned values that are not 16-bit unsigned integers"
    return None


class GuardedDriver:
    """Wraps a plugin's `Driver` so the runtime only ever sees the SDK's three failure kinds.

    - a `DriverError` (CommError, MalformedReply, DeviceException) passes through unchanged;
    - any other exception becomes ``CommError(kind='plugin')`` and is reported to ``on_fault``;
    - a call that does not finish within ``budget_s`` becomes ``CommError(kind='timeout')``;
    - a read returning the wrong shape becomes `MalformedReply` and is reported.
    """

    def __init__(self, inner: Any, plugin_id: str, budget_s: float, on_fault: FaultSink | None = None):
        self.inner = inner
        self.plugin_id = plugin_id
        self.budget_s = budget_s
        self._on_fault = on_fault
        self.faults = 0

    def _fault(self, message: str) -> None:
        self.faults += 1
        if self._on_fault is not None:
            with contextlib.suppress(Exception):  # a broken sink must not turn a contained fault into a crash
                self._on_fault(message)

    async def _call(self, op: str, coro_fn: Callable[[], Any]) -> Any:
        try:
            return await asyncio.wait_for(coro_fn(), self.budget_s)
        except DriverError:
            raise
        except TimeoutError:
            raise CommError(
                f"plugin '{self.plugin_id}' driver {op} did not finish within {self.budget_s:g} s",
                kind="timeout",
            ) from None
        except asyncio.CancelledError:
            raise
        except Exception as e:
            msg = f"plugin '{self.plugin_id}' driver {op} raised {describe_exception(e)}"
            self._fault(msg)
            raise CommError(msg, kind="plugin") from e

    @property
    def connected(self) -> bool:
        try:
            return bool(self.inner.connected)
        except Exception as e:
            self._fault(f"plugin '{self.plugin_id}' driver 'connected' raised {describe_exception(e)}")
            return False

    async def connect(self) -> None:
        await self._call("connect", self.inner.connect)

    async def close(self) -> None:
        with contextlib.suppress(DriverError):  # close must not raise; faults were already reported
            await self._call("close", self.inner.close)

    async def read(self, unit: int, table: TableName, address: int, count: int) -> list[int] | list[bool]:
        values = await self._call("read", lambda: self.inner.read(unit, table, address, count))
        problem = _check_reply(table, count, values)
        if problem:
            msg = f"plugin '{self.plugin_id}' driver {problem}"
            self._fault(msg)
            raise MalformedReply(msg)
        if table in ("coil", "discrete"):
            return [bool(v) for v in values]
        return values

    async def write(self, unit: int, table: TableName, address: int, values: list[int] | list[bool]) -> None:
        await self._call("write", lambda: self.inner.write(unit, table, address, values))


class GuardedDeviceType:
    """Wraps a plugin's device type: ``discover`` raising an unexpected exception, hanging past
    its budget or returning something other than a `Profile` becomes a `DiscoveryError` (the
    device shows a configuration fault; the app goes on). Link failures (`DriverError`) and the
    plugin's own `DiscoveryError` pass through unchanged."""

    def __init__(self, inner: Any, plugin_id: str, budget_s: float, on_fault: FaultSink | None = None):
        self.inner = inner
        self.plugin_id = plugin_id
        self.budget_s = budget_s
        self._on_fault = on_fault

    def _fault(self, message: str) -> DiscoveryError:
        if self._on_fault is not None:
            with contextlib.suppress(Exception):
                self._on_fault(message)
        return DiscoveryError(message)

    async def _bounded(self, op: str, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.budget_s)
        except (DriverError, DiscoveryError):
            raise
        except TimeoutError:
            raise self._fault(
                f"plugin '{self.plugin_id}' {op} did not finish within {self.budget_s:g} s"
            ) from None
        except asyncio.CancelledError:
            raise
        except Exception as e:
            raise self._fault(f"plugin '{self.plugin_id}' {op} raised {describe_exception(e)}") from e

    async def login(self, driver: Any, unit: int) -> None:
        hook = getattr(self.inner, "login", None)
        if hook is not None:
            await self._bounded("login", hook(driver, unit))

    async def discover(self, driver: Any, unit: int) -> Profile:
        profile = await self._bounded("discover", self.inner.discover(driver, unit))
        if not isinstance(profile, Profile):
            raise self._fault(
                f"plugin '{self.plugin_id}' discover returned {type(profile).__name__}, expected a Profile"
            )
        return profile

    def decoder(self, profile: Profile, point: Point) -> Decoder | None:
        hook = getattr(self.inner, "decoder", None)
        if hook is None:
            return None
        try:
            dec = hook(profile, point)
        except Exception as e:
            self._fault(f"plugin '{self.plugin_id}' decoder hook raised {describe_exception(e)}")
            return None
        if dec is not None and not callable(dec):
            self._fault(f"plugin '{self.plugin_id}' decoder hook returned a {type(dec).__name__}")
            return None
        return dec


class GuardedDetector:
    """Wraps a plugin's `Detector` the way `GuardedDriver` wraps a driver: anything its
    ``fit``, ``score``, ``reset``, ``get_state``, ``tags`` or ``threshold`` raise other than the
    SDK's `DetectorError` becomes a `DetectorError` naming the detector and its plugin, and is
    reported to ``on_fault``; a ``score`` or ``get_state`` returning the wrong thing is refused
    the same way. Callers (the CLI, the self-test) then only ever handle `DetectorError`."""

    def __init__(self, inner: Any, name: str, plugin_id: str, on_fault: FaultSink | None = None):
        self.inner = inner
        self.name = name
        self.plugin_id = plugin_id
        self._on_fault = on_fault
        self.faults = 0

    def __getattr__(self, attr: str) -> Any:
        """Anything else the detector offers (its parameters, say) is read from it directly."""
        return getattr(self.inner, attr)

    def _fault(self, message: str) -> DetectorError:
        self.faults += 1
        if self._on_fault is not None:
            with contextlib.suppress(Exception):
                self._on_fault(message)
        return DetectorError(message)

    def _call(self, op: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except DetectorError:
            raise
        except Exception as e:  # plugin code: its fault, reported by name
            raise self._fault(
                f"detector {self.name!r} failed: {describe_exception(e)} (plugin '{self.plugin_id}', {op})"
            ) from None

    @property
    def tags(self) -> list[str]:
        return self._call("tags", lambda: [str(t) for t in self.inner.tags])

    @property
    def threshold(self) -> float:
        return self._call("threshold", lambda: float(self.inner.threshold))

    def fit(self, history: np.ndarray, tags: list[str]) -> None:
        self._call("fit", self.inner.fit, history, tags)

    def score(self, batch: np.ndarray) -> Scores:
        result = self._call("score", self.inner.score, batch)
        n = len(batch)
        try:
            ok = (
                np.shape(result.score) == (n,)
                and np.ndim(result.contributions) == 2
                and len(result.contributions) == n
            )
        except Exception:  # an object whose attributes raise is garbage too
            ok = False
        if not ok:
            raise self._fault(
                f"detector {self.name!r} failed: score() returned {type(result).__name__}, "
                f"not Scores for {n} rows (plugin '{self.plugin_id}')"
            )
        return result

    def reset(self) -> None:
        self._call("reset", self.inner.reset)

    def get_state(self) -> DetectorState:
        state = self._call("get_state", self.inner.get_state)
        if not isinstance(state, DetectorState):
            raise self._fault(
                f"detector {self.name!r} failed: get_state() returned {type(state).__name__}, "
                f"not DetectorState (plugin '{self.plugin_id}')"
            )
        return state
