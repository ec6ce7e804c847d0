"""Stills within their time budget, for the camera entities and the still view.

The fresh still is made on the NVR's stills threads; when it is not ready
within the deadline (an overloaded host), the newest still served before at
the same size answers, or the "No video signal" picture, and the fresh one
is kept for the next call (see ``engine/stills/keeper.py``).

One still is made at a time per stream and size: while one is being made
(late, on an overloaded host), later calls wait for that one (each within its
own deadline) instead of queueing another, so MJPEG viewers and polling cards
never grow the stills threads' queue.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from homeassistant.core import HomeAssistant

from .engine import STILL_DEADLINE, Channel, Served, StillKeeper, no_signal_jpeg, served

_LOGGER = logging.getLogger(__name__)

_STILLS = "nvr_still_keepers"

_Key = tuple[str, tuple[int | None, int | None]]
"""A stream's role and the size its still was asked for."""


@dataclass(slots=True)
class _Stills:
    """A channel's kept stills and the stills being made (event loop only)."""

    keeper: StillKeeper
    making: dict[_Key, asyncio.Future[Served]] = field(default_factory=dict)


def _stills(hass: HomeAssistant, channel: Channel) -> _Stills:
    stills: WeakKeyDictionary[Channel, _Stills] = hass.data.setdefault(_STILLS, WeakKeyDictionary())
    kept = stills.get(channel)
    if kept is None:
        kept = stills[channel] = _Stills(StillKeeper(channel.config.name))
    return kept


def still_keeper(hass: HomeAssistant, channel: Channel) -> StillKeeper:
    """The keeper of a channel's stills (one per channel object, shared by its cameras and the still view)."""
    return _stills(hass, channel).keeper


async def async_still(
    hass: HomeAssistant,
    pool: Executor,
    channel: Channel,
    role: str,
    width: int | None = None,
    height: int | None = None,
) -> Served:
    """A still of a stream within the budget, never an exception (see ``engine.stills.keeper``).

    The fresh still is made on the NVR's stills threads (or the one being
    made for this stream and size is waited for); when it is not ready
    within ``STILL_DEADLINE`` (an overloaded host) the newest still served
    before at this size answers, or the "No video signal" picture, and the
    fresh one is kept for the next call.
    """
    stills = _stills(hass, channel)
    keeper = stills.keeper
    size = (width, height)
    key = (role, size)

    def _fresh() -> Served:
        still = channel.still(role, width, height)
        return served(still.jpeg, still.arrival, channel.status(role).connected)

    future = stills.making.get(key)
    if future is None:
        try:
            future = hass.loop.run_in_executor(pool, _fresh)
        except RuntimeError:  # the stills threads are shut down (unloading)
            future = None
        else:
            stills.making[key] = future
            future.add_done_callback(lambda done: _made(stills, key, done))
    if future is not None:
        try:
            return keeper.remember(role, await asyncio.wait_for(asyncio.shield(future), STILL_DEADLINE), size)
        except TimeoutError:
            pass  # kept when it is made (_made)
        except asyncio.CancelledError:
            if not future.cancelled():
                raise  # this call was cancelled, not the still
        except Exception as err:  # PyAV errors: never into HA's camera proxy
            _LOGGER.debug("Still of %s failed: %s", channel.config.name, err)
    if keeper.last(role, size) is not None:
        return keeper.fallback(role, lambda: b"", size)
    info = channel.status(role).info
    own = (info.width, info.height) if info and info.width and info.height else None
    jpeg = await hass.async_add_executor_job(no_signal_jpeg, channel.config.name, width, height, own)
    return keeper.fallback(role, lambda: jpeg, size)


def _made(stills: _Stills, key: _Key, done: asyncio.Future[Served]) -> None:
    """A still was made (in time or late): the next call makes a new one, and this one is kept."""
    if stills.making.get(key) is done:
        del stills.making[key]
    if not done.cancelled() and done.exception() is None:
        role, size = key
        stills.keeper.remember(role, done.result(), size)
