"""MPEG-TS made packet by packet: each video packet becomes a chunk of whole TS packets.

PAT and PMT are written before every picture, so a viewer can start at the
first chunk of any GOP. The muxer writes to memory; the relay fans the
chunks out to its viewers.
"""

from __future__ import annotations

import contextlib
import io
from fractions import Fraction

import av
import av.error
from av.stream import Stream

from ..stream.mediaformat import copy_stream

TS_TIME_BASE = Fraction(1, 90000)
_OPTIONS = {"mpegts_flags": "+pat_pmt_at_frames", "flush_packets": "1"}


class _Chunks(io.RawIOBase):
    """A write-only file that collects what the muxer writes."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.data += b
        return len(b)

    def take(self) -> bytes:
        data = bytes(self.data)
        self.data.clear()
        return data


class TsMuxer:
    """One MPEG-TS video stream; :meth:`mux` returns the bytes of each packet."""

    def __init__(self, template: Stream, width: int, height: int) -> None:
        """Take the video stream's parameters from ``template`` (an input's or a holder's stream)."""
        self._chunks = _Chunks()
        self._output = av.open(self._chunks, "w", format="mpegts", container_options=_OPTIONS)
        self._video = copy_stream(self._output, template)
        ctx = self._video.codec_context
        ctx.width, ctx.height = width, height  # the template's probe may not have learnt them

    def mux(self, data: bytes, pts: int, dts: int, keyframe: bool) -> bytes:
        """TS packets of one video packet, timestamps in 1/90000 s; raises av.error.FFmpegError."""
        packet = av.Packet(data)
        packet.pts = pts
        packet.dts = dts
        packet.time_base = TS_TIME_BASE
        packet.is_keyframe = keyframe
        packet.stream = self._video
        self._output.mux(packet)
        return self._chunks.take()

    def close(self) -> None:
        """Release the muxer (what it would still write is not needed)."""
        with contextlib.suppress(av.error.FFmpegError, ValueError, OSError):
            self._output.close()
