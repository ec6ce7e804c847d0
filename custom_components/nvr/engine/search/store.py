"""The activity index on disk: a file of moving seconds and a file of analysed spans per channel per day.

    <root>/<channel>/activity/<YYYY-MM-DD>.act   77-byte records, one per second with motion
    <root>/<channel>/activity/<YYYY-MM-DD>.cov   (start, end) pairs: the seconds analysed

Days are UTC, as the recordings' folders (a daylight-saving change never
repeats or skips a file). A record is ``RECORD``: the second (epoch, u4),
the moved cells (:mod:`.grid`, nine u64) and the object labels seen in it
(bit ``i`` for ``LABELS[i]``). Seconds without motion have no record: a
quiet day's file is empty, a day of continuous motion is 6.7 MB.

A second analysed without a record had no motion; a second outside every
analysed span is *not indexed* (footage from before the index existed,
motion detection off, a camera that only reports its own motion).

Both files are only appended to, except the last analysed span, which is
rewritten in place while it grows. A torn last record (a crash, a full
disk) is ignored by the reader. The motion workers only put records in a
list (:class:`ChannelActivity`); one thread of the store writes them every
``FLUSH`` seconds, so a slow disk never holds up motion detection.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .grid import WORDS

_LOGGER = logging.getLogger(__name__)

FOLDER = "activity"
RECORD = np.dtype([("t", "<u4"), ("cells", "<u8", (WORDS,)), ("labels", "u1")])
SPAN = np.dtype([("start", "<u4"), ("end", "<u4")])
DAY = 86400
FLUSH = 2.0
"""Seconds between writes: a search sees motion this late at most."""
COVER_GAP = 6
"""Seconds between analysed pictures that always make one analysed span."""
GAP_FACTOR = 2.5
MAX_GAP = 30
"""With only keyframes analysed (low power, an overloaded host), pictures come a GOP apart: a gap of up to
``GAP_FACTOR`` × the last interval between pictures, at most ``MAX_GAP`` s, still makes one span."""
STOP_DEADLINE = 5.0


def day_name(second: int) -> str:
    """The UTC day of an epoch second, as the file names have it."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d")


def day_start(second: int) -> int:
    """The start (epoch s) of the UTC day of ``second``."""
    return second - second % DAY


def activity_folder(root: Path, channel: str) -> Path:
    """The folder of a channel's activity files."""
    return root / channel / FOLDER


def day_files(root: Path, channel: str, second: int) -> tuple[Path, Path]:
    """The records file and the spans file of the day of ``second``."""
    folder = activity_folder(root, channel)
    name = day_name(second)
    return folder / f"{name}.act", folder / f"{name}.cov"


def read_array(path: Path, dtype: np.dtype) -> np.ndarray:
    """The whole records of a file (a torn last one is left out); empty when there is no file."""
    try:
        size = path.stat().st_size
        return np.fromfile(path, dtype=dtype, count=size // dtype.itemsize)
    except (FileNotFoundError, NotADirectoryError):
        return np.zeros(0, dtype=dtype)
    except (OSError, ValueError) as err:
        _LOGGER.warning("Could not read the activity file %s: %s", path, err)
        return np.zeros(0, dtype=dtype)


def iter_day_files(root: Path) -> Iterator[tuple[Path, str, int]]:
    """``(path, channel, day start)`` of every activity file under ``root``."""
    try:
        channels = [c for c in root.iterdir() if c.is_dir()]
    except OSError:
        return
    for channel in channels:
        folder = channel / FOLDER
        try:
            files = list(folder.iterdir())
        except OSError:
            continue
        for path in files:
            if path.suffix not in (".act", ".cov"):
                continue
            try:
                day = int(datetime.strptime(path.stem, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
            except ValueError:
                continue
            yield path, channel.name, day


def prune_activity(
    root: Path, oldest_footage: Callable[[str], float | None], horizon: float, now: float | None = None
) -> int:
    """Delete the days of activity before a channel's oldest footage (before ``horizon`` when it has none).

    Returns how many files went. Blocking; retention calls it after deleting footage.
    """
    limits: dict[str, float] = {}
    deleted = 0
    for path, channel, day in list(iter_day_files(root)):
        if channel not in limits:
            oldest = oldest_footage(channel)
            limits[channel] = horizon if oldest is None else min(oldest, time.time() if now is None else now)
        if day + DAY <= limits[channel]:
            try:
                path.unlink()
                deleted += 1
            except OSError as err:
                _LOGGER.debug("Could not delete %s: %s", path, err)
    return deleted


class ChannelActivity:
    """One channel's seconds: filled by its motion worker, written by the store's thread."""

    def __init__(self, store: ActivityStore, channel: str) -> None:
        self.channel = channel
        self._store = store
        self._second = -1
        self._cells = np.zeros(WORDS, dtype="<u8")
        self._labels = 0
        self._records: list[tuple[int, bytes, int]] = []
        self._span: list[int] | None = None
        """The analysed span going on: [start, end]."""
        self._spans: list[tuple[int, int]] = []
        """Spans that ended, not written yet."""
        self._last_wall: float | None = None
        self._closed = False
        """Handed over at the channel's stop: later pictures are ignored."""

    def picture(self, wall: float, moved: np.ndarray | None, labels: int = 0) -> None:
        """An analysed picture at ``wall`` (epoch s); motion worker's thread, no I/O.

        ``moved``: the words of its moved cells (None: nothing moved);
        ``labels``: the object labels going on (bit i: ``LABELS[i]``).
        """
        second = int(wall)
        with self._store.lock:
            if self._closed:
                return  # a worker that outlived its stop: its channel's activity was handed over
            if second != self._second:
                self._close_second()
                self._second = second
            if moved is not None:
                self._cells |= moved
            self._labels |= labels
            gap = COVER_GAP
            if self._last_wall is not None:
                gap = max(COVER_GAP, min(MAX_GAP, GAP_FACTOR * (wall - self._last_wall)))
            self._last_wall = wall
            span = self._span
            if span is not None and span[0] <= second <= span[1] + gap:
                if day_start(second) == day_start(span[0]):
                    span[1] = max(span[1], second)
                    return
                # Midnight (UTC): the span goes on in the new day's file, so a span only ever grows in one.
                self._spans.append((span[0], day_start(second) - 1))
                self._span = [day_start(second), second]
                return
            if span is not None:
                self._spans.append((span[0], span[1]))
            self._span = [second, second]

    def _close_second(self) -> None:
        """Queue the second that ended, if anything moved or was seen in it (with the store's lock)."""
        if self._second >= 0 and (self._labels or self._cells.any()):
            self._records.append((self._second, self._cells.tobytes(), self._labels))
        self._cells[:] = 0
        self._labels = 0

    def release(self) -> None:
        """The channel stops (see :meth:`ActivityStore.release`)."""
        self._store.release(self.channel)

    def take(self, final: bool = False) -> tuple[list[tuple[int, bytes, int]], list[tuple[int, int]], tuple | None]:
        """What to write (with the store's lock): records, ended spans, the running span."""
        if final:
            self._closed = True
            self._close_second()
            self._second = -1
            if self._span is not None:
                self._spans.append((self._span[0], self._span[1]))
                self._span = None
        records, spans = self._records, self._spans
        self._records, self._spans = [], []
        running = (self._span[0], self._span[1]) if self._span is not None else None
        return records, spans, running


class ActivityStore:
    """The activity index of one storage folder: a writer thread for all channels."""

    def __init__(self, root: Path, flush: float = FLUSH) -> None:
        self.root = root
        self.lock = threading.Lock()
        """Guards the channels' seconds (held for microseconds: the motion workers take it)."""
        self._io = threading.Lock()
        """One write at a time (the thread, a channel's release, the close)."""
        self._flush = flush
        self._channels: dict[str, ChannelActivity] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._released: list[tuple[str, tuple]] = []
        """What stopped channels left, for the next write."""
        self._last_span: dict[tuple[str, str], int] = {}
        """(channel, spans file) -> start of the span written there last: rewritten in place while it grows."""
        self.write_errors = 0

    def channel(self, channel: str) -> ChannelActivity:
        """The channel's activity (made on first use; the writer thread starts then)."""
        with self.lock:
            activity = self._channels.get(channel)
            if activity is None:
                activity = self._channels[channel] = ChannelActivity(self, channel)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="nvr-activity", daemon=True)
                self._thread.start()
        return activity

    def release(self, channel: str) -> None:
        """A channel stops: what it has is written by the next write (never here: stop paths have deadlines)."""
        with self.lock:
            activity = self._channels.pop(channel, None)
            if activity is not None:
                self._released.append((channel, activity.take(final=True)))

    def flush(self, final: bool = False) -> None:
        """Write what every channel has now (``final``: the running seconds and spans too)."""
        with self.lock:
            taken = [*self._released, *((c, a.take(final)) for c, a in self._channels.items())]
            self._released = []
        for channel, (records, spans, running) in taken:
            self._write(channel, records, spans, running)

    def close(self, timeout: float = STOP_DEADLINE) -> bool:
        """Write everything and stop the thread; True if it ended within ``timeout``."""
        self._stop.set()
        with self.lock:
            thread = self._thread
        if thread is None:
            self.flush(final=True)
            return True
        thread.join(timeout)
        if thread.is_alive():
            _LOGGER.warning("The activity index was still being written at the stop")
            return False
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._flush):
            try:
                self.flush()
            except Exception:
                _LOGGER.exception("Writing the activity index failed")
        try:
            self.flush(final=True)
        except Exception:
            _LOGGER.exception("Writing the activity index failed")

    def _write(
        self,
        channel: str,
        records: list[tuple[int, bytes, int]],
        spans: list[tuple[int, int]],
        running: tuple[int, int] | None,
    ) -> None:
        try:
            with self._io:
                self._write_files(channel, records, spans, running)
        except OSError as err:
            self.write_errors += 1
            if self.write_errors == 1 or self.write_errors % 100 == 0:
                _LOGGER.warning("Could not write the activity index of %s: %s", channel, err)

    def _write_files(self, channel: str, records: list, spans: list[tuple[int, int]], running: tuple | None) -> None:
        if records:
            self._write_records(channel, records)
        for start, end in spans:
            self._write_span(channel, start, end)
        if running is not None:
            self._write_span(channel, *running)

    def _write_records(self, channel: str, records: list[tuple[int, bytes, int]]) -> None:
        array = np.zeros(len(records), dtype=RECORD)
        array["t"] = [r[0] for r in records]
        array["cells"] = np.frombuffer(b"".join(r[1] for r in records), dtype="<u8").reshape(-1, WORDS)
        array["labels"] = [r[2] for r in records]
        days = array["t"] - array["t"] % DAY
        for day in np.unique(days):
            path, _ = day_files(self.root, channel, int(day))
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as out:
                _append_whole(out, array[days == day].tobytes(), RECORD.itemsize)

    def _write_span(self, channel: str, start: int, end: int) -> None:
        """Write a span, split at UTC midnight: each day's piece into that day's file."""
        while True:
            piece_end = min(end, day_start(start) + DAY - 1)
            self._write_piece(channel, start, piece_end)
            if piece_end >= end:
                break
            start = piece_end + 1

    def _write_piece(self, channel: str, start: int, end: int) -> None:
        """Append a span's piece, or rewrite it in place when it is the one written there last, grown."""
        _, path = day_files(self.root, channel, start)
        path.parent.mkdir(parents=True, exist_ok=True)
        piece = np.array([(start, end)], dtype=SPAN).tobytes()
        key = (channel, path.name)
        with open(path, "r+b" if path.exists() else "wb") as out:
            size = out.seek(0, os.SEEK_END)
            size -= size % SPAN.itemsize  # a torn pair is overwritten
            if self._last_span.get(key) == start and size >= SPAN.itemsize:
                out.seek(size - SPAN.itemsize)
                with contextlib.suppress(OSError):
                    if out.read(4) == piece[:4]:  # still the same span: it grows in place
                        size -= SPAN.itemsize
            out.seek(size)
            out.write(piece)
            out.truncate()
        self._last_span[key] = start
        mine = sorted(k for k in self._last_span if k[0] == channel)
        for old in mine[:-2]:  # yesterday's and today's files are all a running span can reach
            del self._last_span[old]


def _append_whole(out, data: bytes, itemsize: int) -> None:
    """Append after the last whole record (a torn one, from a crash, is overwritten)."""
    size = out.seek(0, os.SEEK_END)
    if size % itemsize:
        out.truncate(size - size % itemsize)
    out.write(data)
