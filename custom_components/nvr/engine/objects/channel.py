"""Object detection of one channel: pictures in, object events out.

The motion worker offers its decoded pictures while motion goes on
(``offer``, in its thread): when the shared :class:`.worker.ObjectWorker`
wants one, it is converted to RGB (at most ``MAX_WIDTH`` wide) and handed
over with the moving area. The worker's detections go through
:class:`.presence.ObjectPresence`; each object event is started and ended
on the recorder (kind ``person``, ``vehicle``, ``bicycle`` or ``animal``:
indexed beside the motion event, with its best score and a snapshot with
the box drawn) and reported to ``on_event`` as an :class:`ObjectUpdate`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..motion.events import EventSink, new_event_id, write_thumbnail
from .presence import HOLD, LABELS, ObjectPresence, ObjectTransition
from .ssd import Detection
from .worker import ObjectWorker

_LOGGER = logging.getLogger(__name__)

MAX_WIDTH = 1280
"""Pictures wider than this are scaled down before detection (a 4K main stream)."""
BOX_COLOUR = np.array([255, 196, 0], dtype=np.uint8)
HOLD_LOOKS = 2.5
"""An object event lasts at least this many of the channel's intervals between looks after its last sighting."""


@dataclass(frozen=True, slots=True)
class ObjectConfig:
    """What a channel detects: no labels means detection is off."""

    labels: tuple[str, ...] = ()
    min_score: float = 0.5

    @property
    def enabled(self) -> bool:
        """Whether anything is detected."""
        return bool(self.labels)


@dataclass(frozen=True, slots=True)
class ObjectUpdate:
    """An object event starting or ending on a channel."""

    kind: Literal["object_start", "object_end"]
    label: str
    event_id: str
    start: float
    end: float | None
    score: float
    box: tuple[float, float, float, float]
    """``(x0, y0, x1, y1)`` in 0..1 of the picture, of the best sighting so far."""
    thumbnail: str | None
    """The snapshot's path relative to the storage root (None: not written)."""
    jpeg: bytes | None


def draw_box(picture: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """A copy of ``picture`` with ``box`` (0..1) outlined."""
    out = picture.copy()
    height, width = out.shape[:2]
    thick = max(2, width // 320)
    x0, x1 = (round(v * (width - 1)) for v in (box[0], box[2]))
    y0, y1 = (round(v * (height - 1)) for v in (box[1], box[3]))
    out[y0 : y0 + thick, x0 : x1 + 1] = BOX_COLOUR
    out[max(y1 - thick + 1, 0) : y1 + 1, x0 : x1 + 1] = BOX_COLOUR
    out[y0 : y1 + 1, x0 : x0 + thick] = BOX_COLOUR
    out[y0 : y1 + 1, max(x1 - thick + 1, 0) : x1 + 1] = BOX_COLOUR
    return out


class ChannelObjects:
    """One channel's object detection (thread-safe)."""

    def __init__(
        self,
        channel: str,
        worker: ObjectWorker,
        config: ObjectConfig,
        *,
        label: str | None = None,
        recorder: EventSink | None = None,
        root: Path | None = None,
        on_event: Callable[[ObjectUpdate], None] | None = None,
    ) -> None:
        """Report to ``recorder`` (None: not indexed) and ``on_event``; snapshots under ``root``."""
        self.channel = channel
        self.label = label or channel
        self._worker = worker
        self._config = config
        self._recorder = recorder
        self._root = root
        self._on_event = on_event
        self._lock = threading.Lock()
        """Guards the presence (held briefly; the event loop takes it)."""
        self._order = threading.Lock()
        """Held from a change of the presence through its reports, so a start is always told before its end."""
        self._presence = ObjectPresence(config.labels, config.min_score)
        self._closed = False

    @property
    def config(self) -> ObjectConfig:
        """The settings in use."""
        return self._config

    @property
    def present(self) -> dict[str, float]:
        """The labels present now, with their best scores."""
        with self._lock:
            return {label: event.score for label, event in self._presence.events.items()}

    @property
    def present_bits(self) -> int:
        """The labels present now as bits (``1 << LABELS.index(label)``): no lock, for every analysed picture."""
        bits = 0
        for label in list(self._presence.events):
            bits |= 1 << LABELS.index(label)
        return bits

    def apply(self, config: ObjectConfig) -> list[ObjectTransition]:
        """Change what is detected, at once (no I/O: the event loop may call it).

        Events of labels no longer wanted end now, the others go on; the
        ended ones are returned, for ``report`` (blocking) to tell.
        """
        with self._lock:
            self._config = config
            ended = self._presence.follow(config.labels, config.min_score, time.time())
        if not config.enabled:
            self._worker.forget(self.channel)
        return ended

    def report(self, transitions: list[ObjectTransition]) -> None:
        """Tell the ends ``apply`` returned (blocking: writes their snapshots)."""
        with self._order:
            for transition in transitions:
                self._report(transition)

    def offer(self, frame: av.VideoFrame, around: tuple[float, float, float, float] | None, at: float) -> None:
        """A decoded picture taken at wall time ``at`` while motion goes on (motion worker's thread)."""
        config = self._config
        if self._closed or not config.enabled or not self._worker.wants(self.channel):
            return
        width, height = frame.width, frame.height
        if width > MAX_WIDTH:
            width, height = MAX_WIDTH, max(2, round(height * MAX_WIDTH / width) // 2 * 2)
        # A reformatter of its own, as stills.snapshot does: the frame may be scaled by a still at the same time.
        picture = VideoReformatter().reformat(frame, width=width, height=height, format="rgb24").to_ndarray()
        self._worker.offer(self.channel, picture, self._found, at=at, around=around, min_score=config.min_score)

    def tick(self, now: float) -> None:
        """End the events whose objects are gone (cheap when none is going on: the motion worker calls it often)."""
        if not self._presence.events:
            return
        # A slow host looks less often: one look must not fall between the sightings of one event.
        hold = max(HOLD, HOLD_LOOKS * self._worker.spacing(self.channel))
        with self._order:
            with self._lock:
                self._presence.hold = hold
                transitions = self._presence.tick(now)
            for transition in transitions:
                self._report(transition)

    def finish(self, now: float | None = None) -> None:
        """End every event now and take no more pictures (the channel stops)."""
        with self._order:
            with self._lock:
                self._closed = True
                transitions = self._presence.finish(time.time() if now is None else now)
            for transition in transitions:
                self._report(transition)
        self._worker.forget(self.channel)

    def _found(self, detections: list[Detection], picture: np.ndarray, at: float) -> None:
        with self._order:
            with self._lock:
                if self._closed:
                    return  # an inference that was under way when the channel stopped
                transitions = self._presence.seen(detections, picture, at, time.time())
            for transition in transitions:
                self._report(transition)

    def _report(self, transition: ObjectTransition) -> None:
        event = transition.event
        starting = transition.kind == "object_start"
        if starting:
            if self._recorder is not None:
                event.event_id = self._recorder.start_event(event.label, at=event.start)
            else:
                event.event_id = new_event_id(event.start)
        frame = av.VideoFrame.from_ndarray(draw_box(event.picture, event.box), format="rgb24")
        thumbnail, jpeg = write_thumbnail(self._root, self.channel, event.event_id, event.start, frame, self.label)
        if not starting and self._recorder is not None:
            self._recorder.end_event(event.event_id, at=event.end, score=round(event.score, 3), thumbnail=thumbnail)
        update = ObjectUpdate(
            transition.kind,
            event.label,
            event.event_id,
            event.start,
            event.end,
            event.score,
            event.box,
            thumbnail,
            jpeg,
        )
        if self._on_event is None:
            return
        try:
            self._on_event(update)
        except Exception:
            _LOGGER.exception("Object callback of %s failed", self.label)
