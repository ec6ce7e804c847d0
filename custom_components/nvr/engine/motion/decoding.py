"""The decoder of a channel's detection stream."""

from __future__ import annotations

import logging
from typing import Any

import av
import av.error

from .. import libav
from ..stream.mediaformat import MediaFormat

_LOGGER = logging.getLogger(__name__)


def open_decoder(media: MediaFormat, label: str) -> Any:
    """A decoder for the stream's video (None when FFmpeg has none for its codec).

    It decodes on the motion worker's thread alone, whatever the picture's
    size: see engine/libav.py for why no FFmpeg thread of ours may exist.
    """
    try:
        return libav.open_decoder(media.video_codec, media.video_extradata)
    except (av.error.FFmpegError, ValueError) as err:
        _LOGGER.warning("Motion detection of %s cannot decode %s: %s", label, media.video_codec, err)
        return None
