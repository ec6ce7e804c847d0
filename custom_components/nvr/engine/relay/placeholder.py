"""The "No video signal" picture as video: a few keyframes in the stream's own codec and size.

Encoded once per stream (codec, size, channel name and caption), then repeated with
new timestamps while the camera is down. Two pictures are kept and sent in
turn: two IDR pictures in a row must differ in their ``idr_pic_id``, which
the encoder sets.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from fractions import Fraction

import av

from ..libav import open_encoder
from ..stills.caption import Caption, current_caption
from ..stills.placeholder import no_signal_image

ENCODERS = {
    "h264": ("libx264", "x264-params", "keyint=1:repeat-headers=1"),
    "hevc": (
        "libx265",
        "x265-params",
        "keyint=1:min-keyint=1:open-gop=0:repeat-headers=1:log-level=error"
        ":pools=none:frame-threads=1",  # no thread of x265's own (see engine/libav.py)
    ),
}
"""Codec -> (PyAV encoder, its parameter option, parameters): every picture a keyframe with its headers."""


@dataclass(frozen=True, slots=True)
class VideoFormat:
    """What a relayed video stream is: codec and picture size."""

    codec: str
    width: int
    height: int

    def describe(self) -> str:
        """Return e.g. 'h264 1280x720'."""
        return f"{self.codec} {self.width}x{self.height}"


DEFAULT_FORMAT = VideoFormat("h264", 1280, 720)
"""Used before a stream's first connection when nothing else is known of it."""


@dataclass(frozen=True, slots=True)
class PlaceholderVideo:
    """Encoded "No video signal" pictures (Annex B, headers in-band) and their format."""

    format: VideoFormat
    pictures: tuple[bytes, ...]
    caption: Caption

    def stream_template(self) -> av.container.InputContainer:
        """An input over one picture whose video stream can be a muxer's template (close it after)."""
        return av.open(io.BytesIO(self.pictures[0]), "r", format=self.format.codec)


_cache: dict[tuple[VideoFormat, str, Caption], PlaceholderVideo] = {}
_cache_lock = threading.Lock()


def placeholder_video(video: VideoFormat, name: str) -> PlaceholderVideo:
    """The placeholder of ``video``'s codec and size with the channel's name; blocking (encodes once)."""
    caption = current_caption()
    key = (video, name, caption)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    encoder, option, params = ENCODERS.get(video.codec, ENCODERS["h264"])
    width, height = max(16, video.width - video.width % 2), max(16, video.height - video.height % 2)
    frame = av.VideoFrame.from_image(no_signal_image(name, width, height, caption)).reformat(format="yuv420p")
    ctx = open_encoder(encoder)
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, 90000)
    ctx.options = {"preset": "ultrafast", option: params}
    packets = []
    for n in range(2):
        frame.pts = n * 90000
        packets.extend(ctx.encode(frame))
    packets.extend(ctx.encode(None))
    result = PlaceholderVideo(
        VideoFormat(video.codec if video.codec in ENCODERS else "h264", width, height),
        tuple(bytes(p) for p in packets[:2]),
        caption,
    )
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = result
    return result
