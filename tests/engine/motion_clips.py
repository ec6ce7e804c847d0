"""Ground-truth clips for the motion detector, made by ffmpeg and decoded by PyAV.

A clip is SMPTE bars with a grid (edges and flat areas, like a real scene),
temporal sensor noise (``noise=alls=8:allf=t``) and H.264 compression, plus
optionally a two-tone box (dark top, light bottom, so it contrasts with every
bar) moving on a known path and a lighting change. The truth is the time the
box moves while at least half of it is in the picture.

Scoring compares "motion present" per analysed frame (each motion frame
covers ``1 / detect_fps`` seconds) with the truth on a 10 ms grid, as
precision and recall of seconds and interval IoU. Seconds within
``tolerance`` of a truth boundary are not counted in precision/recall (the
allowed detection latency, and the box only partly visible); IoU counts all.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from engine.motion.detector import MotionResult, luma_plane
from engine.motion.settings import MotionSettings
from engine.motion.tracker import MotionMonitor, MotionTransition

BOX_W, BOX_H = 24, 32


@dataclass(frozen=True)
class Mover:
    """A box moving from ``t0`` to ``t1``; positions as ffmpeg expressions and their Python twins."""

    x_expr: str
    y_expr: str
    x: Callable[[float], float]
    y: Callable[[float], float]
    t0: float
    t1: float
    w: int = BOX_W
    h: int = BOX_H
    solid: bool = False
    """One flat bright colour (the hard case: its inside never changes while it moves) instead of two tones."""


@dataclass(frozen=True)
class ClipSpec:
    """How to make a clip and what its truth is."""

    name: str
    width: int = 320
    height: int = 180
    seconds: float = 6.0
    fps: int = 10
    mover: Mover | None = None
    light: str | None = None
    """An ffmpeg filter applied to the scene (before noise), e.g. a time-varying ``eq``."""
    flat: bool = False
    """A plain grey wall instead of the bars: the gain of the lighting model is then ill-defined."""

    def truth(self, step: float = 0.01) -> list[tuple[float, float]]:
        """Intervals when the box moves with at least half of it in the picture."""
        m = self.mover
        if m is None:
            return []
        intervals: list[tuple[float, float]] = []
        start = None
        for i in range(round(self.seconds / step) + 1):
            t = i * step
            on = m.t0 <= t <= m.t1 and _visible(m, t, self.width, self.height) >= 0.5
            if on and start is None:
                start = t
            elif not on and start is not None:
                intervals.append((start, t))
                start = None
        if start is not None:
            intervals.append((start, self.seconds))
        return intervals


def _visible(m: Mover, t: float, width: int, height: int) -> float:
    x, y = m.x(t), m.y(t)
    vis_w = max(0.0, min(x + m.w, width) - max(x, 0.0))
    vis_h = max(0.0, min(y + m.h, height) - max(y, 0.0))
    return vis_w * vis_h / (m.w * m.h)


def crossing(
    t0: float, t1: float, width: int, y: int, scale: int = 1, size: tuple[int, int] | None = None, solid: bool = False
) -> Mover:
    """A box (``size``, or ``scale`` × the base size) crossing left to right between ``t0`` and ``t1`` at row ``y``."""
    w, h = size or (BOX_W * scale, BOX_H * scale)
    v = (width + w) / (t1 - t0)
    return Mover(f"-{w}+(t-{t0})*{v}", str(y), lambda t: -w + (t - t0) * v, lambda t: float(y), t0, t1, w, h, solid)


def pacing(
    t0: float,
    t1: float,
    left: float,
    right: float,
    y: int,
    period: float = 2.0,
    size: tuple[int, int] = (BOX_W, BOX_H),
    solid: bool = False,
) -> Mover:
    """A box going back and forth between ``left`` and ``right`` (pixels) from ``t0`` to ``t1``."""
    w, h = size
    amp = (right - left - w) / 2
    return Mover(
        f"{left}+{amp}*(1-cos(2*PI*(t-{t0})/{period}))",
        str(y),
        lambda t: left + amp * (1 - math.cos(2 * math.pi * (t - t0) / period)),
        lambda t: float(y),
        t0,
        t1,
        w,
        h,
        solid,
    )


def make_clip(spec: ClipSpec, path: Path) -> Path:
    """Encode ``spec`` to an H.264 MP4 at ``path`` with Debian's ffmpeg."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed to generate the motion clips"
    w, h, fps, d = spec.width, spec.height, spec.fps, spec.seconds
    if spec.flat:
        scene = f"color=c=0x505050:s={w}x{h}:r={fps}:d={d}"
    else:
        scene = f"smptebars=s={w}x{h}:r={fps}:d={d},drawgrid=w={w // 10}:h={h // 6}:t=1:c=gray@0.6"
    inputs = ["-f", "lavfi", "-i", scene]
    chain = "[0]"
    graph: list[str] = []
    if spec.mover is not None:
        m = spec.mover
        box = (
            f"color=c=0xf0f0f0:s={m.w}x{m.h}:r={fps}"
            if m.solid
            else f"color=c=0x101010:s={m.w}x{m.h}:r={fps},"
            f"drawbox=x=0:y={m.h // 2}:w={m.w}:h={m.h // 2}:color=0xe0e0e0:t=fill"
        )
        inputs += ["-f", "lavfi", "-i", box]
        graph.append(
            f"{chain}[1]overlay=x='{m.x_expr}':y='{m.y_expr}':enable='between(t,{m.t0},{m.t1})':shortest=1[moved]"
        )
        chain = "[moved]"
    tail = [spec.light] if spec.light else []
    tail += ["noise=alls=8:allf=t", "format=yuv420p"]
    graph.append(f"{chain}{','.join(tail)}[out]")
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            *inputs,
            "-filter_complex",
            ";".join(graph),
            "-map",
            "[out]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "26",
            "-g",
            str(fps * 2),
            "-threads",
            "1",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


def decode_luma(path: Path) -> list[tuple[np.ndarray, float]]:
    """Every frame's Y plane (copied out of PyAV) with its time in seconds."""
    frames: list[tuple[np.ndarray, float]] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        for frame in container.decode(stream):
            frames.append((np.array(luma_plane(frame)), float(frame.time)))
    return frames


@dataclass
class Run:
    """What the detector made of a clip."""

    results: list[MotionResult]
    transitions: list[MotionTransition]

    @property
    def starts(self) -> list[MotionTransition]:
        return [t for t in self.transitions if t.kind == "motion_start"]

    def detected(self, period: float) -> list[tuple[float, float]]:
        """Merged intervals covered by motion frames (each ``period`` long)."""
        spans: list[tuple[float, float]] = []
        for r in self.results:
            if not r.motion:
                continue
            if spans and r.ts <= spans[-1][1] + 1e-6:
                spans[-1] = (spans[-1][0], r.ts + period)
            else:
                spans.append((r.ts, r.ts + period))
        return spans


def run_detector(frames: list[tuple[np.ndarray, float]], settings: MotionSettings) -> Run:
    """Feed a decoded clip through limiter, detector and tracker; close the last event."""
    monitor = MotionMonitor(settings)
    results: list[MotionResult] = []
    transitions: list[MotionTransition] = []
    for y, ts in frames:
        result, changes = monitor.feed(y, ts)
        if result is not None:
            results.append(result)
        transitions += changes
    if frames:
        transitions += monitor.tracker.tick(frames[-1][1] + settings.off_delay)
    return Run(results, transitions)


@dataclass(frozen=True)
class Score:
    """Accuracy of detected intervals against the truth."""

    precision: float
    recall: float
    iou: float
    tp: float
    fp: float
    fn: float

    @property
    def f1(self) -> float:
        return f1(self.tp, self.fp, self.fn)


def f1(tp: float, fp: float, fn: float) -> float:
    """F1 from counts (seconds)."""
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _cover(intervals: list[tuple[float, float]], grid: np.ndarray) -> np.ndarray:
    on = np.zeros(grid.shape, dtype=bool)
    for a, b in intervals:
        on |= (grid >= a) & (grid < b)
    return on


def score(
    truth: list[tuple[float, float]],
    detected: list[tuple[float, float]],
    duration: float,
    tolerance: float,
    step: float = 0.01,
) -> Score:
    """Precision/recall of seconds (boundary tolerance excluded) and plain IoU."""
    grid = (np.arange(round(duration / step)) + 0.5) * step
    t_on, d_on = _cover(truth, grid), _cover(detected, grid)
    care = np.ones(grid.shape, dtype=bool)
    for a, b in truth:
        for edge in (a, b):
            care &= np.abs(grid - edge) > tolerance
    tp = float(np.count_nonzero(t_on & d_on & care)) * step
    fp = float(np.count_nonzero(~t_on & d_on & care)) * step
    fn = float(np.count_nonzero(t_on & ~d_on & care)) * step
    union = np.count_nonzero(t_on | d_on)
    iou = float(np.count_nonzero(t_on & d_on)) / union if union else 1.0
    precision = tp / (tp + fp) if tp + fp else (1.0 if not truth else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    return Score(precision, recall, iou, tp, fp, fn)
