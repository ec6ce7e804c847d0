"""Snapshot latency at 1080p: the engine's Channel.image() vs ffmpeg per snapshot.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/snapshot.py            # PyAV 13
    .venv-av19/bin/python bench/snapshot.py       # PyAV 19

It generates (once, cached under bench/out/) a 1080p H.264 clip, serves it as
an endless live RTSP mount on 127.0.0.1 (tests/rtsp_peer.py) and measures:

* memory and idle CPU of N open 1080p channels (each has served a snapshot);
* OURS: Channel.image() at full size, called from a worker thread as Home
  Assistant's camera entity does. Every call makes a fresh decoder, decodes the
  GOP's keyframe and then newer packets while the engine's decode budget
  allows, and encodes JPEG. "Cold" calls are the first call in a new GOP,
  spread over the GOP; "cold@kf" calls land right after the keyframe; "repeat"
  calls follow back to back (they too decode from the keyframe). The headline
  is the cold p50;
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
from engine.stills.placeholder import no_signal_jpeg  # noqa: E402
from engine.stills.snapshot import DECODE_BUDGET  # noqa: E402
from PIL import Image  # noqa: E402
from rtsp_peer import tools_available  # noqa: E402

WIDTH, HEIGHT, FPS, GOP_FRAMES = 1920, 1080, 25, 50
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
        lambda: reader.status.connected and reader.gop.latest() is not None,
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
    position: int = 0
    """Packets in the GOP when the call started (1 = only the keyframe).

    The returned picture is at most position - 1 frames older than the newest
    packet at that moment (the keyframe is always decoded); the decode budget
    usually makes it fresher, by an amount the engine does not expose.
    """

    @property
    def age_bound_ms(self) -> float:
        """Upper bound of the picture's age behind the newest packet at call time."""
        return max(0, self.position - 1) * 1000 / FPS


@dataclass
class Ours:
    """Results of the Channel.image() phase."""

    cold: list[Call] = field(default_factory=list)
    cold_kf: list[Call] = field(default_factory=list)
    repeat: list[Call] = field(default_factory=list)


def timed_image(executor: ThreadPoolExecutor, channel: Channel) -> Call:
    """Channel.image() at full size in a worker thread; wall time includes the hand-off."""

    def work() -> tuple[bytes, float]:
        cpu = time.thread_time()
        data = channel.image("main")
        return data, (time.thread_time() - cpu) * 1e3

    position = gop_packets(channel)
    began = time.perf_counter()
    data, cpu_ms = executor.submit(work).result()
    wall_ms = (time.perf_counter() - began) * 1e3
    return Call(wall_ms, cpu_ms, data, position)


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


def measure_ours(url: str, calls: int, kf_calls: int, repeat_per_gop: int, executor: ThreadPoolExecutor) -> Ours:
    """Cold (spread over the GOP), cold-at-keyframe and repeat Channel.image() calls."""
    result = Ours()
    channel = open_channel(url, "lat")
    try:
        wait_ready(channel)
        placeholder = no_signal_jpeg(channel.config.name, None, None, (WIDTH, HEIGHT))
        check_jpeg(timed_image(executor, channel).data, placeholder)  # one-time set-up, not counted
        # Cold calls right after the keyframe, then cold calls spread evenly over
        # the GOP (each the first call in its GOP) in shuffled order, each followed
        # by repeat calls back to back (no state is kept between calls: each one
        # decodes from the keyframe again).
        offsets = [(i + 0.5) / calls * GOP_SECONDS * 0.95 for i in range(calls)]
        random.Random(1080).shuffle(offsets)
        for index, offset in enumerate([0.0] * kf_calls + offsets):
            next_gop(channel)
            if offset:
                time.sleep(offset)
            cold = timed_image(executor, channel)
            if index < kf_calls:
                result.cold_kf.append(cold)
                continue
            result.cold.append(cold)
            result.repeat.extend(timed_image(executor, channel) for _ in range(repeat_per_gop))
        if not channel.status().connected:
            raise AssertionError("the channel lost its stream during the run")
    finally:
        channel.stop(5.0)
    for call in [*result.cold_kf, *result.cold, *result.repeat]:
        check_jpeg(call.data, placeholder)
    for first, second in itertools.pairwise(result.cold):
        if first.data == second.data:
            raise AssertionError("two cold snapshots in different GOPs are identical")
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
    """Human-readable memory and idle CPU lines."""
    print(
        f"memory, {count} channels: RSS {rss['before']:.0f} MB before, {rss['readers']:.0f} MB with readers "
        f"(full GOPs), {rss['after']:.0f} MB after one snapshot each, {rss['steady']:.0f} MB after idling"
    )
    print(
        f"memory per channel: {rss['per_channel']:.1f} MB "
        "(reader and GOP buffer, plus what the allocator kept of the freed per-call decoders,\n"
        "  which is per decoding thread, not per channel: snapshots here run in one worker thread)"
    )
    print(
        f"idle CPU with {count} channels open: {rss['cpu_pct']:.1f}% of one core "
        f"({rss['cpu_pct'] / count:.2f}% per channel; {rss['threads']} threads in the process)"
    )


def print_ours(ours: Ours) -> None:
    """Human-readable lines for Channel.image()."""
    print(f"ours cold (first call in a GOP, spread over it): {summary([c.wall_ms for c in ours.cold])}")
    print(f"ours cold right after the keyframe:             {summary([c.wall_ms for c in ours.cold_kf])}")
    print(f"ours repeat (back to back, from the keyframe):  {summary([c.wall_ms for c in ours.repeat])}")
    thirds = [
        [c.wall_ms for c in ours.cold if lo <= (c.position - 1) / GOP_FRAMES < hi]
        for lo, hi in ((0, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 9))
    ]
    print(
        "ours cold p50 by position in the GOP (early/middle/late third): "
        + " / ".join(f"{p50(t):.1f}" if t else "-" for t in thirds)
        + " ms"
    )
    print(
        f"ours CPU per call (worker thread): cold p50 {p50([c.cpu_ms for c in ours.cold]):.1f} ms, "
        f"at keyframe p50 {p50([c.cpu_ms for c in ours.cold_kf]):.1f} ms, "
        f"repeat p50 {p50([c.cpu_ms for c in ours.repeat]):.1f} ms"
    )
    budget_ms = DECODE_BUDGET * 1e3
    for name, calls in (("cold", ours.cold), ("cold@kf", ours.cold_kf), ("repeat", ours.repeat)):
        bounds = [c.age_bound_ms for c in calls]
        positions = [c.position for c in calls]
        print(
            f"ours {name}: age_bound (GOP position at call time) p50 {p50(bounds):.0f} ms / max {max(bounds):.0f} ms "
            f"({p50(positions):.0f} / {max(positions)} packets in the GOP)"
        )
    print(
        f"  (an upper bound: the picture is at least the keyframe; the {budget_ms:.0f} ms decode budget, "
        "counted from the start of the call, reaches some newer packets)"
    )
    print(
        f"ours JPEG: {WIDTH}x{HEIGHT}, decodes in Pillow, {p50([len(c.data) / 1024 for c in ours.cold]):.0f} KiB median"
    )


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
    cold = [c.wall_ms for c in ours.cold]
    base_ms = [c.wall_ms for c in base]
    ours_p50 = p50(cold)
    base_p50 = p50(base_ms) if base else None
    ratio = ours_p50 / base_p50 if base_p50 else None
    libs = av.library_versions
    return {
        "metric": "snapshot_latency_ms_1080p_p50",
        "ours": round(ours_p50, 2),
        "baseline": round(base_p50, 1) if base_p50 else None,
        "ratio": round(ratio, 4) if ratio is not None else None,
        "ours_p95": round(p95(cold), 2),
        "baseline_p95": round(p95(base_ms), 1) if base else None,
        "cold_kf_p50": round(p50([c.wall_ms for c in ours.cold_kf]), 2),
        "cold_kf_p95": round(p95([c.wall_ms for c in ours.cold_kf]), 2),
        "repeat_p50": round(p50([c.wall_ms for c in ours.repeat]), 2),
        "repeat_p95": round(p95([c.wall_ms for c in ours.repeat]), 2),
        "ours_cpu_ms_p50": round(p50([c.cpu_ms for c in ours.cold]), 2),
        "baseline_cpu_ms_p50": round(p50([c.cpu_ms for c in base]), 1) if base else None,
        "cold_age_bound_ms_p50": round(p50([c.age_bound_ms for c in ours.cold])),
        "cold_age_bound_ms_max": round(max(c.age_bound_ms for c in ours.cold)),
        "decode_budget_ms": round(DECODE_BUDGET * 1e3, 1),
        "rss_mb_per_channel": round(rss["per_channel"], 2),
        "idle_cpu_pct": round(rss["cpu_pct"], 2),
        "channels": args.channels,
        "calls": len(cold),
        "kf_calls": len(ours.cold_kf),
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
    parser.add_argument("--calls", type=int, default=30, help="cold calls (and GOPs of repeat calls) (30)")
    parser.add_argument("--channels", type=int, default=4, help="channels open for the RSS/CPU figures (4)")
    parser.add_argument("--seconds", type=float, default=5.0, help="idle CPU sampling window in seconds (5)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the ffmpeg baseline")
    parser.add_argument("--baseline-calls", type=int, default=None, help="ffmpeg snapshots (default: --calls)")
    parser.add_argument("--kf-calls", type=int, default=None, help="cold calls right at a keyframe (calls/2)")
    parser.add_argument("--repeat-per-gop", type=int, default=2, help="repeat calls after each cold call (2)")
    args = parser.parse_args(argv)
    if args.calls < 2 or args.channels < 1 or args.repeat_per_gop < 1:
        parser.error("--calls must be at least 2, --channels and --repeat-per-gop at least 1")
    if args.kf_calls is None:
        args.kf_calls = max(2, args.calls // 2)
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
        ours = measure_ours(url, args.calls, args.kf_calls, args.repeat_per_gop, executor)
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
        verdict("RSS/channel", result["rss_mb_per_channel"], TARGET_RSS_MB, f"{result['rss_mb_per_channel']:.1f} MB"),
    ]
    if result["ratio"] is not None:
        verdicts.insert(1, verdict("ratio", result["ratio"], TARGET_RATIO, f"{result['ratio']:.3f}"))
    print("targets: " + "; ".join(verdicts))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
