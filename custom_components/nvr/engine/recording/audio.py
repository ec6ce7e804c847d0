"""Audio that MP4 cannot carry (G.711 and the like), transcoded to AAC."""

from __future__ import annotations

import contextlib
from fractions import Fraction

import av
import av.audio.resampler
import av.error

from ..libav import open_decoder, single_threaded
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
        self.resampler: av.audio.resampler.AudioResampler | None = None
        self.next_pts: int | None = None
        self.first_pts: int | None = None

    def encode(self, data: bytes, start_samples: int) -> list[av.Packet]:
        """Packets for one input packet whose first sample is at ``start_samples``."""
        if self.next_pts is None:
            self.next_pts = self.first_pts = start_samples
        packet = av.Packet(data)
        out: list[av.Packet] = []
        for frame in self.decoder.decode(packet):
            out.extend(self._encode_frame(frame))
        return out

    def _encode_frame(self, frame) -> list[av.Packet]:
        if self.resampler is None:
            ctx = self.stream.codec_context
            self.resampler = av.audio.resampler.AudioResampler(
                format="fltp", layout=ctx.layout.name, rate=self.sample_rate, frame_size=ctx.frame_size or 1024
            )
        out: list[av.Packet] = []
        for chunk in self.resampler.resample(frame):
            out.extend(self._encode_chunk(chunk))
        return out

    def _encode_chunk(self, chunk) -> list[av.Packet]:
        if chunk is not None:
            chunk.pts = self.next_pts
            chunk.time_base = self.stream.codec_context.time_base
            self.next_pts += chunk.samples
        # The encoder's priming packet comes before the first sample: left in, it would start the
        # file before its first picture and the muxer would move everything later (no edit lists).
        return [p for p in self.stream.encode(chunk) if p.pts is None or p.pts >= self.first_pts]

    def flush(self) -> list[av.Packet]:
        """Encode what is still buffered."""
        out: list[av.Packet] = []
        if self.resampler is not None:
            for chunk in self.resampler.resample(None):
                out.extend(self._encode_chunk(chunk))
        with contextlib.suppress(av.error.FFmpegError, ValueError):
            out.extend(p for p in self.stream.encode(None) if p.pts is None or p.pts >= (self.first_pts or 0))
        return out
