"""Motion detection on the luma plane: numpy only, cheap enough for every channel.

Pipeline, per analysed frame (``FrameRateLimiter`` picks at most ``detect_fps``
frames a second):

1. The Y plane (2-D ``uint8``, any line padding) is shrunk to about
   ``WORK_WIDTH`` pixels wide by an exact integer block mean (row blocks summed
   with strided adds, then column blocks), then smoothed by a 3×3 box blur.
   No RGB conversion anywhere.
2. A global photometric model ``frame ≈ gain · background + offset`` is fitted
   robustly (from the median difference, then least squares twice on the
   pixels the model explains) and applied to the background first. Auto-exposure,
   slow light ramps and uniform brightness jumps are absorbed by it, and the
   background does not lag behind a ramp.
3. The residual ``|frame - model|`` over a threshold is a changed pixel. The
   threshold comes from ``sensitivity`` and never drops under
   ``NOISE_FACTOR`` × the measured residual noise (robust, median based), so a
   noisy night picture does not fire.
4. When the picture changed globally at once (a brightness step of
   ``LIGHT_JUMP_LEVEL`` or a contrast step of ``LIGHT_JUMP_GAIN`` between
   analysed frames, or ``GLOBAL_FRACTION`` of the unmasked area changed: a
   light switched on, the IR cut filter, auto-exposure, a camera that moved)
   the detector re-baselines: the background becomes the new frame, and for
   ``SETTLE_TIME`` seconds (longer while the picture keeps changing globally)
   frames only reset the background and never report motion. Changed pixels
   that did not move since the last analysed frame (a ghost, a parked car)
   are absorbed with the short time constant ``STILL_TIME``, unless they
   belong to a region that moves (:mod:`.regions`): the flat inside of a
   moving object looks still from frame to frame, and must not be absorbed.
5. Otherwise motion is the changed fraction of the active area (zones, or the
   whole picture, minus masks) at or over ``min_area``; it must hold for two
   consecutive analysed frames (fewer when ``detect_fps`` is low, so that
   motion is reported within ``1 / detect_fps + 0.3`` s of the first moving
   frame) and, once on, stays on down to half of ``min_area``.
6. The background follows the frame with a learning rate of
   ``1 - exp(-dt / background_time)`` per analysed frame.

Events are made of these results in :mod:`.tracker`; zones and masks are
parsed in :mod:`.zones`.

Cost per analysed frame on the development box (2 CPUs, numpy 2.2 and 2.5,
one thread, 300 frames of moving noise, with a zone): 0.24 ms for a 640×360 Y
plane, 0.7 ms for 1920×1080 and 2.8 ms for 3840×2160, against 2.8 ms and
28 ms to decode one 640×360 / 1920×1080 H.264 frame on one thread. The working
picture is 160×90 for all 16:9 sizes from 320×180 to 4K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .regions import moving_regions
from .settings import MotionSettings
from .zones import active_mask, polygon_mask

WORK_WIDTH = 160
"""The working picture is about this wide (integer block factor of the source)."""
NOISE_FACTOR = 5.0
"""The pixel threshold is at least this many robust noise sigmas."""
GLOBAL_FRACTION = 0.45
"""Changed fraction of the unmasked picture that always means a global change."""
LIGHT_JUMP_LEVEL = 6.0
"""Mean brightness step (0..255) between analysed frames that counts as a jump."""
LIGHT_JUMP_GAIN = 0.08
"""Relative contrast step between analysed frames that counts as a jump."""
SETTLE_TIME = 0.5
"""Seconds after a re-baseline during which frames only reset the background."""
MAX_GAP = 5.0
"""A longer pause between analysed frames (reconnect, stall) re-baselines."""
STILL_TIME = 0.5
"""Background time constant (s) for pixels that changed but did not move since the last frame."""
FLAT_SPREAD = 8.0
"""A scene whose brightness varies less (standard deviation, 0..255) has no usable contrast:
its gain cannot be told from noise and faint trails, so only an offset is fitted."""
LONGTERM_TIME = 30.0
"""Time constant (s) of the long-term scene, learnt only where the picture does not change."""
RECENT_TIME = 2.0
"""Seconds over which a pixel that changed still counts as near an object (left out of the lighting fit)."""
RECENT_LEVEL = 0.1
HOLD_FACTOR = 0.5
"""Motion, once on, stays on while the changed area is this share of ``min_area``."""


def luma_plane(frame: Any) -> np.ndarray:
    """The Y plane of a decoded PyAV ``VideoFrame`` as a 2-D ``uint8`` view (no copy).

    Works for 8-bit planar or semi-planar YUV (``yuv420p``, ``yuvj420p``,
    ``yuv422p``, ``nv12``, ...) and ``gray``; the line padding is cut off.
    """
    name = frame.format.name
    eight_bit = not any(tag in name for tag in ("p10", "p12", "p14", "p16", "gray1", "p010"))
    if not (name.startswith(("yuv", "yuvj", "nv12", "nv21")) or name == "gray") or not eight_bit:
        raise ValueError(f"no 8-bit luma plane in pixel format {name}")
    plane = frame.planes[0]
    width, height, line = frame.width, frame.height, plane.line_size
    data = np.frombuffer(plane, dtype=np.uint8)
    return data[: line * height].reshape(height, line)[:, :width]


def block_factor(width: int) -> int:
    """Integer shrink factor that brings ``width`` to about ``WORK_WIDTH``."""
    return max(1, width // WORK_WIDTH)


def shrink(y_plane: np.ndarray, factor: int) -> np.ndarray:
    """Exact ``factor``×``factor`` block mean of a ``uint8`` plane, as float32.

    Row blocks are summed with strided adds and then column blocks, which is
    several times faster than ``reshape(...).mean(axis=(1, 3))``. A remainder
    at the right and bottom edges is dropped.
    """
    rows, cols = y_plane.shape[0] // factor, y_plane.shape[1] // factor
    if factor == 1:
        return y_plane[:rows, :cols].astype(np.float32)
    view = y_plane[: rows * factor, : cols * factor]
    dtype = np.uint16 if factor * factor * 255 <= 0xFFFF else np.uint32
    acc = view[0::factor].astype(dtype)
    for i in range(1, factor):
        acc += view[i::factor]
    out = acc[:, 0::factor].copy()
    for i in range(1, factor):
        out += acc[:, i::factor]
    return out.astype(np.float32) * np.float32(1.0 / (factor * factor))


def box_blur3(image: np.ndarray) -> np.ndarray:
    """3×3 box blur with replicated edges (separable sums)."""
    padded = np.pad(image, 1, mode="edge")
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    out = rows[:-2] + rows[1:-1] + rows[2:]
    out *= np.float32(1.0 / 9.0)
    return out


@dataclass(frozen=True, slots=True)
class MotionResult:
    """The verdict on one analysed frame."""

    ts: float
    score: float
    """Changed area relative to ``min_area``: 1.0 or more when the area criterion is met."""
    motion: bool
    changed_fraction: float
    """Share (0..1) of the active area that changed."""
    rebaselined: bool
    """The background was reset (first frame, global change, settling, long pause)."""


class MotionDetector:
    """Stateful per-channel detector: feed it Y planes with their timestamps.

    Not thread-safe; use one per channel (and stream).
    """

    def __init__(self, settings: MotionSettings | None = None) -> None:
        self._settings = settings or MotionSettings()
        self._shape: tuple[int, int] | None = None
        self._factor = 1
        self._active: np.ndarray | None = None
        self._unmasked: np.ndarray | None = None
        self.reset()

    @property
    def settings(self) -> MotionSettings:
        """The settings in use."""
        return self._settings

    @settings.setter
    def settings(self, settings: MotionSettings) -> None:
        """Change settings; the background is kept unless the zones or masks changed."""
        old = self._settings
        self._settings = settings
        if (old.zones, old.masks) != (settings.zones, settings.masks):
            self._shape = None
            self.reset()

    @property
    def working_size(self) -> tuple[int, int] | None:
        """``(width, height)`` of the working picture, once a frame was seen."""
        if self._background is None:
            return None
        return self._background.shape[1], self._background.shape[0]

    @property
    def active_area(self) -> np.ndarray | None:
        """Boolean mask of the working picture where motion counts."""
        return self._active

    def moving_box(self) -> tuple[float, float, float, float] | None:
        """The box ``(x0, y0, x1, y1)`` in 0..1 around what changed in the last frame; None if nothing did."""
        moved = self._moved
        if moved is None:
            return None
        rows = np.flatnonzero(moved.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(moved.any(axis=0))
        height, width = moved.shape
        return (
            float(cols[0] / width),
            float(rows[0] / height),
            float((cols[-1] + 1) / width),
            float((rows[-1] + 1) / height),
        )

    def reset(self) -> None:
        """Forget the background; the next frame starts afresh."""
        self._background: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._last_ts: float | None = None
        self._settle_until: float | None = None
        self._streak = 0
        self._motion = False
        self._noise = 0.0
        self._moved: np.ndarray | None = None
        """Where the last frame changed, in the active area."""
        self.changed: np.ndarray | None = None
        """Where the last frame changed, outside the masks (zones aside): what the activity index keeps."""
        self._recent: np.ndarray | None = None
        """How recently each pixel changed (1: in the last analysed frame, fading with ``RECENT_TIME``)."""
        self._longterm: np.ndarray | None = None
        """The scene as it was before recent changes (learnt slowly, where nothing changes)."""

    def _prepare(self, y_plane: np.ndarray) -> np.ndarray:
        if y_plane.ndim != 2 or y_plane.dtype != np.uint8:
            raise ValueError("expected a 2-D uint8 luma plane")
        shape = (y_plane.shape[0], y_plane.shape[1])
        if shape != self._shape:
            factor = block_factor(shape[1])
            rows, cols = shape[0] // factor, shape[1] // factor
            if rows < 4 or cols < 4:
                raise ValueError(f"luma plane {shape[1]}x{shape[0]} is too small")
            s = self._settings
            self._factor = factor
            self._active = active_mask(s.zones, s.masks, cols, rows)
            self._unmasked = ~polygon_mask(s.masks, cols, rows) if s.masks else np.ones((rows, cols), dtype=bool)
            self._shape = shape
            self._background = None
        return box_blur3(shrink(y_plane, self._factor))

    def _rebaseline(self, small: np.ndarray, ts: float, settle: bool, fraction: float = 0.0) -> MotionResult:
        self._background = small
        self._previous = small
        self._moved = None
        self.changed = None
        self._recent = None
        self._longterm = small
        self._last_ts = ts
        self._streak = 0
        self._motion = False
        if settle:
            self._settle_until = ts + SETTLE_TIME
        return MotionResult(ts, 0.0, False, fraction, True)

    def _decide(self, fraction: float, min_fraction: float) -> None:
        """Hysteresis: on after ``required_frames`` over the minimum, off under half of it."""
        if self._motion:
            self._motion = fraction >= HOLD_FACTOR * min_fraction
            if not self._motion:
                self._streak = 0
        else:
            self._streak = self._streak + 1 if fraction >= min_fraction else 0
            self._motion = self._streak >= self._settings.required_frames

    def process(self, y_plane: np.ndarray, ts: float) -> MotionResult:
        """Analyse one frame's luma plane taken at ``ts`` seconds."""
        small = self._prepare(np.asarray(y_plane))
        background, last = self._background, self._last_ts
        if background is None or last is None or ts < last - 1.0 or ts - last > MAX_GAP:
            return self._rebaseline(small, ts, settle=False)
        s = self._settings
        assert self._active is not None and self._unmasked is not None
        threshold = max(s.threshold, NOISE_FACTOR * self._noise)

        objects = self._recent > RECENT_LEVEL if self._recent is not None else None
        gain, offset = _photometric_fit(background, small, threshold, objects)
        model = background * np.float32(gain) + np.float32(offset)
        np.clip(model, 0.0, 255.0, out=model)  # saturated areas do not follow the gain
        residual = small - model
        magnitude = np.abs(residual)
        changed = magnitude > threshold

        sample = magnitude.ravel()[::4]
        sigma = 1.4826 * float(np.partition(sample, sample.size // 2)[sample.size // 2])
        self._noise = sigma if self._noise == 0.0 else 0.9 * self._noise + 0.1 * sigma

        unmasked = self._unmasked
        self.changed = changed & unmasked
        global_fraction = float(np.count_nonzero(self.changed)) / max(1, int(np.count_nonzero(unmasked)))
        mean_bg = float(background.mean())
        jump = abs(gain * mean_bg + offset - mean_bg) > LIGHT_JUMP_LEVEL or abs(gain - 1.0) > LIGHT_JUMP_GAIN
        if jump or global_fraction > GLOBAL_FRACTION:
            return self._rebaseline(small, ts, settle=True, fraction=global_fraction)
        if self._settle_until is not None:
            if ts < self._settle_until:
                return self._rebaseline(small, ts, settle=False, fraction=global_fraction)
            self._settle_until = None

        active = self._active
        n_active = int(np.count_nonzero(active))
        self._moved = changed & active
        fraction = float(np.count_nonzero(self._moved)) / n_active if n_active else 0.0
        min_fraction = s.min_area / 100.0
        self._decide(fraction, min_fraction)

        dt = max(0.0, ts - last)
        rate = np.float32(1.0 - math.exp(-dt / s.background_time))
        # Changed but not moving since the last frame: a ghost or a stopped object, absorbed
        # quickly. Not the inside of a moving object, which looks still from frame to frame:
        # a region that moves keeps it, unless it shows the scene as it was (a trail).
        lighting = (np.float32(gain), np.float32(offset))
        previous = self._previous if self._previous is not None else background
        moved = np.abs(small - (previous * lighting[0] + lighting[1])) >= np.float32(threshold / 2)
        longterm = self._longterm * lighting[0] + lighting[1] if self._longterm is not None else model
        still = changed & ~moved
        if still.any():
            still &= ~moving_regions(changed, moved) | (np.abs(small - longterm) < np.float32(threshold))
        longterm += np.where(changed, np.float32(0.0), np.float32(1.0 - math.exp(-dt / LONGTERM_TIME))) * (
            small - longterm
        )
        self._longterm = longterm
        model += np.where(still, np.float32(1.0 - math.exp(-dt / STILL_TIME)), rate) * residual
        self._background = model
        self._previous = small
        decay = np.float32(math.exp(-dt / RECENT_TIME))
        self._recent = np.maximum(self._recent * decay, changed) if self._recent is not None else changed * 1.0
        self._last_ts = ts
        return MotionResult(ts, fraction / min_fraction, self._motion, fraction, False)


def _photometric_fit(
    background: np.ndarray, frame: np.ndarray, threshold: float, objects: np.ndarray | None
) -> tuple[float, float]:
    """The global model ``frame ≈ gain * background + offset``, fitted where no object is.

    It starts from the median difference (a moving object, a minority of the
    pixels, cannot move it), then fits gain and offset by least squares on
    the pixels that model explains, twice, leaving out ``objects`` (where
    the picture changed in the last few seconds: objects, and the trails
    they leave in the background). A plain least-squares fit let a bright object on a flat
    scene pose as a change of contrast: the picture was re-baselined at
    every frame and the object was never seen to move.
    """
    diff = (frame - background).ravel()[::4]
    gain, offset = 1.0, float(np.partition(diff, diff.size // 2)[diff.size // 2])
    for _ in range(2):
        inliers = np.abs(frame - (background * np.float32(gain) + np.float32(offset))) < threshold
        if inliers.mean() <= 0.25:
            break  # most of the picture changed: no model explains it (a global change)
        if objects is not None:
            quiet = inliers & ~objects
            if quiet.mean() > 0.25:
                inliers = quiet
        gain, offset = _fit(background, frame, inliers)
    return gain, offset


def _fit(background: np.ndarray, frame: np.ndarray, where: np.ndarray | None) -> tuple[float, float]:
    """Least-squares ``gain, offset`` with ``frame ≈ gain * background + offset``."""
    if where is not None:
        background, frame = background[where], frame[where]
    mean_b = float(background.mean())
    mean_f = float(frame.mean())
    centred = background - np.float32(mean_b)
    variance = float(np.dot(centred.ravel(), centred.ravel()))
    if variance < FLAT_SPREAD**2 * centred.size:  # flat picture: only an offset can be told
        return 1.0, mean_f - mean_b
    gain = float(np.dot(centred.ravel(), (frame - np.float32(mean_f)).ravel())) / variance
    gain = min(2.0, max(0.5, gain))
    return gain, mean_f - gain * mean_b
