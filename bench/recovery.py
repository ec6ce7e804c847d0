"""How long a channel takes to show live pictures again after its camera comes back, and where the time goes.

Run from the repository root (never part of the test suite)::

    .venv/bin/python bench/recovery.py               # about 5 minutes
    .venv/bin/python bench/recovery.py --tries 4     # quick look

A 640×360 H.264 clip (2 s GOP, 15 fps, as many cameras send) is served as
an endless live RTSP mount on 127.0.0.1, and one engine channel reads it.
Each try takes the camera away for a random 3–15 s, in one of two ways:

* DROP: the RTSP server goes (connections refused, as when a camera
  reboots or its cable is pulled and put back);
* STALL: the camera stops sending but keeps its connection (its feeder is
  SIGSTOPped); the channel counts it as lost after 5 s without a picture.

Then it comes back at a random moment, and the bench measures from that
moment to the channel's first keyframe ("connected"), split into:

* WAIT: until the reader's next connection attempt (its backoff);
* OPEN: the attempt itself (TCP, RTSP DESCRIBE/SETUP/PLAY, probing);
* KEYFRAME: from the open until the first keyframe (the camera's GOP).

BASELINE: a bare PyAV client started at the moment the camera comes back,
until its first keyframe: the least any client can do (no waiting at all).

Human-readable lines first, one JSON line last (``metric``:
``recovery_after_drop_seconds_p50``; the stall's figures beside it).
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "custom_components" / "nvr"))  # after the stdlib: the integration has a select.py
sys.path.append(str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import av  # noqa: E402
from common import ensure_clip, live_feed, p50, p95, wait_until  # noqa: E402
from engine import Channel, ChannelConfig, StreamSource  # noqa: E402
from engine.stream import reader as reader_module  # noqa: E402

WIDTH, HEIGHT, FPS, GOP_FRAMES = 640, 360, 15, 30
OUTAGE = (3.0, 15.0)
STALL_MIN = 6.0
"""A stall shorter than the read timeout (5 s) is no outage: the reader just waits."""


def clip_args(out: Path) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}", "-t", "60",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", str(GOP_FRAMES), "-keyint_min", str(GOP_FRAMES), "-sc_threshold", "0",
        "-x264-params", "repeat-headers=1", "-f", "mpegts", str(out),
    ]  # fmt: skip


class Opens:
    """Every connection attempt of the reader: (start, end, succeeded), from a wrapper of its ``open_input``."""

    def __init__(self) -> None:
        self.attempts: list[tuple[float, float, bool]] = []
        self._open = reader_module.open_input
        reader_module.open_input = self._timed

    def _timed(self, *args, **kwargs):
        began = time.monotonic()
        try:
            container = self._open(*args, **kwargs)
        except BaseException:
            self.attempts.append((began, time.monotonic(), False))
            raise
        self.attempts.append((began, time.monotonic(), True))
        return container

    def first_success_after(self, moment: float) -> tuple[float, float] | None:
        return next(((s, e) for s, e, ok in self.attempts if ok and e >= moment), None)

    def close(self) -> None:
        reader_module.open_input = self._open


class Connected:
    """When the channel's main stream last turned connected (from its status callback)."""

    def __init__(self) -> None:
        self.at: float | None = None
        self.event = threading.Event()

    def __call__(self, _role: str, status) -> None:
        if status.connected and self.at is None:
            self.at = time.monotonic()
            self.event.set()

    def reset(self) -> None:
        self.at = None
        self.event.clear()


def bare_first_keyframe(url: str, since: float, result: list[float], deadline: float) -> None:
    """A fresh PyAV client from ``since`` until its first keyframe, retrying at once on failure."""
    while time.monotonic() < deadline:
        try:
            options = {"rtsp_transport": "tcp", "analyzeduration": "500000", "probesize": "500000"}
            with av.open(url, options=options, timeout=(8, 5)) as container:
                for packet in container.demux(video=0):
                    if packet.size and packet.is_keyframe:
                        result.append(time.monotonic() - since)
                        return
        except (av.error.FFmpegError, OSError):
            time.sleep(0.01)


def run(args: argparse.Namespace) -> dict:
    clip = ensure_clip("clip_360p_gop2", clip_args)
    rng = random.Random(args.seed)
    opens = Opens()
    connected = Connected()
    rows: list[dict] = []
    with live_feed(clip) as feed:
        channel = Channel(ChannelConfig("bench", "Bench", StreamSource(feed.url)), on_status=connected)
        channel.start()
        try:
            wait_until(lambda: channel.status().connected, 20, "the channel to connect")
            for turn in range(args.tries * 2):
                kind = "drop" if turn % 2 == 0 else "stall"
                outage = rng.uniform(max(OUTAGE[0], STALL_MIN if kind == "stall" else 0), OUTAGE[1])
                cut = time.monotonic()
                if kind == "drop":
                    feed.server.stop()
                else:
                    feed.feeder.send_signal(signal.SIGSTOP)
                wait_until(lambda: not channel.status().connected, 30, "the channel to see the outage", 0.01)
                time.sleep(max(0.0, cut + outage - time.monotonic()))
                connected.reset()
                if kind == "drop":
                    feed.server.start()
                else:
                    feed.feeder.send_signal(signal.SIGCONT)
                back = time.monotonic()
                base: list[float] = []
                bare = threading.Thread(target=bare_first_keyframe, args=(feed.url, back, base, back + 30))
                bare.start()
                if not connected.event.wait(30):
                    raise SystemExit(f"{kind}: the channel did not come back within 30 s")
                bare.join(35)
                attempt = opens.first_success_after(back)
                row = {
                    "kind": kind,
                    "outage": outage,
                    "ours": connected.at - back,
                    "wait": max(0.0, attempt[0] - back) if attempt else None,
                    "open": attempt[1] - max(attempt[0], back) if attempt else None,
                    "keyframe": connected.at - attempt[1] if attempt else None,
                    "baseline": base[0] if base else None,
                }
                rows.append(row)
                print(
                    f"  {kind:<5} after {outage:4.1f} s: {row['ours']:.2f} s"
                    f" (wait {row['wait']:.2f}, open {row['open']:.2f}, keyframe {row['keyframe']:.2f});"
                    f" bare client {row['baseline'] or float('nan'):.2f} s"
                )
                time.sleep(rng.uniform(0, GOP_FRAMES / FPS))  # the next outage starts anywhere in the GOP
        finally:
            channel.stop(5.0)
            opens.close()
    figures: dict = {}
    for kind in ("drop", "stall"):
        chosen = [r for r in rows if r["kind"] == kind]
        figures[kind] = {
            key: round(p50([r[key] for r in chosen if r[key] is not None]), 2)
            for key in ("ours", "wait", "open", "keyframe", "baseline")
        }
        figures[kind]["ours_p95"] = round(p95([r["ours"] for r in chosen]), 2)
        figures[kind]["ours_max"] = round(max(r["ours"] for r in chosen), 2)
        print(f"{kind:<5} p50: {figures[kind]}")
    ours, base = figures["drop"]["ours"], figures["drop"]["baseline"]
    return {
        "metric": "recovery_after_drop_seconds_p50",
        "ours": ours,
        "baseline": base,
        "ratio": round(ours / base, 2) if base else None,
        "drop": figures["drop"],
        "stall": figures["stall"],
        "tries": args.tries,
        "gop_seconds": GOP_FRAMES / FPS,
        "backoff_cap": reader_module.BACKOFF_CAP,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=12, help="outages of each kind (default 12)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--backoff-cap", type=float, help="the reader's longest pause between attempts (A/B)")
    args = parser.parse_args()
    if args.backoff_cap is not None:
        reader_module.BACKOFF_CAP = args.backoff_cap
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
