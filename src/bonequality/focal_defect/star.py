"""Star-lines through every ROI voxel (CLINICAL.md section 4, steps 4-7).

Every voxel on one line of one orientation shares that line's profile, so for each
orientation the ROI is resampled once onto a grid rotated so that the orientation runs
along an array axis, and the half-maximum voids of all rows are found at once
(:func:`~bonequality.focal_defect.voids.detect_voids`). ``benchmarks/focal_baseline.py``
holds the straightforward per-voxel version this is checked against.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage

from ..errors import AnalysisError
from ..progress import ProgressCallback, report
from .constants import AXIAL_ANGLES_DEG, GRID_MM, STAR_3D_RINGS, STARS
from .voids import detect_voids, values_at

__all__ = ["star_directions", "star_line_maps"]


def star_directions(star: str = "2d", *, angles_deg=None) -> np.ndarray:
    """Unit star-line directions (LPS, (n, 3)); a line and its reverse are one direction.

    ``"2d"``: the 15 axial orientations 12° apart (or ``angles_deg`` from the x axis).
    ``"3d"``: those plus, per :data:`STAR_3D_RINGS`, the lines at ±45° elevation with
    azimuths 45° apart (8 lines) and the vertical: 24 directions.
    """
    if star not in STARS:
        raise AnalysisError(f"star '{star}': choose '2d' (the paper's axial star) or '3d'")
    a = np.deg2rad(np.asarray(AXIAL_ANGLES_DEG if angles_deg is None else angles_deg, dtype=float).ravel())
    dirs = [np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], 1)]
    if star == "3d":
        for elev, step in STAR_3D_RINGS[1:]:
            e = np.deg2rad(elev)
            # Azimuths in [0, 180): the ring at -elev supplies the reversed other half.
            az = np.deg2rad(np.arange(0.0, 180.0, step)) if abs(elev) < 90 else np.zeros(1)
            ring = np.stack([np.cos(e) * np.cos(az), np.cos(e) * np.sin(az), np.full(az.shape, np.sin(e))], 1)
            dirs.append(ring)
    return np.concatenate(dirs)


class _Grid:
    """The analysis arrays in the layouts the orientation passes need (built once)."""

    def __init__(self, bmd: np.ndarray, roi: np.ndarray):
        self.bmd = bmd
        self.roi = roi
        self.shape = bmd.shape  # (nz, ny, nx)
        # z last, so an in-plane gather fetches whole contiguous z columns.
        self.bmd_t = np.ascontiguousarray(bmd.transpose(1, 2, 0))
        self.roi_t = np.ascontiguousarray(roi.transpose(1, 2, 0))
        foot = roi.any(axis=0)
        self.fp_j, self.fp_i = np.nonzero(foot)
        pix = np.full(foot.shape, -1, dtype=np.int64)
        pix[self.fp_j, self.fp_i] = np.arange(self.fp_j.size)
        self.vk, vj, vi = np.nonzero(roi)
        self.vpix = pix[vj, vi]
        self.vj, self.vi = vj, vi
        self.n_vox = self.vk.size


def _axial_pass(g: _Grid, direction: np.ndarray, step_mm: float) -> tuple[np.ndarray, ...]:
    """Maps along one axial orientation for every ROI voxel (vectorised over all rows)."""
    c, s = float(direction[0]), float(direction[1])
    ny, nx = g.shape[1:]
    u = g.fp_i * c + g.fp_j * s  # along the line (voxel units)
    v = -g.fp_i * s + g.fp_j * c  # across (row coordinate)
    rv = np.round(v).astype(np.int64)
    cu = np.round(u).astype(np.int64)
    rmin = rv.min()
    row = rv - rmin
    nrow = int(row.max()) + 1
    cmin = np.full(nrow, np.iinfo(np.int64).max)
    cmax = np.full(nrow, np.iinfo(np.int64).min)
    np.minimum.at(cmin, row, cu)
    np.maximum.at(cmax, row, cu)
    used = cmax >= cmin
    first = np.where(used, cmin - 2, 0)
    length = np.where(used, cmax - cmin + 5, 0)
    rstart = np.concatenate([[0], np.cumsum(length)[:-1]])
    m2 = int(length.sum())
    srow = np.repeat(np.arange(nrow), length)
    scol = first[srow] + (np.arange(m2) - rstart[srow])
    vv = (srow + rmin).astype(np.float64)
    uu = scol.astype(np.float64)
    fi = uu * c - vv * s
    fj = uu * s + vv * c
    i0 = np.floor(fi).astype(np.int64)
    j0 = np.floor(fj).astype(np.int64)
    wi = (fi - i0).astype(np.float32)[:, None]
    wj = (fj - j0).astype(np.float32)[:, None]
    inside = (i0 >= 0) & (j0 >= 0) & (i0 < nx - 1) & (j0 < ny - 1)
    i0c = np.clip(i0, 0, nx - 2)
    j0c = np.clip(j0, 0, ny - 2)
    b = g.bmd_t
    top = b[j0c, i0c] * (1 - wi) + b[j0c, i0c + 1] * wi
    bot = b[j0c + 1, i0c] * (1 - wi) + b[j0c + 1, i0c + 1] * wi
    val = top * (1 - wj) + bot * wj
    ri = np.clip(np.round(fi).astype(np.int64), 0, nx - 1)
    rj = np.clip(np.round(fj).astype(np.int64), 0, ny - 1)
    roi_s = g.roi_t[rj, ri] & inside[:, None]
    roi_s[rstart[used]] = False
    roi_s[(rstart + length - 1)[used]] = False
    val[~roi_s] = np.nan
    flat = np.ascontiguousarray(val.T).ravel()
    voids = detect_voids(flat, step_mm)
    # Each voxel's exact position along its (nearest) row, in flat sample units.
    m_pix = (rstart[row] - first[row]) + u
    q = g.vk * m2 + m_pix[g.vpix]
    return values_at(voids, q)


def _oblique_pass(g: _Grid, direction: np.ndarray, step_mm: float) -> tuple[np.ndarray, ...]:
    """Maps along one non-axial direction (3-D star): rotated grid sampled trilinearly."""
    d = np.asarray(direction, dtype=float)
    hint = np.array([1.0, 0, 0]) if abs(d[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(d, hint)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(d, e1)
    frame = np.stack([e1, e2, d])  # rows: a, b, u axes
    pts = np.stack([g.vi, g.vj, g.vk], 1).astype(np.float64)  # x, y, z voxel units
    abu = pts @ frame.T
    rnd = np.round(abu).astype(np.int64)
    lo = rnd.min(axis=0) - np.array([0, 0, 2])
    hi = rnd.max(axis=0) + np.array([0, 0, 2])
    na, nb, nu = hi - lo + 1
    aa, bb, uu = np.meshgrid(
        np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), np.arange(lo[2], hi[2] + 1), indexing="ij"
    )
    xyz = aa[..., None] * e1 + bb[..., None] * e2 + uu[..., None] * d
    coords = xyz[..., ::-1].reshape(-1, 3).T  # (z, y, x) index rows
    val = ndimage.map_coordinates(g.bmd, coords, order=1, mode="nearest", output=np.float32)
    roi_s = ndimage.map_coordinates(g.roi.astype(np.uint8), coords, order=0, mode="constant", cval=0) > 0
    val = val.reshape(na, nb, nu)
    roi_s = roi_s.reshape(na, nb, nu)
    roi_s[..., 0] = False
    roi_s[..., -1] = False
    val[~roi_s] = np.nan
    flat = val.ravel()
    voids = detect_voids(flat, step_mm)
    r = rnd - lo
    q = (r[:, 0] * nb + r[:, 1]) * nu + (abu[:, 2] - lo[2])
    return values_at(voids, q)


def star_line_maps(
    bmd: np.ndarray,
    roi: np.ndarray,
    *,
    step_mm: float = GRID_MM,
    directions=None,
    workers: int = 2,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 4-7 on an isotropic, patient-aligned grid: mean maps over the star directions.

    Parameters
    ----------
    bmd : (nz, ny, nx) float32
        Calibrated, smoothed image on an isotropic LPS-aligned grid of ``step_mm``.
    roi : (nz, ny, nx) bool
    directions : (n, 3) float, optional
        Unit directions in (x, y, z) grid axes; default the 15 axial orientations.
    workers : int
        Threads processing orientations concurrently (1 = sequential).
    progress : callable(fraction, message), optional
        Called after each orientation; may raise OperationCancelled.

    Returns
    -------
    (intercept_width mm, focal_bmd_loss, focal_bmc_loss mm) : three (nz, ny, nx) float32
        0 outside the ROI and where no orientation found a void.
    """
    dirs = star_directions("2d") if directions is None else np.atleast_2d(np.asarray(directions, float))
    g = _Grid(np.asarray(bmd, dtype=np.float32), np.asarray(roi, dtype=bool))
    sums = [np.zeros(g.n_vox, dtype=np.float32) for _ in range(3)]

    def one(d):
        return _axial_pass(g, d, step_mm) if abs(d[2]) < 1e-9 else _oblique_pass(g, d, step_mm)

    report(progress, 0.0, f"star-lines: {len(dirs)} orientations")
    # numpy releases the GIL in its loops, so two orientations at a time use both cores.
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        futures = [pool.submit(one, d) for d in dirs]
        try:
            for n, fut in enumerate(futures):
                for acc, v in zip(sums, fut.result()):
                    acc += v
                report(progress, (n + 1) / len(dirs), f"star-line orientation {n + 1}/{len(dirs)}")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    maps = []
    for acc in sums:
        m = np.zeros(g.shape, dtype=np.float32)
        m[g.vk, g.vj, g.vi] = acc / len(dirs)
        maps.append(m)
    return tuple(maps)
