"""Stills within their time budget, for the camera entities and the still view.

The fresh still is made on the NVR's stills threads; when it is not ready
within the deadline (an overloaded host), the newest still served before
answers, or the "No video signal" picture, and the fresh one is kept for the
next call (see ``engine/stills/keeper.py``).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from weakref import WeakKeyDictionary

from homeassistant.core import HomeAssistant

from .engine import STILL_DEADLINE, Channel, Served, StillKeeper, no_signal_jpeg, served

_LOGGER = logging.getLogger(__name__)

_KEEPERS = "nvr_still_keepers"


def still_keeper(hass: HomeAssistant, channel: Channel) -> StillKeeper:
    """The keeper of a channel's stills (one per channel object, shared by its cameras and the still view)."""
    keepers: WeakKeyDictionary[Channel, StillKeeper] = hass.data.setdefault(_KEEPERS, WeakKeyDictionary())
    keeper = keepers.get(channel)
    if keeper is None:
        keeper = keepers[channel] = StillKeeper(channel.config.name)
    return keeper


async def async_still(
    hass: HomeAssistant,
    pool: Executor,
    channel: Channel,
    role: str,
    width: int | None = None,
    height: int | None = None,
) -> Served:
    """A still of a stream within the budget, never an exception (see ``engine.stills.keeper``).

    The fresh still is made on the NVR's stills threads; when it is not
    ready within ``STILL_DEADLINE`` (an overloaded host) the newest still served
    before answers, or the "No video signal" picture, and the fresh one is
    kept for the next call.
    """
    keeper = still_keeper(hass, channel)

    def _fresh() -> Served:
        still = channel.still(role, width, height)
        return served(still.jpeg, still.arrival, channel.status(role).connected)

    try:
        future = hass.loop.run_in_executor(pool, _fresh)
    except RuntimeError:  # the stills threads are shut down (unloading)
        future = None
    if future is not None:
        try:
            return keeper.remember(role, await asyncio.wait_for(asyncio.shield(future), STILL_DEADLINE))
        except TimeoutError:
            future.add_done_callback(lambda done: _keep_late(keeper, role, done))
        except Exception as err:  # PyAV errors: never into HA's camera proxy
            _LOGGER.debug("Still of %s failed: %s", channel.config.name, err)
    earlier = keeper.last(role)
    if earlier is not None:
        return keeper.fallback(role, lambda: b"")
    info = channel.status(role).info
    size = (info.width, info.height) if info and info.width and info.height else None
    jpeg = await hass.async_add_executor_job(no_signal_jpeg, channel.config.name, width, height, size)
    return keeper.fallback(role, lambda: jpeg)


def _keep_late(keeper: StillKeeper, role: str, done: asyncio.Future) -> None:
    if not done.cancelled() and done.exception() is None:
        keeper.remember(role, done.result())
