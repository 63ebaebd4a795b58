"""Binary morphology in physical units: balls, connected components, holes and voids.

Each step that allocates in proportion to its region (a ball's element, a closing, hole
filling) first checks its estimated peak against the memory budget
(:func:`bonequality.memory.check_fits`, :data:`bonequality.memory.MEMORY_BUDGET`), so a
huge radius or region is refused at once instead of exhausting the machine.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..memory import check_fits
from ..volume import Volume

__all__ = ["axial_axis", "ball", "closing", "fill_holes", "fill_voids", "largest_component"]

#: Peak bytes per element while a ball is built (float64 terms of the ogrid sum, the result).
BALL_BYTES_PER_ELEMENT = 3 * 8 + 1
#: Peak bytes per voxel of a closing (the dilated and the eroded masks, scipy's work copy).
CLOSING_BYTES_PER_VOXEL = 3
#: Peak bytes per voxel of hole filling (int32 labels of the background, its masks, the result).
FILL_BYTES_PER_VOXEL = 4 + 4


def ball(spacing, radius_mm: float) -> np.ndarray:
    """Structuring element ``[k, j, i]`` that is a ball of ``radius_mm`` in mm.

    Parameters
    ----------
    spacing : (3,) float, mm
        Voxel size along ``i, j, k``; the element is an ellipsoid in voxel units.

    Raises
    ------
    MemoryLimitError
        The element alone would exceed the memory budget.
    """
    r = radius_mm / np.asarray(spacing, dtype=float)  # (i, j, k)
    n = np.floor(r).astype(int)
    elements = float(np.prod(2.0 * n + 1))
    check_fits(
        elements * BALL_BYTES_PER_ELEMENT, f"a ball of {radius_mm:g} mm radius", fix="use a smaller radius"
    )
    kk, jj, ii = np.ogrid[tuple(slice(-m, m + 1) for m in n[::-1])]
    return (ii / max(r[0], 1e-9)) ** 2 + (jj / max(r[1], 1e-9)) ** 2 + (kk / max(r[2], 1e-9)) ** 2 <= 1.0


def closing(mask: np.ndarray, spacing, radius_mm: float, *, what: str = "the mask") -> np.ndarray:
    """Binary closing of ``mask`` by a ball of ``radius_mm`` (zero border; ``mask`` if the ball is a voxel).

    Raises
    ------
    MemoryLimitError
        The ball or the closing of ``mask``'s region would exceed the memory budget.
    """
    b = ball(spacing, radius_mm)
    if b.size <= 1:
        return mask
    check_fits(
        mask.size * CLOSING_BYTES_PER_VOXEL + 2 * b.size,
        f"the {radius_mm:g} mm closing of {what} ({mask.size} voxels)",
        fix="use a smaller closing radius or a mask cropped to the structure",
    )
    return ndimage.binary_closing(mask, structure=b, border_value=0)


def largest_component(mask: np.ndarray, *, structure=None) -> np.ndarray:
    """The largest connected component of ``mask`` (``mask`` itself if it has at most one)."""
    lab, n = ndimage.label(mask, structure=structure)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def fill_holes(mask: np.ndarray, *, slice_axis: int | None = None, what: str = "the mask") -> np.ndarray:
    """Fill holes like ``ndimage.binary_fill_holes``, but by labelling the background (faster).

    With ``slice_axis`` (numpy axis), holes are filled in each 2-D slice across that axis:
    background connects only within a slice, and only the slice's in-plane edges count as
    outside. Raises :class:`~bonequality.errors.MemoryLimitError` above the memory budget.
    """
    check_fits(mask.size * FILL_BYTES_PER_VOXEL, f"hole filling of {what} ({mask.size} voxels)")
    structure = ndimage.generate_binary_structure(3, 1)
    faces = [0, 1, 2]
    if slice_axis is not None:
        idx = [slice(None)] * 3
        for side in (0, 2):
            idx[slice_axis] = side
            structure[tuple(idx)] = False
        faces.remove(slice_axis)
    lab, n = ndimage.label(~mask, structure=structure)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, dtype=bool)
    for ax in faces:
        for side in (0, -1):
            outside[np.unique(np.take(lab, side, axis=ax))] = True
    outside[0] = True
    return mask | ~outside[lab]


def axial_axis(volume: Volume) -> int:
    """The numpy axis of ``volume``'s image axis closest to LPS z (its axial slices)."""
    return 2 - int(np.argmax(np.abs(volume.direction[2, :])))


def fill_voids(mask: np.ndarray, volume: Volume) -> np.ndarray:
    """Fill 3-D cavities, then holes in the grid slices closest to LPS axial planes."""
    return fill_holes(fill_holes(mask), slice_axis=axial_axis(volume))
