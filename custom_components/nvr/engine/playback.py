"""Playback: an HLS playlist over the recorded fMP4 files, and a bounded clip cache.

An hour of footage plays as one HLS (fMP4) playlist built from the index and
the files' top-level MP4 boxes, without remuxing anything:

* each file contributes an ``EXT-X-MAP`` (its ``ftyp`` + ``moov``, a byte
  range) and one or more media segments, byte ranges of whole
  ``moof`` + ``mdat`` fragments that start on a keyframe;
* segment durations come from the fragments' ``trun`` sample durations, so
  ``EXTINF`` matches the media exactly;
* every file's timestamps start at zero, so the server *shifts* them: each
  fragment's ``tfdt`` (base media decode time) is moved by the footage that
  came before the file in the playlist (:class:`ShiftedFile`). The hour then
  has one continuous, monotonic timeline; gaps between files (a camera that
  dropped out) are closed up. ``EXT-X-DISCONTINUITY`` still marks each new
  file (its init section, and maybe the camera's parameters, change) and
  ``EXT-X-PROGRAM-DATE-TIME`` gives the wall time of each file's start.

Short clips (events) are remuxed on demand with :func:`.export.export_clip`
into :class:`ClipCache`, a folder under the storage root bounded by size
(least recently used first out).

Plain Python, blocking file I/O: call from an executor.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .index import Segment

CACHE_FOLDER = ".cache"
"""Under the storage root. Its name is not a valid channel id, so the index
rebuild, crash recovery and retention never look inside."""
CLIP_FOLDER = "clips"
MIN_PART_SECONDS = 6.0
"""Fragments are grouped into HLS media segments of at least this long (from a keyframe)."""

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
    tfdt_fields: tuple[tuple[int, int, int], ...]
    """(file offset, width in bytes, track id) of every ``tfdt`` value, for shifting."""
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
        tfdts: list[tuple[int, int, int]] = []
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
                tfdts.append((offset, width, track.id))
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


# -- the playlist ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaylistFile:
    """One recording file's place in a playlist."""

    segment: Segment
    layout: FileLayout
    shift: float
    """Seconds added to the file's timestamps."""
    parts: tuple[tuple[int, int, float], ...]
    """(offset, size, duration) of each media segment: runs of fragments from a keyframe."""


@dataclass(frozen=True, slots=True)
class Playlist:
    """An hour (or any span) of one channel as HLS media segments."""

    files: tuple[PlaylistFile, ...] = ()
    skipped: tuple[str, ...] = field(default=())
    """Files left out (unreadable, no fragments yet)."""

    @property
    def duration(self) -> float:
        """Seconds of footage."""
        return sum(d for f in self.files for _o, _s, d in f.parts)

    def shift_of(self, segment_id: int) -> float | None:
        """Seconds a file's timestamps are shifted by in this playlist."""
        for item in self.files:
            if item.segment.id == segment_id:
                return item.shift
        return None

    def render(self, uri: Callable[[PlaylistFile], str]) -> str:
        """The m3u8 text; ``uri`` gives the URL of a file (shifted as planned here)."""
        longest = max((d for f in self.files for _o, _s, d in f.parts), default=1.0)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{max(1, int(longest + 0.999))}",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-DISCONTINUITY-SEQUENCE:0",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        for n, item in enumerate(self.files):
            url = uri(item)
            if n:
                lines.append("#EXT-X-DISCONTINUITY")
            stamp = datetime.fromtimestamp(item.segment.start, UTC).isoformat(timespec="milliseconds")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp.replace('+00:00', 'Z')}")
            lines.append(f'#EXT-X-MAP:URI="{url}",BYTERANGE="{item.layout.init_size}@0"')
            for offset, size, duration in item.parts:
                lines.append(f"#EXTINF:{duration:.6f},")
                lines.append(f"#EXT-X-BYTERANGE:{size}@{offset}")
                lines.append(url)
        lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def _parts(layout: FileLayout, min_seconds: float) -> tuple[tuple[int, int, float], ...]:
    """Group fragments into media segments that start on a keyframe and last ≥ ``min_seconds``."""
    frags = list(layout.fragments)
    # Leading fragments without a keyframe cannot be decoded alone: drop them.
    while frags and not frags[0].keyframe:
        frags.pop(0)
    # Trailing fragments without video hold the audio encoder's flush (padding past the last
    # picture, which the next file's audio overlaps): drop them too.
    while frags and frags[-1].video is None:
        frags.pop()
    groups: list[list[Fragment]] = []
    for frag in frags:
        if not groups or (frag.keyframe and groups[-1][-1].end - groups[-1][0].start >= min_seconds):
            groups.append([frag])
        else:
            groups[-1].append(frag)
    parts = []
    for i, group in enumerate(groups):
        start = group[0].start
        end = groups[i + 1][0].start if i + 1 < len(groups) else max(f.end for f in group)
        if end > start:
            parts.append((group[0].offset, group[-1].offset + group[-1].size - group[0].offset, end - start))
    return tuple(parts)


def build_playlist(
    root: Path,
    segments: Iterable[Segment],
    layouts: LayoutCache | None = None,
    min_part_seconds: float = MIN_PART_SECONDS,
) -> Playlist:
    """Plan the playlist of ``segments`` (oldest first) of one channel; blocking.

    Each file is shifted onto one timeline: the first starts at 0, each next one
    where the video before it ends (later only if its audio would otherwise
    overlap the audio before it), so timestamps always go forward and gaps
    between files (no footage) are closed up. A file's trailing audio-only
    fragments (the AAC encoder's flush) and leading fragments without a
    keyframe are left out.
    """
    layouts = layouts or LayoutCache()
    planned: list[tuple[Segment, FileLayout, list[list[float]], float]] = []
    skipped: list[str] = []
    video_end = audio_end = None  # on the playlist's timeline, so far
    for segment in segments:
        try:
            layout = layouts.get(root / segment.path)
        except (OSError, BoxError, struct.error, IndexError):
            skipped.append(segment.path)
            continue
        parts = [list(p) for p in _parts(layout, min_part_seconds)]
        if not parts:
            skipped.append(segment.path)
            continue
        first = int(parts[0][0])
        last = int(parts[-1][0] + parts[-1][1])
        start = next(f.start for f in layout.fragments if f.offset == first)
        audio = layout.audio_span(first, last)
        # The file goes right after the video before it, and late enough that its audio
        # does not overlap the audio before it: timestamps only ever go forward.
        shift = -start if video_end is None else video_end - start
        if audio is not None and audio_end is not None:
            shift = max(shift, audio_end - audio[0])
        if planned:
            # The previous file's last segment lasts until this file starts.
            prev_segment, prev_layout, prev_parts, prev_shift = planned[-1]
            last_start = next(f.start for f in prev_layout.fragments if f.offset == int(prev_parts[-1][0]))
            prev_parts[-1][2] = (start + shift) - (last_start + prev_shift)
        planned.append((segment, layout, parts, shift))
        video_end = (layout.video_end(first, last) or start) + shift
        if audio is not None:
            audio_end = audio[1] + shift
    files = tuple(
        PlaylistFile(segment, layout, shift, tuple((int(o), int(n), float(d)) for o, n, d in parts))
        for segment, layout, parts, shift in planned
    )
    return Playlist(files, tuple(skipped))


class ShiftedFile:
    """Byte ranges of a recording file with every ``tfdt`` moved by ``shift`` seconds."""

    def __init__(self, path: Path, layout: FileLayout, shift: float) -> None:
        """``layout`` must be the current one of ``path``."""
        self.path = path
        self.layout = layout
        self.size = layout.size
        self._patches: list[tuple[int, int, int]] = []
        for offset, width, track_id in layout.tfdt_fields:
            track = layout.tracks[track_id]
            self._patches.append((offset, width, round(shift * track.timescale)))

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) with the shifted ``tfdt`` values; blocking."""
        start = max(0, start)
        end = min(end, self.size)
        if end <= start:
            return b""
        with self.path.open("rb") as f:
            f.seek(start)
            data = bytearray(f.read(end - start))
        for offset, width, delta in self._patches:
            if offset + width <= start or offset >= end or not delta:
                continue
            # The field may straddle the range: patch a full copy, keep the overlap.
            with self.path.open("rb") as f:
                f.seek(offset)
                raw = f.read(width)
            value = (int.from_bytes(raw, "big") + delta) % (1 << (8 * width))
            new = value.to_bytes(width, "big")
            lo, hi = max(offset, start), min(offset + width, end)
            data[lo - start : hi - start] = new[lo - offset : hi - offset]
        return bytes(data)


# -- the clip cache ---------------------------------------------------------------


class ClipCache:
    """Remuxed clips under ``<root>/.cache/clips``, at most ``max_bytes`` (LRU by mtime).

    ``make(key, dest)`` writes a clip; concurrent requests for one key wait for
    a single remux. Thread-safe; blocking.
    """

    def __init__(self, root: Path, max_bytes: int) -> None:
        """Nothing touches the disk until the first clip."""
        self.folder = root / CACHE_FOLDER / CLIP_FOLDER
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._busy: dict[str, threading.Lock] = {}

    @staticmethod
    def name(key: str) -> str:
        """The cache file name of a key (a hash: no key text reaches the disk)."""
        return hashlib.sha256(key.encode()).hexdigest()[:32] + ".mp4"

    def get(self, key: str, make: Callable[[Path], object]) -> Path:
        """The clip of ``key``, made with ``make(dest)`` when missing; raises what make raises."""
        path = self.folder / self.name(key)
        with self._lock:
            lock = self._busy.setdefault(key, threading.Lock())
        with lock:
            if path.is_file():
                with contextlib.suppress(OSError):
                    os.utime(path)  # most recently used
                return path
            self.folder.mkdir(parents=True, exist_ok=True)
            make(path)
        with self._lock:
            self._busy.pop(key, None)
        self.trim(keep=path)
        return path

    def usage(self) -> int:
        """Bytes the cache holds."""
        return sum(size for _p, size, _m in self._entries())

    def _entries(self) -> list[tuple[Path, int, float]]:
        entries = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.folder):
                with contextlib.suppress(OSError):
                    stat = entry.stat(follow_symlinks=False)
                    entries.append((Path(entry.path), stat.st_size, stat.st_mtime))
        return entries

    def trim(self, keep: Path | None = None) -> int:
        """Delete least recently used clips until under the cap (and stale partial files); returns bytes freed."""
        freed = 0
        now = time.time()
        entries = sorted(self._entries(), key=lambda e: e[2])
        total = sum(size for _p, size, _m in entries)
        for path, size, mtime in entries:
            partial = path.name.endswith(".part")
            if partial and now - mtime < 600:
                continue  # being written
            if not partial and (total <= self.max_bytes or path == keep):
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
                freed += size
        return freed

    def clear(self) -> None:
        """Delete every clip."""
        for path, _size, _mtime in self._entries():
            with contextlib.suppress(OSError):
                path.unlink()
