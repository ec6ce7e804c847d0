"""Read timeouts for readers whose reads PyAV does not time (see ``avopen.open_input``).

PyAV's read timeout costs a trip through the GIL on every socket read and
poll slice of FFmpeg: over RTSP/TCP three reads per RTP packet, about 2,500
GIL acquisitions a second for a 4 Mbit/s stream. Sixteen readers in one
process then wait for the GIL in turn, each wait a sleep and a wake-up:
about 10,000 context switches a second on two cores, and two to five times
the CPU of the reading itself (bench/record.py, README).

So a TCP reader opens with PyAV's open timeout only. While it reads, two
things end a read that delivers nothing:

* FFmpeg's socket timeout (set to the same READ_TIMEOUT): no byte at all
  for that long, which is how a camera that is gone or frozen looks;
* this watchdog, for a connection that stays busy without delivering a
  packet (RTCP reports or keep-alive replies only): one thread for the
  whole process wakes twice a second and wakes a reader that has waited
  READ_TIMEOUT for a packet by shutting its sockets down
  (:class:`.interrupt.SocketWatch`). Opens to one camera take turns to
  connect so that each owns its socket; one that overlapped another all
  the same (rare) owns none, and is made again with PyAV's read timeout.

The thread runs while at least one reader is registered and is joined by
the last one to leave, so no thread outlives the readers.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

_LOGGER = logging.getLogger(__name__)

INTERVAL = 0.5
"""Seconds between the watchdog's checks: a stall is caught at most this late."""


class Watched(Protocol):
    """A reader the watchdog looks after."""

    def check_stall(self, now: float) -> None:
        """Wake the reader if it waited too long for a packet (``now``: ``time.monotonic()``)."""


class ReadWatchdog:
    """One thread that checks every registered reader every :data:`INTERVAL` seconds."""

    def __init__(self, interval: float = INTERVAL) -> None:
        """Nothing runs until a reader is added."""
        self.interval = interval
        self._cond = threading.Condition()
        self._readers: set[Watched] = set()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the watchdog's thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def add(self, reader: Watched) -> None:
        """Watch ``reader`` (from its own thread); starts the thread if needed."""
        with self._cond:
            self._readers.add(reader)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nvr-read-watchdog", daemon=True)
                self._thread.start()

    def remove(self, reader: Watched) -> None:
        """Stop watching ``reader``; the last one to leave ends the thread and waits for it."""
        with self._cond:
            self._readers.discard(reader)
            thread = self._thread
            if self._readers or thread is None:
                return
            self._thread = None
            self._cond.notify_all()
        if thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._cond:
                if self._thread is not me:
                    return
                self._cond.wait(self.interval)
                if self._thread is not me:
                    return
                readers = list(self._readers)
            now = time.monotonic()
            for reader in readers:
                try:
                    reader.check_stall(now)
                except Exception:
                    _LOGGER.exception("Read watchdog failed on %r", reader)


WATCHDOG = ReadWatchdog()
"""The process's watchdog."""
