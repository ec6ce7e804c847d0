"""Channels added, watched and deleted, and entry reloads, leave nothing of theirs behind in memory."""

from __future__ import annotations

import gc
import itertools
from collections import Counter

import pytest
from homeassistant.components.camera import async_get_image, async_request_stream
from homeassistant.components.stream.const import ATTR_STREAMS
from homeassistant.components.stream.const import DOMAIN as STREAM_DOMAIN
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from support import async_wait_for

from custom_components.nvr.engine.relay import placeholder

from .conftest import channel_data
from .test_channel_changes import _channel_flow

CYCLES = 4
"""Cycles between two counts: a leak of one object per cycle, or per reload (every other cycle), shows."""


def _count(prefixes: tuple[str, ...]) -> Counter[str]:
    gc.collect()
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        module = getattr(type(obj), "__module__", None)
        if isinstance(module, str) and module.startswith(prefixes):
            counts[f"{module}.{type(obj).__qualname__}"] += 1
    return counts


def _ours(hass: HomeAssistant) -> Counter[str]:
    """Live objects of the integration's own classes and of PyAV's, by class, and HA's list of streams.

    HA keeps every stream it made in that list (for its own stop) unless
    whoever stopped it takes it out: a removed camera's stream, with its
    keyframe converter's PyAV objects, stayed there for as long as HA ran.
    """
    # The "No video signal" pictures are cached by format, name and language (at most 64 kept): a cache
    # that fills as the cycles meet new formats (a stream's assumed size, then its real one) is no leak.
    with placeholder._cache_lock:
        placeholder._cache.clear()
    counts = _count(("custom_components.nvr", "engine.", "av."))
    counts["HA's list of streams"] = len(hass.data[STREAM_DOMAIN][ATTR_STREAMS])
    return counts


# HA's stream keeps a 5-minute idle timer per output after stop(): not ours.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_channel_churn_leaves_nothing_behind(hass: HomeAssistant, make_entry, recording_server) -> None:
    """A channel added, its still taken and its live view opened, deleted; the entry reloaded every other
    time (its camera watched too): the integration's and PyAV's objects stay as many. Each reload once
    left an entry's stills pool behind, and HA's stream of every removed camera that was watched kept
    the camera, and with it the channel, its recorder and the entry's index; HA's list kept the stream."""
    assert await async_setup_component(hass, "stream", {})
    entry = make_entry(channel_data("Door", recording_server.url("/h264"), motion=True))
    hass.config_entries.async_update_entry(entry, options={"segment_seconds": 600, "min_free_gb": 0})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    async def cycle(n: int) -> None:
        result = await _channel_flow(
            hass, entry.entry_id, {"source": SOURCE_USER}, name="Yard", main_url=recording_server.url("/h265")
        )
        assert result["type"] == "create_entry"
        (yard_id,) = set(entry.subentries) - {d for d, s in entry.subentries.items() if s.title == "Door"}
        yard = entry.runtime_data.channels[yard_id]
        await async_wait_for(hass, lambda: yard.channel.status().connected, 30)
        await async_get_image(hass, "camera.yard", timeout=10)
        for camera in hass.states.async_entity_ids("camera"):
            await async_request_stream(hass, camera, "hls")
        assert hass.config_entries.async_remove_subentry(entry, yard_id)
        await hass.async_block_till_done()
        assert hass.states.get("camera.yard") is None  # no state left behind
        if n % 2:
            assert await hass.config_entries.async_reload(entry.entry_id)
            await hass.async_block_till_done()

    counts = []
    for n in range(3 * CYCLES):
        if n % CYCLES == 0:
            counts.append(_ours(hass))
        await cycle(n)
    counts.append(_ours(hass))
    # Kept by design: a deleted channel's footage is listed until retention removes it.
    kept = {"custom_components.nvr.engine.recording.index.RemovedChannel"}
    series = {name: [c[name] for c in counts] for name in set().union(*counts) if name not in kept}
    # A leak grows at every count; an object that is on its way out when counted (a channel of the
    # entry just reloaded) is there once.
    grown = {name: seen for name, seen in series.items() if all(a < b for a, b in itertools.pairwise(seen))}
    assert not grown, "\n".join(f"{k}: {v}" for k, v in grown.items())
    assert await hass.config_entries.async_unload(entry.entry_id)
