"""One motion event from the local detector and the camera's own reports (either one fires)."""

from __future__ import annotations

import threading

from engine.motion.events import MotionUpdate
from engine.motion.merge import CAMERA_SCORE, MotionMerge
from engine.motion.settings import MotionConfig, MotionSettings
from engine.motion.tracker import MotionEvent
from engine.motion.worker import MotionWorker


def local(start: float, last: float, end: float | None = None, score: float = 2.0) -> MotionEvent:
    return MotionEvent(start, score, start + 0.5, last, end)


def test_camera_alone_starts_and_ends_after_the_off_delay() -> None:
    merge = MotionMerge()
    started = merge.camera(True, 100.0, off_delay=10)
    assert started is not None and started.start == 100.0 and started.peak_score == CAMERA_SCORE
    assert merge.camera(True, 101.0, off_delay=10) is None  # a repeated report starts nothing
    assert merge.camera(False, 103.0, off_delay=10) is None
    assert merge.due(112.9) is None
    ended = merge.due(113.0)
    assert ended is not None and ended.end == 113.0
    assert merge.event is None


def test_local_then_camera_is_one_event_ending_when_both_are_quiet() -> None:
    merge = MotionMerge()
    assert merge.local_started(local(100.0, 100.0)) is not None
    assert merge.camera(True, 101.0, off_delay=10) is None  # joins the running event
    assert merge.local_ended(local(100.0, 104.0, end=114.0)) is None  # the camera still sees motion
    assert merge.camera(False, 110.0, off_delay=10) is None
    assert merge.due(119.0) is None
    ended = merge.due(120.0)
    assert ended is not None and (ended.start, ended.end) == (100.0, 120.0)
    assert ended.peak_score == 2.0  # the detector's peak beats the camera's


def test_camera_hold_shorter_than_local_event_ends_with_the_detector() -> None:
    merge = MotionMerge()
    merge.camera(True, 100.0, off_delay=10)
    merge.camera(False, 100.5, off_delay=10)
    assert merge.local_started(local(100.2, 100.2)) is None
    ended = merge.local_ended(local(100.2, 108.0, end=118.0))
    assert ended is not None and ended.end == 118.0
    assert merge.due(1e9) is None


def test_finish_ends_at_the_natural_end_at_most_now() -> None:
    merge = MotionMerge()
    merge.camera(True, 100.0, off_delay=10)
    ended = merge.finish(105.0)
    assert ended is not None and ended.end == 105.0
    assert merge.finish(106.0) is None


class EventLog:
    """A recorder stand-in: the events the worker starts and ends (an EventSink)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, float | None]] = []
        self.ended: list[tuple[str, float | None]] = []

    def start_event(self, kind: str = "motion", duration: float | None = None, at: float | None = None) -> str:
        self.started.append((kind, at))
        return f"e{len(self.started)}"

    def end_event(self, event_id: str, at: float | None = None, score=None, thumbnail=None) -> None:
        self.ended.append((event_id, at))


def test_worker_takes_camera_reports_only_when_they_count() -> None:
    updates: list[MotionUpdate] = []
    changed = threading.Condition()

    def on_event(update: MotionUpdate) -> None:
        with changed:
            updates.append(update)
            changed.notify_all()

    log = EventLog()
    settings = MotionSettings(off_delay=0.5)
    worker = MotionWorker("ch", MotionConfig(settings, local=False, camera=False), recorder=log, on_event=on_event)
    worker.start()
    try:
        worker.camera_event(True)
        assert worker.sync()
        assert updates == [] and log.started == []  # the source is the local detector alone

        worker.apply(MotionConfig(settings, local=False, camera=True))
        worker.camera_event(True, at=1000.0)
        worker.camera_event(True, at=1001.0)
        worker.camera_event(False, at=1001.5)
        with changed:
            assert changed.wait_for(lambda: len(updates) == 2, timeout=10)
        start, end = updates
        assert (start.kind, start.start, start.thumbnail) == ("motion_start", 1000.0, None)
        assert (end.kind, end.end) == ("motion_end", 1002.0)  # the camera's end plus the off delay
        assert log.started == [("motion", 1000.0)] and log.ended == [("e1", 1002.0)]

        # Detection turned off while the camera still reports motion: the event ends then.
        worker.camera_event(True)
        with changed:
            assert changed.wait_for(lambda: len(updates) == 3, timeout=10)
        worker.apply(MotionConfig(settings, enabled=False, local=False, camera=True))
        with changed:
            assert changed.wait_for(lambda: len(updates) == 4, timeout=10)
        assert updates[3].kind == "motion_end" and not worker.motion
        worker.camera_event(True)  # ignored while detection is off
        assert worker.sync()
        assert len(updates) == 4
    finally:
        assert worker.stop()
