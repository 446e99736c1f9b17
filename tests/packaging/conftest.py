"""Builds the PyInstaller bundle once per test session, with the real build command.

The build goes to a temporary folder (``VIGIL_BUILD_DIR`` / ``VIGIL_DIST_DIR``), so the suite
never overwrites a developer's ``packaging/dist`` and two sessions never share a half-built
folder. A build that cannot work on this machine FAILS the tests with PyInstaller's own last
lines: a packaged product that does not build is a defect, not a reason to skip.

The build takes minutes of mostly one core, and the tests before these ones leave the other
core idle much of the time: so when the session has collected a test that needs the bundle, the
build starts in the background as soon as collection ends, at a lower CPU priority (``nice``)
so the tests running meanwhile keep theirs, and the ``bundle`` fixture waits for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "packaging" / "build.sh"
#: ceiling for one build; a build here takes ~1-2.5 min depending on the machine's load
BUILD_TIMEOUT_S = 600
#: ceiling for one run of the frozen executable
RUN_TIMEOUT_S = 120


@dataclass(frozen=True)
class Bundle:
    """A built onedir bundle: its folder and the frozen executable in it."""

    folder: Path
    exe: Path

    @property
    def internal(self) -> Path:
        """``sys._MEIPASS`` of the frozen app: where libraries and built-in resources live."""
        return self.folder / "_internal"

    @property
    def dropin_dir(self) -> Path:
        """``plugins/`` next to the executable (``app.core.paths.frozen_plugins_dir``)."""
        return self.folder / "plugins"


def frozen_env(**extra: str) -> dict[str, str]:
    """Environment for the frozen app: offscreen Qt, and nothing from this venv leaking in.

    PYTHONPATH/PYTHONHOME are dropped so the bundle must stand on its own; the user plugins
    folder is pointed at an empty place so a developer's own plugins cannot change results.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(extra)
    return env


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class _Build:
    """One run of ``packaging/build.sh`` into its own temporary folder, in the background."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="vigil-bundle-"))
        env = dict(os.environ)
        env.update(
            PYTHON=sys.executable,
            VIGIL_BUILD_DIR=str(self.base / "build"),
            VIGIL_DIST_DIR=str(self.base / "dist"),
            # PyInstaller's own cache too: build.sh passes --clean, which empties the cache
            # folder, and must not pull it from under a developer's build running at the same time
            PYINSTALLER_CONFIG_DIR=str(self.base / "pyinstaller-cache"),
        )
        self.log_path = self.base / "build.log"
        nice = ["nice", "-n", "10"] if shutil.which("nice") else []
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*nice, "bash", str(BUILD_SCRIPT)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so a stop reaches PyInstaller too
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """End a build still running (the session ended before needing it); remove its folder."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        shutil.rmtree(self.base, ignore_errors=True)


_BUILD = pytest.StashKey[_Build]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the build now if a selected test needs it (and no existing bundle is given)."""
    if session.config.option.collectonly or os.environ.get("VIGIL_TEST_BUNDLE") or not shutil.which("bash"):
        return
    if any("bundle" in getattr(item, "fixturenames", ()) for item in session.items):
        session.config.stash[_BUILD] = _Build()


def pytest_unconfigure(config: pytest.Config) -> None:
    build = config.stash.get(_BUILD, None)
    if build is not None:
        build.stop()


@pytest.fixture(scope="session")
def bundle(request: pytest.FixtureRequest) -> Iterator[Bundle]:
    """Waits for the session's run of ``packaging/build.sh`` (started after collection).

    ``VIGIL_TEST_BUNDLE=path/to/dist/vigil`` checks an existing build instead (a developer
    re-running the checks on the build they just made); the suite and CI leave it unset.
    """
    given = os.environ.get("VIGIL_TEST_BUNDLE")
    if given:
        folder = Path(given).resolve()
        if not (folder / "vigil").is_file():
            pytest.fail(f"VIGIL_TEST_BUNDLE={given}: no vigil executable in that folder")
        yield Bundle(folder=folder, exe=folder / "vigil")
        return
    if shutil.which("bash") is None:
        pytest.fail("packaging: bash is needed to run packaging/build.sh")
    build = request.config.stash.get(_BUILD, None)
    if build is None:  # not seen at collection (e.g. requested dynamically): build now
        build = request.config.stash[_BUILD] = _Build()
    try:
        returncode = build.proc.wait(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"packaging/build.sh did not finish within {BUILD_TIMEOUT_S} s:\n{tail(build.output())}")
    if returncode != 0:
        pytest.fail(
            f"packaging/build.sh failed (exit {returncode}); its last lines:\n{tail(build.output())}"
        )
    folder = build.base / "dist" / "vigil"
    exe = folder / ("vigil.exe" if sys.platform == "win32" else "vigil")
    if not exe.is_file():
        pytest.fail(f"packaging/build.sh succeeded but made no executable at {exe}:\n{tail(build.output())}")
    yield Bundle(folder=folder, exe=exe)


@pytest.fixture
def run_frozen(bundle: Bundle, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs the frozen executable with arguments; returns the finished process (never raises
    on a non-zero exit, so tests can assert on the code and print the output)."""
    user_plugins = tmp_path / "no-user-plugins"
    data_dir = tmp_path / "default-data"

    def run(
        *args: str, timeout: float = RUN_TIMEOUT_S, **env: str | None
    ) -> subprocess.CompletedProcess[str]:
        """``env`` adds variables; a value of None removes one (e.g. ``VIGIL_DATA_DIR=None``)."""
        full = frozen_env(VIGIL_USER_PLUGINS_DIR=str(user_plugins), VIGIL_DATA_DIR=str(data_dir))
        for key, value in env.items():
            if value is None:
                full.pop(key, None)
            else:
                full[key] = value
        return subprocess.run(
            [str(bundle.exe), *args], cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=full
        )

    return run
