"""Channels added, watched and deleted, and entry reloads, leave nothing of theirs behind in memory."""

from __future__ import annotations

import gc
import itertools
from collections import Counter

from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from support import async_wait_for

from .conftest import channel_data
from .test_channel_changes import _channel_flow

CYCLES = 4
"""Cycles between two counts: a leak of one object per cycle, or per reload (every other cycle), shows."""


def _ours() -> Counter[str]:
    """Live objects of the integration's own classes and of PyAV's, by class."""
    gc.collect()
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        module = getattr(type(obj), "__module__", None)
        if not isinstance(module, str):
            continue
        if module.startswith(("custom_components.nvr", "engine.", "av.")):
            counts[f"{module}.{type(obj).__qualname__}"] += 1
    return counts


async def test_channel_churn_leaves_nothing_behind(hass: HomeAssistant, make_entry, recording_server) -> None:
    """A channel added, its still taken, deleted; the entry reloaded every other time: the integration's
    and PyAV's objects stay as many (each reload once left an entry's stills pool behind)."""
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
        assert hass.config_entries.async_remove_subentry(entry, yard_id)
        await hass.async_block_till_done()
        if n % 2:
            assert await hass.config_entries.async_reload(entry.entry_id)
            await hass.async_block_till_done()

    counts = []
    for n in range(3 * CYCLES):
        if n % CYCLES == 0:
            counts.append(_ours())
        await cycle(n)
    counts.append(_ours())
    # Kept by design: a deleted channel's footage is listed until retention removes it.
    kept = {"custom_components.nvr.engine.recording.index.RemovedChannel"}
    series = {name: [c[name] for c in counts] for name in set().union(*counts) if name not in kept}
    # A leak grows at every count; an object that is on its way out when counted (a channel of the
    # entry just reloaded) is there once.
    grown = {name: seen for name, seen in series.items() if all(a < b for a, b in itertools.pairwise(seen))}
    assert not grown, grown
    assert await hass.config_entries.async_unload(entry.entry_id)
