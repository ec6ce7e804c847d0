"""A still within its time budget, on a busy host too.

The product promise: a still is answered within ``BUDGET`` seconds. A still
is made on the stills threads (:meth:`..channel.Channel.still`), which an
overloaded host can slow down. :class:`StillKeeper` waits for it until
``DEADLINE`` and otherwise answers with the newest still it served of that
stream at the size asked for (the newest picture already encoded at
that size), or the "No video signal" picture when it has none; the still
being made is kept for the next call. What is kept is per stream and size
(:data:`Size`): a late still asked for at 320x180 is never answered with a
full-size one, nor the other way round.
Every answer says how old its picture is (:attr:`Served.age`), so a caller
can tell (an ``X-Picture-Age`` header, a log line).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

_LOGGER = logging.getLogger(__name__)

BUDGET = 2.0
"""Seconds within which a still is answered: the product's promise."""
DEADLINE = 1.5
"""Seconds the keeper waits for a fresh still; the rest of the budget is for the answer's way back."""
OLD = 2.0
"""A still whose picture is older than this is logged (once per change) as degraded."""

Source = Literal["live", "keyframe", "earlier", "no_signal"]

Size = tuple[int | None, int | None]
"""The width and height a still was asked for (None: the stream's own)."""
FULL: Size = (None, None)
"""The stream's own size."""


@dataclass(frozen=True, slots=True)
class Served:
    """A still as answered: its JPEG, when its picture's packet arrived, and where it came from.

    ``source``: ``live`` (the newest picture decoded), ``keyframe`` (the
    held GOP's keyframe: arrival unknown), ``earlier`` (a still served before,
    the fresh one missed the deadline), ``no_signal`` (the placeholder).
    """

    jpeg: bytes
    arrival: float | None
    source: Source

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the picture's packet arrived (None: unknown, a keyframe or the placeholder)."""
        if self.arrival is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.arrival)


def served(jpeg: bytes, arrival: float | None, connected: bool) -> Served:
    """A fresh still (``Channel.still``'s JPEG and arrival) as answered: live, keyframe or placeholder."""
    if arrival is not None:
        return Served(jpeg, arrival, "live")
    return Served(jpeg, None, "keyframe" if connected else "no_signal")


class StillKeeper:
    """The newest still served per stream and size, and the fallback when a fresh one is late (any thread).

    Every method takes the stream's role and the ``size`` the still was
    asked for (:data:`Size`, the stream's own by default): a still is kept,
    and answers, only for the same stream at the same size.
    """

    def __init__(self, label: str) -> None:
        """Keep the stills of one channel (``label`` for logs)."""
        self.label = label
        self._lock = threading.Lock()
        self._last: dict[tuple[str, Size], Served] = {}
        self._late: dict[tuple[str, Size], bool] = {}

    def last(self, role: str, size: Size = FULL) -> Served | None:
        """The newest still served of a stream at ``size`` (None: none yet)."""
        with self._lock:
            return self._last.get((role, size))

    def remember(self, role: str, served: Served, size: Size = FULL) -> Served:
        """Keep a fresh still as the newest of the stream at ``size``; returns it."""
        key = (role, size)
        if served.source in ("live", "keyframe"):
            with self._lock:
                newest = self._last.get(key)
                if newest is None or newest.arrival is None or (served.arrival or 0.0) >= newest.arrival:
                    self._last[key] = served
        self._report(key, served)
        return served

    def fallback(self, role: str, placeholder: Callable[[], bytes], size: Size = FULL) -> Served:
        """The answer when a fresh still is late: the newest still served at ``size``, else the placeholder."""
        earlier = self.last(role, size)
        served = (
            Served(earlier.jpeg, earlier.arrival, "earlier")
            if earlier is not None
            else Served(placeholder(), None, "no_signal")
        )
        self._report((role, size), served)
        return served

    def wait(
        self,
        role: str,
        future: Future,
        made: Callable[[object], Served],
        timeout: float = DEADLINE,
        size: Size = FULL,
    ) -> Served:
        """Blocking form: the fresh still ``future`` within ``timeout``, else :meth:`fallback` (no placeholder)."""
        future.add_done_callback(lambda done: self._keep(role, size, done, made))
        try:
            return made(future.result(timeout))
        except Exception:  # late, or failed: what is kept answers
            return self.fallback(role, lambda: b"", size)

    def _keep(self, role: str, size: Size, done: Future, made: Callable[[object], Served]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        self.remember(role, made(done.result()), size)

    def _report(self, key: tuple[str, Size], served: Served) -> None:
        """Log once per change whether this stream's stills at this size are degraded (late or old)."""
        age = served.age()
        late = served.source in ("earlier", "no_signal") or (age is not None and age > OLD)
        with self._lock:
            changed = self._late.get(key, False) != late
            self._late[key] = late
        if changed:
            role, (width, height) = key
            stream = role if key[1] == FULL else f"{role} {width or ''}x{height or ''}"
            if late:
                _LOGGER.debug(
                    "Stills of %s (%s) degraded: %s picture, %s old",
                    self.label,
                    stream,
                    served.source,
                    "unknown" if age is None else f"{age:.1f} s",
                )
            else:
                _LOGGER.debug("Stills of %s (%s) are fresh again", self.label, stream)
