"""Binary morphology in physical units: balls, connected components, holes and voids."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..volume import Volume

__all__ = ["axial_axis", "ball", "fill_holes", "fill_voids", "largest_component"]


def ball(spacing, radius_mm: float) -> np.ndarray:
    """Structuring element ``[k, j, i]`` that is a ball of ``radius_mm`` in mm.

    Parameters
    ----------
    spacing : (3,) float, mm
        Voxel size along ``i, j, k``; the element is an ellipsoid in voxel units.
    """
    r = radius_mm / np.asarray(spacing, dtype=float)  # (i, j, k)
    n = np.floor(r).astype(int)
    kk, jj, ii = np.meshgrid(*[np.arange(-m, m + 1) for m in n[::-1]], indexing="ij")
    return (ii / max(r[0], 1e-9)) ** 2 + (jj / max(r[1], 1e-9)) ** 2 + (kk / max(r[2], 1e-9)) ** 2 <= 1.0


def largest_component(mask: np.ndarray, *, structure=None) -> np.ndarray:
    """The largest connected component of ``mask`` (``mask`` itself if it has at most one)."""
    lab, n = ndimage.label(mask, structure=structure)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def fill_holes(mask: np.ndarray, *, slice_axis: int | None = None) -> np.ndarray:
    """Fill holes like ``ndimage.binary_fill_holes``, but by labelling the background (faster).

    With ``slice_axis`` (numpy axis), holes are filled in each 2-D slice across that axis:
    background connects only within a slice, and only the slice's in-plane edges count as
    outside.
    """
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
