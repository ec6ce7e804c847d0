"""An HLS playlist over the recorded fMP4 files, and files served shifted onto it.

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

Plain Python, blocking file I/O: call from an executor.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..recording.index import Segment
from .boxes import BoxError, FileLayout, Fragment, LayoutCache

MIN_PART_SECONDS = 6.0
"""Fragments are grouped into HLS media segments of at least this long (from a keyframe)."""


@dataclass(frozen=True, slots=True)
class PlaylistFile:
    """One recording file's place in a playlist."""

    segment: Segment
    layout: FileLayout
    shift: float
    """Seconds added to the file's timestamps."""
    start: float
    """Wall time (epoch s) of its first media segment."""
    parts: tuple[tuple[int, int, float], ...]
    """(offset, size, duration) of each media segment: runs of fragments from a keyframe."""


@dataclass(frozen=True, slots=True)
class Playlist:
    """An hour (or any span) of one channel as HLS media segments."""

    files: tuple[PlaylistFile, ...] = ()
    skipped: tuple[str, ...] = field(default=())
    """Files left out (unreadable, no fragments yet)."""
    live: bool = False
    """More footage may follow: an EVENT playlist, without ``EXT-X-ENDLIST``."""
    start: float | None = None
    """Wall time a player starts at (``EXT-X-START``); None: its own choice (the first part, or near a live end)."""

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
            f"#EXT-X-PLAYLIST-TYPE:{'EVENT' if self.live else 'VOD'}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-DISCONTINUITY-SEQUENCE:0",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        if self.start is not None and self.files:
            # Without it hls.js starts a live (EVENT) playlist three target durations before its end.
            offset = max(0.0, self.start - self.files[0].start)
            lines.append(f"#EXT-X-START:TIME-OFFSET={offset:.3f},PRECISE=YES")
        for n, item in enumerate(self.files):
            url = uri(item)
            if n:
                lines.append("#EXT-X-DISCONTINUITY")
            stamp = datetime.fromtimestamp(item.start, UTC).isoformat(timespec="milliseconds")
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{stamp.replace('+00:00', 'Z')}")
            lines.append(f'#EXT-X-MAP:URI="{url}",BYTERANGE="{item.layout.init_size}@0"')
            for offset, size, duration in item.parts:
                lines.append(f"#EXTINF:{duration:.6f},")
                lines.append(f"#EXT-X-BYTERANGE:{size}@{offset}")
                lines.append(url)
        if not self.live:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def _parts(layout: FileLayout, min_seconds: float, growing: bool = False) -> list[list[float]]:
    """Group fragments into media segments that start on a keyframe and last ≥ ``min_seconds``.

    Each is ``[offset, size, duration, start]`` (``start`` in the file's own
    seconds). For a file still being written (``growing``) the last group is
    left out: it may still get fragments, and a published segment must not change.
    """
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
            size = group[-1].offset + group[-1].size - group[0].offset
            parts.append([float(group[0].offset), float(size), end - start, start])
    if growing and parts:
        parts.pop()  # its duration and size are measured up to the next part, which does not exist yet
    return parts


def _lowest(layout: FileLayout) -> float:
    """The file's earliest timestamp (seconds), of any track."""
    return min((value / layout.tracks[track].timescale for _o, _w, track, value in layout.tfdt_fields), default=0.0)


def _within(parts: list[list[float]], wall_start: float, span: tuple[float, float]) -> list[list[float]]:
    """The parts whose wall time overlaps ``span``: from the one showing its start to the one showing its end."""
    begin, end = span
    return [p for p in parts if wall_start + p[3] < end and wall_start + p[3] + p[2] > begin]


def build_playlist(
    root: Path,
    segments: Iterable[Segment],
    layouts: LayoutCache | None = None,
    min_part_seconds: float = MIN_PART_SECONDS,
    span: tuple[float, float] | None = None,
    live: bool = False,
) -> Playlist:
    """Plan the playlist of ``segments`` (oldest first) of one channel; blocking.

    Each file is shifted onto one timeline: the first starts at 0, each next one
    where the video before it ends (later only if its audio would otherwise
    overlap the audio before it), so timestamps always go forward and gaps
    between files (no footage) are closed up. A file's trailing audio-only
    fragments (the AAC encoder's flush) and leading fragments without a
    keyframe are left out.

    With ``span`` (wall times), only media segments overlapping it are kept:
    the first is the one showing the span's start (it begins on the keyframe
    before it). ``live`` makes an EVENT playlist that a player reloads as
    footage is added: files still being written give only their finished
    media segments.
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
        parts = _parts(layout, min_part_seconds, growing=live and not segment.complete)
        if span is not None:
            parts = _within(parts, segment.start, span)
        if not parts:
            if not live or segment.complete:
                skipped.append(segment.path)
            continue
        first = int(parts[0][0])
        last = int(parts[-1][0] + parts[-1][1])
        start = parts[0][3]
        audio = layout.audio_span(first, last)
        # The file goes right after the video before it, and late enough that its audio
        # does not overlap the audio before it: timestamps only ever go forward.
        shift = -start if video_end is None else video_end - start
        if audio is not None and audio_end is not None:
            shift = max(shift, audio_end - audio[0])
        # No timestamp of the file may go below zero, not even of fragments left out before the
        # first part (a span starting mid-file): its timeline then starts a little later.
        shift = max(shift, -_lowest(layout))
        if planned:
            # The previous file's last segment lasts until this file starts.
            _prev_segment, _prev_layout, prev_parts, prev_shift = planned[-1]
            prev_parts[-1][2] = (start + shift) - (prev_parts[-1][3] + prev_shift)
        planned.append((segment, layout, parts, shift))
        video_end = (layout.video_end(first, last) or start) + shift
        if audio is not None:
            audio_end = audio[1] + shift
    files = tuple(
        PlaylistFile(
            segment, layout, shift, segment.start + parts[0][3], tuple((int(o), int(n), d) for o, n, d, _s in parts)
        )
        for segment, layout, parts, shift in planned
    )
    return Playlist(files, tuple(skipped), live, span[0] if span is not None else None)


class ShiftedFile:
    """Byte ranges of a recording file with every ``tfdt`` moved by ``shift`` seconds.

    Only shifts that keep every timestamp of the file in its field are
    taken (none negative, none overflowing): the ones a playlist makes.
    Anything else raises ValueError.
    """

    def __init__(self, path: Path, layout: FileLayout, shift: float) -> None:
        """``layout`` must be the current one of ``path``."""
        self.path = path
        self.layout = layout
        self.size = layout.size
        self._patches: list[tuple[int, bytes]] = []
        """(offset, new bytes) of every shifted ``tfdt`` value."""
        for offset, width, track_id, value in layout.tfdt_fields:
            shifted = value + round(shift * layout.tracks[track_id].timescale)
            if not 0 <= shifted < 1 << (8 * width):
                raise ValueError(f"a shift of {shift} s moves a timestamp of {path.name} out of range")
            if shifted != value:
                self._patches.append((offset, shifted.to_bytes(width, "big")))

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) with the shifted ``tfdt`` values; blocking."""
        start = max(0, start)
        end = min(end, self.size)
        if end <= start:
            return b""
        with self.path.open("rb") as f:
            f.seek(start)
            data = bytearray(f.read(end - start))
        for offset, new in self._patches:
            if offset + len(new) <= start or offset >= end:
                continue
            # The field may straddle the range: keep the overlap.
            lo, hi = max(offset, start), min(offset + len(new), end)
            data[lo - start : hi - start] = new[lo - offset : hi - offset]
        return bytes(data)
