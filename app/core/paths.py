"""Where Vigil keeps its data and finds its bundled resources.

Data never lives inside the install or the frozen bundle: it goes to the platform's user data
folder, or wherever ``--data-dir`` / ``VIGIL_DATA_DIR`` point.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

from app.core.errors import VigilError
from app.core.private import UnsafeDataDir, secure_data_dir

APP_NAME = "vigil"


class DataDirError(VigilError):
    """The data folder cannot be used: it is a file, cannot be created, or (for a command that
    only reads) does not exist yet. The message names the folder; ``missing`` is True only in
    the last case (a reader may then go on without data, e.g. list plugins with none disabled)."""

    def __init__(self, message: str, *, missing: bool = False):
        super().__init__(message)
        self.missing = missing


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


def resolve_data_dir(cli_value: str | os.PathLike[str] | None, *, create: bool = True) -> Path:
    """``--data-dir`` wins, then ``VIGIL_DATA_DIR``, then the platform default.

    ``create=True`` (commands that record: run, train, notes, user admin) makes the folder if
    missing. ``create=False`` is for commands that only read: looking must leave no trace, so a
    missing folder is a `DataDirError` ("no Vigil data in ...") instead of a new empty folder
    that would make the next typo in ``--data-dir`` look like a fresh, empty plant.
    Raises `DataDirError` too when the path exists but is not a folder, and `UnsafeDataDir` when
    another account owns it or may write it (`secure_data_dir`: checked at every start).
    """
    path = Path(cli_value).expanduser() if cli_value else default_data_dir()
    if path.exists() and not path.is_dir():
        raise DataDirError(f"data dir {path} is not a folder")
    if not create:
        if not path.is_dir():
            raise DataDirError(f"no Vigil data in {path} (the folder does not exist; check "
                               "--data-dir / VIGIL_DATA_DIR)", missing=True)
        return secure_data_dir(path, create=False)
    try:
        return secure_data_dir(path)
    except UnsafeDataDir:
        raise
    except OSError as e:  # a parent is a file, no permission, read-only medium
        raise DataDirError(f"data dir {path}: cannot create it ({e.strerror or e})") from None


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
