"""Shared test set-up: offscreen Qt, built-in plugin packages importable by tests, and the
built-in detectors as the core's default detector catalogue."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
# at-rest keys of the tests' data folders (app.core.atrest) go to a throw-away folder, never to
# the user's config folder; subprocesses inherit it
os.environ.setdefault("VIGIL_KEY_DIR", tempfile.mkdtemp(prefix="vigil-test-keys-"))
os.environ.setdefault("VIGIL_KEYRING", "0")  # nor to a desktop's keyring

ROOT = Path(__file__).resolve().parents[1]
for plugin_dir in sorted((ROOT / "plugins").glob("*/")):
    if (plugin_dir / "plugin.toml").exists() and str(plugin_dir) not in sys.path:
        sys.path.insert(0, str(plugin_dir))


import pytest  # noqa: E402

from app.core.detection.registry import use_catalog  # noqa: E402
from app.plugin_host.builtin import builtin_catalog  # noqa: E402

# tests that score without a station find the built-in detectors through the plugin host, the
# one manifest reader (a station passes its own host)
use_catalog(builtin_catalog())


@pytest.fixture(autouse=True)
def _cheaper_scrypt_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests hash at N=2^10 (still scrypt, 1 MiB; about a fiftieth of the time):
    the suite's hundreds of in-process account additions and log-ins would otherwise cost
    minutes, and no in-process test is about the cost. The production cost (`SCRYPT_N_DEFAULT`,
    2^17) is what every subprocess test (`vigil users ...`, `vigil run`) uses, and
    tests/core/test_account_hardening.py restores it to check the rehash at log-in."""
    import app.core.users as users

    monkeypatch.setattr(users, "SCRYPT_N", 2**10)
