"""The SQLite index of recorded segments and events.

One database per NVR, ``<root>/index.db`` in WAL mode. Every thread shares
one connection behind a lock: writes are a few per minute per channel, reads
are short. A damaged database is moved aside and rebuilt from the files (see
:mod:`.archive`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 2
"""2 added the channels table (version 1 files get it when opened)."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    path TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS segments_channel_start ON segments (channel, start);
CREATE INDEX IF NOT EXISTS segments_start ON segments (start);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL,
    score REAL,
    thumbnail TEXT
);
CREATE INDEX IF NOT EXISTS events_channel_start ON events (channel, start);
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    removed REAL,
    pre_roll REAL,
    post_roll REAL
);
"""


_SEGMENT_COLUMNS = "id, channel, start, end, path, bytes, complete"
LONGEST_SEGMENT = 7200.0
"""No file lasts longer (recorders start one at least every hour)."""
_EVENT_COLUMNS = "id, channel, kind, start, end, score, thumbnail"
# WHERE clauses below are built from fixed strings only; values are bound parameters.


class IndexDamagedError(Exception):
    """The database file is not a usable index."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One recorded file."""

    id: int
    channel: str
    start: float
    end: float
    path: str
    """Relative to the storage folder."""
    bytes: int
    complete: bool
    """False while it is being written (or after a crash, until recovered)."""

    @property
    def duration(self) -> float:
        """Seconds of footage."""
        return max(0.0, self.end - self.start)


@dataclass(frozen=True, slots=True)
class Event:
    """A motion or manual event."""

    id: str
    channel: str
    kind: str
    start: float
    end: float | None
    """None while the event is still going on."""
    score: float | None = None
    thumbnail: str | None = None


@dataclass(frozen=True, slots=True)
class RemovedChannel:
    """A deleted channel whose footage is still kept."""

    id: str
    name: str
    removed: float
    pre_roll: float | None
    post_roll: float | None


class RecordingIndex:
    """Thread-safe access to the index database."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the database; raises IndexDamagedError if unusable."""
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        except sqlite3.Error as err:
            raise IndexDamagedError(str(err)) from err
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            check = self._db.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise IndexDamagedError(f"integrity check failed: {check}")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise IndexDamagedError(f"index schema {version} is newer than this version knows")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise IndexDamagedError(str(err)) from err
        except IndexDamagedError:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: Iterable = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(args))

    def _all(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # -- segments -----------------------------------------------------------

    def add_segment(
        self, channel: str, start: float, path: str, end: float | None = None, size: int = 0, complete: bool = False
    ) -> int:
        """Insert a segment (replacing one at the same path); returns its id."""
        cursor = self._exec(
            "INSERT OR REPLACE INTO segments (channel, start, end, path, bytes, complete) VALUES (?, ?, ?, ?, ?, ?)",
            (channel, start, end if end is not None else start, path, size, int(complete)),
        )
        return int(cursor.lastrowid)

    def update_segment(self, segment_id: int, end: float, size: int, complete: bool = False) -> None:
        """Record how far a segment has got (or that it is finished)."""
        self._exec(
            "UPDATE segments SET end = ?, bytes = ?, complete = ? WHERE id = ?", (end, size, int(complete), segment_id)
        )

    def delete_segments(self, ids: Iterable[int]) -> None:
        """Forget segments."""
        with self._lock:
            self._db.executemany("DELETE FROM segments WHERE id = ?", [(i,) for i in ids])

    def segments(
        self, channel: str | None = None, start: float | None = None, end: float | None = None, limit: int | None = None
    ) -> list[Segment]:
        """Segments overlapping [start, end), oldest first."""
        where, args = ["1"], []
        if channel is not None:
            where.append("channel = ?")
            args.append(channel)
        if end is not None:
            where.append("start < ?")
            args.append(end)
        if start is not None:
            where.append("end > ?")
            args.append(start)
        sql = f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE {' AND '.join(where)} ORDER BY start"  # noqa: S608
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Segment(*row[:6], bool(row[6])) for row in self._all(sql, args)]

    def incomplete_segments(self) -> list[Segment]:
        """Segments not closed properly (being written, or left by a crash)."""
        rows = self._all(
            "SELECT id, channel, start, end, path, bytes, complete FROM segments WHERE complete = 0 ORDER BY start"
        )
        return [Segment(*row[:6], bool(row[6])) for row in rows]

    def known_paths(self, channel: str | None = None) -> set[str]:
        """Relative paths of all indexed segments."""
        if channel is None:
            return {row[0] for row in self._all("SELECT path FROM segments")}
        return {row[0] for row in self._all("SELECT path FROM segments WHERE channel = ?", (channel,))}

    def oldest_segments(self, limit: int, protect_events_after: float | None = None) -> list[Segment]:
        """Complete segments, oldest first.

        With ``protect_events_after``, segments overlapping an event that ended
        after that time are left out.
        """
        sql = "SELECT s.id, s.channel, s.start, s.end, s.path, s.bytes, s.complete FROM segments s WHERE s.complete = 1"
        args: list = []
        if protect_events_after is not None:
            sql += (
                " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.channel = s.channel AND e.start < s.end"
                " AND COALESCE(e.end, 1e18) > s.start AND COALESCE(e.end, 1e18) > ?)"
            )
            args.append(protect_events_after)
        sql += " ORDER BY s.start LIMIT ?"
        args.append(limit)
        return [Segment(*row[:6], bool(row[6])) for row in self._all(sql, args)]

    def expired_segments(self, before: float, event_before: float) -> list[Segment]:
        """Complete segments past retention.

        A segment ending before ``before`` is expired unless it overlaps an event
        that ended after ``event_before``. Event footage is never expired before
        other footage: with ``event_before`` later than ``before``, it goes at
        ``before`` too.
        """
        rows = self._all(
            "SELECT s.id, s.channel, s.start, s.end, s.path, s.bytes, s.complete FROM segments s"
            " WHERE s.complete = 1 AND s.end < ? AND (s.end < ? OR NOT EXISTS ("
            "  SELECT 1 FROM events e WHERE e.channel = s.channel AND e.start < s.end"
            "  AND COALESCE(e.end, 1e18) > s.start AND COALESCE(e.end, 1e18) >= ?))"
            " ORDER BY s.start",
            (before, event_before, event_before),
        )
        return [Segment(*row[:6], bool(row[6])) for row in rows]

    def total_bytes(self) -> int:
        """Bytes of all indexed footage."""
        return int(self._all("SELECT COALESCE(SUM(bytes), 0) FROM segments")[0][0])

    def oldest_start(self, channel: str | None = None) -> float | None:
        """Start of the oldest footage (of one channel, or of all)."""
        if channel is None:
            row = self._all("SELECT MIN(start) FROM segments")[0]
        else:
            row = self._all("SELECT MIN(start) FROM segments WHERE channel = ?", (channel,))[0]
        return row[0]

    def channels(self) -> list[str]:
        """Channels with footage or events."""
        rows = self._all("SELECT channel FROM segments UNION SELECT channel FROM events")
        return sorted(row[0] for row in rows)

    # -- events -------------------------------------------------------------

    def delete_orphan_events(self, channel: str, before: float) -> list[Event]:
        """Delete finished events of ``channel`` that ended before ``before`` and have no footage left."""
        where = (
            "channel = ? AND end IS NOT NULL AND end < ? AND NOT EXISTS (SELECT 1 FROM segments s"
            " WHERE s.channel = events.channel AND s.start < events.end AND s.end > events.start)"
        )
        with self._lock:
            rows = self._db.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE {where}", (channel, before)).fetchall()  # noqa: S608
            self._db.executemany("DELETE FROM events WHERE id = ?", [(row[0],) for row in rows])
        return [Event(*row) for row in rows]

    def add_event(self, event: Event) -> None:
        """Insert or replace an event."""
        self._exec(
            f"INSERT OR REPLACE INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (event.id, event.channel, event.kind, event.start, event.end, event.score, event.thumbnail),
        )

    def end_event(self, event_id: str, end: float, score: float | None = None) -> None:
        """Set an event's end (and score)."""
        self._exec("UPDATE events SET end = ?, score = COALESCE(?, score) WHERE id = ?", (end, score, event_id))

    def set_event_thumbnail(self, event_id: str, thumbnail: str | None) -> None:
        """Set the relative path of an event's thumbnail (JPEG)."""
        self._exec("UPDATE events SET thumbnail = ? WHERE id = ?", (thumbnail, event_id))

    def events(
        self,
        channel: str | None = None,
        start: float | None = None,
        end: float | None = None,
        kind: str | None = None,
        limit: int | None = None,
        newest_first: bool = True,
    ) -> list[Event]:
        """Events overlapping [start, end)."""
        where, args = ["1"], []
        for column, value in (("channel", channel), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if end is not None:
            where.append("start < ?")
            args.append(end)
        if start is not None:
            where.append("COALESCE(end, 1e18) > ?")
            args.append(start)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY start {order}"  # noqa: S608
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Event(*row) for row in self._all(sql, args)]

    def event(self, event_id: str) -> Event | None:
        """One event by id."""
        rows = self._all("SELECT id, channel, kind, start, end, score, thumbnail FROM events WHERE id = ?", (event_id,))
        return Event(*rows[0]) if rows else None

    def delete_events_before(self, before: float, channel: str | None = None) -> list[Event]:
        """Delete events (of one channel, or all) that ended before ``before``; returns them."""
        where, args = "end IS NOT NULL AND end < ?", [before]
        if channel is not None:
            where += " AND channel = ?"
            args.append(channel)
        rows = self._all(f"SELECT {_EVENT_COLUMNS} FROM events WHERE {where}", args)  # noqa: S608
        self._exec(f"DELETE FROM events WHERE {where}", args)  # noqa: S608
        return [Event(*row) for row in rows]

    # -- browsing (playback) ----------------------------------------------------
    # A file belongs to the hour (and day) in which it starts: recorders start a
    # new file on every UTC hour, so in practice no file crosses an hour.

    def segment(self, segment_id: int) -> Segment | None:
        """One segment by id."""
        rows = self._all(f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE id = ?", (segment_id,))  # noqa: S608
        return Segment(*rows[0][:6], bool(rows[0][6])) if rows else None

    def segments_starting(self, channel: str, start: float, end: float) -> list[Segment]:
        """Segments of ``channel`` starting in [start, end), oldest first (an index range scan)."""
        rows = self._all(
            f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE channel = ? AND start >= ? AND start < ?"  # noqa: S608
            " ORDER BY start",
            (channel, start, end),
        )
        return [Segment(*row[:6], bool(row[6])) for row in rows]

    def segment_times(self, channel: str, start: float, end: float) -> list[tuple[float, float]]:
        """(start, end) of the segments of ``channel`` overlapping [start, end), oldest first.

        A range scan of the (channel, start) index from ``LONGEST_SEGMENT``
        before ``start``. (Merging them into runs in SQLite with window
        functions measured slower than merging the rows in Python.)
        """
        return self._all(
            "SELECT start, end FROM segments WHERE channel = ? AND start >= ? AND start < ? AND end > ?"
            " AND end > start ORDER BY start",
            (channel, start - LONGEST_SEGMENT, end, start),
        )

    def footage_buckets(self, channel: str, start: float, end: float, step: float = 3600.0) -> list[float]:
        """Starts of the ``step``-long buckets from ``start`` to ``end`` in which a segment starts, oldest first."""
        rows = self._all(
            "SELECT DISTINCT CAST((start - ?) / ? AS INTEGER) FROM segments"
            " WHERE channel = ? AND start >= ? AND start < ? AND end > start",
            (start, step, channel, start, end),
        )
        return [start + n * step for n in sorted(row[0] for row in rows)]

    def footage_days(self, channel: str, day_of, before: float | None = None, limit: int = 31) -> list:
        """Days in which footage of ``channel`` starts, newest first, before ``before`` (at most ``limit``).

        ``day_of(t)`` maps an epoch to ``(day, day_start_epoch)`` in the viewer's
        time zone. One indexed query per day listed, however long the archive.
        """
        days: list = []
        cursor = before if before is not None else float("inf")
        while len(days) < limit:
            rows = self._all(
                "SELECT start FROM segments WHERE channel = ? AND start < ? AND end > start"
                " ORDER BY start DESC LIMIT 1",
                (channel, cursor),
            )
            if not rows:
                break
            day, day_start = day_of(rows[0][0])
            days.append(day)
            cursor = day_start
        return days

    # -- channels -----------------------------------------------------------

    def name_channel(
        self, channel: str, name: str, pre_roll: float | None = None, post_roll: float | None = None
    ) -> None:
        """Remember a channel's name and event padding (so its footage keeps them after it is deleted)."""
        self._exec(
            "INSERT INTO channels (id, name, removed, pre_roll, post_roll) VALUES (?, ?, NULL, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET name = excluded.name, removed = NULL,"
            " pre_roll = excluded.pre_roll, post_roll = excluded.post_roll",
            (channel, name, pre_roll, post_roll),
        )

    def remove_channel(self, channel: str, at: float) -> None:
        """Mark a channel deleted; its footage stays until retention deletes it."""
        self._exec("UPDATE channels SET removed = ? WHERE id = ?", (at, channel))

    def removed_channels(self) -> list[RemovedChannel]:
        """Deleted channels that still have footage or events, newest deletion first."""
        rows = self._all(
            "SELECT c.id, c.name, c.removed, c.pre_roll, c.post_roll FROM channels c WHERE c.removed IS NOT NULL"
            " AND (EXISTS (SELECT 1 FROM segments s WHERE s.channel = c.id)"
            " OR EXISTS (SELECT 1 FROM events e WHERE e.channel = c.id)) ORDER BY c.removed DESC"
        )
        return [RemovedChannel(*row) for row in rows]

    def event_count(self, channel: str) -> int:
        """How many events ``channel`` has."""
        return int(self._all("SELECT COUNT(*) FROM events WHERE channel = ?", (channel,))[0][0])
