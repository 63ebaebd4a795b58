"""The bone envelope: the region a cortical shell encloses, whatever the density inside it.

Fatty or osteoporotic marrow is often below any bone threshold (seed 000: alar means
near 0 HU, 8 ± 56 HU when L5 <= 100 HU), so "inside the bone" cannot be read from the
HU at a point. It is read from the shell around it.

Reading implemented (:func:`cortical_envelope`), on the CT's own grid:

1. **Cortex**: voxels at or above the bone threshold (the per-scan
   :func:`bonequality.imaging.threshold.bone_threshold`, or the user's).
2. **Closing and hole filling in 3-D, as a rolling ball**: a ball of radius ``closing_mm``
   (default 12 mm) is rolled in from the border of the image (or of the region): its centre
   may go wherever the ball touches no cortex (an exact Euclidean distance map in mm, so
   anisotropic and oblique grids behave alike), moving through 6-connected voxels. What the
   ball sweeps is outside; everything else is inside the envelope. This is a closing with
   that ball followed by 3-D hole filling, except that a gap narrower than the ball cannot
   let the outside in even where the shell is thinner than the ball's cap (a plain closing
   of a 1.5 mm shell leaves a 10 mm hole open when there is room for balls on both sides).
   It seals gaps in the shell up to about ``2 * closing_mm`` wide: a cortex that partial
   volume breaks below the threshold (a 3 mm CT), the neural foramina and the sacral canal,
   the SI joint, and the dorsal ala, which on CT often shows no cortex at all (the
   interosseous ligament lies there). The price: notches and clefts narrower than that are
   inside too, and bones closer than that (L5 and its transverse processes, the ilium) are
   joined to the sacrum. A sacrum segmentation (:func:`mask_envelope`) avoids both. On the
   3 mm example CT a 6 mm ball leaves the dorsal half of the alae outside (a target 2.5 mm
   behind the anterior cortex became a false breach); 12 mm covers 96 % of TotalSegmentator's
   sacrum and agrees with it at every target tested.

On grids finer than ``working_spacing_mm / 2`` step 2 runs on blocks of whole voxels (a
block is cortex when any of its voxels is), for speed. The result is brought back to the
CT grid: the cortex voxels themselves, plus the blocks' inside without the voxels that lie
within one block of the outside through non-cortex voxels, so that where there is a cortex
the envelope ends at the CT's own voxels.

A sacrum segmentation given by the user *is* the envelope (:func:`mask_envelope`).

An :class:`Envelope` is sampled trilinearly (0 outside, 1 inside; a point is inside
at >= 0.5), so a ray leaves it at a sub-voxel position; callers refine that position
to the HU threshold crossing of the cortex where there is one.
"""

from __future__ import annotations

import time

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import MaskError
from ..validation import check_number
from ..volume import Volume
from .grid import crop
from .morphology import fill_holes

__all__ = [
    "CORTICAL_SHELL",
    "DEFAULT_CLOSING_MM",
    "LIVE_ENVELOPE_TOLERANCE",
    "SACRUM_MASK",
    "Envelope",
    "cortical_envelope",
    "mask_envelope",
    "region_slices",
]

#: ``Envelope.source`` of :func:`cortical_envelope`.
CORTICAL_SHELL = "cortical shell"
#: ``Envelope.source`` of :func:`mask_envelope`.
SACRUM_MASK = "sacrum mask"
#: Radius (mm) of the rolling ball (module docstring, step 2).
DEFAULT_CLOSING_MM = 12.0
#: Block size (mm) the rolling ball works on, at most (module docstring).
DEFAULT_WORKING_SPACING_MM = 2.0
#: While landmarks are dragged, a cortical envelope is reused while the per-scan threshold
#: stays within this fraction of the one it was built with (moving an S1 corner by a few mm
#: moves the per-scan threshold by up to about 10 %): :meth:`Envelope.reusable`.
LIVE_ENVELOPE_TOLERANCE = 0.1


class Envelope:
    """A region on (a crop of) a CT grid, sampled as a 0-1 field.

    Parameters
    ----------
    mask : Volume
        Boolean, on the CT grid or a crop of it (same spacing and direction).
    source : str
        :data:`CORTICAL_SHELL` or :data:`SACRUM_MASK`.
    name : str
        How the envelope is called in messages (e.g. ``"cortical shell at 155 HU"``).
    threshold_hu : float or None
        The bone threshold a cortical envelope was built with.
    closing_mm : float or None
        The radius of its rolling ball (``closing_mm`` of :func:`cortical_envelope`).
    build_seconds : float
        Time it took to build.
    """

    def __init__(
        self,
        mask: Volume,
        *,
        source: str,
        name: str,
        threshold_hu: float | None = None,
        closing_mm: float | None = None,
        build_seconds: float = 0.0,
    ):
        self.mask = mask
        self.source = source
        self.name = name
        self.threshold_hu = None if threshold_hu is None else float(threshold_hu)
        self.closing_mm = None if closing_mm is None else float(closing_mm)
        self.build_seconds = float(build_seconds)
        self._boundary = None

    def sample(self, points) -> np.ndarray:
        """Trilinear 0-1 value at LPS points ``(..., 3)``; 0 outside the grid."""
        v = self.mask.sample(points)
        return np.where(np.isfinite(v), v, 0.0)

    def within_grid(self, points, *, margin_mm: float = 0.0) -> np.ndarray:
        """Whether LPS points lie at least ``margin_mm`` inside this envelope's grid."""
        return self.mask.contains(points, margin_mm=margin_mm)

    def contains(self, points) -> np.ndarray:
        """Whether LPS points ``(..., 3)`` lie inside (:meth:`sample` >= 0.5)."""
        return self.sample(points) >= 0.5

    def covers(self, lo, hi) -> bool:
        """Whether the axis-aligned LPS box ``[lo, hi]`` lies inside this envelope's grid."""
        corners = np.array(
            [[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])]
        )
        return bool(np.all(self.mask.contains(corners)))

    def reusable(self, threshold_hu: float, lo, hi, *, tolerance: float = 0.0) -> bool:
        """Whether this cortical envelope can stand for one built at ``threshold_hu`` over ``[lo, hi]``.

        True when its threshold differs by at most ``tolerance`` times its own (0: the same
        threshold; :data:`LIVE_ENVELOPE_TOLERANCE` while landmarks are dragged) and its grid
        covers the LPS box ``[lo, hi]``.
        """
        if self.threshold_hu is None:
            return False
        close = abs(self.threshold_hu - float(threshold_hu)) <= tolerance * abs(self.threshold_hu)
        return close and self.covers(lo, hi)

    def boundary_points(self) -> np.ndarray:
        """LPS centres (N, 3) of the inside voxels that touch an outside voxel (cached)."""
        if self._boundary is None:
            inside = np.asarray(self.mask.array, dtype=bool)
            padded = np.pad(inside, 1)
            edge = inside & ~ndimage.binary_erosion(padded)[1:-1, 1:-1, 1:-1]
            k, j, i = np.nonzero(edge)
            self._boundary = self.mask.index_to_physical(np.stack([i, j, k], axis=-1).astype(float))
        return self._boundary

    def nearest_boundary(self, point, k: int = 8) -> np.ndarray:
        """The ``k`` boundary voxel centres nearest to ``point`` (LPS), nearest first; (0, 3) if none."""
        pts = self.boundary_points()
        if pts.shape[0] == 0:
            return pts
        d2 = np.sum((pts - np.asarray(point, dtype=float)) ** 2, axis=1)
        k = min(int(k), d2.size)
        idx = np.argpartition(d2, k - 1)[:k]
        return pts[idx[np.argsort(d2[idx])]]

    def to_dict(self) -> dict:
        return {
            "envelope": self.source,
            "envelope_name": self.name,
            "envelope_threshold_hu": self.threshold_hu,
            "envelope_closing_mm": self.closing_mm,
        }


def region_slices(volume: Volume, lo, hi) -> tuple[slice, ...]:
    """``[k, j, i]`` slices of the voxels of ``volume`` whose box contains the LPS box ``[lo, hi]``.

    Works for oblique grids (the box's 8 corners are taken to index space); clipped to the
    image; the whole image when the box covers it.
    """
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    ijk = volume.physical_to_index(corners)
    n = np.asarray(volume.shape_ijk)
    first = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, n - 1)
    last = np.clip(np.ceil(ijk.max(axis=0)).astype(int), 0, n - 1)
    return tuple(slice(int(first[a]), int(last[a]) + 1) for a in (2, 1, 0))


def _distance_to(mask: np.ndarray, spacing_kji) -> np.ndarray:
    """Euclidean distance (mm) from every voxel to the nearest True voxel centre (0 on it)."""
    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    img.SetSpacing([float(s) for s in spacing_kji[::-1]])
    d = sitk.SignedMaurerDistanceMap(img, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    return np.maximum(sitk.GetArrayViewFromImage(d), 0.0)


def _rolling_ball_inside(mask: np.ndarray, spacing_kji, radius_mm: float) -> np.ndarray:
    """What a ball of ``radius_mm`` rolled in from the array's border cannot reach.

    Ball centres may lie where the ball touches no ``mask`` voxel; the centres reachable
    from the border (6-connected) sweep the outside. ``mask`` must have at least
    ``radius_mm`` of False around what it holds.
    """
    centres = _distance_to(mask, spacing_kji) > radius_mm + 1e-6
    lab, n = ndimage.label(centres)
    border = np.zeros(n + 1, dtype=bool)
    for axis in range(3):
        for end in (0, -1):
            border[np.unique(np.take(lab, end, axis=axis))] = True
    border[0] = False
    outside = _distance_to(border[lab], spacing_kji) <= radius_mm + 1e-6
    return ~outside | mask


def _block_any(mask: np.ndarray, factors_kji) -> np.ndarray:
    """Blocks of ``factors_kji`` voxels (the array padded with False): True where any voxel is."""
    f = np.asarray(factors_kji, dtype=int)
    n = -(-np.asarray(mask.shape) // f)
    padded = np.zeros(tuple(n * f), dtype=bool)
    padded[tuple(slice(0, s) for s in mask.shape)] = mask
    return padded.reshape(n[0], f[0], n[1], f[1], n[2], f[2]).any(axis=(1, 3, 5))


def _to_grid(coarse: np.ndarray, bone: np.ndarray, factors_kji) -> np.ndarray:
    """The block fill back on the fine grid (module docstring): cortex voxels kept, overshoot trimmed."""
    up = coarse
    for axis, f in enumerate(factors_kji):
        up = np.repeat(up, f, axis=axis)
    up = up[tuple(slice(0, s) for s in bone.shape)]
    free = up & ~bone
    steps = int(max(factors_kji)) - 1
    reached = ndimage.binary_dilation(~up, structure=np.ones((3, 3, 3), bool), iterations=steps, mask=free)
    return up & ~(reached & free)


def _working_factors(spacing_ijk, working_spacing_mm: float) -> tuple[int, int, int]:
    """Block factors ``(k, j, i)``: whole voxels per block, at most ``working_spacing_mm`` wide."""
    f = np.maximum(1, np.floor(working_spacing_mm / np.asarray(spacing_ijk, dtype=float) + 1e-9))
    return tuple(int(v) for v in f[::-1])


def cortical_envelope(
    ct: Volume,
    threshold_hu: float,
    *,
    closing_mm: float = DEFAULT_CLOSING_MM,
    region=None,
    working_spacing_mm: float = DEFAULT_WORKING_SPACING_MM,
) -> Envelope:
    """The region enclosed by the cortical shell (module docstring: cortex, then a rolling ball).

    Parameters
    ----------
    ct : Volume
        CT in HU.
    threshold_hu : float, HU
        Cortex is ``HU >= threshold_hu``.
    closing_mm : float, mm
        Radius of the rolling ball (0-50; 0 = 3-D hole filling of the cortex only).
    region : ((3,) float, (3,) float), optional
        LPS box ``(lo, hi)`` (mm) to build the envelope in; default the whole CT. What
        lies outside the box is outside the envelope.
    working_spacing_mm : float, mm
        Largest block the rolling ball runs on.

    Returns
    -------
    Envelope
        On ``ct``'s grid, cropped to ``region``; ``source`` :data:`CORTICAL_SHELL`.
    """
    start = time.perf_counter()
    closing_mm = check_number(closing_mm, name="envelope closing radius (mm)", lo=0.0, hi=50.0)
    sl = region_slices(ct, *region) if region is not None else tuple(slice(0, s) for s in ct.array.shape)
    sub = crop(ct, sl)
    bone = np.asarray(sub.array >= threshold_hu)
    factors = _working_factors(sub.spacing, working_spacing_mm)
    spacing_kji = sub.spacing[::-1] * np.asarray(factors)
    coarse = _block_any(bone, factors) if max(factors) > 1 else bone
    pad = int(np.ceil(closing_mm / spacing_kji.min())) + 1
    padded = np.pad(coarse, pad)
    if closing_mm > 0:
        filled = _rolling_ball_inside(padded, spacing_kji, closing_mm)[pad:-pad, pad:-pad, pad:-pad]
    else:
        filled = fill_holes(padded)[pad:-pad, pad:-pad, pad:-pad]
    inside = _to_grid(filled, bone, factors) if max(factors) > 1 else filled | bone
    return Envelope(
        sub.with_array(inside),
        source=CORTICAL_SHELL,
        name=f"cortical shell at {threshold_hu:.0f} HU",
        threshold_hu=threshold_hu,
        closing_mm=closing_mm,
        build_seconds=time.perf_counter() - start,
    )


def mask_envelope(ct: Volume, mask, *, name: str = "sacrum mask") -> Envelope:
    """A user's sacrum segmentation as the envelope.

    Parameters
    ----------
    ct : Volume
        The CT the plan is made on.
    mask : Volume or bool ndarray on ``ct``'s grid
        Resampled (nearest neighbour) onto ``ct``'s grid when it is a Volume on another.
    name : str
        How the mask is called in messages.

    Raises
    ------
    MaskError, GeometryMismatchError
        Empty, or not overlapping the CT.
    """
    start = time.perf_counter()
    if isinstance(mask, Volume):
        arr = mask.mask_on(ct, name=name)
    else:
        arr = np.asarray(mask)
        if arr.shape != ct.array.shape:
            raise MaskError(
                f"{name}: array of shape {arr.shape} is not on the CT grid {ct.array.shape}; pass a Volume."
            )
        arr = arr != 0
        if not arr.any():
            raise MaskError(f"{name} is empty (no voxels set); segment the sacrum first.")
    return Envelope(
        ct.with_array(arr), source=SACRUM_MASK, name=name, build_seconds=time.perf_counter() - start
    )
