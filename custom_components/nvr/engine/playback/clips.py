"""Event clips remuxed on demand, kept in a folder of bounded size.

Short clips (events) are remuxed with :func:`..recording.export.export_clip`
into :class:`ClipCache`, a folder under the storage root bounded by size
(least recently used first out). Thread-safe; blocking file I/O.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

CACHE_FOLDER = ".cache"
"""Under the storage root. Its name is not a valid channel id, so the index
rebuild, crash recovery and retention never look inside."""
CLIP_FOLDER = "clips"


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
