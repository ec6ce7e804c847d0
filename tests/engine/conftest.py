"""Engine tests import the engine as a top-level package.

The engine is plain Python; importing it through ``custom_components.nvr``
would run the integration's ``__init__`` and need Home Assistant. This way the
same tests run in a venv with only PyAV, numpy and Pillow (PyAV 19 in CI).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ENGINE_PARENT = Path(__file__).resolve().parents[2] / "custom_components" / "nvr"
if str(ENGINE_PARENT) not in sys.path:
    sys.path.insert(0, str(ENGINE_PARENT))


@pytest.fixture
def loopback_sockets(request: pytest.FixtureRequest) -> None:
    """Let the test open its own sockets where pytest-socket (from HA's harness) blocks them.

    The engine venv (PyAV 19) has no HA harness and nothing to unblock.
    """
    if request.config.pluginmanager.has_plugin("socket"):
        request.getfixturevalue("socket_enabled")
