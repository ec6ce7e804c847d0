"""The decoder of a channel's detection stream."""

from __future__ import annotations

import logging
from typing import Any

import av
import av.error

from ..stream.mediaformat import MediaFormat

_LOGGER = logging.getLogger(__name__)

THREADED_PIXELS = 1280 * 720
"""Streams this large or larger are decoded on two threads."""


def open_decoder(media: MediaFormat, low_power: bool, label: str) -> Any:
    """A decoder for the stream's video (None when FFmpeg has none for its codec)."""
    try:
        ctx = av.CodecContext.create(media.video_codec, "r")
    except (av.error.FFmpegError, ValueError) as err:
        _LOGGER.warning("Motion detection of %s cannot decode %s: %s", label, media.video_codec, err)
        return None
    if media.video_extradata:
        ctx.extradata = media.video_extradata
    if not low_power and media.width * media.height >= THREADED_PIXELS:
        ctx.thread_type = "AUTO"
        ctx.thread_count = 2
    else:
        ctx.thread_type = "SLICE"  # one frame in, one frame out: no added latency
        ctx.thread_count = 1
    return ctx
