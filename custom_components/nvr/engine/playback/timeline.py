"""What the timeline shows of a channel over a span: where footage exists, and its events.

Adjacent files merge into one span (a recorder starts the next file where the
last one ended, give or take a frame); a real gap (the camera was down,
recording was off, or motion mode recorded nothing) stays a gap.

Plain Python, blocking (SQLite): call from an executor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..recording.index import Event, RecordingIndex

JOIN_SECONDS = 2.0
"""Files closer than this merge into one span of footage."""


@dataclass(frozen=True, slots=True)
class ChannelTimeline:
    """One channel over [start, end)."""

    channel: str
    spans: tuple[tuple[float, float], ...]
    """Footage, oldest first, clipped to the span asked for."""
    events: tuple[Event, ...]
    """Events overlapping the span, oldest first."""


def merge_spans(
    times: Iterable[tuple[float, float]], start: float, end: float, join: float = JOIN_SECONDS
) -> tuple[tuple[float, float], ...]:
    """Merge (start, end) pairs sorted by start into spans, clipped to [start, end)."""
    merged: list[list[float]] = []
    for first, last in times:
        begin, finish = max(first, start), min(last, end)
        if finish <= begin:
            continue
        if merged and begin - merged[-1][1] <= join:
            merged[-1][1] = max(merged[-1][1], finish)
        else:
            merged.append([begin, finish])
    return tuple((a, b) for a, b in merged)


def channel_timeline(index: RecordingIndex, channel: str, start: float, end: float) -> ChannelTimeline:
    """Footage and events of ``channel`` over [start, end)."""
    spans = merge_spans(index.segment_times(channel, start, end), start, end)
    events = tuple(index.events(channel, start, end, newest_first=False))
    return ChannelTimeline(channel, spans, events)
