"""The shared object worker: latest picture wins, a CPU budget per channel, a stop with a deadline."""

from __future__ import annotations

import threading
import time

import numpy as np
from engine.objects.detector import ObjectDetector
from engine.objects.worker import ObjectWorker
from support import wait_for

from ...objects_scenes import photo


class _Gated:
    """A detector that holds each picture until the test lets it go, and notes what it saw."""

    def __init__(self, spent: float = 0.0) -> None:
        self.gate = threading.Semaphore(0)
        self.entered = threading.Semaphore(0)
        self.seen: list[int] = []
        self.spent = spent

    def detect(self, picture: np.ndarray, min_score: float, around) -> list:
        self.entered.release()
        self.gate.acquire()
        if self.spent:
            time.sleep(self.spent)
        self.seen.append(int(picture[0, 0, 0]))
        return []


def _picture(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, dtype=np.uint8)


def test_the_newest_picture_replaces_one_waiting() -> None:
    gated = _Gated()
    worker = ObjectWorker(lambda: gated, rate=1000.0, budget=1.0)
    done: list[float] = []
    try:
        worker.offer("a", _picture(1), lambda d, p, at: done.append(at), at=1.0)
        assert gated.entered.acquire(timeout=5)
        # While picture 1 is being looked at, 2 and then 3 arrive: 3 wins.
        worker.offer("a", _picture(2), lambda d, p, at: done.append(at), at=2.0)
        worker.offer("a", _picture(3), lambda d, p, at: done.append(at), at=3.0)
        gated.gate.release()
        gated.gate.release()
        wait_for(lambda: len(done) == 2, 5)
        assert gated.seen == [1, 3]
        assert done == [1.0, 3.0]
    finally:
        assert worker.stop(5)


def test_a_channel_waits_so_its_inferences_stay_within_the_budget() -> None:
    gated = _Gated(spent=0.05)
    worker = ObjectWorker(lambda: gated, rate=1000.0, budget=0.1)
    try:
        gated.gate.release()
        worker.offer("a", _picture(1), lambda d, p, at: None)
        wait_for(lambda: worker.stats.inferences == 1, 5)
        # 50 ms or more of work at a 10 % budget: the channel's next picture is not wanted for 0.5 s or more.
        assert not worker.wants("a")
        slot = worker._slots["a"]
        assert slot.next_due - time.monotonic() > 0.3
        assert worker.wants("b")  # other channels have budgets of their own
        wait_for(lambda: worker.wants("a"), 5)
    finally:
        assert worker.stop(5)


def test_a_model_that_cannot_load_turns_detection_off_without_harm() -> None:
    def _broken() -> ObjectDetector:
        raise OSError("no such file")

    worker = ObjectWorker(_broken)
    worker.offer("a", _picture(1), lambda d, p, at: None)
    wait_for(lambda: worker.failed is not None, 5)
    assert "no such file" in worker.failed
    assert not worker.wants("a")
    assert worker.stop(1)


def test_stop_ends_the_thread_and_refuses_new_pictures(detector: ObjectDetector) -> None:
    found: list[list] = []
    worker = ObjectWorker(lambda: detector)
    worker.offer("a", photo("astronaut"), lambda d, p, at: found.append(d))
    wait_for(lambda: found, 30)
    assert any(d.label == "person" for d in found[0])
    assert worker.stop(5)
    worker.offer("a", photo("astronaut"), lambda d, p, at: found.append(d))
    assert not worker.wants("a")
    assert worker._thread is not None and not worker._thread.is_alive()
    assert worker.stats.per_channel == {"a": 1}
