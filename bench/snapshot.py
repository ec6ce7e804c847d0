"""Snapshot latency at 1080p: the engine's Channel.image() vs ffmpeg per snapshot.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/snapshot.py            # PyAV 13
    scripts/py314_root.sh run -- python bench/snapshot.py   # PyAV 19, Python 3.14 (HA 2026 line)

It generates (once, cached under bench/out/) a 1080p H.264 clip, serves it as
an endless live RTSP mount on 127.0.0.1 (tests/rtsp_peer.py) and measures:

* memory and CPU of N open 1080p channels that have each just served a
  still (so each keeps its stream decoded for its warm period);
* OURS: Channel.still() at full size, called from a worker thread as Home
  Assistant's camera entity does. The first still after a quiet spell
  decodes from the held keyframe to the newest packet ("first" calls, spread
  over the GOP; the quiet spell is shortened for them); from then on the
  stream is decoded as it arrives while stills are asked for, and a still
  encodes the newest picture ("warm" calls, one per GOP at a random moment,
  and "repeat" calls right after). The headline is the warm p50. The still's
  AGE is the time from the arrival of the newest packet (when the call
  returns) back to the arrival of the packet its picture came from;
* BASELINE: one ffmpeg process per snapshot against the same URL, with the
  arguments Home Assistant's ffmpeg camera uses (haffmpeg ImageFrame).

Human-readable lines first, one JSON line last.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The engine as a top-level package, and tests/ for rtsp_peer (after it: tests/engine would shadow it).
sys.path.append(str(ROOT / "custom_components" / "nvr"))  # after the stdlib: the integration has a select.py
sys.path.append(str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import av  # noqa: E402
from common import (  # noqa: E402
    cpu_seconds,
    ensure_clip,
    live_feed,
    p50,
    p95,
    rss_mb,
    summary,
    wait_until,
)
from engine import Channel, ChannelConfig, StreamSource, stop_channels  # noqa: E402
from engine.stills import fresh  # noqa: E402
from engine.stills.placeholder import no_signal_jpeg  # noqa: E402
from PIL import Image  # noqa: E402
from rtsp_peer import tools_available  # noqa: E402
from support import shows_picture  # noqa: E402

WIDTH, HEIGHT, FPS, GOP_FRAMES = 1920, 1080, 25, 100
GOP_SECONDS = GOP_FRAMES / FPS
CLIP_SECONDS = 16
BITRATE = "6M"
"""A typical 1080p camera main stream (4-8 Mbit/s, CBR-like)."""
SOURCE = f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}"
FILTER = "noise=alls=12:allf=t"
"""Temporal noise on every pixel, like sensor noise, so P-frames are not free."""
TARGET_P50_MS = 50.0
TARGET_RATIO = 0.1
TARGET_RSS_MB = 60.0
TARGET_AGE_P95_MS = 150.0


# --------------------------------------------------------------------------
# clip and measuring helpers
# --------------------------------------------------------------------------


def clip_args(path: Path) -> list[str]:
    """The ffmpeg command that encodes the benchmark clip."""
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", SOURCE, "-vf", FILTER, "-t", str(CLIP_SECONDS),
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
        "-b:v", BITRATE, "-maxrate", BITRATE, "-bufsize", BITRATE,
        "-x264-params", "repeat-headers=1",
        "-g", str(GOP_FRAMES), "-keyint_min", str(GOP_FRAMES), "-sc_threshold", "0",
        "-bf", "0", "-pix_fmt", "yuv420p", "-threads", "2",
        "-f", "mpegts", str(path),
    ]  # fmt: skip


def check_jpeg(data: bytes, placeholder: bytes | None = None) -> None:
    """Raise AssertionError unless data is a complete 1920x1080 JPEG of the feed."""
    if placeholder is not None and data == placeholder:
        raise AssertionError("got the no-signal placeholder instead of a picture")
    if data[:2] != b"\xff\xd8":
        raise AssertionError(f"not a JPEG (starts with {data[:4]!r}, {len(data)} bytes)")
    with Image.open(io.BytesIO(data)) as image:
        if image.format != "JPEG":
            raise AssertionError(f"Pillow reads it as {image.format}")
        image.load()  # a truncated JPEG fails here
        if image.size != (WIDTH, HEIGHT):
            raise AssertionError(f"picture is {image.size[0]}x{image.size[1]}, not {WIDTH}x{HEIGHT}")


def open_channel(url: str, key: str) -> Channel:
    """Create and start a channel on the URL."""
    channel = Channel(ChannelConfig(key, f"Bench {key}", StreamSource(url)))
    channel.start()
    return channel


def wait_ready(channel: Channel, timeout: float = 15) -> None:
    """Wait until the channel is connected and holds a GOP."""
    reader = channel.readers["main"]
    wait_until(
        lambda: shows_picture(reader),
        timeout,
        f"channel {channel.config.key} to connect",
        step=0.02,
    )


def serial(channel: Channel) -> int:
    """Serial of the channel's held GOP (-1 before the first keyframe)."""
    gop = channel.readers["main"].gop.latest()
    return gop.serial if gop is not None else -1


def gop_packets(channel: Channel) -> int:
    """Packets in the held GOP right now."""
    gop = channel.readers["main"].gop.latest()
    return len(gop.packets) if gop is not None else 0


# --------------------------------------------------------------------------
# phases
# --------------------------------------------------------------------------


@dataclass
class Call:
    """One timed snapshot."""

    wall_ms: float
    cpu_ms: float
    data: bytes
    age_ms: float = 0.0
    """Newest packet's arrival (at return) minus the arrival of the packet shown; inf for a keyframe still."""


@dataclass
class Ours:
    """Results of the Channel.still() phase."""

    first: list[Call] = field(default_factory=list)
    warm: list[Call] = field(default_factory=list)
    repeat: list[Call] = field(default_factory=list)
    warm_cpu_pct: float = 0.0
    """CPU of the whole process while one channel's stream is kept decoded (% of a core)."""


def timed_image(executor: ThreadPoolExecutor, channel: Channel) -> Call:
    """Channel.still() at full size in a worker thread; wall time includes the hand-off."""

    def work():
        cpu = time.thread_time()
        still = channel.still("main")
        return still, (time.thread_time() - cpu) * 1e3

    began = time.perf_counter()
    still, cpu_ms = executor.submit(work).result()
    wall_ms = (time.perf_counter() - began) * 1e3
    newest = channel.readers["main"].status.last_frame_time
    age = (newest - still.arrival) * 1e3 if still.arrival is not None and newest else float("inf")
    return Call(wall_ms, cpu_ms, still.jpeg, max(0.0, age))


def next_gop(channel: Channel) -> int:
    """Wait for the next keyframe; return the new serial."""
    current = serial(channel)
    wait_until(lambda: serial(channel) != current, GOP_SECONDS * 3, "a new GOP")
    return serial(channel)


def measure_rss(url: str, count: int, idle_seconds: float, executor: ThreadPoolExecutor) -> dict[str, float]:
    """RSS per channel and idle CPU with `count` channels open."""
    channels: list[Channel] = []
    try:
        before = rss_mb()
        channels.extend(open_channel(url, f"rss{index}") for index in range(count))
        for channel in channels:
            wait_ready(channel)
        time.sleep(GOP_SECONDS + 0.5)  # every GOP buffer holds a whole GOP
        readers = rss_mb()
        placeholder = no_signal_jpeg(channels[0].config.name, None, None, (WIDTH, HEIGHT))
        for channel in channels:
            check_jpeg(executor.submit(channel.image, "main").result(), placeholder)
        after = rss_mb()
        cpu_before, wall_before = cpu_seconds(), time.monotonic()
        time.sleep(idle_seconds)
        cpu = (cpu_seconds() - cpu_before) / (time.monotonic() - wall_before) * 100
        steady = rss_mb()
        threads = len(os.listdir("/proc/self/task"))
        for channel in channels:
            if not channel.status().connected:
                raise AssertionError(f"channel {channel.config.key} lost its stream while idle")
    finally:
        if not stop_channels(channels, 5.0):
            print("warning: a reader did not stop within 5 s")
    return {
        "before": before,
        "readers": readers,
        "after": after,
        "steady": steady,
        "per_channel": (max(after, steady) - before) / count,
        "cpu_pct": cpu,
        "threads": threads,
    }


def measure_ours(url: str, calls: int, repeat_per_gop: int, executor: ThreadPoolExecutor) -> Ours:
    """First stills (from the keyframe), then warm and repeat stills, spread over the GOP."""
    result = Ours()
    channel = open_channel(url, "lat")
    rng = random.Random(1080)
    try:
        wait_ready(channel)
        placeholder = no_signal_jpeg(channel.config.name, None, None, (WIDTH, HEIGHT))
        warm_seconds = fresh.WARM_SECONDS
        fresh.WARM_SECONDS = 0.2  # each first still goes cold again before the next one
        for _ in range(max(2, calls // 3)):
            next_gop(channel)
            time.sleep(rng.uniform(0, GOP_SECONDS * 0.95))
            result.first.append(timed_image(executor, channel))
        fresh.WARM_SECONDS = warm_seconds
        check_jpeg(timed_image(executor, channel).data, placeholder)  # warms the stream up, not counted
        time.sleep(GOP_SECONDS)
        cpu_before, wall_before = cpu_seconds(), time.monotonic()
        for _ in range(calls):
            next_gop(channel)
            time.sleep(rng.uniform(0, GOP_SECONDS * 0.95))
            result.warm.append(timed_image(executor, channel))
            result.repeat.extend(timed_image(executor, channel) for _ in range(repeat_per_gop))
        result.warm_cpu_pct = (cpu_seconds() - cpu_before) / (time.monotonic() - wall_before) * 100
        if not channel.status().connected:
            raise AssertionError("the channel lost its stream during the run")
    finally:
        channel.stop(5.0)
    for call in [*result.first, *result.warm, *result.repeat]:
        check_jpeg(call.data, placeholder)
    for first, second in itertools.pairwise(result.warm):
        if first.data == second.data:
            raise AssertionError("two stills in different GOPs are identical")
    return result


def baseline_argv(url: str) -> list[str]:
    """What HA's ffmpeg camera runs per snapshot (haffmpeg ImageFrame.get_image).

    Input ``-rtsp_transport tcp -i URL`` (as usually configured, and the
    engine's transport), then ``-an -frames:v 1 -c:v mjpeg``, the ffmpeg
    camera's default extra arguments ``-pred 1``, and ``-f image2pipe -``.
    """
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    return [
        ffmpeg, "-rtsp_transport", "tcp", "-i", url,
        "-an", "-frames:v", "1", "-c:v", "mjpeg", "-pred", "1",
        "-f", "image2pipe", "-",
    ]  # fmt: skip


def measure_baseline(url: str, calls: int, timeout: float) -> list[Call]:
    """Spawn ffmpeg per snapshot; wall time from spawn until all JPEG bytes are read.

    One of our channels stays connected meanwhile: gst-rtsp-server prepares a
    shared media only while it has a client, and preparing waits for the next
    keyframe, which a real camera does not do; with the media kept prepared
    ffmpeg gets its SDP in a few ms. Calls start at a random moment of the
    GOP, as requests from a browser do; back to back they would lock onto the
    GOP's phase (each ends just after a keyframe).
    """
    argv = baseline_argv(url)
    print("baseline command: " + " ".join(argv))
    rng = random.Random(25)
    results: list[Call] = []
    keeper = open_channel(url, "keeper")
    try:
        wait_ready(keeper)
        for _ in range(calls):
            time.sleep(rng.uniform(0, GOP_SECONDS))
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            # stdin is a pipe and stderr is discarded, as in haffmpeg.
            with subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            ) as proc:
                try:
                    data, _ = proc.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.communicate()
                    raise
            wall_ms = (time.perf_counter() - began) * 1e3
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_ms = (after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime) * 1e3
            if proc.returncode != 0:
                raise AssertionError(f"ffmpeg exited with {proc.returncode}")
            check_jpeg(data)
            results.append(Call(wall_ms, cpu_ms, data))
    finally:
        keeper.stop(5.0)
    return results


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------


def print_rss(rss: dict[str, float], count: int) -> None:
    """Human-readable memory and CPU lines."""
    print(
        f"memory, {count} channels: RSS {rss['before']:.0f} MB before, {rss['readers']:.0f} MB with readers "
        f"(full GOPs), {rss['after']:.0f} MB after one snapshot each, {rss['steady']:.0f} MB after idling"
    )
    print(
        f"memory per channel: {rss['per_channel']:.1f} MB "
        "(reader, GOP buffer and the decoder each channel keeps while warm, plus what the allocator\n"
        "  kept of the catch-up decodes, which ran in the bench's worker thread)"
    )
    print(
        f"CPU with {count} channels open and warm (decoding): {rss['cpu_pct']:.1f}% of one core "
        f"({rss['cpu_pct'] / count:.2f}% per channel; {rss['threads']} threads in the process)"
    )


def print_ours(ours: Ours) -> None:
    """Human-readable lines for Channel.still()."""
    print(f"ours warm (one per GOP, spread over it): {summary([c.wall_ms for c in ours.warm])}")
    print(f"ours repeat (right after):               {summary([c.wall_ms for c in ours.repeat])}")
    print(f"ours first still (catch-up from the keyframe): {summary([c.wall_ms for c in ours.first])}")
    ages = [c.age_ms for c in ours.warm + ours.repeat]
    print(f"ours still age (warm and repeat): p50 {p50(ages):.0f} ms, p95 {p95(ages):.0f} ms, max {max(ages):.0f} ms")
    print(f"ours still age (first stills): p50 {p50([c.age_ms for c in ours.first]):.0f} ms")
    print(
        f"ours CPU per call (worker thread): warm p50 {p50([c.cpu_ms for c in ours.warm]):.1f} ms, "
        f"first p50 {p50([c.cpu_ms for c in ours.first]):.1f} ms; "
        f"process CPU while the stream is kept decoded: {ours.warm_cpu_pct:.1f}% of one core"
    )
    print(f"ours JPEG: {WIDTH}x{HEIGHT}, {p50([len(c.data) / 1024 for c in ours.warm]):.0f} KiB median")


def print_baseline(base: list[Call]) -> None:
    """Human-readable lines for the ffmpeg baseline."""
    print(f"baseline ffmpeg per snapshot: {summary([c.wall_ms for c in base])}")
    print(
        f"baseline CPU per snapshot (ffmpeg child): p50 {p50([c.cpu_ms for c in base]):.0f} ms; "
        f"JPEG {WIDTH}x{HEIGHT}, {p50([len(c.data) / 1024 for c in base]):.0f} KiB median"
    )


def verdict(name: str, value: float, target: float, text: str) -> str:
    """'name value <= target' or with '>' when the target is missed."""
    return f"{name} {text} {'<=' if value <= target else '> (MISSED)'} {target:g}"


def record(args: argparse.Namespace, rss: dict[str, float], ours: Ours, base: list[Call], drops: int) -> dict:
    """The JSON result."""
    warm = [c.wall_ms for c in ours.warm]
    ages = [c.age_ms for c in ours.warm + ours.repeat]
    base_ms = [c.wall_ms for c in base]
    ours_p50 = p50(warm)
    base_p50 = p50(base_ms) if base else None
    ratio = ours_p50 / base_p50 if base_p50 else None
    libs = av.library_versions
    return {
        "metric": "snapshot_latency_ms_1080p_p50",
        "ours": round(ours_p50, 2),
        "baseline": round(base_p50, 1) if base_p50 else None,
        "ratio": round(ratio, 4) if ratio is not None else None,
        "ours_p95": round(p95(warm), 2),
        "baseline_p95": round(p95(base_ms), 1) if base else None,
        "repeat_p50": round(p50([c.wall_ms for c in ours.repeat]), 2),
        "repeat_p95": round(p95([c.wall_ms for c in ours.repeat]), 2),
        "first_p50": round(p50([c.wall_ms for c in ours.first]), 2),
        "first_p95": round(p95([c.wall_ms for c in ours.first]), 2),
        "age_ms_p50": round(p50(ages), 1),
        "age_ms_p95": round(p95(ages), 1),
        "ours_cpu_ms_p50": round(p50([c.cpu_ms for c in ours.warm]), 2),
        "baseline_cpu_ms_p50": round(p50([c.cpu_ms for c in base]), 1) if base else None,
        "warm_cpu_pct": round(ours.warm_cpu_pct, 2),
        "rss_mb_per_channel": round(rss["per_channel"], 2),
        "idle_cpu_pct": round(rss["cpu_pct"], 2),
        "channels": args.channels,
        "calls": len(warm),
        "first_calls": len(ours.first),
        "repeat_calls": len(ours.repeat),
        "baseline_calls": len(base),
        "relay_udp_drops": drops,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "pyav": av.__version__,
        "libavcodec": ".".join(map(str, libs["libavcodec"])),
        "python": sys.version.split()[0],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--calls", type=int, default=30, help="warm calls, one per GOP (30)")
    parser.add_argument("--channels", type=int, default=4, help="channels open for the RSS/CPU figures (4)")
    parser.add_argument("--seconds", type=float, default=5.0, help="idle CPU sampling window in seconds (5)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the ffmpeg baseline")
    parser.add_argument("--baseline-calls", type=int, default=None, help="ffmpeg snapshots (default: --calls)")
    parser.add_argument("--repeat-per-gop", type=int, default=2, help="repeat calls after each warm call (2)")
    args = parser.parse_args(argv)
    if args.calls < 2 or args.channels < 1 or args.repeat_per_gop < 1:
        parser.error("--calls must be at least 2, --channels and --repeat-per-gop at least 1")
    if args.baseline_calls is None:
        args.baseline_calls = args.calls
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its results."""
    args = parse_args(argv)
    ok, reason = tools_available()
    if not ok:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    codec_version = ".".join(map(str, av.library_versions["libavcodec"]))
    print(f"PyAV {av.__version__} (libavcodec {codec_version}), Python {sys.version.split()[0]}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    clip = ensure_clip("clip_1080p", clip_args)
    base: list[Call] = []
    with (
        live_feed(clip) as feed,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-executor") as executor,
    ):
        url = feed.url
        print(f"serving {WIDTH}x{HEIGHT} {FPS} fps H.264, keyframe every {GOP_SECONDS:g} s, {BITRATE}bit/s at {url}")
        rss = measure_rss(url, args.channels, args.seconds, executor)
        print_rss(rss, args.channels)
        ours = measure_ours(url, args.calls, args.repeat_per_gop, executor)
        print_ours(ours)
        if not args.skip_baseline:
            base = measure_baseline(url, args.baseline_calls, timeout=30)
            print_baseline(base)
        drops = feed.drops.total
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(f"RTP datagrams the relay's UDP socket dropped during the run: {drops}")
    result = record(args, rss, ours, base, drops)
    verdicts = [
        verdict("p50", result["ours"], TARGET_P50_MS, f"{result['ours']:.1f} ms"),
        verdict("still age p95", result["age_ms_p95"], TARGET_AGE_P95_MS, f"{result['age_ms_p95']:.0f} ms"),
        verdict("RSS/channel", result["rss_mb_per_channel"], TARGET_RSS_MB, f"{result['rss_mb_per_channel']:.1f} MB"),
    ]
    if result["ratio"] is not None:
        verdicts.insert(1, verdict("ratio", result["ratio"], TARGET_RATIO, f"{result['ratio']:.3f}"))
    print("targets: " + "; ".join(verdicts))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
