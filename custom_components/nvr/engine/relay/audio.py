"""The relay's audio track: AAC copied, other audio transcoded to AAC, silence where the camera sends none.

The track never stops while a viewer watches. Where the camera sends no
audio (an outage, or a camera that announces a track it rarely fills),
silent AAC frames follow the pictures. A muxer interleaves its tracks: it
would hold the pictures back waiting for audio that does not come, and
HA's HLS would cut broken parts out of such a stream.

Times here are on the relay's 90 kHz timeline; the track itself counts
samples, so AAC frames line up without rounding drift.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error
from av.container import OutputContainer
from av.stream import Stream

from ..libav import single_threaded
from ..recording.audio import AAC_BITRATE_PER_CHANNEL, AacTranscoder, aac_encode
from ..stream.gop import EncodedPacket
from ..stream.mediaformat import AudioFormat, copy_stream

_LOGGER = logging.getLogger(__name__)

AAC_FRAME_SAMPLES = 1024
SILENCE_AFTER_TICKS = 90000
"""Audio this far behind the pictures is missing and silence fills it: live audio may lag a little,
transcoded audio by the encoder's delay too."""


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """What a relayed audio track is: AAC at the camera's rate and channels, copied or transcoded."""

    source_codec: str
    sample_rate: int
    channels: int

    @property
    def copied(self) -> bool:
        """True when the camera's own AAC frames are relayed."""
        return self.source_codec == "aac"

    @staticmethod
    def of(audio: AudioFormat | None) -> AudioTrack | None:
        """The track relayed for a connection's audio (None: no audio)."""
        if audio is None:
            return None
        return AudioTrack(audio.codec, audio.sample_rate, max(1, min(audio.channels, 2)))


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _configure_aac(stream: Stream, track: AudioTrack) -> None:
    ctx = single_threaded(stream.codec_context)
    ctx.layout = _layout(track.channels)
    ctx.format = "fltp"
    ctx.bit_rate = AAC_BITRATE_PER_CHANNEL * track.channels
    ctx.time_base = Fraction(1, track.sample_rate)
    stream.time_base = ctx.time_base


def silent_aac_frame(track: AudioTrack) -> bytes:
    """One AAC frame of silence, as the relay's own encoder makes it."""
    holder = av.open(io.BytesIO(), "w", format="mpegts")
    try:
        stream = holder.add_stream("aac", rate=track.sample_rate)
        _configure_aac(stream, track)
        packets: list[av.Packet] = []
        for turn in range(4):
            frame = av.AudioFrame(format="fltp", layout=_layout(track.channels), samples=AAC_FRAME_SAMPLES)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate = track.sample_rate
            frame.pts = turn * AAC_FRAME_SAMPLES
            frame.time_base = stream.codec_context.time_base
            packets.extend(aac_encode(stream, frame))
        if not packets:
            raise ValueError("the AAC encoder made no frame")
        return bytes(packets[-1])
    finally:
        holder.close()


class RelayAudio:
    """The audio track of one relay muxer (see the module)."""

    def __init__(self, output: OutputContainer, track: AudioTrack, template: Stream | None) -> None:
        """Add the track to ``output``: a copy of ``template`` for AAC, else an AAC encoder's track.

        Raises av.error.FFmpegError or ValueError when the track cannot be made.
        """
        self.track = track
        self._silence = silent_aac_frame(track)  # first: a track without frames would stall the muxer
        if track.copied and template is not None:
            self.stream = copy_stream(output, template)
        else:
            self.stream = output.add_stream("aac", rate=track.sample_rate)
            _configure_aac(self.stream, track)
        self._next: int | None = None
        """The next sample on the relay's timeline (None before the first packet)."""
        self._transcoder: AacTranscoder | None = None
        self._source: AudioFormat | None = None

    def new_connection(self, source: AudioFormat | None) -> None:
        """A camera connection starts: its audio (same track, or None) continues the timeline."""
        self._source = source if AudioTrack.of(source) == self.track else None
        self._transcoder = None

    def live(self, packet: EncodedPacket, ticks: int) -> list[tuple[bytes, int]]:
        """Frames (data, 90 kHz time) for a camera packet starting at ``ticks`` on the relay's timeline."""
        source = self._source
        if source is None or packet.pts is None:
            return []
        start = self._ticks_to_samples(ticks)
        if self.track.copied:
            # Rounding moves a frame by a sample or so; a whole frame earlier is covered by silence.
            if self._next is not None and start < self._next - AAC_FRAME_SAMPLES // 2:
                return []
            out = self._silence_until(start)
            self._next = start + self._packet_samples(packet, source)
            return [*out, (packet.data, self._samples_to_ticks(start))]
        out = []
        if self._transcoder is None:
            if self._next is not None and start < self._next:
                return []
            out = self._silence_until(start)  # a new connection's sound starts a little later
            self._transcoder = self._new_transcoder(source)
            if self._transcoder is None:
                return out
        try:
            for encoded in self._transcoder.encode(packet.data, start):
                if encoded.pts is None or (self._next is not None and encoded.pts < self._next):
                    continue
                out.append((bytes(encoded), self._samples_to_ticks(encoded.pts)))
                self._next = encoded.pts + AAC_FRAME_SAMPLES
        except (av.error.FFmpegError, ValueError) as err:
            _LOGGER.debug("Relay audio: cannot transcode %s: %s", source.codec, err)
            self._source = None
        return out

    def silence(self, until_ticks: int, start_ticks: int) -> list[tuple[bytes, int]]:
        """Silent frames that bring the track up to ``until_ticks`` (first one at ``start_ticks`` if it is empty)."""
        if self._next is None:
            self._next = self._ticks_to_samples(start_ticks)
        out = self._silence_until(self._ticks_to_samples(until_ticks))
        if out:
            self._transcoder = None  # a transcoder's own running count would overlap the silence
        return out

    def _silence_until(self, end: int) -> list[tuple[bytes, int]]:
        out: list[tuple[bytes, int]] = []
        while self._next is not None and self._next + AAC_FRAME_SAMPLES <= end:
            out.append((self._silence, self._samples_to_ticks(self._next)))
            self._next += AAC_FRAME_SAMPLES
        return out

    def _new_transcoder(self, source: AudioFormat) -> AacTranscoder | None:
        try:
            return AacTranscoder(av.open(io.BytesIO(), "w", format="mpegts"), source)
        except (av.error.FFmpegError, ValueError) as err:
            _LOGGER.debug("Relay audio: %s cannot be transcoded, the live view has none: %s", source.codec, err)
            self._source = None
            return None

    def _packet_samples(self, packet: EncodedPacket, source: AudioFormat) -> int:
        if packet.duration:
            return round(packet.duration * source.time_base * self.track.sample_rate)
        return AAC_FRAME_SAMPLES

    def _ticks_to_samples(self, ticks: int) -> int:
        return ticks * self.track.sample_rate // 90000

    def _samples_to_ticks(self, samples: int) -> int:
        return samples * 90000 // self.track.sample_rate
