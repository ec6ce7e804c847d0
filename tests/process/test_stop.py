"""Stopping promptly: 16 recording channels with motion on and live viewers, in a real ``hass``.

The product promise is a wall-clock bound: an entry reload, a channel delete
and Home Assistant's own stop (SIGTERM) each finish within
:data:`PROMISE` seconds, whatever the cameras and viewers are doing. The
tests run in this order on the package's ``nvr16``; the last one restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.browser.harness import Hass

from .conftest import index_db, wait_for, wait_recorded_past, wait_recording
from .fleet import Fleet, decodes_to_end, probe, segment_files
from .probes import ViewerThread, proc_figures

PROMISE = 10.0
"""Seconds a stop, reload or delete may take."""


@pytest.fixture
def viewers(nvr16: Hass) -> Iterator[ViewerThread]:
    """HLS through HA's camera stream on four cameras, MJPEG on two, stills polled on four more."""
    thread = ViewerThread(nvr16.base, nvr16.token)
    cameras = [c["camera"] for c in nvr16.channels]
    for camera in cameras[:4]:
        thread.open("hls", camera)
    for camera in cameras[4:6]:
        thread.open("mjpeg", camera)
    for camera in cameras[6:10]:
        thread.open("still", camera)
    # Every kind of viewer gets its first answer before the test goes on.
    wait_for(lambda: {"hls", "mjpeg", "still"} <= thread.viewers.fetched.keys(), 90, "viewers served", nvr16)
    yield thread
    thread.close()


def channel_removed(index: Path, channel: str) -> bool:
    with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True, timeout=30)) as db:
        row = db.execute("SELECT removed FROM channels WHERE id = ?", (channel,)).fetchone()
    return row is not None and row[0] is not None


def _timed(coro_factory) -> tuple[float, object]:
    began = time.monotonic()
    result = asyncio.run(coro_factory())
    return time.monotonic() - began, result


def test_reload_entry_is_prompt(nvr16: Hass, viewers: ViewerThread) -> None:
    """An entry reload (REST, as the UI's Reload) returns within the promise; every channel records again."""

    async def reload() -> object:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            return await nvr16.api(session).post(f"/api/config/config_entries/entry/{nvr16.entry_id}/reload")

    began = time.time()
    seconds, answer = _timed(reload)
    assert answer == {"require_restart": False}, answer
    print(f"reload: {seconds:.2f} s")
    assert seconds <= PROMISE, f"reload took {seconds:.1f} s\n{nvr16.log_tail()}"
    wait_recording(nvr16, began + seconds)


def test_delete_channel_is_prompt(nvr16: Hass, viewers: ViewerThread) -> None:
    """Deleting a channel someone watches (WS, as the UI) returns within the promise; the others go on."""
    victim = nvr16.channels[0]  # it has an HLS viewer
    sid = victim["subentry_id"]
    began = time.time()
    clock = time.monotonic()
    nvr16.ws("config_entries/subentries/delete", entry_id=nvr16.entry_id, subentry_id=sid)
    answered = time.monotonic() - clock
    # Done once the NVR has stopped the channel and marked its footage as a deleted channel's.
    wait_for(lambda: channel_removed(index_db(nvr16), sid), 60, "the channel stopped and marked deleted", nvr16)
    seconds = time.monotonic() - clock
    print(f"delete: {seconds:.2f} s (answered after {answered:.2f} s)")
    assert seconds <= PROMISE, f"delete took {seconds:.1f} s\n{nvr16.log_tail()}"
    subentries = nvr16.ws("config_entries/subentries/list", entry_id=nvr16.entry_id)
    assert sid not in {s["subentry_id"] for s in subentries}
    nvr16.channels = [c for c in nvr16.channels if c is not victim]
    wait_recorded_past(nvr16, began)  # the other channels went on
    nvr16.deleted = [victim["subentry_id"]]  # type: ignore[attr-defined]


def test_sigterm_is_prompt_and_leaves_files_intact(nvr16: Hass, fleet: Fleet, viewers: ViewerThread) -> None:
    """SIGTERM: hass exits within the promise, each channel's last file reads to its end; after a restart
    the deleted channel stays deleted and every other one records again."""
    # A viewer who opens a camera just now: its first playlist request waits for the stream's first
    # segments when the signal comes (HA's stop did not wake such requests: its web server held the
    # exit for 2 x 10 s).
    cold = nvr16.channels[10]["camera"]
    viewers.open("hls", cold)
    wait_for(lambda: cold in viewers.viewers.stream_urls, 60, "a new HLS viewer's stream URL", nvr16)
    figures = proc_figures(nvr16.pid)
    seconds = nvr16.terminate(timeout=60)
    print(f"SIGTERM: {seconds:.2f} s (before: {figures})")
    assert seconds <= PROMISE, f"hass took {seconds:.1f} s to exit ({figures})\n{nvr16.exit_report()}"
    kinds_of = {c.name: c.kind for c in fleet.cameras}
    problems = []
    for channel in nvr16.channels:
        files = segment_files(nvr16.config, channel["subentry_id"])
        assert files, f"{channel['title']} recorded nothing"
        info = probe(files[-1])
        kinds = [s["codec_type"] for s in info["streams"]]
        if "video" not in kinds or float(info["format"].get("duration", 0)) <= 0:
            problems.append(f"{channel['title']}: {files[-1].name} {info}")
        if kinds_of[channel["title"]] == "h264+g711":  # their audio track ends cleanly too
            if "audio" not in kinds:
                problems.append(f"{channel['title']}: no audio in {files[-1].name}")
            if errors := decodes_to_end(files[-1]):
                problems.append(f"{channel['title']}: {files[-1].name}: {errors}")
    assert not problems, "\n".join(problems)

    deleted = getattr(nvr16, "deleted", [])
    began = time.time()
    nvr16.start()
    asyncio.run(nvr16.async_wait_ready(channels=len(nvr16.channels)))
    subentries = nvr16.ws("config_entries/subentries/list", entry_id=nvr16.entry_id)
    assert not set(deleted) & {s["subentry_id"] for s in subentries}, "a deleted channel came back"
    assert len([s for s in subentries if s["subentry_type"] == "channel"]) == len(nvr16.channels)
    wait_recording(nvr16, began)
    assert index_db(nvr16).exists()
