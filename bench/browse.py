"""Media browser latency: every level of the NVR's tree vs HA's own local media source.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/browse.py                 # 30 days x 16 channels, 60 s files
    .venv/bin/python bench/browse.py --days 3 --channels 2 --calls 5   # quick look

A synthetic archive is built once under bench/out/ (and reused): the SQLite
index with one row per 60 s file (30 days x 16 channels = 691,200 rows) and
30 events a day per channel, plus the same files on disk as empty files in
the recorder's folder layout (``<channel>/<YYYY-MM-DD>/<HH>/<name>.mp4``), so
that the baseline browses exactly what we index.

Both sides run in one Home Assistant (the test harness's instance, HA's real
``media_source`` component) and are called through
``media_source.async_browse_media``, as the frontend's websocket command does:

* OURS: the NVR source, each level of NVR > Channel > Events / Recordings >
  Day > Hour (the files of the hour), in Europe/Berlin time.
* BASELINE: HA's local source (``media_dirs``) on the same folders: root >
  channel > day > hour folder (60 files).

Each level is timed ``--calls`` times; medians are reported. ``ours`` is the
slowest of our levels (ms), ``baseline`` the slowest of the local source's
levels. One JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.append(str(ROOT / "tests"))

from common import OUT, free_port  # noqa: E402
from homeassistant import loader  # noqa: E402
from homeassistant.components import media_source  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.nvr.engine.recording.index import RecordingIndex  # noqa: E402
from custom_components.nvr.engine.recording.layout import segment_relpath  # noqa: E402

SEGMENT = 60
TZ = "Europe/Berlin"


def build_archive(root: Path, days: int, channels: int, end: float) -> None:
    """Index rows and empty files for ``days`` x ``channels`` of 60 s files ending at ``end``."""
    done = root / ".complete"
    if done.exists():
        print(f"archive: {root.relative_to(ROOT)} (cached)")
        return
    began = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    index = RecordingIndex(root / "index.db")
    index.close()
    start = end - days * 86400
    with sqlite3.connect(root / "index.db") as db:
        for c in range(channels):
            channel = f"ch{c:02d}"
            rows = []
            for n in range(int(days * 86400 // SEGMENT)):
                t = start + n * SEGMENT
                rel = segment_relpath(channel, t)
                rows.append((channel, t, t + SEGMENT, rel, 1_000_000, 1))
            db.executemany(
                "INSERT INTO segments (channel, start, end, path, bytes, complete) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
            events = [
                (
                    f"{channel}e{n:06d}",
                    channel,
                    "motion" if n % 3 else "manual",
                    start + n * 2880 + 7,
                    start + n * 2880 + 37,
                )
                for n in range(days * 30)
            ]
            db.executemany("INSERT INTO events (id, channel, kind, start, end) VALUES (?, ?, ?, ?, ?)", events)
            made = set()
            for _channel, _t, _e, rel, _b, _c in rows:
                path = root / rel
                if path.parent not in made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    made.add(path.parent)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            print(f"  {channel}: {len(rows)} files", flush=True)
    done.touch()
    print(f"archive: built in {time.monotonic() - began:.0f} s")


async def timed(hass, media_id: str, calls: int) -> tuple[float, int]:
    """Median ms of browsing ``media_id`` and its child count."""
    samples = []
    children = 0
    for _ in range(calls):
        began = time.perf_counter()
        node = await media_source.async_browse_media(hass, media_id)
        samples.append((time.perf_counter() - began) * 1000)
        children = len(node.children or [])
    return statistics.median(samples), children


async def run(args) -> dict:
    end = datetime(2026, 11, 24, tzinfo=UTC).timestamp()
    root = OUT / f"browse-{args.days}d-{args.channels}ch"
    build_archive(root, args.days, args.channels, end)
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        await hass.config.async_set_time_zone(TZ)
        hass.config.media_dirs = {"bench": str(root)}
        assert await async_setup_component(hass, "http", {"http": {"server_port": free_port()}})
        assert await async_setup_component(hass, "media_source", {})
        entry = MockConfigEntry(
            domain="nvr",
            title="Bench NVR",
            data={"name": "Bench NVR", "storage_path": str(root)},
            options={"retain_days": 3650, "event_retain_days": 3650, "min_free_gb": 0},
            subentries_data=[
                {
                    "data": {
                        "name": f"Camera {c}",
                        "main_url": f"rtsp://127.0.0.1:9/cam{c}",
                        "sub_url": "",
                        "username": "",
                        "password": "",
                        "rtsp_transport": "tcp",
                        "recording_mode": "off",
                    },
                    "subentry_type": "channel",
                    "title": f"Camera {c}",
                    "unique_id": f"cam{c}",
                    "subentry_id": f"ch{c:02d}",
                }
                for c in range(args.channels)
            ],
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        e = entry.entry_id
        ch = f"ch{args.channels - 1:02d}"
        local_day = datetime.fromtimestamp(end - (args.days // 2) * 86400, ZoneInfo(TZ)).date()
        hours = await media_source.async_browse_media(hass, f"media-source://nvr/{e}/{ch}/day/{local_day}")
        hour_id = hours.children[12].media_content_id
        utc = datetime.fromtimestamp(int(hour_id.rsplit("/", 1)[1]), UTC)
        ours_levels = {
            "root": "media-source://nvr",
            "nvr": f"media-source://nvr/{e}",
            "channel": f"media-source://nvr/{e}/{ch}",
            "events": f"media-source://nvr/{e}/{ch}/events",
            "events_older": None,
            "days": f"media-source://nvr/{e}/{ch}/days",
            "day": f"media-source://nvr/{e}/{ch}/day/{local_day}",
            "hour": hour_id,
        }
        events = await media_source.async_browse_media(hass, ours_levels["events"])
        ours_levels["events_older"] = events.children[-1].media_content_id
        base = "media-source://media_source/bench"
        baseline_levels = {
            "root": base,
            "channel": f"{base}/{ch}",
            "day": f"{base}/{ch}/{utc:%Y-%m-%d}",
            "hour": f"{base}/{ch}/{utc:%Y-%m-%d}/{utc:%H}",
        }
        ours, baseline = {}, {}
        for _round in range(2):  # interleave the sides; the first round warms caches
            for name, media_id in ours_levels.items():
                ours[name] = await timed(hass, media_id, args.calls)
            for name, media_id in baseline_levels.items():
                baseline[name] = await timed(hass, media_id, args.calls)
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        await hass.async_stop(force=True)
    return {"ours": ours, "baseline": baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    result = asyncio.run(run(args))
    print(f"{'level':14} {'ours ms (p50)':>14} {'children':>9}")
    for name, (ms, children) in result["ours"].items():
        print(f"{name:14} {ms:14.2f} {children:9d}")
    print(f"{'baseline level':14} {'local ms (p50)':>14} {'children':>9}")
    for name, (ms, children) in result["baseline"].items():
        print(f"{name:14} {ms:14.2f} {children:9d}")
    print(f"load average at end: {os.getloadavg()}")
    ours = max(ms for ms, _ in result["ours"].values())
    baseline = max(ms for ms, _ in result["baseline"].values())
    print(
        json.dumps(
            {
                "metric": "browse_level_latency_ms_p50_slowest",
                "ours": round(ours, 2),
                "baseline": round(baseline, 2),
                "ratio": round(ours / baseline, 3),
                "target_ms": 200,
                "days": args.days,
                "channels": args.channels,
                "calls": args.calls,
                "ours_levels": {k: round(v[0], 2) for k, v in result["ours"].items()},
                "baseline_levels": {k: round(v[0], 2) for k, v in result["baseline"].items()},
            }
        )
    )


if __name__ == "__main__":
    main()
