"""Where recordings live under the NVR's storage folder.

    <root>/<channel>/<YYYY-MM-DD>/<HH>/<YYYYmmddTHHMMSS.fff>Z.mp4

Folder and file names are UTC, so a daylight-saving change never repeats or
skips a folder; the media browser shows local time. The file name alone
gives the segment's start, which is what rebuilding the index relies on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

INDEX_NAME = "index.db"
SEGMENT_SUFFIX = ".mp4"
EVENTS_FOLDER = "events"
"""<channel>/events/<YYYY-MM-DD>.jsonl: finished events, one JSON line each.

The index is the fast path; these logs let a rebuilt index get its events back.
"""
_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{3})Z\.mp4$")
_CHANNEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_channel_id(channel: str) -> bool:
    """Channel ids become folder names: letters, digits, - and _ only."""
    return bool(_CHANNEL.match(channel))


def segment_relpath(channel: str, start: float) -> str:
    """The relative path of a segment of ``channel`` starting at ``start`` (epoch s)."""
    if not valid_channel_id(channel):
        raise ValueError(f"invalid channel id {channel!r}")
    moment = datetime.fromtimestamp(start, UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%S") + f".{moment.microsecond // 1000:03d}Z"
    return f"{channel}/{moment:%Y-%m-%d}/{moment:%H}/{stamp}{SEGMENT_SUFFIX}"


def parse_segment_relpath(relpath: str) -> tuple[str, float] | None:
    """(channel, start) from a relative segment path, or None if it is not one."""
    parts = PurePosixPath(relpath).parts
    if len(parts) != 4 or not valid_channel_id(parts[0]):
        return None
    match = _NAME.match(parts[3])
    if not match:
        return None
    try:
        moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
    except ValueError:
        return None
    if parts[1] != f"{moment:%Y-%m-%d}" or parts[2] != f"{moment:%H}":
        return None
    return parts[0], moment.timestamp()


def events_log_relpath(channel: str, moment: float) -> str:
    """The events log of ``channel`` for the UTC day of ``moment``."""
    day = datetime.fromtimestamp(moment, UTC)
    return f"{channel}/{EVENTS_FOLDER}/{day:%Y-%m-%d}.jsonl"


def thumbnail_relpath(channel: str, event_id: str, start: float) -> str:
    """The JPEG of an event: ``<channel>/events/<YYYY-MM-DD of its start, UTC>/<event id>.jpg``."""
    if not valid_channel_id(channel) or not valid_channel_id(event_id):
        raise ValueError(f"invalid channel or event id {channel!r} / {event_id!r}")
    day = datetime.fromtimestamp(start, UTC)
    return f"{channel}/{EVENTS_FOLDER}/{day:%Y-%m-%d}/{event_id}.jpg"


def iter_event_logs(root: Path):
    """Yield (path, channel, day start epoch) of every events log."""
    for log in sorted(root.glob(f"*/{EVENTS_FOLDER}/*.jsonl")):
        channel = log.parent.parent.name
        try:
            day = datetime.strptime(log.stem, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            continue
        if valid_channel_id(channel):
            yield log, channel, day.timestamp()


def iter_segment_files(root: Path, channel: str | None = None):
    """Yield (relpath, channel, start) for every segment file on disk."""
    channels = [root / channel] if channel else sorted(p for p in root.iterdir() if p.is_dir())
    for channel_dir in channels:
        if not channel_dir.is_dir() or not valid_channel_id(channel_dir.name):
            continue
        for path in sorted(channel_dir.glob(f"????-??-??/*/*{SEGMENT_SUFFIX}")):
            relpath = path.relative_to(root).as_posix()
            parsed = parse_segment_relpath(relpath)
            if parsed is not None:
                yield relpath, parsed[0], parsed[1]


def remove_empty_parents(path: Path, root: Path) -> None:
    """Remove the now empty hour and day folders above a deleted file."""
    parent = path.parent
    for _ in range(2):
        if parent == root or root not in parent.parents:
            return
        try:
            parent.rmdir()
        except OSError:
            return  # not empty (or gone)
        parent = parent.parent
