"""L5 trabecular density (seed 000): mean HU in the vertebral body's trabecular core.

The group boundary ``<= 100 HU`` / ``> 100 HU`` is seed 000's (after Pickhardt), and the
z-scores compare against seed 000 Table 1 (:data:`~bonequality.corridors.REFERENCE_COHORT`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import AnalysisError
from ..volume import Volume
from .options import L5_GROUP_HU, CorridorOptions

__all__ = ["L5Result", "l5_density"]


@dataclass(frozen=True)
class L5Result:
    """L5 trabecular density.

    Attributes
    ----------
    mean_hu : float
        Mean HU of the voxels whose centres lie in the ROI.
    roi_volume_ml : float
        Number of ROI voxels times the voxel volume, ml.
    group : str
        ``"L5 <= 100 HU"`` or ``"L5 > 100 HU"`` (seed 000).
    roi : dict
        How the ROI was made (``"cylinder"``: centre, radius, half-height; or ``"mask"``).
    """

    mean_hu: float
    roi_volume_ml: float
    group: str
    n_voxels: int
    roi: dict

    def to_dict(self) -> dict:
        return {
            "mean_hu": self.mean_hu,
            "roi_volume_ml": self.roi_volume_ml,
            "group": self.group,
            "n_voxels": self.n_voxels,
            "roi": self.roi,
        }


#: Offsets (mm) of a 5 mm ball lattice (2.5 mm pitch), for the median HU at the L5 centre.
_g = np.arange(-5.0, 5.01, 2.5)
_BALL_OFFSETS = np.stack(np.meshgrid(_g, _g, _g), axis=-1).reshape(-1, 3)
_BALL_OFFSETS = _BALL_OFFSETS[np.linalg.norm(_BALL_OFFSETS, axis=1) <= 5.0]


def _group(mean_hu: float) -> str:
    return "L5 <= 100 HU" if mean_hu <= L5_GROUP_HU else "L5 > 100 HU"


def _result(volume: Volume, values: np.ndarray, roi: dict) -> L5Result:
    mean = float(values.mean())
    n = int(values.size)
    return L5Result(mean, float(n * volume.voxel_volume_mm3 / 1000.0), _group(mean), n, roi)


def _voxels_in_box(volume: Volume, lo: np.ndarray, hi: np.ndarray):
    """Integer voxel indices (i, j, k) and LPS centres of the voxels whose centres may lie in a box."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    idx = volume.physical_to_index(corners)
    n = np.asarray(volume.shape_ijk)
    a = np.clip(np.floor(idx.min(axis=0)).astype(int), 0, n - 1)
    b = np.clip(np.ceil(idx.max(axis=0)).astype(int), 0, n - 1)
    kk, jj, ii = np.meshgrid(
        np.arange(a[2], b[2] + 1), np.arange(a[1], b[1] + 1), np.arange(a[0], b[0] + 1), indexing="ij"
    )
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)
    return ijk, volume.index_to_physical(ijk)


def _l5_in_mask(volume: Volume, mask: Volume, opts: CorridorOptions) -> L5Result:
    """The vertebral-body mask eroded by ``l5_cortex_margin_mm``."""
    m = mask.mask_on(volume, name="L5 mask")
    dist = ndimage.distance_transform_edt(m, sampling=volume.spacing[::-1])
    roi = dist > opts.l5_cortex_margin_mm
    if not roi.any():
        raise AnalysisError(
            f"L5 mask: nothing is left after removing {opts.l5_cortex_margin_mm} mm of cortex; "
            "supply a vertebral-body mask, not a thin shell."
        )
    values = volume.array[roi].astype(float)
    return _result(volume, values, {"kind": "mask", "cortex_margin_mm": opts.l5_cortex_margin_mm})


def _cylinder_extent(volume: Volume, c: np.ndarray, threshold: float, opts: CorridorOptions):
    """``(radius, half_height, cortex_level)`` of the L5 cylinder ROI around ``c``."""
    r = np.arange(0.5, 30.0, 0.5)
    ang = np.arange(16) * (np.pi / 8)
    dirs = np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], axis=1)
    vert = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])

    # Cortex: clearly denser than the trabecular bone at the centre (thin 3 mm cortex
    # may peak below a scan-wide threshold; a low threshold lies inside trabecular bone).
    core = volume.sample(c + _BALL_OFFSETS)
    level = max(threshold, float(np.nanmedian(core)) + opts.l5_cortex_contrast_hu)

    def first_cortex(ds):
        hu = volume.sample(c + r[None, :, None] * ds[:, None, :])
        hit = (hu >= level) | ~np.isfinite(hu)
        return np.where(hit.any(axis=1), r[np.argmax(hit, axis=1)], np.inf)

    margin = opts.l5_cortex_margin_mm
    radius = float(np.clip(first_cortex(dirs).min() - margin, opts.l5_min_radius_mm, opts.l5_max_radius_mm))
    half = float(np.clip(first_cortex(vert).min() - margin, 1.0, opts.l5_max_half_height_mm))
    return radius, half, level


def l5_density(
    volume: Volume,
    center,
    *,
    threshold: float,
    mask: Volume | None = None,
    options: CorridorOptions | None = None,
    name: str = "L5_body_center",
) -> L5Result:
    """Mean HU of trabecular bone in L5 (seed 000: a volume inside the cortical borders).

    Without ``mask``: a cylinder along the patient's z axis centred on ``center``. Its
    radius is the distance to the nearest cortex (first sample >= the cortex level along 16
    axial rays; cortex level = max(``threshold``, median HU within 5 mm of the centre +
    ``l5_cortex_contrast_hu``)) minus ``l5_cortex_margin_mm``, clamped to [``l5_min_radius_mm``,
    ``l5_max_radius_mm``]; its half-height likewise from rays up and down, capped at
    ``l5_max_half_height_mm``. Where the cortex is not found (thin cortex below the
    threshold), the caps keep the ROI inside an adult L5 body (~50 x 35 x 27 mm).
    With ``mask`` (a vertebral-body mask): the mask eroded by ``l5_cortex_margin_mm``.
    """
    opts = options or CorridorOptions()
    c = np.asarray(center, dtype=float)
    volume.require_inside(c[None], [name], what="landmark")
    if mask is not None:
        return _l5_in_mask(volume, mask, opts)
    radius, half, level = _cylinder_extent(volume, c, threshold, opts)
    ext = np.array([radius, radius, half])
    ijk, pts = _voxels_in_box(volume, c - ext, c + ext)
    d = pts - c
    inside = (d[:, 0] ** 2 + d[:, 1] ** 2 <= radius**2) & (np.abs(d[:, 2]) <= half)
    if not inside.any():
        raise AnalysisError(f"L5 ROI around {name} holds no voxel; is the image very coarse?")
    sel = ijk[inside]
    values = volume.array[sel[:, 2], sel[:, 1], sel[:, 0]].astype(float)
    roi = {
        "kind": "cylinder",
        "center_lps": c.tolist(),
        "radius_mm": radius,
        "half_height_mm": half,
        "cortex_level_hu": level,
    }
    return _result(volume, values, roi)
