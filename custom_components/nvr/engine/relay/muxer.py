"""MPEG-TS made packet by packet: each packet becomes a chunk of whole TS packets.

PAT and PMT are written before every picture, so a viewer can start at the
first chunk of any GOP. The muxer writes to memory; the relay fans the
chunks out to its viewers. With an audio track, the muxer interleaves by
time: a chunk may hold an earlier packet, or be empty.
"""

from __future__ import annotations

import contextlib
import io
import logging
from fractions import Fraction

import av
import av.error
from av.stream import Stream

from ..stream.mediaformat import copy_stream
from .audio import AudioTrack, RelayAudio

_LOGGER = logging.getLogger(__name__)

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
    """One MPEG-TS stream: video, and AAC audio when the camera has audio; :meth:`mux` returns the bytes."""

    def __init__(
        self,
        template: Stream,
        width: int,
        height: int,
        audio: AudioTrack | None = None,
        audio_template: Stream | None = None,
    ) -> None:
        """Take the video stream's parameters from ``template`` (an input's or a holder's stream).

        ``audio`` adds the audio track (copied from ``audio_template`` when it
        is AAC). When that track cannot be made, the stream has no audio
        (:attr:`audio` is None).
        """
        self._chunks = _Chunks()
        self._output = av.open(self._chunks, "w", format="mpegts", container_options=_OPTIONS)
        self._video = copy_stream(self._output, template)
        ctx = self._video.codec_context
        ctx.width, ctx.height = width, height  # the template's probe may not have learnt them
        self.audio: RelayAudio | None = None
        if audio is not None:
            try:
                self.audio = RelayAudio(self._output, audio, audio_template)
            except (av.error.FFmpegError, ValueError) as err:
                _LOGGER.debug("Relayed without audio: no AAC track for %s: %s", audio, err)

    def mux(self, data: bytes, pts: int, dts: int, keyframe: bool) -> bytes:
        """TS packets of one video packet, timestamps in 1/90000 s; raises av.error.FFmpegError."""
        return self._mux(self._video, data, pts, dts, keyframe)

    def mux_audio(self, data: bytes, ticks: int) -> bytes:
        """TS packets of one AAC frame at ``ticks`` (1/90000 s); raises av.error.FFmpegError."""
        assert self.audio is not None
        return self._mux(self.audio.stream, data, ticks, ticks, True)

    def _mux(self, stream: Stream, data: bytes, pts: int, dts: int, keyframe: bool) -> bytes:
        packet = av.Packet(data)
        packet.pts = pts
        packet.dts = dts
        packet.time_base = TS_TIME_BASE
        packet.is_keyframe = keyframe
        packet.stream = stream
        self._output.mux(packet)
        return self._chunks.take()

    def close(self) -> None:
        """Release the muxer (what it would still write is not needed)."""
        with contextlib.suppress(av.error.FFmpegError, ValueError, OSError):
            self._output.close()
