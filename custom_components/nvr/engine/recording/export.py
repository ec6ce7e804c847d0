"""Exporting a span of footage as one MP4, remuxed from the segments."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from ..stream.mediaformat import copy_stream
from .index import RecordingIndex, Segment

_LOGGER = logging.getLogger(__name__)


class ExportError(Exception):
    """The clip could not be made; ``reason`` is a translation key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        """Keep the reason key and a detail for logs."""
        super().__init__(detail or reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ExportedClip:
    """The written file."""

    path: Path
    start: float
    """Wall time of the clip's first frame (a keyframe at or before the asked start)."""
    duration: float
    video_frames: int


def _first_keyframe_pts(path: Path, segment: Segment, start: float) -> int | None:
    """Pts of the last keyframe at or before ``start`` in a file (else its first keyframe)."""
    chosen = None
    with contextlib.closing(av.open(str(path), "r")) as container:
        video = container.streams.video[0]
        with contextlib.suppress(av.error.FFmpegError, OSError):
            for packet in container.demux(video):
                if packet.pts is None or not packet.is_keyframe:
                    continue
                if chosen is None or segment.start + float(packet.pts * video.time_base) <= start:
                    chosen = packet.pts
                else:
                    break
    return chosen


class _ClipWriter:
    """Muxes packets of several files into one, on one continuous timeline."""

    def __init__(self, path: Path) -> None:
        self.output = av.open(str(path), "w", format="mp4", container_options={"movflags": "+faststart"})
        self.video = None
        self.audio = None
        self.shape: tuple[str, int, int] | None = None
        self.start: float | None = None
        self.frames = 0
        self.end = 0.0
        self._last_dts: dict[bool, int] = {}

    def accepts(self, container) -> bool:
        """Add the output streams from the first file; refuse files of another shape."""
        video = container.streams.video[0]
        ctx = video.codec_context
        shape = (ctx.name, ctx.width, ctx.height)
        if self.shape is None:
            self.shape = shape
            self.video = copy_stream(self.output, video)
            if ctx.name == "hevc":
                self.video.codec_context.codec_tag = "hvc1"
            if container.streams.audio:
                self.audio = copy_stream(self.output, container.streams.audio[0])
            return True
        return shape == self.shape

    def mux(self, packet, is_video: bool, wall: float, segment_start: float) -> None:
        assert self.start is not None
        time_base = packet.time_base
        offset = round((segment_start - self.start) / time_base)
        packet.pts += offset
        packet.dts = (packet.dts + offset) if packet.dts is not None else packet.pts
        last = self._last_dts.get(is_video)
        if packet.pts < 0 or (last is not None and packet.dts <= last):
            return  # overlap between files: keep the first copy
        self._last_dts[is_video] = packet.dts
        packet.stream = self.video if is_video else self.audio
        self.output.mux(packet)
        if is_video:
            self.frames += 1
            self.end = max(self.end, wall + float((packet.duration or 0) * time_base))


def export_clip(index: RecordingIndex, root: Path, channel: str, start: float, end: float, dest: Path) -> ExportedClip:
    """Write footage of ``channel`` from ``start`` to ``end`` (epoch s) to ``dest``.

    The clip begins at the keyframe at or before ``start``. Blocking.
    """
    if end <= start:
        raise ExportError("end_before_start")
    segments = [s for s in index.segments(channel, start, end) if s.end > s.start]
    if not segments:
        raise ExportError("no_footage")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    clip = _ClipWriter(partial)
    try:
        for segment in segments:
            _copy_segment(clip, root / segment.path, segment, start, end)
        clip.output.close()
    except BaseException:
        with contextlib.suppress(Exception):
            clip.output.close()
        partial.unlink(missing_ok=True)
        raise
    if not clip.frames or clip.start is None:
        partial.unlink(missing_ok=True)
        raise ExportError("no_footage")
    partial.replace(dest)
    return ExportedClip(dest, clip.start, clip.end - clip.start, clip.frames)


def _copy_segment(clip: _ClipWriter, path: Path, segment: Segment, start: float, end: float) -> None:
    first_pts = None
    if clip.start is None:
        try:
            first_pts = _first_keyframe_pts(path, segment, start)
        except (av.error.FFmpegError, OSError, IndexError) as err:
            _LOGGER.warning("Export skips unreadable %s: %s", segment.path, err)
            return
        if first_pts is None:
            return
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, OSError) as err:
        _LOGGER.warning("Export skips unreadable %s: %s", segment.path, err)
        return
    with contextlib.closing(container):
        if not container.streams.video:
            return
        if not clip.accepts(container):
            _LOGGER.warning("Export skips %s: the stream changed format", segment.path)
            return
        video = container.streams.video[0]
        streams = [video]
        if container.streams.audio and clip.audio is not None:
            streams.append(container.streams.audio[0])
        with contextlib.suppress(av.error.FFmpegError, OSError):
            for packet in container.demux(*streams):
                if packet.pts is None or not packet.size:
                    continue
                is_video = packet.stream_index == video.index
                wall = segment.start + float(packet.pts * packet.time_base)
                if clip.start is None:
                    if not is_video or packet.pts != first_pts:
                        continue
                    clip.start = wall
                if wall >= end:
                    if is_video:
                        break
                    continue
                if wall < clip.start:
                    continue
                clip.mux(packet, is_video, wall, segment.start)
