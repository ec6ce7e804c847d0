"""SSD post-processing: anchors, box decoding, scores and non-maximum suppression.

The settings are MediaPipe's for this model (``object_detection_oid_v4_cpu.pbtxt``):
six feature maps with strides 16 to 512 over a 300×300 input, scales 0.2 to
0.95, aspect ratios 1, 2, 0.5, 3 and 1/3 plus an interpolated square, three
boxes only in the lowest layer (1917 anchors in all); box encodings are
``(y, x, h, w)`` offsets scaled by 10, 10, 5, 5 with an exponential size;
class scores are logits (sigmoid), class 0 the background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

STRIDES = (16, 32, 64, 128, 256, 512)
MIN_SCALE, MAX_SCALE = 0.2, 0.95
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
INPUT_SIZE = 300
SCALES = np.array([10.0, 10.0, 5.0, 5.0], dtype=np.float32)  # y, x, h, w
NMS_OVERLAP = 0.45
"""Intersection over union above which the weaker of two boxes of one group is dropped."""
MAX_DETECTIONS = 20

GROUPS: dict[str, tuple[str, ...]] = {
    "person": ("Person",),
    "vehicle": ("Car", "Vehicle"),
    "bicycle": ("Bicycle", "Stationary bicycle"),
    "animal": ("Dog", "Cat", "Cattle"),
}
"""What the NVR reports, by the model's classes (Open Images V4 names)."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One object: its group, score, and box ``(x0, y0, x1, y1)`` in 0..1 of the picture."""

    label: str
    score: float
    box: tuple[float, float, float, float]

    @property
    def area(self) -> float:
        """Share of the picture the box covers."""
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def _scale(index: int, count: int) -> float:
    return MIN_SCALE + (MAX_SCALE - MIN_SCALE) * index / (count - 1)


def anchors() -> np.ndarray:
    """``(1917, 4)`` anchors as ``(y_centre, x_centre, height, width)``."""
    rows = []
    count = len(STRIDES)
    for layer, stride in enumerate(STRIDES):
        scale = _scale(layer, count)
        if layer == 0:
            shapes = [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
        else:
            following = 1.0 if layer == count - 1 else _scale(layer + 1, count)
            shapes = [(scale, ratio) for ratio in ASPECT_RATIOS] + [(math.sqrt(scale * following), 1.0)]
        size = math.ceil(INPUT_SIZE / stride)
        for y in range(size):
            for x in range(size):
                for box_scale, ratio in shapes:
                    root = math.sqrt(ratio)
                    rows.append(((y + 0.5) / size, (x + 0.5) / size, box_scale / root, box_scale * root))
    return np.array(rows, dtype=np.float32)


class Decoder:
    """Turns the network's raw outputs into detections of the NVR's groups."""

    def __init__(self, labels: list[str]) -> None:
        self._anchors = anchors()
        self._classes: list[tuple[int, str]] = [
            (labels.index(name), group) for group, names in GROUPS.items() for name in names if name in labels
        ]

    @property
    def anchor_count(self) -> int:
        """How many boxes the network must give."""
        return len(self._anchors)

    def boxes(self, raw: np.ndarray) -> np.ndarray:
        """``(n, 4)`` boxes ``(x0, y0, x1, y1)`` in 0..1 of the network's input."""
        a = self._anchors
        y = raw[:, 0] / SCALES[0] * a[:, 2] + a[:, 0]
        x = raw[:, 1] / SCALES[1] * a[:, 3] + a[:, 1]
        h = np.exp(np.minimum(raw[:, 2] / SCALES[2], 10.0)) * a[:, 2]
        w = np.exp(np.minimum(raw[:, 3] / SCALES[3], 10.0)) * a[:, 3]
        return np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=1)

    def decode(self, raw_boxes: np.ndarray, raw_scores: np.ndarray, min_score: float) -> list[Detection]:
        """Detections over ``min_score``, best first, overlaps of one group suppressed."""
        if raw_boxes.shape != (self.anchor_count, 4):
            raise ValueError(f"expected {self.anchor_count} boxes, got {raw_boxes.shape}")
        if not 0.0 < min_score < 1.0:
            raise ValueError(f"min_score must be between 0 and 1, not {min_score}")
        logit = math.log(min_score / (1.0 - min_score))
        found: list[Detection] = []
        boxes: np.ndarray | None = None
        by_group: dict[str, list[tuple[float, int]]] = {}
        for column, group in self._classes:
            hits = np.flatnonzero(raw_scores[:, column] > logit)
            for index in hits:
                score = 1.0 / (1.0 + math.exp(-float(raw_scores[index, column])))
                by_group.setdefault(group, []).append((score, int(index)))
        for group, candidates in by_group.items():
            if boxes is None:
                boxes = np.clip(self.boxes(raw_boxes), 0.0, 1.0)
            candidates.sort(reverse=True)
            kept: list[int] = []
            for score, index in candidates:
                if all(_overlap(boxes[index], boxes[other]) <= NMS_OVERLAP for other in kept):
                    kept.append(index)
                    found.append(Detection(group, round(score, 4), tuple(float(v) for v in boxes[index])))
                if len(kept) >= MAX_DETECTIONS:
                    break
        found.sort(key=lambda d: d.score, reverse=True)
        return found


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
