"""Child process of test_teardown_deadlock.py: open and free decoders on several threads, fast.

Run as ``python teardown_stress.py MODE SECONDS``. Each worker thread loops:
open a decoder, send it a run of damaged H.264 or H.265 packets (so FFmpeg
logs errors, from its own threads when it has any), and free it at once
(its worker threads still busy). PyAV's Python log hook is on, at the level
HA's ``stream`` sets (``FATAL``), as it is inside Home Assistant.

MODE:

* ``engine``: decoders as the engine opens them (engine/libav.py, and the
  motion and stills decoders through their own modules);
* ``before``: decoders threaded as the engine opened them before the fix
  (frame threads, 2, for motion on 720p and larger; slice threads, as many
  as FFmpeg likes, for stills).

Every freed decoder prints ``closed N`` on stdout; the parent is the
watchdog (a deadlocked process runs no Python thread at all, a watchdog
thread inside it included). Ends with ``done N``.
"""

from __future__ import annotations

import contextlib
import random
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import av.error
import av.logging
import numpy as np

# Appended, not inserted: nvr/select.py would hide the stdlib module.
sys.path.append(str(Path(__file__).resolve().parents[2] / "custom_components" / "nvr"))

from engine.libav import single_threaded
from engine.motion.decoding import open_decoder as motion_decoder
from engine.stills.fresh import _decoder as fresh_decoder
from engine.stream.gop import CodecParams

WIDTH, HEIGHT, FRAMES = 1280, 720, 24
THREADS = 4


def encode_clip(codec: str) -> tuple[bytes | None, list[bytes]]:
    """Moving noise, encoded with B-frames: (extradata, packets)."""
    output = av.open(__file__ + f".{codec}.unused", "w", format="null")  # never written: format "null"
    try:
        stream = output.add_stream("libx264" if codec == "h264" else "libx265", rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        single_threaded(stream.codec_context)
        if codec == "h264":
            stream.codec_context.options = {"preset": "ultrafast", "bf": "2", "g": "12"}
        else:
            stream.codec_context.options = {
                "preset": "ultrafast",
                "x265-params": "bframes=2:keyint=12:log-level=error:pools=none:frame-threads=1",
            }
        stream.codec_context.time_base = Fraction(1, 25)
        rng = np.random.default_rng(1)
        base = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        packets: list[bytes] = []
        for n in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 8 * n, axis=1), format="rgb24").reformat(format="yuv420p")
            frame.pts = n
            packets.extend(bytes(p) for p in stream.encode(frame))
        packets.extend(bytes(p) for p in stream.encode(None))
        extradata = bytes(stream.codec_context.extradata) if stream.codec_context.extradata else None
        return extradata, packets
    finally:
        output.close()


def damage(packets: list[bytes], rng: random.Random) -> list[bytes]:
    """The same packets with bytes overwritten past their first 16 (the headers stay)."""
    out = []
    for data in packets:
        buf = bytearray(data)
        for _ in range(max(1, len(buf) // 200)):
            at = rng.randrange(16, len(buf)) if len(buf) > 16 else 0
            buf[at] = rng.randrange(256)
        out.append(bytes(buf))
    return out


def before_decoder(codec: str, extradata: bytes | None, motion: bool):
    ctx = av.CodecContext.create(codec, "r")
    if extradata:
        ctx.extradata = extradata
    if motion:
        ctx.thread_type, ctx.thread_count = "AUTO", 2
    else:
        ctx.thread_type = "SLICE"
    return ctx


def engine_decoder(codec: str, extradata: bytes | None, motion: bool):
    if motion:
        media = SimpleNamespace(video_codec=codec, video_extradata=extradata, width=WIDTH, height=HEIGHT)
        return motion_decoder(media, "stress")
    return fresh_decoder(CodecParams(codec, extradata, WIDTH, HEIGHT))


def main() -> None:
    mode, seconds = sys.argv[1], float(sys.argv[2])
    make = engine_decoder if mode == "engine" else before_decoder
    clips = {codec: encode_clip(codec) for codec in ("h264", "hevc")}
    av.logging.set_level(av.logging.FATAL)  # as HA's stream sets it
    closed = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    failed: list[BaseException] = []

    def work(n: int) -> None:
        try:
            loop(n)
        except BaseException as err:
            failed.append(err)
            raise

    def loop(n: int) -> None:
        nonlocal closed
        rng = random.Random(n)
        codec = ("h264", "hevc")[n % 2]
        extradata, packets = clips[codec]
        while time.monotonic() < deadline:
            ctx = make(codec, extradata, motion=rng.random() < 0.5)
            for data in damage(packets[: rng.randrange(4, len(packets))], rng):
                with contextlib.suppress(av.error.FFmpegError, ValueError):
                    ctx.decode(av.Packet(data))
            del ctx  # freed here, its threads (if any) still decoding
            with lock:
                closed += 1
                print(f"closed {closed}", flush=True)

    threads = [threading.Thread(target=work, args=(n,), name=f"stress-{n}") for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"done {closed}", flush=True)
    sys.exit(1 if failed or not closed else 0)


if __name__ == "__main__":
    main()
