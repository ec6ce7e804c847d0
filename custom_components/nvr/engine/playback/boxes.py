"""The box structure of a recording file: what playback needs of a fragmented MP4.

Only top-level boxes and the few inside ``moov`` and ``moof`` that playback
uses are read (headers and small payloads), never the media: the tracks and
their time scales, each ``moof`` + ``mdat`` fragment with its time span and
whether it starts on a keyframe, and where every ``tfdt`` value sits (so
:mod:`.playlist` can shift a file onto a longer timeline).

Plain Python, blocking file I/O: call from an executor.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

_CONTAINERS = {b"moov", b"trak", b"mdia", b"mvex", b"moof", b"traf", b"minf"}
_NON_SYNC = 0x00010000


class BoxError(ValueError):
    """The file is not a fragmented MP4 this module understands."""


@dataclass(frozen=True, slots=True)
class Box:
    """One MP4 box: its type, where it starts and its full size (header included)."""

    type: bytes
    offset: int
    size: int
    header: int

    @property
    def end(self) -> int:
        """Offset just past the box."""
        return self.offset + self.size


def read_boxes(f, start: int, end: int) -> list[Box]:
    """Boxes between ``start`` and ``end`` of an open binary file (headers only are read)."""
    boxes = []
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            break
        size, kind = struct.unpack(">I4s", head[:8])
        header = 8
        if size == 1:
            if len(head) < 16:
                break
            size = struct.unpack(">Q", head[8:16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break  # a torn box at the end (a file being written): stop before it
        boxes.append(Box(kind, pos, size, header))
        pos += size
    return boxes


@dataclass(frozen=True, slots=True)
class Track:
    """What the playlist needs of one track of the ``moov``."""

    id: int
    timescale: int
    video: bool
    default_duration: int = 0
    default_flags: int = 0


@dataclass(frozen=True, slots=True)
class Fragment:
    """One ``moof`` + ``mdat`` pair."""

    offset: int
    size: int
    keyframe: bool
    """Its video starts with a sync sample."""
    start: float
    """Seconds (file timeline) of its first video sample (first audio sample if it has no video)."""
    end: float
    """Seconds (file timeline) just past its last sample, video or audio."""
    video: tuple[float, float] | None = None
    """(first, end) seconds of its video samples."""
    audio: tuple[float, float] | None = None
    """(first, end) seconds of its audio samples."""


@dataclass(frozen=True, slots=True)
class FileLayout:
    """The playback-relevant structure of one recording file."""

    init_size: int
    """Bytes of ``ftyp`` + ``moov`` (from offset 0)."""
    fragments: tuple[Fragment, ...]
    tracks: dict[int, Track]
    tfdt_fields: tuple[tuple[int, int, int, int], ...]
    """(file offset, width in bytes, track id, value) of every ``tfdt`` value, for shifting."""
    size: int

    @property
    def duration(self) -> float:
        """Seconds from 0 to the end of the last fragment (0 when it has none)."""
        return max((f.end for f in self.fragments), default=0.0)

    def video_end(self, first: int = 0, last: int | None = None) -> float | None:
        """End of the video of the fragments in bytes [first, last)."""
        last = self.size if last is None else last
        return max((f.video[1] for f in self.fragments if f.video and first <= f.offset < last), default=None)

    def audio_span(self, first: int = 0, last: int | None = None) -> tuple[float, float] | None:
        """(first, end) of the audio of the fragments in bytes [first, last)."""
        last = self.size if last is None else last
        spans = [f.audio for f in self.fragments if f.audio and first <= f.offset < last]
        return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None


def _children(f, box: Box) -> list[Box]:
    return read_boxes(f, box.offset + box.header, box.end)


def _find(f, box: Box, kind: bytes) -> Box | None:
    for child in _children(f, box):
        if child.type == kind:
            return child
    return None


def _payload(f, box: Box, limit: int = 1 << 20) -> bytes:
    f.seek(box.offset + box.header)
    return f.read(min(box.size - box.header, limit))


def _parse_moov(f, moov: Box) -> dict[int, Track]:
    tracks: dict[int, Track] = {}
    defaults: dict[int, tuple[int, int]] = {}
    for child in _children(f, moov):
        if child.type == b"mvex":
            for trex in _children(f, child):
                if trex.type == b"trex":
                    data = _payload(f, trex)
                    track_id, _desc, duration, _size, flags = struct.unpack(">IIIII", data[4:24])
                    defaults[track_id] = (duration, flags)
        if child.type != b"trak":
            continue
        tkhd = _find(f, child, b"tkhd")
        mdia = _find(f, child, b"mdia")
        if tkhd is None or mdia is None:
            continue
        data = _payload(f, tkhd)
        track_id = struct.unpack(">I", data[20:24] if data[0] == 1 else data[12:16])[0]
        mdhd = _find(f, mdia, b"mdhd")
        hdlr = _find(f, mdia, b"hdlr")
        if mdhd is None or hdlr is None:
            continue
        data = _payload(f, mdhd)
        timescale = struct.unpack(">I", data[20:24] if data[0] == 1 else data[12:16])[0]
        handler = _payload(f, hdlr)[8:12]
        if timescale <= 0 or handler not in (b"vide", b"soun"):
            continue
        tracks[track_id] = Track(track_id, timescale, handler == b"vide")
    for track_id, (duration, flags) in defaults.items():
        if track_id in tracks:
            track = tracks[track_id]
            tracks[track_id] = Track(track.id, track.timescale, track.video, duration, flags)
    return tracks


def _parse_traf(f, traf: Box, tracks: dict[int, Track]):
    """(track, start ticks, end ticks, first sample is sync, tfdt field) of one ``traf``."""
    track = None
    default_duration = default_flags = 0
    base = None
    tfdt_field = None
    duration = 0
    first_flags = None
    for child in _children(f, traf):
        data = _payload(f, child)
        if child.type == b"tfhd":
            flags = int.from_bytes(data[1:4], "big")
            track_id = struct.unpack(">I", data[4:8])[0]
            track = tracks.get(track_id)
            if track is None:
                return None
            default_duration, default_flags = track.default_duration, track.default_flags
            pos = 8
            if flags & 0x01:
                pos += 8
            if flags & 0x02:
                pos += 4
            if flags & 0x08:
                default_duration = struct.unpack(">I", data[pos : pos + 4])[0]
                pos += 4
            if flags & 0x10:
                pos += 4
            if flags & 0x20:
                default_flags = struct.unpack(">I", data[pos : pos + 4])[0]
        elif child.type == b"tfdt":
            width = 8 if data[0] == 1 else 4
            base = int.from_bytes(data[4 : 4 + width], "big")
            tfdt_field = (child.offset + child.header + 4, width)
        elif child.type == b"trun" and track is not None:
            flags = int.from_bytes(data[1:4], "big")
            count = struct.unpack(">I", data[4:8])[0]
            pos = 8
            if flags & 0x01:
                pos += 4
            first = None
            if flags & 0x04:
                first = struct.unpack(">I", data[pos : pos + 4])[0]
                pos += 4
            fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit]
            record = 4 * len(fields)
            for i in range(count):
                values = dict(zip(fields, struct.unpack(f">{len(fields)}I", data[pos : pos + record]), strict=True))
                pos += record
                duration += values.get(0x100, default_duration)
                if i == 0 and first_flags is None:
                    first_flags = first if first is not None else values.get(0x400, default_flags)
    if track is None or base is None or tfdt_field is None:
        return None
    sync = not ((first_flags if first_flags is not None else default_flags) & _NON_SYNC)
    return track, base, base + duration, sync, tfdt_field


def parse_file(path: Path) -> FileLayout:
    """Read the box structure of a recording file; raises BoxError or OSError."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        top = read_boxes(f, 0, size)
        moov = next((b for b in top if b.type == b"moov"), None)
        if moov is None:
            raise BoxError(f"{path.name}: no moov")
        tracks = _parse_moov(f, moov)
        if not any(t.video for t in tracks.values()):
            raise BoxError(f"{path.name}: no video track")
        fragments: list[Fragment] = []
        tfdts: list[tuple[int, int, int, int]] = []
        for i, box in enumerate(top):
            if box.type != b"moof" or i + 1 >= len(top) or top[i + 1].type != b"mdat":
                continue
            spans: dict[bool, tuple[float, float]] = {}
            keyframe = False
            for traf in _children(f, box):
                if traf.type != b"traf":
                    continue
                parsed = _parse_traf(f, traf, tracks)
                if parsed is None:
                    continue
                track, first, last, sync, (offset, width) = parsed
                tfdts.append((offset, width, track.id, first))
                if track.video not in spans:
                    spans[track.video] = (first / track.timescale, last / track.timescale)
                    if track.video:
                        keyframe = sync
            if not spans:
                continue
            video, audio = spans.get(True), spans.get(False)
            start = video[0] if video else audio[0]
            end = max(span[1] for span in spans.values())
            # A fragment of audio only (the tail after the last picture) is never a keyframe.
            fragments.append(
                Fragment(
                    box.offset, top[i + 1].end - box.offset, keyframe and video is not None, start, end, video, audio
                )
            )
    return FileLayout(moov.end, tuple(fragments), tracks, tuple(tfdts), size)


class LayoutCache:
    """Parsed layouts by path, reparsed when a file's size or mtime changes. Thread-safe."""

    def __init__(self, capacity: int = 512) -> None:
        """Keep at most ``capacity`` layouts."""
        self._capacity = capacity
        self._items: OrderedDict[Path, tuple[tuple[int, int], FileLayout]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> FileLayout:
        """The layout of ``path``; raises BoxError or OSError."""
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            hit = self._items.get(path)
            if hit is not None and hit[0] == key:
                self._items.move_to_end(path)
                return hit[1]
        layout = parse_file(path)
        with self._lock:
            self._items[path] = (key, layout)
            self._items.move_to_end(path)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return layout
