"""Camera-side motion: CPU per channel against the local detector, and event latency over ISAPI.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/devices.py                  # about 2 minutes
    .venv/bin/python bench/devices.py --seconds 6 --repeats 1 --events 10   # quick look

1. CPU, one channel on a live 640x360 15 fps feed (bench/motion.py's clip,
   a box crossing every 4 s), the stream motion detection reads on a real
   recorder's sub stream. OURS is the engine's StreamReader plus MotionWorker
   with the motion source "camera" (the camera's events: nothing decoded);
   BASELINE is the same with the source "local" (decode every frame,
   analyse 5 fps). Runs alternate (ours, baseline, ...); process CPU time
   over ``--seconds`` each. The reader alone is shown too: every channel pays
   for it (recording, live view).
2. Latency: the loopback ISAPI recorder of the tests (Digest auth, a
   multipart alertStream) sends VMD "active"; the time from the push to the
   motion worker's ``motion_start`` (through IsapiEventStream and the worker's
   thread), then "inactive" and the event's end (off delay 0).

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

import aiohttp  # noqa: E402
from common import cpu_seconds, live_feed, p50, p95, summary, wait_until  # noqa: E402
from motion import clip, run_reader  # noqa: E402

from custom_components.nvr.devices.isapi_events import IsapiEventStream  # noqa: E402
from custom_components.nvr.devices.model import DeviceConnection, DeviceEvent  # noqa: E402
from custom_components.nvr.engine.motion.events import MotionUpdate  # noqa: E402
from custom_components.nvr.engine.motion.settings import MotionConfig, MotionSettings  # noqa: E402
from custom_components.nvr.engine.motion.worker import MotionWorker  # noqa: E402
from custom_components.nvr.engine.stream.reader import StreamReader  # noqa: E402
from custom_components.nvr.engine.stream.source import StreamSource  # noqa: E402
from tests.devices.isapi_server import IsapiServer  # noqa: E402

SOURCES = {"camera": (False, True), "local": (True, False)}


def run_channel(url: str, seconds: float, source: str) -> float:
    """CPU seconds of a reader plus a motion worker on ``source`` over ``seconds``, after a warm-up."""
    local, camera = SOURCES[source]
    worker = MotionWorker("bench", MotionConfig(MotionSettings(detect_fps=5.0), local=local, camera=camera))
    worker.start()
    reader = StreamReader(StreamSource(url), "bench", sink=worker)
    reader.start()
    try:
        wait_until(lambda: reader.status.connected, 20, "the reader to connect")
        time.sleep(2.0)
        cpu = cpu_seconds()
        time.sleep(seconds)
        return cpu_seconds() - cpu
    finally:
        reader.stop(5.0)
        worker.stop(5.0)


def cpu_part(args: argparse.Namespace) -> dict:
    """CPU % of one core per channel: camera source, local detector, reader alone."""
    runs: dict[str, list[float]] = {"camera": [], "local": [], "reader": []}
    with live_feed(clip(640, 360)) as feed:
        for _ in range(args.repeats):
            for name in ("camera", "local", "reader"):
                if name == "reader":
                    used = run_reader(feed.url, args.seconds)  # bench/motion.py's: the reader alone
                else:
                    used = run_channel(feed.url, args.seconds, name)
                runs[name].append(100 * used / args.seconds)
                print(f"  {name:7s} {runs[name][-1]:5.1f} % of a core")
    result = {name: round(p50(values), 2) for name, values in runs.items()}
    print(f"CPU per channel (p50 of {args.repeats}): {result}")
    return result


async def latency_part(args: argparse.Namespace) -> dict:
    """Milliseconds from the recorder's push to the worker's motion_start (and to motion_end)."""
    starts: list[float] = []
    ends: list[float] = []
    updates: list[tuple[MotionUpdate, float]] = []
    got = threading.Event()

    def on_update(update: MotionUpdate) -> None:
        updates.append((update, time.perf_counter()))
        got.set()

    worker = MotionWorker(
        "bench", MotionConfig(MotionSettings(off_delay=0.0), local=False, camera=True), on_event=on_update
    )
    worker.start()
    server = IsapiServer(kind="camera")
    await server.start()
    conn = DeviceConnection("127.0.0.1", server.port, server.username, server.password)
    connected = asyncio.Event()

    def on_event(event: DeviceEvent) -> None:
        worker.camera_event(event.active, event.time)

    def on_state(reason: str | None) -> None:
        if reason is None:
            connected.set()

    async with aiohttp.ClientSession() as session:
        stream = IsapiEventStream(session, conn, on_event, on_state)
        task = asyncio.create_task(stream.run())
        try:
            await asyncio.wait_for(connected.wait(), 20)
            for _ in range(args.events):
                for state, bucket in (("active", starts), ("inactive", ends)):
                    got.clear()
                    pushed = time.perf_counter()
                    server.push_event(1, "VMD", state)
                    await asyncio.to_thread(got.wait, 10)
                    bucket.append(1000 * (updates[-1][1] - pushed))
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await server.stop()
            worker.stop(5.0)
    print(f"push -> motion_start: {summary(starts)}")
    print(f"push -> motion_end:   {summary(ends)}")
    return {
        "start_p50_ms": round(p50(starts), 2),
        "start_p95_ms": round(p95(starts), 2),
        "end_p50_ms": round(p50(ends), 2),
        "events": len(starts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU window per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind")
    parser.add_argument("--events", type=int, default=30, help="VMD events timed")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    cpu = cpu_part(args)
    latency = asyncio.run(latency_part(args))
    print(f"load average at the end {os.getloadavg()}")
    line = {
        "metric": "motion_cpu_pct_per_channel_camera_events",
        "ours": cpu["camera"],
        "baseline": cpu["local"],
        "ratio": round(cpu["camera"] / cpu["local"], 3) if cpu["local"] else None,
        "reader_alone_pct": cpu["reader"],
        "latency": latency,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
