"""PyAV's Python log hook stays off while the NVR runs (engine/libav.py says why it froze HA)."""

from __future__ import annotations

import av.logging
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.nvr.const import DOMAIN


@pytest.fixture(autouse=True)
def restore_pyav_logging():
    """Other tests' HA runs set the level too: start from PyAV's default and leave it so."""
    av.logging.set_level(None)
    yield
    av.logging.set_level(None)


async def test_hook_is_off_after_stream_sets_up_and_after_logging_changes(hass: HomeAssistant) -> None:
    """Stream turns the hook on (FATAL) as it sets up and on a logger change; the NVR turns it off again."""
    assert await async_setup_component(hass, "stream", {})
    await hass.async_block_till_done()
    assert av.logging.get_level() == av.logging.FATAL  # what stream does, before the NVR loads

    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert av.logging.get_level() is None

    # Debug logging for stream: its listener turns the hook on at VERBOSE; ours runs after it.
    assert await async_setup_component(hass, "logger", {})
    await hass.services.async_call("logger", "set_level", {"homeassistant.components.stream": "debug"}, blocking=True)
    await hass.async_block_till_done()
    assert av.logging.get_level() is None

    await hass.services.async_call("logger", "set_level", {"homeassistant.components.stream": "warning"}, blocking=True)
    await hass.async_block_till_done()
    assert av.logging.get_level() is None


async def test_hook_is_off_when_stream_sets_up_after_the_nvr(hass: HomeAssistant) -> None:
    """A component that loads later (stream set up by another integration) cannot turn it back on for good."""
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert await async_setup_component(hass, "stream", {})
    await hass.async_block_till_done()
    assert av.logging.get_level() is None
