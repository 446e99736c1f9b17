"""Where Vigil keeps its data and finds its bundled resources.

Data never lives inside the install or the frozen bundle: it goes to the platform's user data
folder, or wherever ``--data-dir`` / ``VIGIL_DATA_DIR`` point.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "vigil"


def resource_root() -> Path:
    """The folder holding ``device_profiles/`` and ``plugins/``.

    In a PyInstaller bundle that is the unpacked bundle (``sys._MEIPASS``); in a source or
    editable install it is the repository root, one level above the ``app`` package.
    """
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen)
    return Path(__file__).resolve().parents[2]


def device_profiles_dir() -> Path:
    return resource_root() / "device_profiles"


def builtin_plugins_dir() -> Path:
    return resource_root() / "plugins"


def default_data_dir() -> Path:
    env = os.environ.get("VIGIL_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_data_dir(cli_value: str | os.PathLike[str] | None) -> Path:
    """``--data-dir`` wins, then ``VIGIL_DATA_DIR``, then the platform default. Created if missing."""
    path = Path(cli_value).expanduser() if cli_value else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_plugins_dir() -> Path:
    env = os.environ.get("VIGIL_USER_PLUGINS_DIR")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "plugins"


def frozen_plugins_dir() -> Path | None:
    """``plugins/`` next to the frozen executable, for drop-in plugins on a packaged install."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent / "plugins"
    return None
