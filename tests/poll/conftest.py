"""Fixtures for the polling tests: a background loop for real Modbus peers."""

from __future__ import annotations

import pytest

from poll.servers import LoopThread


@pytest.fixture
def peers():
    lt = LoopThread()
    yield lt
    lt.close()
