"""Retention: delete the oldest footage first, the NVR's "overwrite".

Pruning runs periodically and whenever a recorder is about to start a file
while free space is low. Continuous footage goes after ``retain_days``, event
footage after ``event_retain_days``. Beyond that, when the archive is over
``max_storage_gb`` or the disk has less than ``min_free_gb`` free, the oldest
footage goes first: footage outside events before event footage, and never
the files being written.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..search.store import prune_activity
from .index import RecordingIndex, Segment
from .layout import iter_event_logs, remove_empty_parents

_LOGGER = logging.getLogger(__name__)

GB = 1024**3
DAY = 86400.0
BATCH = 200


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long footage is kept and how much room it may take."""

    retain_days: float = 7
    event_retain_days: float = 30
    max_storage_gb: float = 0
    """0: no cap."""
    min_free_gb: float = 1


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """Total and free bytes of the storage folder's file system."""

    total: int
    free: int


def disk_space(path: Path) -> DiskSpace:
    """Free space where ``path`` lives."""
    usage = shutil.disk_usage(path)
    return DiskSpace(usage.total, usage.free)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one pass deleted."""

    files: int = 0
    bytes: int = 0
    reasons: tuple[str, ...] = ()


class Pruner:
    """Deletes footage past retention or when space runs short. Thread-safe."""

    def __init__(
        self,
        root: Path,
        index: RecordingIndex,
        policy: RetentionPolicy | None = None,
        space: Callable[[Path], DiskSpace] = disk_space,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``space`` and ``clock`` can be swapped for tests."""
        self.root = root
        self.index = index
        self.policy = policy or RetentionPolicy()
        self._space = space
        self._clock = clock
        self._lock = threading.Lock()

    def space(self) -> DiskSpace:
        """Free space of the storage folder."""
        return self._space(self.root)

    def low_on_space(self) -> bool:
        """True when free space is under min_free_gb or the archive over its cap."""
        policy = self.policy
        if policy.min_free_gb > 0 and self.space().free < policy.min_free_gb * GB:
            return True
        return policy.max_storage_gb > 0 and self.index.total_bytes() > policy.max_storage_gb * GB

    def make_room(self) -> None:
        """Prune only if space is short (cheap when it is not): for recorders."""
        if self.low_on_space():
            self.prune()

    def prune(self) -> PruneResult:
        """One full pass: age, then the storage cap, then free space."""
        with self._lock:
            now = self._clock()
            policy = self.policy
            files = freed = 0
            reasons: list[str] = []
            expired = self.index.expired_segments(now - policy.retain_days * DAY, now - policy.event_retain_days * DAY)
            if expired:
                n, b = self._delete(expired)
                files, freed = files + n, freed + b
                reasons.append("age")
            for event in self.index.delete_events_before(now - policy.event_retain_days * DAY):
                self._delete_thumbnail(event.thumbnail)
            self._prune_event_logs(now - policy.event_retain_days * DAY - DAY)
            if policy.max_storage_gb > 0:
                cap = int(policy.max_storage_gb * GB)
                n, b = self._free(lambda: self.index.total_bytes() - cap, now)
                if n:
                    files, freed = files + n, freed + b
                    reasons.append("max_storage")
            if policy.min_free_gb > 0:
                floor = int(policy.min_free_gb * GB)
                n, b = self._free(lambda: floor - self.space().free, now)
                if n:
                    files, freed = files + n, freed + b
                    reasons.append("min_free")
            horizon = now - max(policy.retain_days, policy.event_retain_days) * DAY
            prune_activity(self.root, self.index.oldest_start, horizon, now)  # what no footage is left for
            if files:
                _LOGGER.info("Retention deleted %d files (%.1f MB): %s", files, freed / 1e6, ", ".join(reasons))
            return PruneResult(files, freed, tuple(reasons))

    def _free(self, excess: Callable[[], int], now: float) -> tuple[int, int]:
        """Delete oldest footage while ``excess()`` > 0: non-event footage first."""
        files = freed = 0
        event_horizon = now - self.policy.event_retain_days * DAY
        for protect in (event_horizon, None):
            while (need := excess()) > 0:
                batch = self.index.oldest_segments(BATCH, protect_events_after=protect)
                if not batch:
                    break
                chosen: list[Segment] = []
                total = 0
                for segment in batch:
                    chosen.append(segment)
                    total += segment.bytes
                    if total >= need:
                        break
                n, b = self._delete(chosen)
                files, freed = files + n, freed + b
                self._forget_events_of(chosen)
                if n == 0:
                    return files, freed
        return files, freed

    def _forget_events_of(self, deleted: list[Segment]) -> None:
        """Events whose footage is all gone go with it."""
        latest: dict[str, float] = {}
        for segment in deleted:
            latest[segment.channel] = max(latest.get(segment.channel, 0.0), segment.end)
        for channel, end in latest.items():
            for event in self.index.delete_orphan_events(channel, end):
                self._delete_thumbnail(event.thumbnail)

    def _delete(self, segments: list[Segment]) -> tuple[int, int]:
        deleted: list[int] = []
        freed = 0
        for segment in segments:
            path = self.root / segment.path
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                size = 0
            except OSError as err:
                _LOGGER.warning("Could not delete %s: %s", segment.path, err)
                continue
            deleted.append(segment.id)
            freed += size
            remove_empty_parents(path, self.root)
        self.index.delete_segments(deleted)
        return len(deleted), freed

    def _delete_thumbnail(self, relpath: str | None) -> None:
        if not relpath:
            return
        path = self.root / relpath
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            _LOGGER.debug("Could not delete thumbnail %s: %s", relpath, err)
            return
        if path.parent != self.root and self.root in path.parent.parents:
            with contextlib.suppress(OSError):  # not empty, or gone
                path.parent.rmdir()  # the day folder of the thumbnails

    def _prune_event_logs(self, before: float) -> None:
        for log, _channel, day in iter_event_logs(self.root):
            if day + DAY < before:
                try:
                    log.unlink()
                except OSError as err:
                    _LOGGER.debug("Could not delete %s: %s", log, err)
