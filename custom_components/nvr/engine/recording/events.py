"""The events of one channel going on now, and their records in the index and the events log."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from .eventlog import append_event_log
from .index import Event, RecordingIndex
from .status import EventKind

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class _ActiveEvent:
    event: Event
    until: float | None
    """Wall time at which it ends by itself (manual recordings with a duration)."""


class RunningEvents:
    """Motion and manual events started and not yet ended (used from the recorder's thread only)."""

    def __init__(self, channel: str, root: Path, index: RecordingIndex, label: str) -> None:
        """Track the events of ``channel``; ended ones go to ``index`` and the events log under ``root``."""
        self.channel = channel
        self.root = root
        self.index = index
        self.label = label
        self._events: dict[str, _ActiveEvent] = {}

    def __bool__(self) -> bool:
        """Whether an event is going on."""
        return bool(self._events)

    @property
    def ids(self) -> tuple[str, ...]:
        """Ids of the events going on."""
        return tuple(self._events)

    @property
    def manual(self) -> bool:
        """Whether a manual recording is going on."""
        return any(a.event.kind == EventKind.MANUAL for a in self._events.values())

    def manual_at(self, at: float) -> bool:
        """Whether a manual recording is going on at ``at``: one whose duration ran out by then is not.

        Packets are handled in batches, before the recorder's tick ends such a
        recording; judged by their own time, they stop at its end.
        """
        return any(
            a.event.kind == EventKind.MANUAL and (a.until is None or at < a.until) for a in self._events.values()
        )

    @property
    def earliest_start(self) -> float | None:
        """Wall time of the oldest event going on."""
        return min((a.event.start for a in self._events.values()), default=None)

    def earliest_start_of(self, kinds: frozenset[EventKind]) -> float | None:
        """Wall time of the oldest event of one of ``kinds`` going on."""
        return min((a.event.start for a in self._events.values() if a.event.kind in kinds), default=None)

    def manual_ids(self) -> list[str]:
        """Ids of the manual recordings going on."""
        return [i for i, a in self._events.items() if a.event.kind == EventKind.MANUAL]

    def due(self, now: float) -> list[tuple[str, float]]:
        """(id, end time) of the events whose duration ran out by ``now``."""
        return [(i, a.until) for i, a in self._events.items() if a.until is not None and now >= a.until]

    def start(self, event_id: str, kind: EventKind, at: float, duration: float | None) -> None:
        """Record the start of an event (``duration``: it ends by itself)."""
        event = Event(event_id, self.channel, kind.value, at, None)
        self._events[event_id] = _ActiveEvent(event, at + duration if duration else None)
        try:
            self.index.add_event(event)
        except Exception as err:
            _LOGGER.warning("Index of %s could not record an event: %s", self.label, err)

    def end(self, event_id: str, at: float, score: float | None, thumbnail: str | None = None) -> Event | None:
        """Record the end of an event; the ended event, or None if it was not going on."""
        active = self._events.pop(event_id, None)
        if active is None:
            return None
        event = replace(active.event, end=at, score=score, thumbnail=thumbnail)
        try:
            self.index.end_event(event_id, at, score)
            if thumbnail:
                self.index.set_event_thumbnail(event_id, thumbnail)
        except Exception as err:
            _LOGGER.warning("Index of %s could not end an event: %s", self.label, err)
        append_event_log(self.root, event, self.label)
        return event
