"""When motion detection decodes keyframes only because the host cannot keep up.

Decoding every frame of the detection stream is the detector's main cost.
On an overloaded host (every core busy) it falls behind: packets wait in
the worker's queue, detection runs seconds late and the backlog is dropped
again and again. Instead, once a packet waited more than ``SHED_LAG`` for
the decoder, the worker sheds load: it decodes and analyses keyframes only
(as in low-power mode, one picture per keyframe interval) and says so
(:attr:`LoadShedder.shedding`, the motion sensor's ``overloaded``
attribute). After ``RETRY_FIRST`` seconds it tries every frame again at the
next keyframe; a try that falls behind again within ``STABLE`` seconds
doubles the wait (up to ``RETRY_MAX``), and full decoding that holds for
``STABLE`` seconds brings the wait back to ``RETRY_FIRST``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

_LOGGER = logging.getLogger(__name__)

SHED_LAG = 2.0
"""Seconds a packet may wait for the decoder before detection falls back to keyframes."""
RETRY_FIRST = 10.0
"""Seconds of keyframes-only detection before every frame is decoded again."""
RETRY_MAX = 120.0
"""Longest wait between two tries (repeated tries that fall behind double it)."""
STABLE = 60.0
"""Seconds of full decoding after which a try counts as a success."""


class LoadShedder:
    """The shedding state of one worker (its own thread only, apart from reading ``shedding``)."""

    def __init__(self, label: str) -> None:
        """Start decoding every frame."""
        self.label = label
        self.on_change: Callable[[bool], None] | None = None
        """Called with the new ``shedding`` whenever it changes."""
        self.shedding = False
        """Whether only keyframes are decoded because decoding fell behind."""
        self.changes = 0
        """How often ``shedding`` changed (tests)."""
        self._delay = RETRY_FIRST
        self._retry_at = 0.0
        self._full_since: float | None = None
        """When the current try of full decoding began (None: the first, since start)."""

    def behind(self, lag: float, now: float) -> bool:
        """A packet waited ``lag`` s while every frame is decoded; True when shedding starts now."""
        tried = self._full_since
        if lag <= SHED_LAG:
            if tried is not None and now - tried >= STABLE:
                self._delay, self._full_since = RETRY_FIRST, None
            return False
        if tried is not None and now - tried < STABLE:
            self._delay = min(RETRY_MAX, self._delay * 2)  # the try failed: wait longer
        else:
            self._delay = RETRY_FIRST
        self._set(True)
        self._retry_at = now + self._delay
        self._full_since = None
        return True

    def due(self, now: float) -> bool:
        """Whether it is time to try every frame again."""
        return self.shedding and now >= self._retry_at

    def retry(self, now: float) -> bool:
        """At a keyframe while shedding: True when every frame is to be decoded again from now."""
        if not self.due(now):
            return False
        self._set(False)
        self._full_since = now
        return True

    def reset(self) -> None:
        """Settings changed (low power, detection off): start over at full decoding."""
        if self.shedding:
            self._set(False)
        self._delay = RETRY_FIRST
        self._full_since = None

    def _set(self, shedding: bool) -> None:
        """Change ``shedding``: log it once and report it."""
        self.shedding = shedding
        self.changes += 1
        _LOGGER.debug(
            "Motion detection of %s %s",
            self.label,
            "falls behind: keyframes only" if shedding else "decodes every frame again",
        )
        if self.on_change is not None:
            try:
                self.on_change(shedding)
            except Exception:
                _LOGGER.exception("Reporting the load of %s's motion detection failed", self.label)
