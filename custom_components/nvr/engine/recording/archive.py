"""An NVR's storage folder: the index, crash recovery and retention.

Opening an archive makes sure the index matches the files: a missing or
damaged index is rebuilt by scanning the disk, and files left half-written
by a crash are measured and indexed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..search.store import ActivityStore
from .index import Event, IndexDamagedError, RecordingIndex
from .layout import (
    INDEX_NAME,
    SEGMENT_SUFFIX,
    iter_event_logs,
    iter_segment_files,
    parse_segment_relpath,
    remove_empty_parents,
)
from .retention import DiskSpace, Pruner, RetentionPolicy
from .segment import scan_segment, trim_to_whole_boxes

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StorageStats:
    """Figures for the NVR's sensors."""

    used_bytes: int
    free_bytes: int
    total_bytes: int
    oldest: float | None


ACTIVITY_CLOSE = 2.0
"""Seconds closing waits for the activity index's last write (a hung disk must not hold a stop)."""


class Archive:
    """The recordings of one NVR under ``root``."""

    def __init__(self, root: Path, policy: RetentionPolicy | None = None, **pruner_options) -> None:
        """Open (or create) the index; call recover() before recording."""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.rebuilt = False
        path = root / INDEX_NAME
        fresh = not path.exists()
        try:
            self.index = RecordingIndex(path)
        except IndexDamagedError as err:
            aside = path.with_name(f"{INDEX_NAME}.damaged-{int(time.time())}")
            _LOGGER.warning(
                "Recording index %s is damaged (%s); moved to %s and rebuilt from the files", path, err, aside.name
            )
            path.rename(aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    path.with_name(INDEX_NAME + suffix).unlink()
            self.index = RecordingIndex(path)
            fresh = True
        self._fresh = fresh
        self.activity = ActivityStore(root)
        """The activity index (smart search), beside the footage; pruned with it."""
        self.pruner = Pruner(root, self.index, policy, **pruner_options)

    def close(self, timeout: float = ACTIVITY_CLOSE) -> None:
        """Write the activity index and close the index.

        The activity index's last write is waited for ``timeout`` s at most
        (and never over ``ACTIVITY_CLOSE``): a stop has a deadline.
        """
        self.activity.close(max(0.0, min(timeout, ACTIVITY_CLOSE)))
        self.index.close()

    def recover(self) -> int:
        """Bring the index in line with the disk; returns how many files were (re)indexed.

        A fresh index gets every file and the events logs; otherwise only the
        files a crash left unfinished and files the index does not know in each
        channel's newest hours are looked at.
        """
        count = 0
        for segment in self.index.incomplete_segments():
            count += self._measure(segment.path, segment.channel, segment.start)
        if self._fresh:
            self.rebuilt = True
            known: set[str] = set()
            for relpath, channel, start in iter_segment_files(self.root):
                count += self._measure(relpath, channel, start)
            self._restore_events()
        else:
            known = self.index.known_paths()
            for relpath, channel, start in self._newest_files():
                if relpath not in known:
                    count += self._measure(relpath, channel, start)
        if count:
            _LOGGER.info("Indexed %d recording files found on disk", count)
        self._fresh = False
        return count

    def _newest_files(self):
        """Files in each channel's two newest hour folders."""
        for channel_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            hours = sorted(channel_dir.glob("????-??-??/??"))[-2:]
            for hour in hours:
                # Only the hour's own files: listing the whole channel costs minutes with months of footage.
                for path in sorted(hour.glob(f"*{SEGMENT_SUFFIX}")):
                    relpath = path.relative_to(self.root).as_posix()
                    if (parsed := parse_segment_relpath(relpath)) is not None:
                        yield relpath, parsed[0], parsed[1]

    def _measure(self, relpath: str, channel: str, start: float) -> int:
        path = self.root / relpath
        if path.exists():
            trim_to_whole_boxes(path)  # a crash can leave half a fragment
        scanned = scan_segment(path) if path.exists() else None
        if scanned is None:
            _LOGGER.info("Dropping unplayable recording %s", relpath)
            with contextlib.suppress(OSError):
                path.unlink()
                remove_empty_parents(path, self.root)
            for segment in self.index.segments(channel):
                if segment.path == relpath:
                    self.index.delete_segments([segment.id])
            return 0
        self.index.add_segment(channel, start, relpath, start + scanned.duration, scanned.bytes, complete=True)
        return 1

    def _restore_events(self) -> None:
        for log, channel, _day in iter_event_logs(self.root):
            try:
                lines = log.read_text(encoding="utf-8").splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    raw = json.loads(line)
                    event = Event(
                        str(raw["id"]),
                        channel,
                        str(raw["kind"]),
                        float(raw["start"]),
                        raw.get("end"),
                        raw.get("score"),
                        raw.get("thumbnail"),
                    )
                except (ValueError, KeyError, TypeError):
                    continue
                self.index.add_event(event)

    def stats(self) -> StorageStats:
        """Used, free and total bytes and the oldest recording's start."""
        space: DiskSpace = self.pruner.space()
        return StorageStats(self.index.total_bytes(), space.free, space.total, self.index.oldest_start())

    def set_policy(self, policy: RetentionPolicy) -> None:
        """Change retention; takes effect at the next prune."""
        self.pruner.policy = policy
