"""Polling helper shared by tests (plain Python)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], object], timeout: float, step: float = 0.05) -> float:
    """Wait until predicate() is true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)
    return time.monotonic() - start


async def async_wait_for(hass: Any, predicate: Callable[[], object], timeout: float) -> float:
    """Let Home Assistant run until predicate() is true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)
        await hass.async_block_till_done()
    return time.monotonic() - start
