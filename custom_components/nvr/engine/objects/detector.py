"""Object detection on one picture: people, vehicles, bicycles and animals.

``ObjectDetector.detect(rgb, around=...)`` scales the picture (or, when the
moving area is small, a square around it: a person at 1 % of a wide picture
is a few pixels at the network's 300×300) to the network's input, runs it
(:mod:`.network`, numpy) and decodes the boxes (:mod:`.ssd`) back into the
picture's coordinates. Blocking; call it from a worker thread.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .network import Network
from .ssd import Decoder, Detection

MODEL_FILE = Path(__file__).parent / "model" / "ssd_mobilenetv2_oidv4.nvrnet"
CROP_BELOW = 0.25
"""A moving area under this share of the picture (by side) is looked at in a crop around it."""
CROP_MARGIN = 1.0
"""The crop reaches this many times the moving area's size beyond each of its sides."""
MIN_CROP = 0.3
"""The crop's side is at least this share of the picture's shorter side."""


def resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of an ``(h, w, 3)`` uint8 picture to float32, averaging first when shrinking a lot."""
    src_h, src_w = rgb.shape[:2]
    step = min(src_h // height, src_w // width)
    picture = rgb.astype(np.float32)
    if step >= 2:  # box-average down first, so a large shrink does not alias
        h, w = src_h // step * step, src_w // step * step
        picture = picture[:h, :w].reshape(h // step, step, w // step, step, 3).mean(axis=(1, 3), dtype=np.float32)
        src_h, src_w = picture.shape[:2]
    ys = (np.arange(height, dtype=np.float32) + 0.5) * (src_h / height) - 0.5
    xs = (np.arange(width, dtype=np.float32) + 0.5) * (src_w / width) - 0.5
    np.clip(ys, 0, src_h - 1, out=ys)
    np.clip(xs, 0, src_w - 1, out=xs)
    y0 = ys.astype(np.intp)
    x0 = xs.astype(np.intp)
    y1 = np.minimum(y0 + 1, src_h - 1)
    x1 = np.minimum(x0 + 1, src_w - 1)
    fy = (ys - y0).astype(np.float32)[:, None, None]
    fx = (xs - x0).astype(np.float32)[None, :, None]
    top = picture[y0][:, x0] * (1 - fx) + picture[y0][:, x1] * fx
    bottom = picture[y1][:, x0] * (1 - fx) + picture[y1][:, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32, copy=False)


def crop_around(
    size: tuple[int, int], around: tuple[float, float, float, float] | None
) -> tuple[int, int, int, int] | None:
    """The pixel square ``(x0, y0, x1, y1)`` to look at for a moving area, or None for the whole picture."""
    if around is None:
        return None
    width, height = size
    x0, y0, x1, y1 = around
    box_w, box_h = (x1 - x0) * width, (y1 - y0) * height
    if max((x1 - x0), (y1 - y0)) >= CROP_BELOW:
        return None
    side = max(box_w, box_h) * (1 + 2 * CROP_MARGIN)
    side = int(min(width, height, max(side, MIN_CROP * min(width, height))))
    cx, cy = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
    left = int(min(max(cx - side / 2, 0), width - side))
    top = int(min(max(cy - side / 2, 0), height - side))
    return left, top, left + side, top + side


class ObjectDetector:
    """The network and its decoder; one per process, used from one thread at a time."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self._decoder = Decoder(network.labels)
        self._height, self._width = network.input_shape[:2]

    @classmethod
    def load(cls, path: Path | None = None) -> ObjectDetector:
        """Load a model, by default the one shipped with the integration (blocking, about 40 MB of float32)."""
        return cls(Network.load(path or MODEL_FILE))

    def raw(self, rgb: np.ndarray) -> dict[str, np.ndarray]:
        """The network's outputs for a whole picture (for comparisons with other runtimes)."""
        return self.network.run(self.prepare(rgb))

    def prepare(self, rgb: np.ndarray) -> np.ndarray:
        """The network's input for a picture: resized, scaled to -1..1."""
        picture = resize(rgb, self._width, self._height)
        picture *= np.float32(1 / 127.5)
        picture -= np.float32(1.0)
        return picture

    def detect(
        self,
        rgb: np.ndarray,
        min_score: float = 0.5,
        around: tuple[float, float, float, float] | None = None,
    ) -> list[Detection]:
        """Objects in an ``(h, w, 3)`` uint8 RGB picture, boxes in 0..1 of it, best first.

        ``around`` is the moving area ``(x0, y0, x1, y1)`` in 0..1: when it
        is small, a square around it is looked at, at the network's full
        resolution.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError("expected an (h, w, 3) uint8 picture")
        height, width = rgb.shape[:2]
        crop = crop_around((width, height), around)
        left, top, right, bottom = crop or (0, 0, width, height)
        outputs = self.network.run(self.prepare(rgb[top:bottom, left:right]))
        found = self._decoder.decode(outputs["boxes"], outputs["scores"], min_score)
        if crop is None:
            return found
        sx, sy = (right - left) / width, (bottom - top) / height
        ox, oy = left / width, top / height
        return [
            replace(d, box=(ox + d.box[0] * sx, oy + d.box[1] * sy, ox + d.box[2] * sx, oy + d.box[3] * sy))
            for d in found
        ]
