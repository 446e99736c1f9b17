"""UI test set-up: a real Core on the real demo simulator (Modbus TCP on 127.0.0.1), a logged-in
operator, the main window, and a Qt message handler that fails any test during which Qt warned.

Qt reports many real problems (a bad signal connection, painting on a dead widget, a style sheet
typo) only as a warning on stderr; failing on them keeps such faults from hiding in a green run.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6.QtCore import QObject, QtMsgType, qInstallMessageHandler

from app.ui.bridge import CoreBridge
from tests.ui.bridge_station import NotifyingStation

#: messages the offscreen platform plugin prints for things it simply cannot do (there is no
#: window manager); they say nothing about our code.
BENIGN = ("This plugin does not support propagateSizeHints()",)

OPERATOR = ("olga", "olga-password-1")


@pytest.fixture(autouse=True)
def fail_on_qt_warnings() -> Iterator[list[str]]:
    recorded: list[str] = []

    def handler(mode: QtMsgType, context: Any, message: str) -> None:
        serious = mode in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
        if serious and not message.startswith(BENIGN):
            recorded.append(f"{mode.name}: {message}")
        if previous is not None:
            previous(mode, context, message)

    # The same garbage policy as run_gui (app.ui.app.settle_memory): collect only on the GUI
    # thread. Left to chance, the collector runs in whatever thread allocates (seen: the plugin
    # host's import thread) and destroys Qt objects there, which Qt reports as
    # "Timers cannot be started from another thread".
    from pyqtgraph.util.garbage_collector import GarbageCollector

    gc.collect()
    collector = GarbageCollector(interval=0.5)
    previous = qInstallMessageHandler(handler)
    yield recorded
    collector.timer.stop()
    gc.collect()
    gc.enable()
    qInstallMessageHandler(previous)
    if recorded:
        pytest.fail("Qt warned during the test:\n" + "\n".join(recorded))


def start_core(data_dir: Path, **kw: Any) -> Any:
    from app.core.users import Role
    from app.station import Core

    core = Core(data_dir, **kw)
    core.start()
    admin = ("admin", "admin-password-1")
    core.users.add(None, admin[0], admin[1], Role.ADMINISTRATOR)
    session = core.login(*admin)
    core.users.add(session, OPERATOR[0], OPERATOR[1], Role.OPERATOR)
    core.login(*OPERATOR)
    return core


@pytest.fixture
def core(tmp_path: Path) -> Iterator[Any]:
    """The demo plant at its own poll intervals (pump/tank 500 ms, meter/vitals 1000 ms)."""
    c = start_core(tmp_path / "data")
    yield c
    c.stop()


@pytest.fixture
def window(qtbot: Any, core: Any) -> Iterator[Any]:
    from app.station import LocalStation
    from app.ui.main_window import MainWindow

    win = MainWindow(LocalStation(core))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    gc.collect()


def wait_for_good(qtbot: Any, win: Any, tag: str, timeout_ms: int = 5000) -> None:
    from app.core.model import Quality

    def good() -> None:
        row = win.tag_model.row_of(tag)
        assert row is not None and row.quality is Quality.GOOD

    qtbot.waitUntil(good, timeout=timeout_ms)


def sim_values(core: Any) -> dict[str, dict[str, Any]]:
    return core.simulator.values()


def now() -> float:
    return time.time()


@pytest.fixture
def station() -> NotifyingStation:
    """A bridge's station over a real snapshot buffer (tests/ui/bridge_station.py)."""
    return NotifyingStation()


@pytest.fixture
def bridge(qtbot: Any, station: NotifyingStation) -> Iterator[CoreBridge]:
    """A started `CoreBridge` on ``station``, stopped afterwards."""
    parent = QObject()
    b = CoreBridge(station, parent)  # type: ignore[arg-type]
    b.start()
    yield b
    b.stop()
