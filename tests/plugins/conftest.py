"""Plugin-author fixtures for the plugin-host tests, and a per-test unique name."""

from __future__ import annotations

import pytest

from app.plugin_testing import modbus_server, plugin_host, plugin_journal  # noqa: F401


@pytest.fixture
def unique() -> str:
    """A name suffix unique per test, so packages written by different tests never collide in
    ``sys.modules`` (the host refuses a package name already taken)."""
    import uuid

    return uuid.uuid4().hex[:8]
