"""Playback start-up: time to first byte and to the first decodable frame, event and hour items.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/playback.py              # about 2 minutes (records 60 s of 1080p first)
    .venv/bin/python bench/playback.py --calls 3    # quick look

It records one real 60 s file of 1080p 15 fps H.264 (4 Mbit/s, keyframe every
2 s) with the engine's recorder from a live RTSP mount (bench/common.py), then
fills one hour with 60 copies of it (index rows one minute apart), as a
continuous recording with 60 s files would be. Home Assistant (the test
harness's instance, with HA's real http and media_source) serves it; every
request is a signed URL, fetched over TCP as a player does:

* EVENT: a 30 s motion event in the middle of the hour (pre-roll 5 s,
  post-roll 10 s) - ``/api/nvr/.../event/<id>.mp4``. *Cold*: the clip cache
  is empty, so the request remuxes the clip first; *warm*: served from the
  cache.
* HOUR: the hour item - ``/api/nvr/.../hour/<epoch>.m3u8``, an HLS playlist
  over the 60 files. *Cold*: file layouts not parsed yet (the playlist
  parses 60 files' boxes); *warm*: parsed.
* BASELINE: the raw 60 s segment file served directly by HA's own local
  media view (``/media/<dir>/...``, aiohttp's FileResponse).

Time to first byte: aiohttp client, request to the first body bytes (for the
hour: the playlist). Time to first frame: PyAV opens the URL (HLS demuxer for
the playlist: playlist, init section, first media segment) and decodes the
first video frame, in a worker thread while the loop serves. Medians of
``--calls`` runs per case, the cases interleaved. One JSON line last:
``ours`` is the hour item's cold time to first frame, ``baseline`` the raw
file's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.append(str(ROOT / "tests"))

import aiohttp  # noqa: E402
import av  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402
from common import OUT, ensure_clip, free_port, live_feed, wait_until  # noqa: E402
from homeassistant import loader  # noqa: E402
from homeassistant.components.http.auth import async_sign_path  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_test_home_assistant  # noqa: E402

from custom_components.nvr.engine import (  # noqa: E402
    Archive,
    Channel,
    ChannelConfig,
    Event,
    Recorder,
    RecorderSettings,
    StreamSource,
)
from custom_components.nvr.engine.playback.boxes import LayoutCache  # noqa: E402
from custom_components.nvr.engine.recording.layout import segment_relpath  # noqa: E402
from custom_components.nvr.views import playback_state  # noqa: E402

WIDTH, HEIGHT, FPS, GOP_FRAMES = 1920, 1080, 15, 30
CLIP_SECONDS = 20
BITRATE = "4M"
CHANNEL = "benchcam"
HOUR_START = 1_795_564_800  # 2026-11-24 00:00 UTC


def clip_args(path: Path) -> list[str]:
    """1080p 15 fps H.264, as bench/record.py encodes it."""
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}", "-vf", "noise=alls=12:allf=t",
        "-t", str(CLIP_SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
        "-b:v", BITRATE, "-maxrate", BITRATE, "-bufsize", BITRATE, "-x264-params", "repeat-headers=1",
        "-g", str(GOP_FRAMES), "-keyint_min", str(GOP_FRAMES), "-sc_threshold", "0",
        "-bf", "0", "-pix_fmt", "yuv420p", "-threads", "2", "-f", "mpegts", str(path),
    ]  # fmt: skip


def record_minute(root: Path) -> Path:
    """One complete 60 s recording file (cached under bench/out)."""
    cached = OUT / "playback_minute_1080p.mp4"
    if cached.exists():
        print(f"recording: {cached.relative_to(ROOT)} (cached)")
        return cached
    clip = ensure_clip("clip_1080p15", clip_args)
    work = root / "record"
    with live_feed(clip) as feed:
        archive = Archive(work)
        archive.recover()
        recorder = Recorder("rec", work, archive.index, RecorderSettings(segment_seconds=60))
        recorder.start()
        channel = Channel(ChannelConfig("rec", "Bench", StreamSource(feed.url)), recorder=recorder)
        channel.start()
        print("recording 60 s of 1080p from the live mount ...", flush=True)
        try:
            wait_until(
                lambda: any(s.complete and s.duration > 55 for s in archive.index.segments()), 120, "a 60 s file"
            )
        finally:
            channel.stop(5.0)
            recorder.stop(10.0)
        segment = next(s for s in archive.index.segments() if s.complete and s.duration > 55)
        archive.close()
    shutil.copy(work / segment.path, cached)
    return cached


def build_hour(storage: Path, minute: Path) -> None:
    """60 one-minute files in one hour, in the recorder's layout, and a 30 s event."""
    archive = Archive(storage)
    for n in range(60):
        start = HOUR_START + n * 60.0
        rel = segment_relpath(CHANNEL, start)
        (storage / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(minute, storage / rel)
        archive.index.add_segment(CHANNEL, start, rel, start + 60.0, minute.stat().st_size, complete=True)
    archive.index.add_event(Event("benchevent", CHANNEL, "motion", HOUR_START + 1800.5, HOUR_START + 1830.5))
    archive.close()


def first_frame(url: str, hls: bool) -> float:
    """Seconds until PyAV has decoded the first video frame of ``url``; blocking."""
    began = time.perf_counter()
    options = {"allowed_extensions": "ALL"} if hls else {}
    with av.open(url, options=options, timeout=30) as container:
        for frame in container.decode(video=0):
            assert frame.width == WIDTH
            return time.perf_counter() - began
    raise RuntimeError(f"no frame from {url}")


async def first_byte(session: aiohttp.ClientSession, url: str) -> float:
    """Seconds until the first body bytes of ``url`` arrive."""
    began = time.perf_counter()
    async with session.get(url) as response:
        assert response.status == 200, (url, response.status)
        await response.content.readany()
        return time.perf_counter() - began


async def run(args) -> dict:
    work = Path(tempfile.mkdtemp(prefix="nvr-bench-playback-", dir=OUT))
    try:
        minute = await asyncio.to_thread(record_minute, work)
        storage = work / "nvr"
        await asyncio.to_thread(build_hour, storage, minute)
        async with async_test_home_assistant() as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            hass.config.media_dirs = {"raw": str(storage)}
            assert await async_setup_component(hass, "http", {"http": {"server_port": free_port()}})
            assert await async_setup_component(hass, "media_source", {})
            entry = MockConfigEntry(
                domain="nvr",
                title="Bench NVR",
                data={"name": "Bench NVR", "storage_path": str(storage)},
                options={"retain_days": 3650, "event_retain_days": 3650, "min_free_gb": 0},
                subentries_data=[
                    {
                        "data": {
                            "name": "Cam",
                            "main_url": "rtsp://127.0.0.1:9/cam",
                            "sub_url": "",
                            "username": "",
                            "password": "",
                            "rtsp_transport": "tcp",
                            "recording_mode": "off",
                            "pre_roll": 5,
                            "post_roll": 10,
                        },
                        "subentry_type": "channel",
                        "title": "Cam",
                        "unique_id": "cam",
                        "subentry_id": CHANNEL,
                    }
                ],
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            server = TestServer(hass.http.app, host="127.0.0.1", port=free_port())
            await server.start_server()
            state = playback_state(hass, entry)
            archive = entry.runtime_data.archive
            raw_rel = archive.index.segments(CHANNEL)[30].path
            paths = {
                "event": f"/api/nvr/{entry.entry_id}/{CHANNEL}/event/benchevent.mp4",
                "hour": f"/api/nvr/{entry.entry_id}/{CHANNEL}/hour/{HOUR_START}.m3u8",
                "raw": f"/media/raw/{raw_rel}",
            }

            def url(name: str) -> str:
                return str(server.make_url(async_sign_path(hass, paths[name], timedelta(minutes=10))))

            def reset(name: str) -> None:
                if name == "event":
                    state.clips.clear()
                if name == "hour":
                    state.layouts = LayoutCache()

            results: dict[str, list[float]] = {}
            async with aiohttp.ClientSession() as session:
                for _ in range(args.calls):
                    for name in ("raw", "event", "hour"):
                        for temperature in ("cold", "warm"):
                            if temperature == "cold":
                                reset(name)
                            key = f"{name}_{temperature}"
                            results.setdefault(f"{key}_ttfb", []).append(await first_byte(session, url(name)))
                            if temperature == "cold":
                                reset(name)
                            ttff = await asyncio.to_thread(first_frame, url(name), name == "hour")
                            results.setdefault(f"{key}_ttff", []).append(ttff)
                async with session.get(url("hour")) as response:
                    playlist = await response.read()
            info = {"clip_cache_bytes": state.clips.usage(), "playlist_bytes": len(playlist)}
            await server.close()
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
            await hass.async_stop(force=True)
        return {"results": results, "info": info}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=7)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}  PyAV {av.__version__}")
    out = asyncio.run(run(args))
    med = {k: statistics.median(v) * 1000 for k, v in out["results"].items()}
    for key in sorted(med):
        print(f"{key:18} p50 {med[key]:8.1f} ms  (n={len(out['results'][key])})")
    print(f"clip cache after the run: {out['info']['clip_cache_bytes'] / 1e6:.1f} MB")
    print(f"hour playlist: {out['info']['playlist_bytes'] / 1e3:.1f} kB")
    print(f"load average at end: {os.getloadavg()}")
    ours = med["hour_cold_ttff"]
    baseline = med["raw_cold_ttff"]
    print(
        json.dumps(
            {
                "metric": "playback_time_to_first_frame_ms_p50",
                "ours": round(ours, 1),
                "baseline": round(baseline, 1),
                "ratio": round(ours / baseline, 2),
                **{k: round(v, 1) for k, v in sorted(med.items())},
                "playlist_kb": round(out["info"]["playlist_bytes"] / 1e3, 1),
                "calls": args.calls,
                "pyav": av.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
