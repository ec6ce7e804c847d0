"""What a channel's motion detection is set to."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .zones import Polygon, parse_polygons

LATENCY_BUDGET = 0.3
"""Seconds of confirmation allowed after the first analysed moving frame."""


def sensitivity_threshold(sensitivity: int) -> float:
    """Pixel difference (0..255 luma) that counts as a change: 36 at 1, 21 at 50, 6 at 100."""
    return 6.0 + 0.3 * (100 - sensitivity)


@dataclass(frozen=True, slots=True)
class MotionSettings:
    """What a channel's motion detection is set to; validated on creation.

    ``zones`` and ``masks`` accept anything ``parse_polygons`` does and are
    stored normalised. Invalid values raise ``ValueError`` (``InvalidZoneError``
    for polygons).
    """

    sensitivity: int = 50
    """1..100; higher detects fainter changes."""
    min_area: float = 0.5
    """Percent of the active area that must change."""
    detect_fps: float = 5.0
    """Analysed frames per second (at most)."""
    off_delay: float = 10.0
    """Seconds without motion before an event ends."""
    zones: tuple[Polygon, ...] = ()
    masks: tuple[Polygon, ...] = ()
    background_time: float = 4.0
    """Time constant of the running-average background, in seconds."""
    confirm_frames: int = 2
    """Consecutive analysed frames over ``min_area`` before motion is reported."""

    def __post_init__(self) -> None:
        """Check ranges and normalise the polygons."""
        if isinstance(self.sensitivity, bool) or not isinstance(self.sensitivity, int):
            raise ValueError("sensitivity must be an integer")
        if not 1 <= self.sensitivity <= 100:
            raise ValueError("sensitivity must be within 1..100")
        if not 0.0 < self.min_area <= 100.0:
            raise ValueError("min_area must be within 0..100 percent")
        if not 0.1 <= self.detect_fps <= 30.0:
            raise ValueError("detect_fps must be within 0.1..30")
        if not 0.0 <= self.off_delay <= 3600.0:
            raise ValueError("off_delay must be within 0..3600 s")
        if not 0.1 <= self.background_time <= 600.0:
            raise ValueError("background_time must be within 0.1..600 s")
        if not 1 <= self.confirm_frames <= 10:
            raise ValueError("confirm_frames must be within 1..10")
        object.__setattr__(self, "zones", parse_polygons(self.zones))
        object.__setattr__(self, "masks", parse_polygons(self.masks))

    @property
    def threshold(self) -> float:
        """Pixel difference threshold from ``sensitivity``."""
        return sensitivity_threshold(self.sensitivity)

    @property
    def required_frames(self) -> int:
        """Consecutive frames needed, capped so confirmation fits ``LATENCY_BUDGET``."""
        return max(1, min(self.confirm_frames, 1 + math.floor(LATENCY_BUDGET * self.detect_fps + 1e-9)))


@dataclass(frozen=True, slots=True)
class MotionConfig:
    """What the worker is set to; ``settings`` are the detector's."""

    settings: MotionSettings = field(default_factory=MotionSettings)
    enabled: bool = True
    low_power: bool = False
    """Decode and analyse keyframes only."""
    local: bool = True
    """The channel's stream is analysed here (decoding costs CPU)."""
    camera: bool = False
    """The camera's own motion reports count (they cost no CPU here)."""

    @property
    def analyses(self) -> bool:
        """Whether the stream is decoded and analysed."""
        return self.enabled and self.local
