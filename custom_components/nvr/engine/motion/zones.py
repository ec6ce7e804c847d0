"""Zones and masks: polygons in normalised picture coordinates.

A zone limits where motion counts; a mask removes an area from it. Both are
lists of polygons whose points are ``(x, y)`` in 0..1 (x from the left, y
from the top), given as JSON-like lists or as text (``x,y x,y x,y; ...``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

MAX_POLYGONS = 16
MAX_POINTS = 64

type Point = tuple[float, float]
type Polygon = tuple[Point, ...]


class InvalidZoneError(ValueError):
    """A zone or mask value that is not a list of polygons in 0..1 coordinates.

    ``reason`` is short and machine-readable: ``not_a_list``, ``not_a_polygon``,
    ``not_a_point``, ``not_a_number``, ``out_of_range``, ``too_few_points``,
    ``too_many``, ``zero_area``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidZoneError("not_a_number", f"{where}: {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidZoneError("not_a_number", f"{where}: {value!r} is not a finite number")
    if not 0.0 <= number <= 1.0:
        raise InvalidZoneError("out_of_range", f"{where}: {number} is outside 0..1")
    return number


def _parse_text(text: str) -> list[list[list[float]]]:
    """Parse ``"x,y x,y x,y; x,y ..."``: polygons split by ``;`` or new lines."""
    polygons: list[list[list[float]]] = []
    for chunk in text.replace("\n", ";").split(";"):
        if not chunk.strip():
            continue
        points: list[list[float]] = []
        for pair in chunk.split():
            parts = pair.split(",")
            if len(parts) != 2:
                raise InvalidZoneError("not_a_point", f"{pair!r} is not an x,y pair")
            try:
                points.append([float(parts[0]), float(parts[1])])
            except ValueError:
                raise InvalidZoneError("not_a_number", f"{pair!r} is not a pair of numbers") from None
        polygons.append(points)
    return polygons


def parse_polygons(value: Any) -> tuple[Polygon, ...]:
    """Validate zones or masks and return them as tuples of ``(x, y)`` floats.

    ``value`` is ``None`` or ``""`` (no polygons), a list of polygons, each a
    list of at least three ``[x, y]`` pairs with coordinates in 0..1 (x from the
    left, y from the top), or the same as text: points ``x,y`` separated by
    spaces, polygons separated by ``;`` or new lines. Raises
    ``InvalidZoneError``.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        value = _parse_text(value)
    if not isinstance(value, (list, tuple)):
        raise InvalidZoneError("not_a_list", "zones must be a list of polygons")
    if len(value) > MAX_POLYGONS:
        raise InvalidZoneError("too_many", f"at most {MAX_POLYGONS} polygons")
    polygons: list[Polygon] = []
    for index, polygon in enumerate(value, 1):
        if not isinstance(polygon, (list, tuple)):
            raise InvalidZoneError("not_a_polygon", f"polygon {index} is not a list of points")
        if len(polygon) < 3:
            raise InvalidZoneError("too_few_points", f"polygon {index} has fewer than 3 points")
        if len(polygon) > MAX_POINTS:
            raise InvalidZoneError("too_many", f"polygon {index} has more than {MAX_POINTS} points")
        points: list[Point] = []
        for number, point in enumerate(polygon, 1):
            if not isinstance(point, (list, tuple)) or len(point) != 2:
                raise InvalidZoneError("not_a_point", f"polygon {index}, point {number} is not an [x, y] pair")
            where = f"polygon {index}, point {number}"
            points.append((_number(point[0], where), _number(point[1], where)))
        xs = np.array([p[0] for p in points])
        ys = np.array([p[1] for p in points])
        area = 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))
        if area < 1e-6:
            raise InvalidZoneError("zero_area", f"polygon {index} has no area")
        polygons.append(tuple(points))
    return tuple(polygons)


def format_polygons(polygons: Iterable[Sequence[Sequence[float]]]) -> str:
    """The text form ``parse_polygons`` reads back (for a text field)."""
    return "; ".join(" ".join(f"{x:g},{y:g}" for x, y in polygon) for polygon in polygons)


def polygon_mask(polygons: Iterable[Sequence[Sequence[float]]], width: int, height: int) -> np.ndarray:
    """Rasterise normalised polygons to a ``(height, width)`` boolean mask.

    A pixel is inside when its centre is (even-odd rule per polygon; union of
    polygons). A polygon too small to cover any pixel centre marks the pixel
    under its first point, so a tiny zone still counts.
    """
    mask = np.zeros((height, width), dtype=bool)
    px = (np.arange(width, dtype=np.float64) + 0.5) / width
    py = ((np.arange(height, dtype=np.float64) + 0.5) / height)[:, None]
    for polygon in polygons:
        inside = np.zeros((height, width), dtype=bool)
        count = len(polygon)
        for i in range(count):
            x1, y1 = polygon[i]
            x2, y2 = polygon[(i + 1) % count]
            if y1 == y2:
                continue
            crosses = (y1 > py) != (y2 > py)  # (height, 1)
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)  # (height, 1)
            inside ^= crosses & (px < x_at)
        if not inside.any():
            x, y = polygon[0]
            inside[min(int(y * height), height - 1), min(int(x * width), width - 1)] = True
        mask |= inside
    return mask


def active_mask(zones: Sequence[Polygon], masks: Sequence[Polygon], width: int, height: int) -> np.ndarray:
    """Union of the zones (the whole picture when there are none) minus the masks."""
    area = polygon_mask(zones, width, height) if zones else np.ones((height, width), dtype=bool)
    if masks:
        area &= ~polygon_mask(masks, width, height)
    return area
