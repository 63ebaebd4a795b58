"""Crops, sub-volumes, voxel positions and LPS-aligned resampling of :class:`Volume` grids.

Arrays are numpy ``[k, j, i]``; index triples and spacings are ``(i, j, k)``; physical
points are LPS millimetres (see :mod:`bonequality.volume`). Resampling onto a new grid
checks the peak it will need against the memory budget first
(:func:`bonequality.memory.check_fits`).
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..memory import check_fits
from ..volume import Volume

__all__ = ["bbox_slices", "crop", "lps_grid_mask", "lps_reference", "resample_onto", "voxel_points"]


def bbox_slices(mask: np.ndarray, margin_vox=(0, 0, 0)) -> tuple[slice, ...]:
    """``[k, j, i]`` slices of the bounding box of ``mask``'s set voxels, grown by a margin.

    Parameters
    ----------
    mask : (nk, nj, ni) bool ndarray
        Must hold at least one set voxel.
    margin_vox : (3,) int
        Margin per numpy axis ``(k, j, i)``, clipped to the array.
    """
    out = []
    for axis, (m, n) in enumerate(zip(margin_vox, mask.shape)):
        other = tuple(a for a in range(3) if a != axis)
        nz = np.flatnonzero(mask.any(axis=other))
        out.append(slice(max(0, int(nz[0]) - int(m)), min(n, int(nz[-1]) + int(m) + 1)))
    return tuple(out)


def crop(volume: Volume, slices: tuple[slice, ...], array: np.ndarray | None = None) -> Volume:
    """The sub-volume of ``volume`` (or of ``array`` on its grid) at ``[k, j, i]`` ``slices``.

    The result keeps spacing and direction; its origin is the LPS position of the first
    kept voxel, so every voxel keeps its physical position.
    """
    arr = volume.array[slices] if array is None else array[slices]
    origin = volume.index_to_physical([slices[2].start or 0, slices[1].start or 0, slices[0].start or 0])
    return Volume(arr, volume.spacing, origin, volume.direction)


def voxel_points(volume: Volume, mask: np.ndarray) -> np.ndarray:
    """LPS positions (N, 3), mm, of the centres of the voxels set in ``mask`` (on ``volume``'s grid)."""
    k, j, i = np.nonzero(mask)
    return volume.index_to_physical(np.stack([i, j, k], axis=-1).astype(float))


def lps_reference(origin, size, spacing_mm: float) -> sitk.Image:
    """An identity-direction SimpleITK reference grid.

    Parameters
    ----------
    origin : (3,) float, mm, LPS
        Centre of the first voxel.
    size : (3,) int
        Voxels along ``x, y, z``.
    spacing_mm : float
        Isotropic voxel size.
    """
    ref = sitk.Image([int(v) for v in size], sitk.sitkUInt8)
    ref.SetSpacing([float(spacing_mm)] * 3)
    ref.SetOrigin(np.asarray(origin, dtype=float).tolist())
    ref.SetDirection(np.eye(3).ravel().tolist())
    return ref


def resample_onto(
    volume: Volume, reference: sitk.Image, *, default: float, linear: bool = True
) -> np.ndarray:
    """``volume`` resampled onto ``reference`` as a float32 ``[k, j, i]`` array.

    Linear interpolation (nearest neighbour with ``linear=False``); ``default`` outside.
    The peak is the source's SimpleITK and float32 copies plus the float32 output twice.
    """
    n_out = float(np.prod(reference.GetSize()))
    check_fits(
        volume.array.size * (volume.array.itemsize + 4) + n_out * 8,
        f"resampling a {' x '.join(map(str, volume.shape_ijk))} region onto a "
        f"{' x '.join(map(str, reference.GetSize()))} grid at {reference.GetSpacing()[0]:g} mm",
    )
    img = sitk.Cast(volume.to_sitk(), sitk.sitkFloat32)
    interp = sitk.sitkLinear if linear else sitk.sitkNearestNeighbor
    out = sitk.Resample(img, reference, sitk.Transform(), interp, float(default), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def lps_grid_mask(volume: Volume, mask: np.ndarray, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` (on ``volume``) resampled, nearest neighbour, to an LPS-aligned grid around it.

    Returns
    -------
    (nz, ny, nx) bool ndarray, (3,) float
        The mask indexed ``[z, y, x]`` and the LPS position (mm) of its first voxel.
    """
    sl = bbox_slices(mask)
    lo_idx = np.array([sl[2].start, sl[1].start, sl[0].start]) - 1.0
    hi_idx = np.array([sl[2].stop, sl[1].stop, sl[0].stop]).astype(float)  # last index + 1
    corners = np.array(
        [
            [a, b, c]
            for a in (lo_idx[0], hi_idx[0])
            for b in (lo_idx[1], hi_idx[1])
            for c in (lo_idx[2], hi_idx[2])
        ]
    )
    pts = volume.index_to_physical(corners)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = np.maximum(1, np.ceil((hi - lo) / spacing_mm)).astype(int) + 1
    check_fits(
        mask[sl].size * 2 + float(np.prod(size.astype(float))) * 2,
        f"resampling a mask onto a {' x '.join(map(str, size))} grid at {spacing_mm:g} mm",
    )
    ref = lps_reference(lo, size, spacing_mm)
    src = volume.with_array(mask.astype(np.uint8)).to_sitk()
    out = sitk.Resample(src, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(out).astype(bool), lo
