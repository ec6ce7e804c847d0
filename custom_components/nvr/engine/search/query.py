"""Smart search: the moments something moved in a region, from the activity index.

A second matches when at least ``min_cells`` of the region's cells moved in
it (and, when labels are asked for, one of them was seen in it). Matching
seconds closer than ``MERGE_GAP`` make one match; each match is padded by
``PAD`` on both sides, within the span asked for. A match's ``peak`` is the
second in which the most cells of the region moved (its thumbnail).

Footage outside the analysed spans is reported as ``not_indexed``: it may
hold motion the index cannot tell about.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..objects.presence import LABELS
from .grid import Point, region_words
from .store import DAY, RECORD, SPAN, day_files, day_start, read_array

MAX_SPAN = 7 * DAY
"""The longest span one search covers."""
MERGE_GAP = 4.0
"""Matching seconds this close (s) are one match."""
PAD = 2.0
"""Seconds added before and after each match."""
MAX_MATCHES = 500
"""Most matches one search returns (the earliest); ``truncated`` says when there were more."""


@dataclass(frozen=True, slots=True)
class Match:
    """Moments of motion in the region, padded: ``[start, end)`` in epoch seconds."""

    start: float
    end: float
    peak: float
    """The second with the most moving cells of the region (its thumbnail)."""
    cells: int
    """How many cells of the region moved in the peak second."""
    labels: tuple[str, ...] = ()


@dataclass(slots=True)
class SearchResult:
    """What a search found in its span."""

    matches: list[Match] = field(default_factory=list)
    not_indexed: list[tuple[float, float]] = field(default_factory=list)
    """Footage in the span that no analysis covered."""
    moving_seconds: int = 0
    truncated: bool = False


def label_bits(labels: Iterable[str]) -> int:
    """The label byte of some object labels (unknown ones are an error)."""
    bits = 0
    for label in labels:
        bits |= 1 << LABELS.index(label)
    return bits


def label_names(bits: int) -> tuple[str, ...]:
    """The object labels of a label byte."""
    return tuple(label for i, label in enumerate(LABELS) if bits & (1 << i))


def _days(start: float, end: float) -> range:
    return range(day_start(int(start)), int(end) + 1, DAY)


def read_records(root: Path, channel: str, start: float, end: float) -> np.ndarray:
    """The channel's records of the seconds in ``[start, end)``, in time order."""
    parts = [read_array(day_files(root, channel, day)[0], RECORD) for day in _days(start, end)]
    records = np.concatenate(parts) if parts else np.zeros(0, dtype=RECORD)
    seconds = records["t"]
    records = records[(seconds >= int(start)) & (seconds < end)]
    if records.size > 1 and np.any(np.diff(records["t"].astype(np.int64)) < 0):
        records = records[np.argsort(records["t"], kind="stable")]
    return records


def analysed_spans(root: Path, channel: str, start: float, end: float) -> list[tuple[float, float]]:
    """The merged spans of seconds analysed within ``[start, end)``, as ``[a, b)`` in seconds."""
    parts = [read_array(day_files(root, channel, day)[1], SPAN) for day in _days(start, end)]
    if not parts:
        return []
    spans = np.concatenate(parts)
    out: list[list[float]] = []
    for a, b in sorted(zip(spans["start"].tolist(), spans["end"].tolist(), strict=True)):
        lo, hi = float(a), float(b) + 1.0  # a span's last second is analysed through
        if out and lo <= out[-1][1] + 1.0:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(max(a, start), min(b, end)) for a, b in out if b > start and a < end]


def merged(spans: Iterable[tuple[float, float]], gap: float = 1.0) -> list[tuple[float, float]]:
    """Spans sorted, with those closer than ``gap`` joined (files recorded end to end are one span)."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def subtract(spans: Sequence[tuple[float, float]], minus: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """``spans`` without ``minus`` (both sorted, not overlapping)."""
    out: list[tuple[float, float]] = []
    j = 0
    for a, b in spans:
        cursor = a
        while j < len(minus) and minus[j][1] <= cursor:
            j += 1
        k = j
        while k < len(minus) and minus[k][0] < b:
            if minus[k][0] > cursor:
                out.append((cursor, minus[k][0]))
            cursor = max(cursor, minus[k][1])
            k += 1
        if cursor < b:
            out.append((cursor, b))
    return [(a, b) for a, b in out if b - a >= 1.0]


def search(
    root: Path,
    channel: str,
    start: float,
    end: float,
    region: Sequence[Sequence[Point]],
    *,
    min_cells: int = 1,
    labels: Iterable[str] = (),
    footage: Sequence[tuple[float, float]] = (),
) -> SearchResult:
    """The matches of a region on a channel within ``[start, end)``; ``footage`` gives ``not_indexed``."""
    if end <= start or end - start > MAX_SPAN + 1:
        raise ValueError("span must be positive and at most 7 days")
    words = region_words(region)
    records = read_records(root, channel, start, end)
    counts = np.bitwise_count(records["cells"] & words).sum(axis=1, dtype=np.int32)
    hit = counts >= max(1, min_cells)
    wanted = label_bits(labels)
    if wanted:
        hit &= (records["labels"] & wanted) != 0
    seconds = records["t"][hit].astype(np.int64)
    result = SearchResult(moving_seconds=int(seconds.size))
    if seconds.size:
        result.matches, result.truncated = _matches(seconds, counts[hit], records["labels"][hit], start, end)
    if footage:
        result.not_indexed = subtract(merged(footage), analysed_spans(root, channel, start, end))
    return result


def _matches(
    seconds: np.ndarray, counts: np.ndarray, labels: np.ndarray, start: float, end: float
) -> tuple[list[Match], bool]:
    breaks = np.flatnonzero(np.diff(seconds) > MERGE_GAP) + 1
    firsts = np.concatenate([[0], breaks])
    lasts = np.concatenate([breaks, [seconds.size]])
    matches: list[Match] = []
    for a, b in zip(firsts.tolist(), lasts.tolist(), strict=True):
        lo = max(start, float(seconds[a]) - PAD)
        hi = min(end, float(seconds[b - 1]) + 1.0 + PAD)
        best = a + int(np.argmax(counts[a:b]))
        seen = int(np.bitwise_or.reduce(labels[a:b]))
        if matches and lo <= matches[-1].end:  # the pads meet
            last = matches[-1]
            peak, cells = last.peak, last.cells
            if counts[best] > cells:
                peak, cells = float(seconds[best]), int(counts[best])
            merged = tuple(sorted(set(last.labels) | set(label_names(seen)), key=LABELS.index))
            matches[-1] = Match(last.start, hi, peak, cells, merged)
            continue
        if len(matches) == MAX_MATCHES:
            return matches, True
        matches.append(Match(lo, hi, float(seconds[best]), int(counts[best]), label_names(seen)))
    return matches, False
