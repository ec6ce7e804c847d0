"""Still images from the held GOP: decode, scale, encode JPEG.

Decoding starts at the GOP's keyframe and goes on through newer packets for
as long as a small time budget allows, so the picture is as fresh as cheaply
possible. A decoder is kept per stream and resumed when the next call lands
in the same GOP, so repeated calls only decode what arrived in between.
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import av
import av.error

from .gop import Gop

JPEG_QUALITY = 4
"""MJPEG quantiser scale: 2 is best, 31 worst; 4 is near Pillow's quality 85."""
DECODE_BUDGET = 0.02
"""Seconds of decoding spent past the keyframe to reach newer frames."""
_FF_QP2LAMBDA = 118


class SnapshotError(Exception):
    """No picture could be made from the held packets."""


def target_size(src_w: int, src_h: int, width: int | None, height: int | None) -> tuple[int, int]:
    """Return the output size: exact when both are given, else keep the aspect.

    Sizes are rounded to even numbers, which 4:2:0 JPEG needs.
    """
    if width and height:
        w, h = width, height
    elif width:
        w, h = width, round(src_h * width / src_w)
    elif height:
        w, h = round(src_w * height / src_h), height
    else:
        w, h = src_w, src_h
    return max(2, w + (w & 1)), max(2, h + (h & 1))


def encode_jpeg(frame: av.VideoFrame, width: int | None = None, height: int | None = None) -> bytes:
    """Scale a frame to the size asked for and encode it as JPEG."""
    w, h = target_size(frame.width, frame.height, width, height)
    scaled = frame.reformat(width=w, height=h, format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width = w
    encoder.height = h
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    q = str(JPEG_QUALITY)
    encoder.options = {
        "flags": "+qscale",
        "global_quality": str(JPEG_QUALITY * _FF_QP2LAMBDA),
        "qmin": q,
        "qmax": q,
    }
    packets = list(encoder.encode(scaled)) + list(encoder.encode(None))
    if not packets:
        raise SnapshotError("the JPEG encoder returned nothing")
    return b"".join(bytes(p) for p in packets)


class SnapshotDecoder:
    """Turns a stream's latest GOP into a picture; thread-safe."""

    def __init__(self, budget: float = DECODE_BUDGET) -> None:
        """Create an idle decoder."""
        self._budget = budget
        self._lock = threading.Lock()
        self._ctx: av.CodecContext | None = None
        self._serial = -1
        self._done = 0
        self._frame: av.VideoFrame | None = None

    def latest_frame(self, gop: Gop) -> av.VideoFrame:
        """Decode the keyframe and as many newer packets as the budget allows."""
        with self._lock:
            if gop.serial != self._serial or self._ctx is None or self._ctx.name != gop.codec.name:
                self._restart(gop)
            start = time.perf_counter()
            packets = gop.packets
            while self._done < len(packets):
                if self._frame is not None and time.perf_counter() - start > self._budget:
                    break
                self._decode(packets[self._done].data)
                self._done += 1
            if self._frame is None:
                self._decode(None)  # drain a decoder that holds frames back
                self._serial = -1  # a drained decoder takes no more input
            if self._frame is None:
                raise SnapshotError("the keyframe did not decode")
            return self._frame

    def jpeg(self, gop: Gop, width: int | None = None, height: int | None = None) -> bytes:
        """Return a JPEG of the newest picture, scaled to the size asked for."""
        frame = self.latest_frame(gop)
        return encode_jpeg(frame, width, height)

    def close(self) -> None:
        """Drop the decoder."""
        with self._lock:
            self._ctx = None
            self._frame = None
            self._serial = -1

    def _restart(self, gop: Gop) -> None:
        ctx = av.CodecContext.create(gop.codec.name, "r")
        if gop.codec.extradata:
            ctx.extradata = gop.codec.extradata
        ctx.thread_type = "SLICE"
        self._ctx = ctx
        self._serial = gop.serial
        self._done = 0
        self._frame = None

    def _decode(self, data: bytes | None) -> None:
        assert self._ctx is not None
        packet = av.Packet(data) if data is not None else None
        try:
            frames = self._ctx.decode(packet)
        except av.error.FFmpegError:
            return  # a damaged packet; keep the last good picture
        if frames:
            self._frame = frames[-1]
