"""Recording cost: the engine's recorder vs ffmpeg's stream copy, and many channels at once.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/record.py              # PyAV 13
    scripts/py314_root.sh run -- python bench/record.py   # PyAV 19, Python 3.14 (HA 2026 line)
    .venv/bin/python bench/record.py --seconds 20 --channels 1,4   # quick look

It generates (once, cached under bench/out/) a 1080p 15 fps H.264 clip, serves
it as an endless live RTSP mount on 127.0.0.1 (tests/rtsp_peer.py) and
measures:

1. CPU seconds per minute of video, recording the same feed for ``--seconds``
   (60) with 60 s segments:
   * OURS: a child process that runs one Channel + Recorder in continuous
     mode (reader thread, recorder thread, fragmented MP4, SQLite index). Its
     CPU is counted from just before the channel starts until the recorder has
     closed its file, so interpreter start-up and imports are left out;
   * BASELINE: ``ffmpeg -rtsp_transport tcp -i URL -c copy -f segment
     -segment_time 60 ...``, its whole run (from getrusage of the child).
   Each side runs ``--repeats`` times, alternating; the medians are compared.
2. 1, 4 and 16 channels at once in this process (``--channels``): total CPU %
   of one core, RSS growth per channel, context switches, and the lag of an
   asyncio event loop that gets every status callback through
   ``call_soon_threadsafe``, the way Home Assistant does (p99 of how late a
   10 ms timer fires). BASELINE: as many ``ffmpeg -c copy`` processes on the
   same feed, their CPU over the same window. ``--channel-repeats`` runs of
   each, alternating; medians.

Human-readable lines first, one JSON line last: its ``metric`` is the CPU of
the largest channel count (``cpu_pct_16ch``), ``ours`` / ``baseline`` / ``ratio``
its medians; phase 1 is under ``per_video_minute``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "custom_components" / "nvr"))  # after the stdlib: the integration has a select.py
sys.path.append(str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import av  # noqa: E402
from common import OUT, context_switches, cpu_seconds, ensure_clip, live_feed, rss_mb, wait_until  # noqa: E402
from engine import (  # noqa: E402
    Archive,
    Channel,
    ChannelConfig,
    Recorder,
    RecorderSettings,
    RecordingMode,
    StreamSource,
    stop_channels,
)
from rtsp_peer import tools_available  # noqa: E402

WIDTH, HEIGHT, FPS, GOP_FRAMES = 1920, 1080, 15, 30
CLIP_SECONDS = 20
BITRATE = "4M"
SOURCE = f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}"
FILTER = "noise=alls=12:allf=t"
SEGMENT_SECONDS = 60
TARGET_RATIO = 1.3
TARGET_CPU_16 = 25.0
TARGET_RSS_PER_CHANNEL = 30.0
TARGET_LAG_P99 = 20.0


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


def video_seconds(files: list[Path]) -> float:
    """Summed video duration of MP4 files, by ffprobe."""
    total = 0.0
    for path in files:
        proc = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            total += float(proc.stdout.strip())
        except ValueError:
            print(f"  ffprobe cannot read {path.name}: {proc.stderr.strip()}")
    return total


# --------------------------------------------------------------------------
# phase 1: one channel, ours vs ffmpeg
# --------------------------------------------------------------------------


def child_main(url: str, folder: str, seconds: float) -> int:
    """Record ``url`` for ``seconds`` of wall time; print CPU seconds as JSON."""
    root = Path(folder)
    archive = Archive(root)
    archive.recover()
    settings = RecorderSettings(mode=RecordingMode.CONTINUOUS, segment_seconds=SEGMENT_SECONDS)
    began_cpu = cpu_seconds()
    recorder = Recorder("bench", root, archive.index, settings, make_room=archive.pruner.make_room)
    channel = Channel(ChannelConfig("bench", "Bench", StreamSource(url)), recorder=recorder)
    recorder.start()
    channel.start()
    time.sleep(seconds)
    channel.stop()
    recorder.stop()
    cpu = cpu_seconds() - began_cpu
    files = [root / s.path for s in archive.index.segments()]
    archive.close()
    print(json.dumps({"cpu": cpu, "files": [str(f) for f in files]}))
    return 0


def run_ours(url: str, seconds: float) -> tuple[float, float]:
    """(CPU seconds, video seconds) of one recorder in a child process."""
    folder = Path(tempfile.mkdtemp(prefix="nvr-bench-ours-", dir=OUT))
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", url, str(folder), str(seconds)],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"recorder child failed: {proc.stderr.strip()[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        return result["cpu"], video_seconds([Path(f) for f in result["files"]])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ffmpeg_copy(url: str, out: Path, seconds: float | None = None) -> list[str]:
    """ffmpeg's segmenting stream copy of ``url`` into ``out`` (a pattern), for ``seconds`` or until stopped."""
    limit = ["-t", str(seconds)] if seconds is not None else []
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-rtsp_transport", "tcp", "-i", url, *limit,
        "-c", "copy", "-f", "segment", "-segment_time", str(SEGMENT_SECONDS),
        "-segment_format", "mp4", "-reset_timestamps", "1", str(out),
    ]  # fmt: skip


def run_ffmpeg(url: str, seconds: float) -> tuple[float, float]:
    """(CPU seconds, video seconds) of ffmpeg's segmenting stream copy."""
    folder = Path(tempfile.mkdtemp(prefix="nvr-bench-ffmpeg-", dir=OUT))
    try:
        argv = ffmpeg_copy(url, folder / "out%03d.mp4", seconds)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"ffmpeg failed: {proc.stderr.strip()[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return cpu, video_seconds(sorted(folder.glob("*.mp4")))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def per_minute(cpu: float, video: float) -> float:
    """CPU seconds per minute of video."""
    if video <= 0:
        raise SystemExit("no video was recorded")
    return cpu * 60 / video


# --------------------------------------------------------------------------
# phase 2: many channels in one process, with an event loop watching
# --------------------------------------------------------------------------


async def _watch_loop(seconds: float, lags: list[float]) -> None:
    """Record how late a 10 ms timer fires, for ``seconds``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        expected = loop.time() + 0.01
        await asyncio.sleep(0.01)
        lags.append(max(0.0, loop.time() - expected) * 1000)


def run_channels(url: str, count: int, seconds: float) -> dict[str, float]:
    """Record ``count`` channels of the feed at once for ``seconds``."""
    folder = Path(tempfile.mkdtemp(prefix=f"nvr-bench-{count}ch-", dir=OUT))
    loop = asyncio.new_event_loop()
    callbacks = 0

    def on_loop(*_args: object) -> None:
        nonlocal callbacks
        callbacks += 1

    def from_thread(*args: object) -> None:
        loop.call_soon_threadsafe(on_loop, *args)

    try:
        archive = Archive(folder)
        archive.recover()
        rss_before = rss_mb()
        settings = RecorderSettings(mode=RecordingMode.CONTINUOUS, segment_seconds=SEGMENT_SECONDS)
        recorders: list[Recorder] = []
        channels: list[Channel] = []
        for n in range(count):
            key = f"ch{n:02d}"
            recorder = Recorder(key, folder, archive.index, settings, from_thread, archive.pruner.make_room, key)
            channel = Channel(ChannelConfig(key, key, StreamSource(url)), lambda *a: from_thread(*a), recorder)
            recorders.append(recorder)
            channels.append(channel)
            recorder.start()
            channel.start()
        wait_until(lambda: all(r.status.recording for r in recorders), 30, "every channel to record", step=0.05)
        time.sleep(2)  # settle: first segment open, buffers filled
        lags: list[float] = []
        cpu0, wall0, switches0 = cpu_seconds(), time.monotonic(), context_switches()
        loop.run_until_complete(_watch_loop(seconds, lags))
        cpu = cpu_seconds() - cpu0
        wall = time.monotonic() - wall0
        switches = context_switches() - switches0
        rss_after = rss_mb()
        stop_channels(channels, timeout=10)
        for recorder in recorders:
            recorder.stop()
        segments = archive.index.segments()
        archive.close()
        return {
            "channels": count,
            "cpu_percent": round(cpu / wall * 100, 1),
            "context_switches_per_s": round(switches / wall),
            "rss_mb_per_channel": round((rss_after - rss_before) / count, 1),
            "loop_lag_p99_ms": round(statistics.quantiles(lags, n=100, method="inclusive")[98], 2),
            "loop_lag_max_ms": round(max(lags), 2),
            "callbacks": callbacks,
            "files": len(segments),
        }
    finally:
        loop.close()
        shutil.rmtree(folder, ignore_errors=True)


def run_loop_only(seconds: float) -> float:
    """CPU % of this process with the watched event loop and no channel: the bench's own share."""
    loop = asyncio.new_event_loop()
    try:
        lags: list[float] = []
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        loop.run_until_complete(_watch_loop(seconds, lags))
        return round((cpu_seconds() - cpu0) / (time.monotonic() - wall0) * 100, 2)
    finally:
        loop.close()


def run_ffmpeg_channels(url: str, count: int, seconds: float) -> float:
    """CPU % of one core of ``count`` ffmpeg stream copies of the feed at once, over ``seconds``.

    Each writes 60 s MP4 segments as in phase 1. Measured like ours: once
    every one has written its first bytes, 2 s to settle, then the window
    (from /proc/<pid>/stat of the children).
    """
    folder = Path(tempfile.mkdtemp(prefix=f"nvr-bench-ffmpeg-{count}ch-", dir=OUT))
    procs: list[subprocess.Popen] = []
    try:
        for n in range(count):
            argv = ffmpeg_copy(url, folder / f"c{n:02d}-%03d.mp4")
            procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))

        def all_writing() -> bool:
            if any(p.poll() is not None for p in procs):
                raise SystemExit("an ffmpeg stream copy ended early")
            return all(any(f.stat().st_size > 0 for f in folder.glob(f"c{n:02d}-*.mp4")) for n in range(count))

        wait_until(all_writing, 30, "every ffmpeg copy to write", step=0.05)
        time.sleep(2)  # settle, as ours
        cpu0, wall0 = sum(cpu_seconds(p.pid) for p in procs), time.monotonic()
        time.sleep(seconds)
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        return round(cpu / (time.monotonic() - wall0) * 100, 1)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------


def verdict(name: str, value: float, target: float) -> str:
    """'name value (<= target: ok|MISSED)'."""
    return f"{name} {value:g} (<= {target:g}: {'ok' if value <= target else 'MISSED'})"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="recording time per run in phase 1 (60)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side in phase 1 (2)")
    parser.add_argument("--channels", default="1,4,16", help="channel counts for phase 2 (1,4,16)")
    parser.add_argument("--channel-seconds", type=float, default=30.0, help="measuring window in phase 2 (30)")
    parser.add_argument("--channel-repeats", type=int, default=2, help="runs per side and count in phase 2 (2)")
    parser.add_argument("--child", nargs=3, metavar=("URL", "DIR", "SECONDS"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _median_figures(runs: list[dict[str, float]], baseline: list[float]) -> dict[str, object]:
    """One channel count's figures: medians of our runs (files: the smallest), the baseline, and the runs."""
    keys = ("cpu_percent", "context_switches_per_s", "rss_mb_per_channel", "loop_lag_p99_ms", "loop_lag_max_ms")
    figures: dict[str, object] = {"channels": int(runs[0]["channels"])}
    figures.update({k: round(statistics.median(r[k] for r in runs), 2) for k in keys})
    figures["context_switches_per_s"] = round(figures["context_switches_per_s"])
    figures["files"] = min(int(r["files"]) for r in runs)
    figures["callbacks"] = min(int(r["callbacks"]) for r in runs)
    base = statistics.median(baseline)
    figures["ffmpeg_cpu_percent"] = round(base, 1)
    figures["cpu_ratio"] = round(figures["cpu_percent"] / base, 2) if base > 0 else None
    figures["cpu_percent_runs"] = [r["cpu_percent"] for r in runs]
    figures["ffmpeg_cpu_percent_runs"] = baseline
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its results."""
    args = parse_args(argv)
    if args.child:
        url, folder, seconds = args.child
        return child_main(url, folder, float(seconds))
    ok, reason = tools_available()
    if not ok:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    print(f"PyAV {av.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    clip = ensure_clip("clip_1080p15", clip_args)
    counts = [int(c) for c in args.channels.split(",") if c.strip()]
    ours: list[float] = []
    base: list[float] = []
    multi: list[dict[str, object]] = []
    with live_feed(clip) as feed:
        print(f"serving {WIDTH}x{HEIGHT} {FPS} fps H.264, {BITRATE}bit/s, GOP {GOP_FRAMES} frames at {feed.url}")
        for n in range(args.repeats):
            cpu, video = run_ours(feed.url, args.seconds)
            ours.append(per_minute(cpu, video))
            print(f"ours   #{n + 1}: {cpu:.2f} CPU-s for {video:.1f} s of video = {ours[-1]:.3f} CPU-s/min")
            cpu, video = run_ffmpeg(feed.url, args.seconds)
            base.append(per_minute(cpu, video))
            print(f"ffmpeg #{n + 1}: {cpu:.2f} CPU-s for {video:.1f} s of video = {base[-1]:.3f} CPU-s/min")
        loop_only = run_loop_only(min(10.0, args.channel_seconds))
        print(f" 0 channels: CPU {loop_only:.2f} % of one core (the watched event loop and the bench's threads)")
        for count in counts:
            runs: list[dict[str, float]] = []
            baseline: list[float] = []
            for n in range(args.channel_repeats):
                runs.append(run_channels(feed.url, count, args.channel_seconds))
                baseline.append(run_ffmpeg_channels(feed.url, count, args.channel_seconds))
                run = runs[-1]
                print(
                    f"{count:2d} channels #{n + 1}: CPU {run['cpu_percent']:.1f} % of one core "
                    f"({run['context_switches_per_s']:.0f} context switches/s) vs {count} x ffmpeg "
                    f"{baseline[-1]:.1f} %, RSS +{run['rss_mb_per_channel']:.1f} MB/channel, "
                    f"loop lag p99 {run['loop_lag_p99_ms']:.2f} ms (max {run['loop_lag_max_ms']:.1f}), "
                    f"{run['files']} files"
                )
            multi.append(_median_figures(runs, baseline))
        drops = feed.drops.total
    print(f"load average at end: {os.getloadavg()[0]:.2f}; RTP datagrams dropped by the relay: {drops}")
    ours_med, base_med = statistics.median(ours), statistics.median(base)
    ratio = ours_med / base_med
    verdicts = [verdict("CPU-s/min ratio", round(ratio, 2), TARGET_RATIO)]
    by_count = {int(m["channels"]): m for m in multi}
    if 16 in by_count:
        verdicts.append(verdict("16ch CPU %", by_count[16]["cpu_percent"], TARGET_CPU_16))
    if multi:
        verdicts.append(verdict("RSS MB/ch", max(m["rss_mb_per_channel"] for m in multi), TARGET_RSS_PER_CHANNEL))
        verdicts.append(verdict("lag p99 ms", max(m["loop_lag_p99_ms"] for m in multi), TARGET_LAG_P99))
    print("targets: " + "; ".join(verdicts))
    headline = by_count[max(by_count)] if by_count else None
    result = {
        "metric": f"cpu_pct_{headline['channels']}ch" if headline else "record_cpu_seconds_per_video_minute",
        "ours": headline["cpu_percent"] if headline else round(ours_med, 4),
        "baseline": headline["ffmpeg_cpu_percent"] if headline else round(base_med, 4),
        "ratio": headline["cpu_ratio"] if headline else round(ratio, 3),
        "baseline_command": "N x ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 60",
        "per_video_minute": {
            "metric": "record_cpu_seconds_per_video_minute",
            "ours": round(ours_med, 4),
            "baseline": round(base_med, 4),
            "ratio": round(ratio, 3),
            "ours_runs": [round(v, 4) for v in ours],
            "baseline_runs": [round(v, 4) for v in base],
        },
        "loop_only_cpu_percent": loop_only,
        "channels": multi,
        "relay_drops": drops,
        "pyav": av.__version__,
        "python": sys.version.split()[0],
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
