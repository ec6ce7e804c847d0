"""Motion and manual events: pre-roll, post-roll, modes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from engine import EventKind, RecorderSettings, RecordingMode
from support import wait_for

from ..recsupport import decode_errors, files_of_one_take, recording, video_packets

FPS = 15
FRAME = 1 / FPS
GOP = 1.0
SLACK = 0.25
"""Wall clock vs stream clock: arrival jitter and the server's latency."""


def test_motion_event_has_pre_roll_and_post_roll(recording_server, tmp_path: Path) -> None:
    settings = RecorderSettings(mode=RecordingMode.MOTION, segment_seconds=60, pre_roll=2.0, post_roll=1.5)
    with recording(recording_server.url("/h264"), tmp_path, settings) as (arc, rec, _chan):
        wait_for(lambda: rec.video_count > 4.5 * FPS, 10)  # more than pre_roll buffered
        assert not rec.status.recording
        assert arc.index.segments() == []
        trigger = time.time()
        event_id = rec.start_event(EventKind.MOTION, at=trigger)
        wait_for(lambda: rec.status.recording, 3)
        assert rec.status.events == (event_id,)
        time.sleep(1.0)
        ended = time.time()
        rec.end_event(event_id, at=ended, score=0.8)
        rec.sync()
        assert rec.status.recording, "post-roll keeps writing"
        wait_for(lambda: not rec.status.recording, 5)
        stopped = time.time()
        time.sleep(0.5)
    files = files_of_one_take(arc)
    assert all(f.complete for f in files)
    # The footage starts at the keyframe at or before trigger - pre_roll.
    first, last = files[0], files[-1]
    assert trigger - settings.pre_roll - GOP - SLACK <= first.start <= trigger - settings.pre_roll + SLACK, (
        first.start - trigger
    )
    assert ended + settings.post_roll - SLACK <= last.end <= stopped + SLACK, last.end - ended
    for segment in files:
        path = tmp_path / segment.path
        assert decode_errors(path) == ""
        assert video_packets(path) * FRAME == pytest.approx(segment.duration, abs=FRAME)
    event = arc.index.event(event_id)
    assert event is not None and event.kind == "motion"
    assert event.start == trigger and event.end == ended and event.score == 0.8
    (log,) = tmp_path.glob("chan1/events/*.jsonl")
    assert json.loads(log.read_text().splitlines()[0])["id"] == event_id


def test_manual_recording_ends_at_its_duration_whatever_the_batches(recording_server, tmp_path, monkeypatch) -> None:
    """Packets are handled in batches: those past a manual recording's end are not written, even when the
    recorder's tick that ends it comes a batch later (it overran by up to a batch, 0.5 s)."""
    monkeypatch.setattr("engine.recording.recorder.BATCH_INTERVAL", 1.2)
    settings = RecorderSettings(mode=RecordingMode.OFF, segment_seconds=60, pre_roll=0.0, post_roll=5.0)
    with recording(recording_server.url("/h264"), tmp_path, settings) as (arc, rec, _chan):
        wait_for(lambda: rec.video_count > 2 * FPS, 10)
        started = time.time()
        rec.start_manual(duration=1.5)
        wait_for(lambda: rec.status.recording, 4)
        wait_for(lambda: not rec.status.recording, 6)
    (one,) = arc.index.segments()
    assert one.end == pytest.approx(started + 1.5, abs=SLACK + FRAME)


def test_manual_recording_in_off_mode(recording_server, tmp_path: Path) -> None:
    """Off records nothing; a manual recording does, until its duration or stop_manual()."""
    settings = RecorderSettings(mode=RecordingMode.OFF, segment_seconds=60, pre_roll=0.0, post_roll=5.0)
    with recording(recording_server.url("/h264"), tmp_path, settings) as (arc, rec, _chan):
        wait_for(lambda: rec.video_count > 2 * FPS, 10)
        assert arc.index.segments() == []
        started = time.time()
        rec.start_manual(duration=1.5)
        wait_for(lambda: rec.status.recording and rec.status.manual, 3)
        wait_for(lambda: not rec.status.recording, 4)
        first_stop = time.time()
        # Not before its duration; how long the status takes to follow depends on the machine's load,
        # so the end is checked on what was written (below), not on the clock here.
        assert first_stop - started >= 1.5 - SLACK
        assert not rec.status.manual
        time.sleep(0.5)
        second = time.time()
        rec.start_manual()
        wait_for(lambda: rec.status.recording, 3)
        time.sleep(1.5)
        rec.stop_manual()
        wait_for(lambda: not rec.status.recording, 2)
        stopped = time.time()
        time.sleep(1.0)  # off again: nothing more (no post-roll for manual recordings)
        assert not rec.status.recording
    segments = arc.index.segments()
    assert len(segments) == 2
    one, two = segments
    assert started - GOP - SLACK <= one.start <= started + SLACK
    assert one.end == pytest.approx(started + 1.5, abs=SLACK + FRAME)
    assert second - GOP - SLACK <= two.start <= second + SLACK
    assert two.end <= stopped + SLACK
    assert two.start >= one.end  # nothing written twice
    for segment in segments:
        assert segment.complete
        assert decode_errors(tmp_path / segment.path) == ""
    events = arc.index.events(kind="manual", newest_first=False)
    assert len(events) == 2 and all(e.end is not None for e in events)


def test_objects_mode_records_object_events_with_pre_roll_and_not_motion_alone(
    recording_server, tmp_path: Path
) -> None:
    """Motion alone records nothing; a person seen during it records from pre-roll before the sighting,
    even when the sighting is told seconds after its picture (object detection's delay)."""
    settings = RecorderSettings(mode=RecordingMode.OBJECTS, segment_seconds=60, pre_roll=2.0, post_roll=1.0)
    with recording(recording_server.url("/h264"), tmp_path, settings) as (arc, rec, _chan):
        wait_for(lambda: rec.video_count > 4.5 * FPS, 10)
        brief = rec.start_event(EventKind.MOTION, at=time.time() - 1.0)
        rec.end_event(brief, at=time.time())
        rec.sync()
        assert not rec.status.recording, "the end of a motion event holds no post-roll in objects mode"
        motion = rec.start_event(EventKind.MOTION, at=time.time())
        time.sleep(3.0)  # batches of packets pass: motion alone opens no file
        rec.sync()
        assert not rec.status.recording
        seen = time.time() - 2.0  # told 2 s after the picture
        person = rec.start_event(EventKind.PERSON, at=seen)
        wait_for(lambda: rec.status.recording, 3)
        time.sleep(0.5)
        rec.end_event(motion, at=time.time())
        ended = time.time()
        rec.end_event(person, at=ended, score=0.71)
        wait_for(lambda: not rec.status.recording, 5)
    files = files_of_one_take(arc)
    first, last = files[0], files[-1]
    assert seen - settings.pre_roll - GOP - SLACK <= first.start <= seen - settings.pre_roll + SLACK, first.start - seen
    assert last.end >= ended + settings.post_roll - SLACK
    event = arc.index.event(person)
    assert event is not None and (event.kind, event.score) == ("person", 0.71)
