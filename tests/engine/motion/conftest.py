"""The motion tests measure detection, not load: shedding frames is off unless a test turns it on.

On a busy CI machine a packet can wait a while for the decoder; the
accuracy tests need every analysed picture. tests/engine/test_overload.py
and test_shedding.py check the shedding itself.
"""

from __future__ import annotations

import math

import pytest
from engine.motion import shedding


@pytest.fixture(autouse=True)
def _no_shedding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.path.name != "test_shedding.py":
        monkeypatch.setattr(shedding, "SHED_LAG", math.inf)
