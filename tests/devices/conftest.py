"""Device clients against loopback peers (127.0.0.1 only)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Let the loopback device peers listen (pytest-socket from HA's harness blocks sockets)."""
