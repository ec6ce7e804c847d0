"""Shared by the playback tests: footage recorded once from the RTSP peer, and an NVR entry over it."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import time
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from PIL import Image
from pytest_homeassistant_custom_component.common import MockConfigEntry
from support import wait_for

from custom_components.nvr.engine import (
    Archive,
    Channel,
    ChannelConfig,
    Event,
    Recorder,
    RecorderSettings,
    StreamSource,
)

from .conftest import channel_data, nvr_entry

CHANNEL = "01JPLAYBACKCHANNEL00000001"
"""The channel's subentry id (= engine channel id); fixed so footage can be recorded before HA starts."""
MOTION_ID = "motionevent0001"
MANUAL_ID = "manualevent0001"
USER = "viewer"
PASSWORD = "hunter2-secret"


def record_footage(url: str, root: Path, seconds: float = 7.0) -> Path:
    """Record ``url`` into ``root`` (2 s files) with the engine; add a motion and a manual event."""
    archive = Archive(root)
    archive.recover()
    recorder = Recorder(CHANNEL, root, archive.index, RecorderSettings(segment_seconds=2))
    recorder.start()
    channel = Channel(ChannelConfig(CHANNEL, "Door", StreamSource(url)), recorder=recorder)
    channel.start()
    try:
        wait_for(lambda: recorder.status.recording, 15)
        time.sleep(seconds)
    finally:
        channel.stop(5.0)
        assert recorder.stop(10.0)
    segments = [s for s in archive.index.segments(CHANNEL) if s.complete and s.end > s.start]
    assert len(segments) >= 3, segments
    first, last = segments[0].start, segments[-1].end
    thumb = f"{CHANNEL}/events/{time.strftime('%Y-%m-%d', time.gmtime(first))}/{MOTION_ID}.jpg"
    (root / thumb).parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 30, 30)).save(buffer, "JPEG")
    (root / thumb).write_bytes(buffer.getvalue())
    archive.index.add_event(Event(MANUAL_ID, CHANNEL, "manual", first + 1.0, first + 2.0))
    archive.index.add_event(Event(MOTION_ID, CHANNEL, "motion", last - 2.5, last - 1.5, 0.8, thumb))
    archive.close()
    return root


def copy_footage(footage: Path, storage: Path) -> Path:
    """A private copy of the recorded storage folder."""
    shutil.copytree(footage, storage)
    return storage


async def setup_playback_entry(
    hass: HomeAssistant, storage: Path, url: str, pre_roll: int = 1, post_roll: int = 1, **extra
) -> MockConfigEntry:
    """An NVR over ``storage`` with the one channel (recording off: the footage stays as it is)."""
    assert await async_setup_component(hass, "media_source", {})
    data = {
        **channel_data("Door", url, username=USER, password=PASSWORD),
        "recording_mode": "off",
        "pre_roll": pre_roll,
        "post_roll": post_roll,
        **extra,
    }
    entry = nvr_entry(hass, storage, data, subentry_ids=(CHANNEL,))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def ffprobe_json(*args: str) -> dict:
    """ffprobe without blocking the loop (HA's test server keeps answering meanwhile)."""
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-of", "json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)
