"""LoadShedder: when motion detection falls back to keyframes, and when it tries every frame again."""

from __future__ import annotations

import pytest
from engine.motion import shedding
from engine.motion.shedding import LoadShedder


def test_sheds_once_and_retries_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shedding, "SHED_LAG", 1.0)
    changes: list[bool] = []
    shed = LoadShedder("test")
    shed.on_change = changes.append
    assert not shed.behind(0.5, 0.0)
    assert shed.behind(1.5, 1.0) and shed.shedding
    assert not shed.due(1.0 + shedding.RETRY_FIRST - 0.1)
    assert not shed.retry(1.0 + shedding.RETRY_FIRST - 0.1)
    now = 1.0 + shedding.RETRY_FIRST
    assert shed.retry(now) and not shed.shedding
    # Falls behind again soon after the try: the next wait is twice as long.
    assert shed.behind(3.0, now + 1)
    assert not shed.due(now + 1 + shedding.RETRY_FIRST)
    assert shed.retry(now + 1 + 2 * shedding.RETRY_FIRST)
    # Full decoding that holds for STABLE seconds: the wait is back to the first one.
    later = now + 1 + 2 * shedding.RETRY_FIRST + shedding.STABLE
    assert not shed.behind(0.1, later)
    assert shed.behind(5.0, later + 1)
    assert shed.due(later + 1 + shedding.RETRY_FIRST)
    assert changes == [True, False, True, False, True]


def test_backoff_is_capped_and_reset_starts_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shedding, "SHED_LAG", 1.0)
    shed = LoadShedder("test")
    now = 0.0
    for _ in range(10):  # every try fails at once
        assert shed.behind(2.0, now)
        now += shedding.RETRY_MAX
        assert shed.retry(now)
    assert shed.behind(2.0, now)
    assert shed.due(now + shedding.RETRY_MAX) and not shed.due(now + shedding.RETRY_MAX - 1)
    shed.reset()
    assert not shed.shedding
