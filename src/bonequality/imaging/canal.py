"""The spinal canal of a bone or whole-vertebra mask, and the posterior cut plane it gives.

Used by :mod:`bonequality.imaging.body` to cut the posterior elements off a whole-vertebra
mask, and by the cement analysis to say which leaks lie in the canal or foramina.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .grid import lps_grid_mask
from .morphology import fill_holes

__all__ = ["CanalInfo", "find_canal"]


@dataclass(frozen=True)
class CanalInfo:
    """The spinal canal found as the largest axial hole of the bone/vertebra mask (LPS).

    The posterior cut is the plane ``y = cut_y0_mm + cut_slope * z`` (LPS mm) through the
    canal's anterior wall: everything posterior to it is posterior elements.
    """

    found: bool
    cut_y0_mm: float = math.nan
    cut_slope: float = 0.0
    center_x_mm: float = math.nan
    half_width_mm: float = math.nan
    posterior_y_mm: float = math.nan
    volume_ml: float = 0.0
    points: np.ndarray | None = field(default=None, repr=False, compare=False)

    def cut_y(self, z) -> np.ndarray:
        """LPS y (mm) of the cut plane at LPS heights ``z``."""
        return self.cut_y0_mm + self.cut_slope * np.asarray(z, dtype=float)

    def to_dict(self) -> dict:
        return {
            "found": self.found,
            "cut_y0_mm": None if not self.found else self.cut_y0_mm,
            "cut_slope": self.cut_slope,
            "center_x_mm": None if not self.found else self.center_x_mm,
            "half_width_mm": None if not self.found else self.half_width_mm,
            "volume_ml": self.volume_ml,
        }


def _canal_label(lab, n, ws, lo, *, max_width_mm, exclude_point) -> int:
    """The label of the canal among the hole components ``lab`` (0 = none found)."""
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    # Candidates: sizeable holes (>= 0.2 ml and >= 10 % of the largest) not holding the
    # seed; a hollow (low-density) vertebral body is such a hole too, but lies anterior to
    # the canal, so the most posterior candidate is the canal.
    ok = (sizes * ws**3 / 1000 >= 0.2) & (sizes >= 0.1 * sizes.max())
    if exclude_point is not None:
        e = np.round((np.asarray(exclude_point, dtype=float) - lo) / ws).astype(int)[::-1]
        if np.all(e >= 0) and np.all(e < np.array(lab.shape)):
            ok[lab[tuple(e)]] = False
    for label, box in enumerate(ndimage.find_objects(lab), start=1):
        if box is not None and ok[label]:
            ok[label] = (box[2].stop - box[2].start) * ws <= max_width_mm
    ok[0] = False
    if not ok.any():
        return 0
    ys_all = np.nonzero(lab)[1]
    mean_y = np.bincount(lab[lab > 0], weights=ys_all, minlength=n + 1) / np.maximum(sizes, 1)
    return int(np.argmax(np.where(ok, mean_y, -np.inf)))


def _anterior_walls(canal: np.ndarray, ws: float, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per axial slice, LPS z and the median anterior wall y over the canal's central half."""
    zs, ys, xs = np.nonzero(canal)
    walls_z, walls_y = [], []
    for z_index in np.unique(zs):
        sel = zs == z_index
        x_s, y_s = xs[sel], ys[sel]
        xc = 0.5 * (x_s.min() + x_s.max())
        half = 0.5 * (x_s.max() - x_s.min() + 1)
        central = np.abs(x_s - xc) <= max(0.5, half / 2)
        cols = x_s[central]
        ymin = np.full(cols.max() + 1, np.iinfo(np.int64).max)
        np.minimum.at(ymin, cols, y_s[central])
        front = ymin[np.unique(cols)]
        walls_z.append(lo[2] + z_index * ws)
        walls_y.append(lo[1] + float(np.median(front)) * ws - ws / 2)
    return np.array(walls_z), np.array(walls_y)


def _fit_wall_plane(walls_z: np.ndarray, walls_y: np.ndarray, ws: float) -> tuple[float, float]:
    """Robust ``y = y0 + slope * z`` through the walls (coronal when too steep or too few)."""
    y0, slope = float(np.median(walls_y)), 0.0
    if len(walls_z) >= 5 and np.ptp(walls_z) > 4 * ws:
        keep = np.ones(len(walls_z), dtype=bool)
        for _ in range(2):
            slope, y0 = np.polyfit(walls_z[keep], walls_y[keep], 1)
            resid = np.abs(walls_y - (y0 + slope * walls_z))
            keep = resid <= max(2 * ws, 2.5 * float(np.median(resid)))
        slope, y0 = float(slope), float(y0)
        if abs(slope) > 1.0:  # steeper than 45 degrees: not a canal wall; use a coronal plane
            y0, slope = float(np.median(walls_y)), 0.0
    return y0, slope


def find_canal(
    vol,
    mask: np.ndarray,
    *,
    working_spacing_mm: float = 0.5,
    max_canal_width_mm: float = 32.0,
    z_window: tuple[float, float] | None = None,
    exclude_point=None,
) -> CanalInfo:
    """Find the spinal canal in a bone or vertebra mask and the plane of its anterior wall.

    On an LPS-aligned grid (``working_spacing_mm``), 3-D cavities are filled first (so a
    vertebral body whose trabecular bone falls below the threshold is not taken for a
    hole); the canal is then the most posterior sizeable region that is enclosed by the
    mask in axial (LPS z) slices but open in 3-D. Its anterior wall per slice is the
    median, over the central half of the canal's width, of the most anterior canal voxel
    edge; a plane ``y = y0 + slope * z`` is fitted to those walls (robust to outliers).

    Parameters
    ----------
    vol : Volume
        Grid of ``mask``.
    mask : bool ndarray
        Bone or whole-vertebra mask (posterior elements enclosing the canal).
    working_spacing_mm : float
        Spacing of the LPS-aligned working grid (at least the finest image spacing).
    max_canal_width_mm : float
        Holes wider (LPS x) than this are not taken for the canal.
    z_window : (float, float), optional
        Only slices in this LPS z range (mm) are used for the wall plane.
    exclude_point : (3,) float, mm, LPS, optional
        A point inside the vertebral body (the seed): the hole holding it is not the canal.
    """
    ws = max(working_spacing_mm, float(np.min(vol.spacing)))
    grid, lo = lps_grid_mask(vol, mask, ws)
    grid = fill_holes(grid)
    holes = fill_holes(grid, slice_axis=0) & ~grid
    lab, n = ndimage.label(holes)
    if n == 0:
        return CanalInfo(found=False)
    best = _canal_label(lab, n, ws, lo, max_width_mm=max_canal_width_mm, exclude_point=exclude_point)
    if best == 0:
        return CanalInfo(found=False)
    canal = lab == best
    vol_ml = float(canal.sum()) * ws**3 / 1000
    walls_z, walls_y = _anterior_walls(canal, ws, lo)
    if z_window is not None:
        keep = (walls_z >= z_window[0]) & (walls_z <= z_window[1])
        if keep.sum() >= 1:
            walls_z, walls_y = walls_z[keep], walls_y[keep]
    y0, slope = _fit_wall_plane(walls_z, walls_y, ws)
    _, ys, xs = np.nonzero(canal)
    px, py = lo[0] + xs * ws, lo[1] + ys * ws
    edge = canal & ~ndimage.binary_erosion(canal)
    ez, ey, ex = np.nonzero(edge)
    pts = np.stack([lo[0] + ex * ws, lo[1] + ey * ws, lo[2] + ez * ws], axis=1)
    return CanalInfo(
        found=True,
        cut_y0_mm=y0,
        cut_slope=slope,
        center_x_mm=float(np.median(px)),
        half_width_mm=float(0.5 * (np.percentile(px, 99) - np.percentile(px, 1)) + ws / 2),
        posterior_y_mm=float(np.percentile(py, 99) + ws / 2),
        volume_ml=vol_ml,
        points=pts,
    )
