"""One recording file: fragmented MP4, video stream-copied.

Each file is written with ``frag_keyframe+empty_moov``: the header goes out
first and the footage follows in fragments of at most one second, flushed to
the file as they close, so a file cut off by a crash or a kill still plays up
to its last fragment. Timestamps are rebased so every file starts at zero.
Audio that MP4 can carry is copied; other audio (G.711 and the like) is
transcoded to AAC. Video is never re-encoded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import av
import av.error

from ..stream.gop import EncodedPacket
from ..stream.mediaformat import MediaFormat
from .audio import AacTranscoder

FRAGMENT_SECONDS = 1.0
"""Longest fragment: the most footage a crash can cost."""
_MUX_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": str(int(FRAGMENT_SECONDS * 1_000_000)),
    "flush_packets": "1",
}


@dataclass(frozen=True, slots=True)
class WrittenSegment:
    """What a closed segment holds, in stream seconds from its first keyframe."""

    path: Path
    duration: float
    video_frames: int
    bytes: int


class SegmentWriter:
    """Write packets of one connection into one MP4 file.

    ``base`` is the first keyframe's decode timestamp in the video time base;
    timestamps in the file are relative to it. Video packets must arrive with
    strictly increasing ``dts`` (see :class:`.timestamps.TimestampFixer`).
    Blocking file I/O: use it from the recorder's thread only.
    """

    def __init__(self, path: Path, media: MediaFormat, base: int) -> None:
        """Create the file and write its header; raises OSError or av.error.FFmpegError."""
        self.path = path
        self.media = media
        self.base = base
        self.video_frames = 0
        self._pending: EncodedPacket | None = None
        self._last_step = 0
        self._last_dts = -1
        path.parent.mkdir(parents=True, exist_ok=True)
        self._output = av.open(str(path), "w", format="mp4", container_options=_MUX_OPTIONS)
        try:
            self._video = media.add_video(self._output)
            self._audio_copy = media.add_copied_audio(self._output)
            self._transcoder = None
            if media.audio is not None and self._audio_copy is None:
                self._transcoder = AacTranscoder(self._output, media.audio)
            self._audio_base = self._to_audio_ticks(base)
            self._output.start_encoding()
        except BaseException:
            self._abandon()
            path.unlink(missing_ok=True)  # a header at most: nothing worth keeping
            raise

    def _to_audio_ticks(self, video_ticks: int) -> int:
        audio = self.media.audio
        if audio is None:
            return 0
        return round(video_ticks * self.media.video_time_base / audio.time_base)

    def seconds(self, dts: int) -> float:
        """Seconds from the file's start to a video timestamp."""
        return (dts - self.base) * self.media.video_seconds_per_tick

    @property
    def duration(self) -> float:
        """Seconds of video written so far (up to the held-back packet)."""
        return self.seconds(self._last_dts) if self._last_dts >= 0 else 0.0

    def write_video(self, packet: EncodedPacket) -> None:
        """Queue a video packet; it is written once the next one gives its duration."""
        if self._pending is not None:
            self._last_step = packet.dts - self._pending.dts
            self._mux_video(self._pending, self._last_step)
        self._pending = packet
        self._last_dts = packet.dts

    def _mux_video(self, packet: EncodedPacket, duration: int) -> None:
        out = av.Packet(packet.data)
        out.dts = packet.dts - self.base
        out.pts = (packet.pts if packet.pts is not None else packet.dts) - self.base
        out.duration = max(duration, 0)
        out.time_base = self.media.video_time_base
        out.is_keyframe = packet.keyframe
        out.stream = self._video
        self._output.mux(out)
        self.video_frames += 1

    def write_audio(self, packet: EncodedPacket) -> None:
        """Write (or transcode) an audio packet; packets before the file's start are dropped."""
        audio = self.media.audio
        if audio is None or packet.pts is None:
            return
        pts = packet.pts - self._audio_base
        if pts < 0:
            return
        if self._transcoder is not None:
            samples = round(pts * audio.time_base * audio.sample_rate)
            for out in self._transcoder.encode(packet.data, samples):
                self._output.mux(out)
            return
        out = av.Packet(packet.data)
        out.pts = pts
        out.dts = (packet.dts if packet.dts is not None else packet.pts) - self._audio_base
        out.duration = packet.duration
        out.time_base = audio.time_base
        out.stream = self._audio_copy
        self._output.mux(out)

    def close(self, end_dts: int | None = None) -> WrittenSegment:
        """Write what is held back and finish the file.

        ``end_dts`` (the next segment's first keyframe) gives the last frame's
        exact duration; otherwise it lasts as long as the one before it (or,
        in a file of one frame, as long as the demuxer said).
        """
        try:
            if self._pending is not None:
                step = (
                    end_dts - self._pending.dts
                    if end_dts is not None and end_dts > self._pending.dts
                    else self._last_step or max(self._pending.duration, 0)
                )
                self._mux_video(self._pending, step)
                self._last_dts = self._pending.dts + step
                self._pending = None
            if self._transcoder is not None:
                for out in self._transcoder.flush():
                    self._output.mux(out)
            self._output.close()
            # FFmpeg does not report a failed flush on close: check the file is whole.
            if trim_to_whole_boxes(self.path):
                raise _incomplete_error(self.path)
        except BaseException:
            self._abandon()
            raise
        _fsync(self.path)
        return WrittenSegment(self.path, self.duration, self.video_frames, file_size(self.path))

    def abandon(self) -> WrittenSegment:
        """Close after a write error, keeping whatever reached the disk.

        The file is cut back to its last whole fragment (a half-written one
        would end playback with a decoding error); the duration is read back.
        """
        self._abandon()
        trim_to_whole_boxes(self.path)
        scanned = scan_segment(self.path)
        if scanned is None:
            return WrittenSegment(self.path, 0.0, 0, file_size(self.path))
        return WrittenSegment(self.path, scanned.duration, scanned.video_frames, scanned.bytes)

    def _abandon(self) -> None:
        with contextlib.suppress(Exception):
            self._output.close()


def trim_to_whole_boxes(path: Path) -> bool:
    """Cut a fragmented MP4 back to its last whole fragment; True if it was cut.

    A write error or a crash can leave a fragment half on disk: its ``moof``
    promises more data than follows. Everything from the first incomplete
    top-level box (and a ``moof`` left without its ``mdat``) is removed.
    """
    try:
        with path.open("r+b") as handle:
            size = os.fstat(handle.fileno()).st_size
            pos = keep = 0
            while pos + 8 <= size:
                handle.seek(pos)
                header = handle.read(16)
                length = int.from_bytes(header[:4], "big")
                box_type = header[4:8]
                if length == 1 and len(header) == 16:
                    length = int.from_bytes(header[8:16], "big")
                elif length == 0:
                    length = size - pos  # runs to the end of the file
                if length < 8 or pos + length > size:
                    break
                pos += length
                if box_type != b"moof":
                    keep = pos
            if keep < size:
                handle.truncate(keep)
                return True
    except OSError:
        return False
    return False


def _incomplete_error(path: Path) -> OSError:
    """The error for a file that did not reach the disk whole (a full disk, most likely)."""
    try:
        full = shutil.disk_usage(path.parent).free < 1024 * 1024
    except OSError:
        full = False
    code = errno.ENOSPC if full else errno.EIO
    return OSError(code, os.strerror(code), str(path))


def file_size(path: Path) -> int:
    """Bytes of a file, 0 if it is gone."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _fsync(path: Path) -> None:
    """Push a finished file to the disk (footage must survive a power cut)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class ScannedSegment:
    """What reading a file back found."""

    duration: float
    video_frames: int
    bytes: int


def scan_segment(path: Path) -> ScannedSegment | None:
    """Read a segment file's packets to learn its real duration.

    Works on files cut off by a crash (the demuxer stops at the last whole
    fragment). Returns None when the file holds no playable video.
    """
    try:
        container = av.open(str(path), "r")
    except (av.error.FFmpegError, OSError):
        return None
    frames = 0
    first: float | None = None
    last = 0.0
    try:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        time_base = stream.time_base
        with contextlib.suppress(av.error.FFmpegError, OSError):
            for packet in container.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                frames += 1
                start = float(packet.pts * time_base)
                end = float((packet.pts + (packet.duration or 0)) * time_base)
                first = start if first is None else min(first, start)
                last = max(last, end)
    finally:
        container.close()
    if not frames or first is None:
        return None
    return ScannedSegment(max(0.0, last - min(first, 0.0)), frames, file_size(path))
