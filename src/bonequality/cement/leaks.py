"""Where cement leaked around a vertebral body, and how close it came to the spinal canal."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ..imaging.canal import CanalInfo
from .options import LEAK_LOCATIONS, CementOptions

__all__ = ["classify_leaks", "leak_locations"]


def _in_footprint(leak_pts: np.ndarray, body_pts: np.ndarray, cell: float) -> np.ndarray:
    """Whether each leak point lies over the body's footprint (LPS x-y raster, projected along z)."""
    x0, y0 = body_pts[:, 0].min() - cell, body_pts[:, 1].min() - cell
    bi = ((body_pts[:, 0] - x0) // cell).astype(int)
    bj = ((body_pts[:, 1] - y0) // cell).astype(int)
    foot = np.zeros((bi.max() + 2, bj.max() + 2), dtype=bool)
    foot[bi, bj] = True
    foot = ndimage.binary_fill_holes(ndimage.binary_closing(foot, iterations=2))
    li = ((leak_pts[:, 0] - x0) // cell).astype(int)
    lj = ((leak_pts[:, 1] - y0) // cell).astype(int)
    inside = (li >= 0) & (lj >= 0) & (li < foot.shape[0]) & (lj < foot.shape[1])
    in_foot = np.zeros(len(leak_pts), dtype=bool)
    in_foot[inside] = foot[li[inside], lj[inside]]
    return in_foot


def classify_leaks(
    leak_pts: np.ndarray, body_pts: np.ndarray, canal: CanalInfo, options: CementOptions, cell: float
) -> np.ndarray:
    """Index into :data:`LEAK_LOCATIONS` for each leak point (LPS mm).

    Posterior to the canal's cut plane (or, without a canal, to the body) and within the
    canal's half-width plus ``foramen_margin_mm`` of its centre: ``canal_foramen``; over
    the body's footprint above / below its mean z: ``cranial_disc`` / ``caudal_disc``;
    anything else: ``paravertebral``.
    """
    out = np.full(len(leak_pts), LEAK_LOCATIONS.index("paravertebral"))
    if not len(leak_pts):
        return out
    in_foot = _in_footprint(leak_pts, body_pts, cell)
    zc = float(body_pts[:, 2].mean())
    x, y, z = leak_pts.T
    if canal.found:
        posterior = y >= canal.cut_y(z)
        xc, half, ypost = canal.center_x_mm, canal.half_width_mm, canal.posterior_y_mm
    else:  # fallback: behind the body's posterior surface, near its midline
        posterior = y > body_pts[:, 1].max()
        xc = 0.5 * (body_pts[:, 0].min() + body_pts[:, 0].max())
        half, ypost = 10.0, body_pts[:, 1].max() + 25.0
    rules = {
        "canal_foramen": posterior
        & (y <= ypost + cell)
        & (np.abs(x - xc) <= half + options.foramen_margin_mm),
        "cranial_disc": in_foot & ~posterior & (z > zc),
        "caudal_disc": in_foot & ~posterior & (z <= zc),
    }
    assigned = np.zeros(len(leak_pts), dtype=bool)
    for name in LEAK_LOCATIONS[:-1]:
        sel = rules[name] & ~assigned
        out[sel] = LEAK_LOCATIONS.index(name)
        assigned |= sel
    return out


def leak_locations(
    leak_pts: np.ndarray,
    body_pts: np.ndarray,
    canal: CanalInfo,
    options: CementOptions,
    *,
    spacing,
    voxel_volume_mm3: float,
) -> tuple[dict[str, float], float | None]:
    """Leak volume (ml) per location and the distance (mm) from the nearest leak to the canal.

    The distance is to the canal's wall voxels; 0 when a leak lies inside the canal, or a
    canal/foramen leak within one working voxel of the wall; None without leaks or canal.
    """
    min_spacing = float(np.min(spacing))
    codes = classify_leaks(leak_pts, body_pts, canal, options, cell=max(0.5, min_spacing))
    by_loc = {
        name: float(np.sum(codes == n)) * voxel_volume_mm3 / 1000 for n, name in enumerate(LEAK_LOCATIONS)
    }
    nearest = None
    if len(leak_pts) and canal.found and canal.points is not None and len(canal.points):
        d, _ = cKDTree(canal.points).query(leak_pts, k=1)
        nearest = float(d.min())
        if canal.contains(leak_pts).any():
            nearest = 0.0
        elif nearest <= max(options.working_spacing_mm, min_spacing):
            in_canal = codes == LEAK_LOCATIONS.index("canal_foramen")
            nearest = 0.0 if in_canal.any() else nearest
    return by_loc, nearest
