"""One object-detection thread shared by every channel.

Channels offer pictures only while their motion is active (the motion
worker decodes them anyway). Each channel keeps one slot: a newer picture
replaces one still waiting (the latest wins). The thread takes the channels
in turn and runs the detector on each slot.

Two limits keep the host safe:

* a rate: at most ``rate`` pictures a second per channel (``wants`` says
  when a channel may offer the next, so nothing is converted in vain);
* a CPU budget: a channel's next picture waits until the last inference's
  time divided by ``budget`` has passed (0.15: at most 15 % of one core per
  channel, whatever the machine's speed).

The model is loaded in the thread at the first offer (about 40 MB), so a
host with object detection off never holds it. numpy's BLAS is limited to
one thread (``threadpoolctl``): on a busy two-core host, OpenBLAS's own
threads spinning against each other made an inference twenty times slower.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .detector import ObjectDetector
from .ssd import Detection

_LOGGER = logging.getLogger(__name__)

RATE = 2.0
"""Pictures a second per channel, at most."""
BUDGET = 0.15
"""Share of one core a channel's inferences may take."""

Found = Callable[[list[Detection], np.ndarray, float], None]
"""Called in the worker's thread with a picture's detections, the picture and its wall time."""


@dataclass(slots=True)
class _Slot:
    picture: np.ndarray | None = None
    around: tuple[float, float, float, float] | None = None
    at: float = 0.0
    min_score: float = 0.5
    found: Found | None = None
    next_due: float = 0.0
    spacing: float = 0.0
    """Seconds between the last two looks the rate and budget allow."""
    busy: float = 0.0
    runs: int = 0


@dataclass(slots=True)
class WorkerStats:
    """What the worker did (for diagnostics, tests and benchmarks)."""

    inferences: int = 0
    busy: float = 0.0
    """Wall seconds spent in inferences."""
    cpu: float = 0.0
    """CPU seconds the worker's thread spent in them."""
    last_seconds: float = 0.0
    errors: int = 0
    per_channel: dict[str, int] = field(default_factory=dict)


def limit_blas_threads() -> None:
    """Numpy's BLAS runs in the calling thread alone (process-wide)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
    except Exception:
        _LOGGER.warning("Could not limit numpy's BLAS to one thread; object detection may be slow")


class ObjectWorker:
    """Runs the detector for every channel, in one thread."""

    def __init__(
        self,
        load: Callable[[], ObjectDetector] = ObjectDetector.load,
        rate: float = RATE,
        budget: float = BUDGET,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """Prepare; the thread starts at the first offer. ``on_failure(reason)``: the model could not be loaded."""
        self._load = load
        self._on_failure = on_failure
        self._interval = 1.0 / rate
        self._budget = budget
        self._slots: dict[str, _Slot] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._detector: ObjectDetector | None = None
        self.stats = WorkerStats()
        self.failed: str | None = None
        """Why the model could not be loaded (detection is then off)."""

    def wants(self, channel: str, now: float | None = None) -> bool:
        """Whether a picture of ``channel`` would be looked at now (any thread)."""
        if self._stopping or self.failed is not None:
            return False
        slot = self._slots.get(channel)
        return slot is None or (slot.picture is None and (now or time.monotonic()) >= slot.next_due)

    def offer(
        self,
        channel: str,
        picture: np.ndarray,
        found: Found,
        *,
        at: float | None = None,
        around: tuple[float, float, float, float] | None = None,
        min_score: float = 0.5,
    ) -> None:
        """Hand over an RGB picture; it replaces one of the channel's still waiting."""
        with self._cond:
            if self._stopping:
                return
            slot = self._slots.setdefault(channel, _Slot())
            slot.picture, slot.around, slot.found = picture, around, found
            slot.at = time.time() if at is None else at
            slot.min_score = min_score
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nvr-objects", daemon=True)
                self._thread.start()
            self._cond.notify()

    def spacing(self, channel: str) -> float:
        """Seconds the channel waits between looks now (0 before its first)."""
        slot = self._slots.get(channel)
        return slot.spacing if slot is not None else 0.0

    def stats_copy(self) -> WorkerStats:
        """The figures, copied consistently (any thread)."""
        with self._cond:
            stats = self.stats
            return WorkerStats(
                stats.inferences, stats.busy, stats.cpu, stats.last_seconds, stats.errors, dict(stats.per_channel)
            )

    def forget(self, channel: str) -> None:
        """Drop a channel's slot (it stopped, or detection was turned off)."""
        with self._cond:
            self._slots.pop(channel, None)

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread; True when it ended within ``timeout`` (an inference in progress finishes)."""
        with self._cond:
            self._stopping = True
            self._slots.clear()
            self._cond.notify_all()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _next(self) -> tuple[str, _Slot, _Slot] | None:
        """The next channel's slot, and a copy of what it holds (later offers change the slot)."""
        with self._cond:
            while not self._stopping:
                ready = [(s.next_due, c) for c, s in self._slots.items() if s.picture is not None]
                if ready:
                    _, channel = min(ready)
                    slot = self._slots[channel]
                    taken = _Slot(slot.picture, slot.around, slot.at, slot.min_score, slot.found)
                    slot.picture = None
                    return channel, slot, taken
                self._cond.wait()
        return None

    def _run(self) -> None:
        try:
            limit_blas_threads()
            self._detector = self._load()
        except Exception as err:
            self.failed = str(err) or type(err).__name__
            _LOGGER.error("Object detection is off: the model could not be loaded (%s)", self.failed)
            with self._cond:
                self._slots.clear()
            if self._on_failure is not None:
                self._on_failure(self.failed)
            return
        while (item := self._next()) is not None:
            channel, slot, taken = item
            picture = taken.picture
            started, cpu = time.monotonic(), time.thread_time()
            try:
                detections = self._detector.detect(picture, taken.min_score, taken.around)
            except Exception:  # a bad picture must not end detection for every channel
                self.stats.errors += 1
                _LOGGER.exception("Object detection failed on a picture of %s", channel)
                detections = None
            spent = time.monotonic() - started
            with self._cond:
                slot.spacing = max(self._interval, spent / self._budget)
                slot.next_due = started + slot.spacing
                slot.busy += spent
                slot.runs += 1
                stats = self.stats
                stats.inferences += 1
                stats.busy += spent
                stats.cpu += time.thread_time() - cpu
                stats.last_seconds = spent
                stats.per_channel[channel] = slot.runs
            if detections is not None and taken.found is not None:
                try:
                    taken.found(detections, picture, taken.at)
                except Exception:
                    _LOGGER.exception("Handling the objects found on %s failed", channel)
