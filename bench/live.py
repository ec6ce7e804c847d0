"""Live view through the relay vs straight from the camera, with Home Assistant's own stream component.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/live.py            # about 4 minutes
    .venv/bin/python bench/live.py --tries 4  # quick look

A 1080p H.264 clip (2 s GOP, 15 fps) is served as an endless live RTSP mount
on 127.0.0.1; one engine channel reads it and serves it through the relay.
It measures:

* TIME TO FIRST PICTURE: from asking HA's stream component for HLS
  (``create_stream`` + ``add_provider("hls")`` + ``start()``, what
  ``camera.async_request_stream`` does) until the first complete HLS
  segment is there and decodes. "ours" reads the relay's URL, "baseline"
  the camera's RTSP URL (what ``stream_source`` gave before the relay). Each
  try starts at a random moment of the GOP;
* SESSIONS at the camera with 1, 3 and 5 viewers (ffmpeg stream copies):
  through the relay, and each viewer on the camera directly (plus the
  channel's own reader);
* CPU per viewer: the process's CPU with 3 relay viewers minus with none,
  per viewer, against ``ffmpeg -i rtsp://… -c copy -f mpegts`` of the same
  stream (its own CPU).

Human-readable lines first, one JSON line last.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "custom_components" / "nvr"))  # after the stdlib: the integration has a select.py
sys.path.append(str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import av  # noqa: E402
from common import cpu_seconds, ensure_clip, live_feed, p50, p95, summary, wait_until  # noqa: E402
from engine import Channel, ChannelConfig, RelayServer, StreamSource  # noqa: E402
from homeassistant.components.camera.prefs import DynamicStreamSettings  # noqa: E402
from homeassistant.components.stream import DOMAIN as STREAM  # noqa: E402
from homeassistant.components.stream import create_stream  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from pytest_homeassistant_custom_component.common import async_test_home_assistant  # noqa: E402
from rtsp_peer import free_port, tools_available  # noqa: E402

WIDTH, HEIGHT, FPS, GOP_FRAMES = 1920, 1080, 15, 30
GOP_SECONDS = GOP_FRAMES / FPS
TARGET_RATIO = 0.6
TARGET_CPU_RATIO = 0.5


def clip_args(path: Path) -> list[str]:
    """The ffmpeg command that encodes the benchmark clip."""
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}", "-vf", "noise=alls=12:allf=t",
        "-t", "16", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "4M",
        "-x264-params", "repeat-headers=1", "-g", str(GOP_FRAMES), "-keyint_min", str(GOP_FRAMES),
        "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "mpegts", str(path),
    ]  # fmt: skip


async def first_picture(hass, source: str, limit: float = 60) -> float:
    """Seconds from asking HA's stream for HLS until its first complete segment decodes."""
    started = time.monotonic()
    stream = create_stream(hass, source, {}, DynamicStreamSettings(), "bench")
    provider = stream.add_provider("hls")
    await stream.start()
    try:
        while time.monotonic() - started < limit:
            segments = [s for s in provider.get_segments() if s.complete]
            if segments and _decodes(segments[0].init + segments[0].get_data()):
                return time.monotonic() - started
            await asyncio.sleep(0.02)
        raise AssertionError(f"no segment from {source[:16]}… within {limit} s")
    finally:
        await stream.stop()


def _decodes(data: bytes) -> bool:
    try:
        with av.open(io.BytesIO(data)) as container:
            return any(True for _ in container.decode(video=0))
    except av.error.FFmpegError:
        return False


def copy_viewer(url: str) -> subprocess.Popen:
    """An ffmpeg stream copy of ``url`` to nowhere (a viewer)."""
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    args = [ffmpeg, "-nostdin", "-loglevel", "error"]
    if url.startswith("rtsp"):
        args += ["-rtsp_transport", "tcp"]
    args += ["-i", url, "-c", "copy", "-f", "mpegts", "-y", os.devnull]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sessions(feed, url: str, viewers: int) -> int:
    """RTSP sessions at the camera while ``viewers`` stream copies of ``url`` run (besides the channel)."""
    procs = [copy_viewer(url) for _ in range(viewers)]
    try:
        time.sleep(4)
        return feed.server.client_connections()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(5)


def relay_cpu_per_viewer(relay_url: str, seconds: float) -> float:
    """Our process's CPU-seconds per second per relay viewer (3 viewers minus none)."""
    before, wall = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    idle = (cpu_seconds() - before) / (time.monotonic() - wall)
    procs = [copy_viewer(relay_url) for _ in range(3)]
    try:
        time.sleep(3)
        before, wall = cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        busy = (cpu_seconds() - before) / (time.monotonic() - wall)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(5)
    return max(0.0, busy - idle) / 3


def _process_cpu(pid: int) -> float:
    """CPU-seconds (user + system) a running process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ffmpeg_copy_cpu(url: str, seconds: float) -> float:
    """CPU-seconds per second of one running ffmpeg stream copy of the camera (start-up excluded, as for the relay)."""
    proc = copy_viewer(url)
    try:
        time.sleep(3)
        before, wall = _process_cpu(proc.pid), time.monotonic()
        time.sleep(seconds)
        used = _process_cpu(proc.pid) - before
        return used / (time.monotonic() - wall)
    finally:
        proc.terminate()
        proc.wait(5)


async def run(args: argparse.Namespace) -> dict:
    clip = ensure_clip("clip_1080p_gop2", clip_args)
    rng = random.Random(2)
    with live_feed(clip) as feed:
        url = feed.url
        relay = RelayServer()
        relay.start()
        channel = Channel(ChannelConfig("bench", "Bench", StreamSource(url)), relay=relay)
        channel.start()
        try:
            await asyncio.to_thread(wait_until, lambda: channel.status().connected, 20, "the channel to connect")
            await asyncio.sleep(HISTORY_WARMUP)  # the relay holds its history of the stream, as it does once running
            relay_url = channel.relay_url()
            async with async_test_home_assistant() as hass:
                await async_setup_component(hass, "http", {"http": {"server_port": free_port()}})
                assert await async_setup_component(hass, STREAM, {})
                ours: list[float] = []
                base: list[float] = []
                for _ in range(args.tries):
                    for kind, values, source in (("ours", ours, relay_url), ("baseline", base, url)):
                        await asyncio.sleep(rng.uniform(0, GOP_SECONDS))
                        values.append(await first_picture(hass, source))
                        print(f"  {kind}: {values[-1]:.2f} s")
                await hass.async_stop(force=True)
            counts = {n: (sessions(feed, relay_url, n), sessions(feed, url, n)) for n in (1, 3, 5)}
            ours_cpu = relay_cpu_per_viewer(relay_url, args.seconds)
            base_cpu = ffmpeg_copy_cpu(url, args.seconds)
        finally:
            channel.stop(5.0)
            relay.stop()
    print(f"time to first picture, relay:  {summary([v * 1000 for v in ours])}")
    print(f"time to first picture, direct: {summary([v * 1000 for v in base])}")
    for n, (relayed, direct) in counts.items():
        print(f"camera sessions with {n} viewer(s): relay {relayed}, direct {direct}")
    print(f"CPU per viewer: relay {ours_cpu * 100:.2f} % of a core, ffmpeg -c copy {base_cpu * 100:.2f} %")
    ratio = p50(ours) / p50(base)
    cpu_ratio = ours_cpu / base_cpu if base_cpu else None
    cpu_target = (
        "CPU ratio n/a (the baseline used no measurable CPU)"
        if cpu_ratio is None
        else f"CPU ratio {cpu_ratio:.2f} {'<=' if cpu_ratio <= TARGET_CPU_RATIO else '> (MISSED)'} {TARGET_CPU_RATIO}"
    )
    first_target = f"first-picture ratio {ratio:.2f} {'<=' if ratio <= TARGET_RATIO else '> (MISSED)'} {TARGET_RATIO}"
    print(f"targets: {first_target}; {cpu_target}")
    return {
        "metric": "live_first_picture_s_p50",
        "ours": round(p50(ours), 3),
        "baseline": round(p50(base), 3),
        "ratio": round(ratio, 3),
        "ours_p95": round(p95(ours), 3),
        "baseline_p95": round(p95(base), 3),
        "sessions": {str(n): {"relay": r, "direct": d} for n, (r, d) in counts.items()},
        "cpu_per_viewer_pct": round(ours_cpu * 100, 3),
        "ffmpeg_copy_cpu_pct": round(base_cpu * 100, 3),
        "cpu_ratio": round(cpu_ratio, 3) if cpu_ratio is not None else None,
        "tries": args.tries,
        "pyav": av.__version__,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


HISTORY_WARMUP = 9.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--tries", type=int, default=10, help="first-picture tries per path (10)")
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU sampling window (10)")
    args = parser.parse_args(argv)
    ok, reason = tools_available()
    if not ok:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    result = asyncio.run(run(args))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
