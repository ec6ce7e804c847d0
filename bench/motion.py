"""Motion detection: CPU against bare decoding, and latency to the binary sensor in Home Assistant.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/motion.py                 # PyAV 13, HA 2025.4 harness, about 6 minutes
    .venv/bin/python bench/motion.py --seconds 8 --repeats 1 --events 6 --skip-1080p   # quick look

The feeds are live RTSP mounts (bench/common.py live_feed) looping a 4 s clip
(tests/motion_feed.py): SMPTE bars with temporal noise, and a two-tone box
that appears at 0.5 s at a fifth of the width and moves right until 2.0 s.

1. CPU, per feed (640x360 and 1920x1080, 15 fps): OURS is the engine's
   StreamReader plus MotionWorker (demux, decode every frame, analyse 5 fps),
   BARE is ``av.open(url)`` and decoding every frame with PyAV, nothing else,
   with the same decoder threading. Runs alternate (ours, bare, ours, ...);
   process CPU time over ``--seconds`` each. Target: ours <= 1.3 x bare.
2. Latency, 640x360: one Home Assistant (the test harness) with an NVR
   channel on the feed (off delay 1 s, so every loop is one event) and, on
   the same feed at the same time, HA's ``ffmpeg_motion`` (ha-ffmpeg's scene
   filter, ``changes`` 1 %, reset 1 s). The moment the first moving frame
   arrives is read from the packets our reader received: they are decoded
   afterwards and the box found by difference to the per-pixel median. The
   latency is from that packet's arrival (wall clock) to the binary sensor's
   state change to on. Target: p95 <= 1/detect_fps + 0.3 s = 500 ms.

Human-readable lines first, one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.append(str(ROOT / "tests"))

import av  # noqa: E402
import numpy as np  # noqa: E402
from common import OUT, cpu_seconds, free_port, live_feed, p50, p95, summary, wait_until  # noqa: E402
from motion_feed import make_motion_clip  # noqa: E402

from custom_components.nvr.engine.motion.settings import MotionConfig, MotionSettings  # noqa: E402
from custom_components.nvr.engine.motion.worker import MotionWorker  # noqa: E402
from custom_components.nvr.engine.stream.reader import StreamReader  # noqa: E402
from custom_components.nvr.engine.stream.source import StreamSource  # noqa: E402

LOOP = 4.0
MOVE = (0.5, 2.0)
FPS = 15
DETECT_FPS = 5.0
TARGET_RATIO = 1.3
TARGET_LATENCY = 1 / DETECT_FPS + 0.3


def clip(width: int, height: int) -> Path:
    """The looping clip at this size (made once, kept in bench/out)."""
    path = OUT / f"motion_{width}x{height}_{FPS}fps.ts"
    if not path.exists():
        make_motion_clip(path, width, height, FPS, LOOP, [MOVE], gop=FPS * 2, start_x=0.2)
        print(f"clip: {path.relative_to(ROOT)} encoded")
    return path


# --- CPU --------------------------------------------------------------------------------------------


def run_ours(url: str, seconds: float, low_power: bool = False) -> tuple[float, int, int]:
    """CPU seconds of reader + worker over ``seconds`` (after a warm-up); frames decoded and analysed."""
    worker = MotionWorker("bench", MotionConfig(MotionSettings(detect_fps=DETECT_FPS), low_power=low_power))
    reader = StreamReader(StreamSource(url), "bench", sink=worker)
    worker.start()
    reader.start()
    try:
        wait_until(lambda: worker.decoded > 0, 20, "the first decoded frame")
        time.sleep(2.0)
        decoded, analysed, cpu = worker.decoded, worker.analysed, cpu_seconds()
        time.sleep(seconds)
        return cpu_seconds() - cpu, worker.decoded - decoded, worker.analysed - analysed
    finally:
        reader.stop(5.0)
        worker.stop(5.0)


def run_reader(url: str, seconds: float) -> float:
    """CPU seconds of the reader alone (what every channel costs anyway: demux, GOP buffer)."""
    reader = StreamReader(StreamSource(url), "bench")
    reader.start()
    try:
        wait_until(lambda: reader.status.connected, 20, "the reader to connect")
        time.sleep(2.0)
        cpu = cpu_seconds()
        time.sleep(seconds)
        return cpu_seconds() - cpu
    finally:
        reader.stop(5.0)


def run_bare(url: str, seconds: float) -> tuple[float, int]:
    """CPU seconds of av.open + decoding every frame (one thread, as the worker); frames decoded."""
    stop = threading.Event()
    count = [0]

    def decode() -> None:
        with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10, 5)) as container:
            stream = container.streams.video[0]
            stream.thread_type, stream.thread_count = "SLICE", 1
            for _frame in container.decode(stream):
                count[0] += 1
                if stop.is_set():
                    return

    thread = threading.Thread(target=decode, daemon=True)
    thread.start()
    wait_until(lambda: count[0] > 0, 20, "the first bare frame")
    time.sleep(2.0)
    frames, cpu = count[0], cpu_seconds()
    time.sleep(seconds)
    used, decoded = cpu_seconds() - cpu, count[0] - frames
    stop.set()
    thread.join(10)
    return used, decoded


def cpu_part(width: int, height: int, args) -> dict:
    with live_feed(clip(width, height)) as feed:
        ours, bare, low = [], [], []
        for repeat in range(args.repeats):
            used, decoded, analysed = run_ours(feed.url, args.seconds)
            ours.append(100 * used / args.seconds)
            print(
                f"  {width}x{height} run {repeat + 1}: ours {ours[-1]:5.1f} % CPU "
                f"({decoded} decoded, {analysed} analysed)"
            )
            used, decoded = run_bare(feed.url, args.seconds)
            bare.append(100 * used / args.seconds)
            print(f"  {width}x{height} run {repeat + 1}: bare {bare[-1]:5.1f} % CPU ({decoded} decoded)")
        reader = [100 * run_reader(feed.url, args.seconds) / args.seconds for _ in range(max(1, args.repeats // 2))]
        print(f"  {width}x{height} reader alone: {p50(reader):5.1f} % CPU")
        used, decoded, analysed = run_ours(feed.url, args.seconds, low_power=True)
        low.append(100 * used / args.seconds)
        print(f"  {width}x{height} low-power: {low[-1]:5.1f} % CPU ({decoded} decoded, {analysed} analysed)")
        drops = feed.drops.total
    result = {
        "ours_cpu_pct": round(p50(ours), 2),
        "bare_cpu_pct": round(p50(bare), 2),
        "ratio": round(p50(ours) / p50(bare), 3),
        "low_power_cpu_pct": round(low[0], 2),
        "reader_alone_cpu_pct": round(p50(reader), 2),
        "worker_only_ratio": round((p50(ours) - p50(reader)) / p50(bare), 3),
        "runs_ours": [round(v, 2) for v in ours],
        "runs_bare": [round(v, 2) for v in bare],
        "relay_drops": drops,
    }
    print(
        f"{width}x{height}: ours p50 {result['ours_cpu_pct']} % vs bare decode p50 {result['bare_cpu_pct']} % "
        f"= {result['ratio']} x (target <= {TARGET_RATIO}); without the reader every channel runs anyway "
        f"{result['worker_only_ratio']} x; low-power {result['low_power_cpu_pct']} %"
    )
    return result


# --- latency ----------------------------------------------------------------------------------------


def onsets(packets: list[tuple[int, float, bytes]], time_base, codec: str, extradata: bytes | None) -> list[float]:
    """Arrival times of the first frames of each box appearance, found in the received packets."""
    ctx = av.CodecContext.create(codec, "r")
    if extradata:
        ctx.extradata = extradata
    frames: list[tuple[float, np.ndarray]] = []
    for _pts, arrival, data in packets:
        for frame in ctx.decode(av.Packet(data)):
            y = frame.to_ndarray(format="gray")
            frames.append((arrival, y[::4, ::4].astype(np.int16)))
    if len(frames) < 30:
        raise SystemExit("too few frames received to find the motion")
    reference = np.median(np.stack([f for _a, f in frames[:: max(1, len(frames) // 60)]]), axis=0)
    changed = [float(np.mean(np.abs(f - reference) > 40)) for _a, f in frames]
    present = [c > 0.004 for c in changed]  # the box is ~1.3 % of the picture
    return [frames[i][0] for i in range(1, len(frames)) if present[i] and not present[i - 1]]


async def _home_assistant(url: str, args, ours_on: list[float], ffmpeg_on: list[float]) -> None:
    """Run HA with the NVR channel (and ffmpeg_motion) on ``url`` until enough motion was seen."""
    from homeassistant import loader
    from homeassistant.core import Event
    from homeassistant.setup import async_setup_component
    from pytest_homeassistant_custom_component.common import MockConfigEntry, async_test_home_assistant

    storage = OUT / "motion-bench-storage"
    storage.mkdir(parents=True, exist_ok=True)
    async with async_test_home_assistant() as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        assert await async_setup_component(hass, "http", {"http": {"server_port": free_port()}})

        def _changed(event: Event) -> None:
            new, old = event.data["new_state"], event.data["old_state"]
            if new is None or new.state != "on" or (old is not None and old.state == "on"):
                return
            if new.entity_id == "binary_sensor.bench_motion":
                ours_on.append(time.time())
            elif new.entity_id == "binary_sensor.ffmpeg_motion":
                ffmpeg_on.append(time.time())

        hass.bus.async_listen("state_changed", _changed)
        channel = {
            "name": "Bench",
            "main_url": url,
            "sub_url": "",
            "username": "",
            "password": "",
            "rtsp_transport": "tcp",
            "recording_mode": "off",
            "motion_enabled": True,
            "motion_off_delay": 1,
            "motion_detect_fps": DETECT_FPS,
        }
        entry = MockConfigEntry(
            domain="nvr",
            title="Bench NVR",
            data={"name": "Bench NVR", "storage_path": str(storage)},
            subentries_data=[{"data": channel, "subentry_type": "channel", "title": "Bench", "unique_id": "bench"}],
        )
        if not args.skip_baseline:  # first: binary_sensor's YAML is only read when the component is set up
            assert await async_setup_component(hass, "ffmpeg", {"ffmpeg": {}})
            sensor = {"platform": "ffmpeg_motion", "input": url, "changes": 1, "reset": 1}
            assert await async_setup_component(hass, "binary_sensor", {"binary_sensor": [sensor]})
            await hass.async_block_till_done()
            # ffmpeg entities start on HA's start event, which the harness fired before they existed.
            await hass.services.async_call("ffmpeg", "start", {}, blocking=True)
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        began = time.monotonic()
        enough = args.events + 1
        while len(ours_on) < enough and time.monotonic() - began < (args.events + 4) * LOOP:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_stop(force=True)


async def latency_part(args) -> dict:
    """Time motion appearances to the binary sensors turning on."""
    received: list[tuple[int, float, bytes]] = []
    media: dict = {}
    original_packet, original_started = MotionWorker.packet, MotionWorker.stream_started

    def tap_packet(self, packet, audio):
        if not audio and packet.pts is not None:
            received.append((packet.pts, time.time(), packet.data))
        original_packet(self, packet, audio)

    def tap_started(self, fmt, wall_time):
        media.update(codec=fmt.video_codec, extradata=fmt.video_extradata, time_base=fmt.video_time_base)
        original_started(self, fmt, wall_time)

    MotionWorker.packet, MotionWorker.stream_started = tap_packet, tap_started
    ours_on: list[float] = []
    ffmpeg_on: list[float] = []
    try:
        with live_feed(clip(640, 360)) as feed:
            await _home_assistant(feed.url, args, ours_on, ffmpeg_on)
    finally:
        MotionWorker.packet, MotionWorker.stream_started = original_packet, original_started

    starts = onsets(received, media["time_base"], media["codec"], media["extradata"])
    starts = starts[1:]  # the first may have been joined mid-appearance

    def latencies(ons: list[float]) -> tuple[list[float], int]:
        found, missed = [], 0
        for start in starts:
            after = [t - start for t in ons if start - 0.2 <= t <= start + 3.0]
            if after:
                found.append(1000 * after[0])
            else:
                missed += 1
        return found, missed

    ours, ours_missed = latencies(ours_on)
    print(f"latency, ours: {summary(ours)}; missed {ours_missed} of {len(starts)} appearances")
    print(f"  extra 'on' transitions (not after an appearance): {len(ours_on) - len(ours)}")
    result = {
        "appearances": len(starts),
        "ours_p50_ms": round(p50(ours), 1) if ours else None,
        "ours_p95_ms": round(p95(ours), 1) if ours else None,
        "ours_missed": ours_missed,
        "ours_extra_on": len(ours_on) - len(ours),
    }
    if not args.skip_baseline:
        base, base_missed = latencies(ffmpeg_on)
        if base:
            print(f"latency, ffmpeg_motion: {summary(base)}; missed {base_missed} of {len(starts)} appearances")
        else:
            print(f"latency, ffmpeg_motion: never turned on after an appearance ({len(ffmpeg_on)} 'on' in all)")
        result.update(
            baseline_p50_ms=round(p50(base), 1) if base else None,
            baseline_p95_ms=round(p95(base), 1) if base else None,
            baseline_missed=base_missed,
            baseline_on=len(ffmpeg_on),
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="CPU window per run")
    parser.add_argument("--repeats", type=int, default=3, help="ours/bare run pairs per feed")
    parser.add_argument("--events", type=int, default=15, help="motion appearances timed for latency")
    parser.add_argument("--skip-1080p", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true", help="no ffmpeg_motion")
    args = parser.parse_args()
    print(f"PyAV {av.__version__}, numpy {np.__version__}, load average {os.getloadavg()}")
    cpu = {"640x360": cpu_part(640, 360, args)}
    if not args.skip_1080p:
        cpu["1920x1080"] = cpu_part(1920, 1080, args)
    latency = asyncio.run(latency_part(args))
    print(f"load average at the end {os.getloadavg()}")
    worst = max(v["ratio"] for v in cpu.values())
    line = {
        "metric": "motion_cpu_ratio_vs_bare_decode",
        "ours": cpu["640x360"]["ours_cpu_pct"],
        "baseline": cpu["640x360"]["bare_cpu_pct"],
        "ratio": cpu["640x360"]["ratio"],
        "worst_ratio": worst,
        "cpu_target_met": worst <= TARGET_RATIO,
        "cpu": cpu,
        "latency_metric": "motion_latency_ms_p95",
        "latency": latency,
        "latency_target_ms": round(1000 * TARGET_LATENCY),
        "latency_target_met": latency["ours_p95_ms"] is not None and latency["ours_p95_ms"] <= 1000 * TARGET_LATENCY,
        "pyav": av.__version__,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
