"""Which changed pixels belong to a moving object: regions grown from where the picture moves.

A moving object changes the picture only at its edges from one analysed
frame to the next; inside, a flat object looks the same at every frame. Its
inside must still count as the object, not as a "still" change to be
absorbed into the background (a parked car, a ghost). So the changed pixels
are grouped into connected regions, on a grid of ``CELL``×``CELL`` pixel
cells, and a region with enough movement anywhere in it moves as a whole.
"""

from __future__ import annotations

import numpy as np

CELL = 4
"""Cell size (working-picture pixels) of the region grid."""
SEED_PIXELS = 4
"""Moving pixels a cell needs to count as moving: sensor noise rarely makes 4 of 16 at once."""


def _cells(mask: np.ndarray) -> np.ndarray:
    """Moving-pixel counts per cell (the picture padded to whole cells)."""
    rows, cols = mask.shape
    padded = np.zeros(((rows + CELL - 1) // CELL * CELL, (cols + CELL - 1) // CELL * CELL), dtype=np.uint8)
    padded[:rows, :cols] = mask
    return padded.reshape(padded.shape[0] // CELL, CELL, padded.shape[1] // CELL, CELL).sum(axis=(1, 3))


def moving_regions(changed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Pixels of ``changed`` whose region (connected on the cell grid) holds moving cells.

    ``moving`` marks pixels that changed since the last analysed frame. The
    regions are grown from the moving cells through cells with any changed
    pixel (4-connected), as far as they reach.
    """
    region = _cells(changed) > 0
    grown = (_cells(moving & changed) >= SEED_PIXELS) & region
    if not grown.any():
        return np.zeros_like(changed)
    while True:
        wider = grown.copy()
        wider[1:] |= grown[:-1]
        wider[:-1] |= grown[1:]
        wider[:, 1:] |= grown[:, :-1]
        wider[:, :-1] |= grown[:, 1:]
        wider &= region
        if np.array_equal(wider, grown):
            break
        grown = wider
    rows, cols = changed.shape
    return np.repeat(np.repeat(grown, CELL, axis=0), CELL, axis=1)[:rows, :cols] & changed
