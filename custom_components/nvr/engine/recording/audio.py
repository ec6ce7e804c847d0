"""Audio that MP4 cannot carry (G.711 and the like), transcoded to AAC.

The decoded samples become the AAC encoder's planar float frames here, with
numpy, not through PyAV's audio resampler; the encoder's own first frame
is encoded under ``graphs_single_threaded``. So neither makes an FFmpeg filter
graph with worker threads (see ``engine/libav.py``).
"""

from __future__ import annotations

import contextlib
from fractions import Fraction

import av
import av.error
import numpy as np

from ..libav import graphs_single_threaded, open_decoder, single_threaded
from ..stream.mediaformat import AudioFormat

AAC_BITRATE_PER_CHANNEL = 32000


class AacTranscoder:
    """Decode non-MP4 audio and encode AAC into one output stream."""

    def __init__(self, output, audio: AudioFormat) -> None:
        layout = "mono" if audio.channels == 1 else "stereo"
        self.decoder = open_decoder(audio.codec)
        self.decoder.sample_rate = audio.sample_rate
        self.decoder.layout = layout
        if audio.extradata:
            self.decoder.extradata = audio.extradata
        self.stream = output.add_stream("aac", rate=audio.sample_rate)
        ctx = single_threaded(self.stream.codec_context)
        ctx.layout = layout
        ctx.format = "fltp"
        ctx.bit_rate = AAC_BITRATE_PER_CHANNEL * (1 if layout == "mono" else 2)
        ctx.time_base = Fraction(1, audio.sample_rate)
        self.stream.time_base = ctx.time_base
        self.sample_rate = audio.sample_rate
        self.frames = PlanarFrames(1 if layout == "mono" else 2, audio.sample_rate, ctx.frame_size or 1024)
        self.next_pts: int | None = None
        self.first_pts: int | None = None
        self._encoded = False
        """Whether the encoder had a frame (PyAV builds its filter graph at the first one)."""

    def encode(self, data: bytes, start_samples: int) -> list[av.Packet]:
        """Packets for one input packet whose first sample is at ``start_samples``."""
        if self.next_pts is None:
            self.next_pts = self.first_pts = start_samples
        packet = av.Packet(data)
        out: list[av.Packet] = []
        for frame in self.decoder.decode(packet):
            for chunk in self.frames.push(frame):
                out.extend(self._encode_chunk(chunk))
        return out

    def _encode_chunk(self, chunk) -> list[av.Packet]:
        if chunk is not None:
            chunk.pts = self.next_pts
            chunk.time_base = self.stream.codec_context.time_base
            self.next_pts += chunk.samples
        # The encoder's priming packet comes before the first sample: left in, it would start the
        # file before its first picture and the muxer would move everything later (no edit lists).
        if self._encoded:
            packets = self.stream.encode(chunk)
        else:
            packets = aac_encode(self.stream, chunk)
            self._encoded = chunk is not None
        return [p for p in packets if p.pts is None or p.pts >= self.first_pts]

    def flush(self) -> list[av.Packet]:
        """Encode what is still buffered."""
        out: list[av.Packet] = []
        for chunk in self.frames.flush():
            out.extend(self._encode_chunk(chunk))
        with contextlib.suppress(av.error.FFmpegError, ValueError):
            out.extend(p for p in self.stream.encode(None) if p.pts is None or p.pts >= (self.first_pts or 0))
        return out


def aac_encode(stream, frame: av.AudioFrame | None) -> list[av.Packet]:
    """``stream.encode(frame)`` with no filter-graph thread: for an encoder's first frame (PyAV's graph)."""
    with graphs_single_threaded():
        return stream.encode(frame)


_SCALE = {np.dtype(np.int16): 1 / 32768, np.dtype(np.int32): 1 / 2147483648}


class PlanarFrames:
    """Decoded audio frames as the AAC encoder takes them: planar float, ``size`` samples a frame.

    Mono stays mono; two or more channels become stereo (the first two).
    The sample rate is kept: a frame at another rate raises ValueError.
    """

    def __init__(self, channels: int, rate: int, size: int) -> None:
        self.channels = channels
        self.rate = rate
        self.size = size
        self._layout = "mono" if channels == 1 else "stereo"
        self._held = np.zeros((channels, 0), dtype=np.float32)

    def push(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        """The whole frames the samples held so far and ``frame``'s make (the rest is held)."""
        if frame.sample_rate != self.rate:
            raise ValueError(f"audio at {frame.sample_rate} Hz in a {self.rate} Hz track")
        self._held = np.concatenate((self._held, self._planar(frame)), axis=1)
        whole = self._held.shape[1] // self.size * self.size
        out = [self._frame(self._held[:, i : i + self.size]) for i in range(0, whole, self.size)]
        self._held = self._held[:, whole:]
        return out

    def flush(self) -> list[av.AudioFrame]:
        """The samples still held, as one last (short) frame."""
        held, self._held = self._held, self._held[:, :0]
        return [self._frame(held)] if held.shape[1] else []

    def _planar(self, frame: av.AudioFrame) -> np.ndarray:
        data = frame.to_ndarray()
        if not frame.format.is_planar:  # interleaved: one row of samples x channels
            data = data.reshape(-1, len(frame.layout.channels)).T
        if data.dtype == np.uint8:
            samples = (data.astype(np.float32) - 128) / 128
        elif data.dtype in _SCALE:
            samples = data.astype(np.float32) * _SCALE[data.dtype]
        else:
            samples = data.astype(np.float32)
        if samples.shape[0] == self.channels:
            return samples
        if self.channels == 1:
            return samples.mean(axis=0, keepdims=True)
        return samples[:2] if samples.shape[0] >= 2 else np.repeat(samples, 2, axis=0)

    def _frame(self, samples: np.ndarray) -> av.AudioFrame:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=self._layout)
        frame.sample_rate = self.rate
        return frame
