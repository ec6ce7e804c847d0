"""What a recorder needs to know about a connected stream.

Built by the reader thread while its input is open. PyAV can only copy a
stream's codec parameters from another stream object, and the input's stream
objects die with the input (reconnects close it while a recorder may still be
writing), so the parameters are copied into streams of a private, never
written output container that lives as long as this object.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction

import av
from av.container import OutputContainer
from av.stream import Stream

from ..libav import single_threaded

MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "opus"})
"""Audio copied as it is; anything else (G.711, G.726, ADPCM...) becomes AAC."""


def copy_stream(container: OutputContainer, template: Stream) -> Stream:
    """Add a stream with ``template``'s codec parameters (PyAV 13 and 14+).

    PyAV 13 opens the new stream's codec context when the container starts
    (a decoder nobody uses): on its calling thread alone, as every codec
    context of the engine (see ``engine/libav.py``), not with FFmpeg's slice
    threads, one set per recorded file and relay connection.
    """
    if hasattr(container, "add_stream_from_template"):
        stream = container.add_stream_from_template(template)
    else:
        stream = container.add_stream(template=template)
    single_threaded(stream.codec_context)
    return stream


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """The audio track of a stream, as far as recording cares."""

    codec: str
    sample_rate: int
    channels: int
    time_base: Fraction
    extradata: bytes | None

    @property
    def copy(self) -> bool:
        """True when MP4 can carry the codec without transcoding."""
        return self.codec in MP4_AUDIO_CODECS


class MediaFormat:
    """Codec parameters of one connection's video (and audio) stream."""

    def __init__(self, video: Stream, audio: Stream | None, size: tuple[int, int] | None = None) -> None:
        """Copy the parameters of the input's ``video`` and ``audio`` streams.

        ``size`` is the picture size when the input's probe did not learn it
        (see :mod:`.sps`): a muxer refuses a video track of size 0×0.
        """
        self._holder = av.open(io.BytesIO(), "w", format="mp4")
        self._video = copy_stream(self._holder, video)
        ctx = video.codec_context
        self.video_codec: str = ctx.name
        self.width: int = size[0] if size else ctx.width
        self.height: int = size[1] if size else ctx.height
        self.video_time_base: Fraction = video.time_base or Fraction(1, 90000)
        self.video_seconds_per_tick: float = float(self.video_time_base)
        """The time base as a float, for per-packet arithmetic (Fractions are slow)."""
        self.video_extradata: bytes | None = bytes(ctx.extradata) if ctx.extradata else None
        self.audio: AudioFormat | None = None
        self._audio: Stream | None = None
        """A stream with the audio's parameters (None: none, or MP4 cannot carry it)."""
        if audio is not None and audio.codec_context is not None:
            actx = audio.codec_context
            channels = getattr(actx, "channels", 0) or len(getattr(actx.layout, "channels", ())) or 1
            self.audio = AudioFormat(
                codec=actx.name,
                sample_rate=actx.sample_rate or 8000,
                channels=channels,
                time_base=audio.time_base or Fraction(1, actx.sample_rate or 8000),
                extradata=bytes(actx.extradata) if actx.extradata else None,
            )
            if self.audio.copy:
                self._audio = copy_stream(self._holder, audio)

    @property
    def video_template(self) -> Stream:
        """A stream with the video's parameters, to copy into another output."""
        return self._video

    @property
    def audio_template(self) -> Stream | None:
        """A stream with the audio's parameters, when it can be copied."""
        return self._audio

    def add_video(self, output: OutputContainer) -> Stream:
        """Add a stream-copied video track to ``output``.

        H.265 gets the ``hvc1`` tag, which Safari and Apple players need.
        """
        stream = copy_stream(output, self._video)
        # Copied from the input's parameters, which may lack the size; the
        # context's values reach the track when the file's header is written.
        stream.codec_context.width = self.width
        stream.codec_context.height = self.height
        if self.video_codec == "hevc":
            stream.codec_context.codec_tag = "hvc1"
        return stream

    def add_copied_audio(self, output: OutputContainer) -> Stream | None:
        """Add a stream-copied audio track, when the codec allows it."""
        return copy_stream(output, self._audio) if self._audio is not None else None

    def describe(self) -> str:
        """Short text for logs."""
        audio = f" + {self.audio.codec} {self.audio.sample_rate} Hz" if self.audio else ""
        return f"{self.video_codec} {self.width}x{self.height}{audio}"
