"""Sightings become object events: one per label, ended after the hold."""

from __future__ import annotations

import numpy as np
from engine.objects.presence import ObjectPresence
from engine.objects.ssd import Detection

PICTURE = np.zeros((4, 4, 3), dtype=np.uint8)
PERSON = Detection("person", 0.7, (0.1, 0.1, 0.3, 0.6))
BETTER = Detection("person", 0.9, (0.2, 0.1, 0.4, 0.6))
CAR = Detection("vehicle", 0.8, (0.5, 0.5, 0.9, 0.9))
WEAK = Detection("person", 0.3, (0.1, 0.1, 0.3, 0.6))


def test_an_event_starts_at_the_first_sighting_and_ends_a_hold_after_the_last() -> None:
    presence = ObjectPresence(("person", "vehicle"), min_score=0.5, hold=5.0)
    started = presence.seen([PERSON], PICTURE, 100.0)
    assert [(t.kind, t.event.label, t.event.start) for t in started] == [("object_start", "person", 100.0)]
    assert presence.seen([], PICTURE, 102.0) == []  # one miss does not split the event
    assert presence.seen([BETTER], PICTURE, 103.0) == []
    assert presence.tick(107.9) == []
    ended = presence.tick(108.0)
    assert [(t.kind, t.event.end, t.event.score, t.event.box) for t in ended] == [
        ("object_end", 108.0, 0.9, BETTER.box)
    ]
    assert presence.events == {}


def test_each_label_has_its_own_event_and_others_are_ignored() -> None:
    presence = ObjectPresence(("person",), min_score=0.5)
    out = presence.seen([CAR, PERSON, WEAK], PICTURE, 10.0)
    assert [t.event.label for t in out] == ["person"]
    presence.follow(("person", "vehicle"), 0.5, 11.0)
    out = presence.seen([CAR], PICTURE, 11.0)
    assert [t.event.label for t in out] == ["vehicle"]
    ended = presence.follow(("vehicle",), 0.5, 12.0)
    assert [(t.kind, t.event.label, t.event.end) for t in ended] == [("object_end", "person", 12.0)]
    assert list(presence.events) == ["vehicle"]


def test_a_score_under_the_minimum_starts_nothing() -> None:
    presence = ObjectPresence(("person",), min_score=0.5)
    assert presence.seen([WEAK], PICTURE, 1.0) == []


def test_finish_ends_everything_at_its_natural_end_at_the_latest() -> None:
    presence = ObjectPresence(("person", "vehicle"), hold=5.0)
    presence.seen([PERSON, CAR], PICTURE, 10.0)
    ended = presence.finish(12.0)
    assert sorted((t.event.label, t.event.end) for t in ended) == [("person", 12.0), ("vehicle", 12.0)]
    presence.seen([PERSON], PICTURE, 20.0)
    assert [t.event.end for t in presence.finish(100.0)] == [25.0]
