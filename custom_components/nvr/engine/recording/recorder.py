"""The recorder of one channel: modes, events, pre-roll and file rotation.

The main stream's reader hands every packet over (:class:`..stream.sinks.PacketSink`);
a thread of the recorder's own does all the work, so a slow disk never stalls
the stream. Commands (mode, events, settings) go through the same queue, so
the recorder's state is only ever touched by that thread.

Writing is wanted when the mode is ``continuous``, while a manual event runs,
or, in ``motion`` mode, from an event's start (minus the pre-roll) to its end
plus the post-roll. The last few GOPs are held in memory for the pre-roll
(:mod:`.preroll`); files and disk faults are handled by :mod:`.files`, and
what the thread does with each packet and command by :mod:`.writer_state`.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..stream.gop import EncodedPacket
from ..stream.mediaformat import MediaFormat
from .index import RecordingIndex
from .status import EventKind, RecorderSettings, RecorderStatus, RecordingMode
from .writer_state import WriterState

_LOGGER = logging.getLogger(__name__)

QUEUE_LIMIT = 3000
"""Packets waiting for the disk before new ones are dropped (a stuck disk)."""
BATCH_INTERVAL = 0.5
"""Seconds the recorder lets packets gather between batches.

Waking up for every packet costs far more CPU than handling it (caches are
cold by then): paced at 15 fps, the thread took 0.15 CPU-s per minute of
video at 0.1 s and 0.06 at 0.5 s. Packets wait in memory meanwhile, and
commands (events, mode) take effect at most this much later; the pre-roll
buffer covers that.
"""


class Recorder:
    """Records one channel's main stream under ``root``."""

    def __init__(
        self,
        channel: str,
        root: Path,
        index: RecordingIndex,
        settings: RecorderSettings | None = None,
        on_status: Callable[[RecorderStatus], None] | None = None,
        make_room: Callable[[], None] | None = None,
        label: str | None = None,
    ) -> None:
        """Prepare; call start() to run the thread.

        ``make_room`` is called before each new file (and after a disk-full
        error) to let retention free space; it must be thread-safe.
        """
        self.channel = channel
        self.root = root
        self.index = index
        self.label = label or channel
        self._settings = settings or RecorderSettings()
        self._on_status = on_status
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._dropped = 0
        self._thread: threading.Thread | None = None
        self._status = RecorderStatus(mode=self._settings.mode)
        self._status_lock = threading.Lock()
        self._state = WriterState(channel, root, index, self._settings, make_room, self.label, self._publish)
        """Touched only by the recorder's thread."""

    # -- public API (any thread) ----------------------------------------------

    @property
    def status(self) -> RecorderStatus:
        """The latest status."""
        with self._status_lock:
            return self._status

    @property
    def settings(self) -> RecorderSettings:
        """The settings in force (or about to be)."""
        return self._settings

    def start(self) -> None:
        """Start the recorder's thread."""
        if self._thread is not None:
            raise RuntimeError("recorder already started")
        self._thread = threading.Thread(target=self._run, name=f"nvr-recorder-{self.label}"[:64], daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Finish the file being written and end the thread; True if it ended in time."""
        self._queue.put(("stop",))
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def update_settings(self, settings: RecorderSettings) -> None:
        """Change mode, segment length or pre/post-roll."""
        self._settings = settings
        self._queue.put(("settings", settings))

    def set_mode(self, mode: RecordingMode) -> None:
        """Change the recording mode."""
        self.update_settings(replace(self._settings, mode=RecordingMode(mode)))

    def start_event(
        self, kind: EventKind | str = EventKind.MOTION, duration: float | None = None, at: float | None = None
    ) -> str:
        """Begin an event; returns its id. ``duration`` ends it by itself."""
        event_id = f"{int((at or time.time()) * 1000):x}{secrets.token_hex(4)}"
        self._queue.put(("event_start", event_id, EventKind(kind), at or time.time(), duration))
        return event_id

    def end_event(
        self, event_id: str, at: float | None = None, score: float | None = None, thumbnail: str | None = None
    ) -> None:
        """End an event started with start_event(); ``thumbnail`` is its JPEG's path relative to the root."""
        self._queue.put(("event_end", event_id, at or time.time(), score, thumbnail))

    def start_manual(self, duration: float | None = None) -> str:
        """Start a manual recording (an event of kind manual); returns its id."""
        return self.start_event(EventKind.MANUAL, duration)

    def stop_manual(self) -> None:
        """End every manual recording going on."""
        self._queue.put(("manual_stop", time.time()))

    def sync(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far was handled (for tests and shutdown)."""
        done = threading.Event()
        self._queue.put(("sync", done))
        return done.wait(timeout)

    # -- PacketSink (reader thread) -----------------------------------------

    def stream_started(self, media: MediaFormat, wall_time: float) -> None:
        """A connection delivers pictures."""
        self._queue.put(("start", media, wall_time))

    def packet(self, packet: EncodedPacket, audio: bool) -> None:
        """Queue a packet for the writer thread."""
        if self._queue.qsize() >= QUEUE_LIMIT:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 500 == 0:
                _LOGGER.warning(
                    "Recorder of %s cannot keep up with the stream; %d packets dropped", self.label, self._dropped
                )
            return
        self._queue.put(("packet", packet, audio, time.time()))

    def stream_ended(self) -> None:
        """The connection ended."""
        self._queue.put(("end",))

    # -- writer thread ------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=0.5)]
            except queue.Empty:
                batch = []
            while True:  # take everything queued at once: one wake-up per batch, not per packet
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in batch:
                if item[0] == "stop":
                    self._guarded(self._state.shutdown)
                    return
                self._guarded(self._handle, item)
            self._guarded(self._state.tick, time.time())
            if batch and batch[-1][0] == "packet":
                time.sleep(BATCH_INTERVAL)  # let packets gather; commands wait at most this long

    def _guarded(self, action: Callable, *args) -> None:
        try:
            action(*args)
        except Exception:
            _LOGGER.exception("Recorder of %s failed; closing its file", self.label)
            self._state.close_segment(None)

    def _handle(self, item: tuple) -> None:
        kind, state = item[0], self._state
        if kind == "packet":
            state.on_packet(item[1], item[2], item[3])
        elif kind == "start":
            state.on_start(item[1], item[2])
        elif kind == "end":
            state.on_end()
        elif kind == "settings":
            state.on_settings(item[1])
        elif kind == "event_start":
            state.on_event_start(*item[1:])
        elif kind == "event_end":
            state.on_event_end(*item[1:])
        elif kind == "manual_stop":
            state.manual_stop(item[1])
        elif kind == "sync":
            item[1].set()

    def _publish(self) -> None:
        state = self._state
        with self._status_lock:
            self._status = replace(
                self._status,
                mode=state.settings.mode,
                recording=state.files.writer is not None,
                fault=state.files.fault,
                fault_detail=state.files.fault_detail,
                segment=state.files.relpath,
                events=state.events.ids,
                manual=state.events.manual,
                bitrate=state.bitrate if state.bitrate is not None else self._status.bitrate,
            )
            status = self._status
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:
                _LOGGER.exception("Status callback of recorder %s failed", self.label)
