"""The coarse grid of the activity index: which cells of a picture moved.

A picture is cut into ``COLS`` × ``ROWS`` cells (32 × 18, a 16:9 picture's
cells are square). Cell ``row * COLS + col`` is bit ``n % 64`` of word
``n // 64`` of nine little-endian 64-bit words: 72 bytes for a whole
picture, and a region drawn by the user is the same nine words, so a search
is a bitwise AND and a bit count per second.

Coordinates are the picture's own, 0..1 from the top left, whatever its
size: a region drawn on the main stream's picture matches the cells of the
sub stream's analysis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ..motion.zones import polygon_mask

COLS = 32
ROWS = 18
CELLS = COLS * ROWS
WORDS = CELLS // 64
MIN_PIXELS = 2
"""Changed pixels of the detector's working picture (160 × 90 for 16:9) a cell needs to count as moving:
a cell is 5 × 5 of them; one alone is more often noise than something moving."""
REGION_SAMPLES = 4
"""A cell is in a region when any of this × this points spread over it is inside."""

Point = tuple[float, float]


def _cell_edges(size: int, cells: int) -> np.ndarray:
    return (np.arange(cells) * size) // cells


def cell_counts(changed: np.ndarray) -> np.ndarray:
    """Changed pixels per cell: a ``(ROWS, COLS)`` int array from a 2-D boolean picture."""
    mask = np.asarray(changed, dtype=np.uint8)
    rows, cols = mask.shape
    if rows < ROWS or cols < COLS:  # a tiny picture: each pixel over several cells
        mask = np.repeat(np.repeat(mask, math.ceil(ROWS / rows), 0), math.ceil(COLS / cols), 1)
        rows, cols = mask.shape
    per_row = np.add.reduceat(mask, _cell_edges(rows, ROWS), axis=0, dtype=np.int32)
    return np.add.reduceat(per_row, _cell_edges(cols, COLS), axis=1, dtype=np.int32)


def pack(cells: np.ndarray) -> np.ndarray:
    """A ``(ROWS, COLS)`` boolean array as the nine words."""
    bits = np.packbits(np.asarray(cells, dtype=bool).ravel(), bitorder="little")
    return bits.view("<u8").copy()


def unpack(words: np.ndarray) -> np.ndarray:
    """The nine words as a ``(ROWS, COLS)`` boolean array."""
    bits = np.unpackbits(np.asarray(words, dtype="<u8").view(np.uint8), bitorder="little")
    return bits[:CELLS].reshape(ROWS, COLS).astype(bool)


def moved_words(changed: np.ndarray) -> np.ndarray:
    """The words of the cells where at least ``MIN_PIXELS`` pixels changed (any, in a picture smaller than the grid)."""
    rows, cols = np.shape(changed)
    least = MIN_PIXELS if rows >= 2 * ROWS and cols >= 2 * COLS else 1
    return pack(cell_counts(changed) >= least)


def region_cells(polygons: Iterable[Sequence[Point]]) -> np.ndarray:
    """The ``(ROWS, COLS)`` cells a region of polygons (picture coordinates 0..1) touches.

    Motion zones' rasteriser at ``REGION_SAMPLES`` points across each cell: a cell is in when any is.
    """
    fine = polygon_mask(polygons, COLS * REGION_SAMPLES, ROWS * REGION_SAMPLES)
    return fine.reshape(ROWS, REGION_SAMPLES, COLS, REGION_SAMPLES).any(axis=(1, 3))


def region_words(polygons: Iterable[Sequence[Point]]) -> np.ndarray:
    """The words of a region of polygons."""
    return pack(region_cells(polygons))
