"""Straightforward per-voxel star-line baseline for the focal-defect maps (seed 004).

For every ROI voxel and every axial orientation it samples the line through that voxel
(bilinear, every 0.3 mm, both ways until the line leaves the ROI), finds the local maxima
and minima of that one profile with plain Python loops, and checks whether the voxel lies
in a half-maximum void. This is what the paper describes ("the centroid of the star-lines
was glided voxel-by-voxel") and what :mod:`bonequality.focal_defect` must reproduce,
much faster. Not part of the library: used by ``bench_focal_defect.py`` and a test.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from bonequality.focal_defect import AXIAL_ANGLES_DEG, FLAT_EPS, INTACT_BONE_MG_CM3


def _profile_void(p: np.ndarray, c: int, step_mm: float) -> tuple[float, float, float]:
    """(width, bmd_loss, bmc_loss) of the half-maximum void holding sample ``c`` of ``p``, or zeros."""
    n = len(p)
    slopes = []  # slope from sample i to i + 1; a flat step repeats the previous slope
    last = 0
    for i in range(n - 1):
        dd = p[i + 1] - p[i]
        sg = 1 if dd > FLAT_EPS else (-1 if dd < -FLAT_EPS else 0)
        if sg == 0:
            sg = last
        else:
            last = sg
        slopes.append(sg)
    ext = []  # (index, is_min); a profile end reached rising (or left falling) is a maximum
    for i in range(n):
        left = slopes[i - 1] if i > 0 else 0
        right = slopes[i] if i < n - 1 else 0
        if left < 0 < right:
            ext.append((i, True))
        elif (left > 0 > right) or (left == 0 and right < 0) or (left > 0 and right == 0):
            ext.append((i, False))
    for t in range(1, len(ext) - 1):
        im, is_min = ext[t]
        if not is_min or ext[t - 1][1] or ext[t + 1][1]:
            continue
        m1, m2 = ext[t - 1][0], ext[t + 1][0]
        lvl_l = 0.5 * (p[m1] + p[im])
        lvl_r = 0.5 * (p[m2] + p[im])
        s0 = im
        while p[s0 - 1] < lvl_l:
            s0 -= 1
        e0 = im
        while p[e0 + 1] < lvl_r:
            e0 += 1
        if not s0 <= c <= e0:
            continue
        left = (s0 - 1) + (p[s0 - 1] - lvl_l) / (p[s0 - 1] - p[s0])
        right = e0 + (lvl_r - p[e0]) / (p[e0 + 1] - p[e0])
        width = (right - left) * step_mm
        integral = 0.5 * (s0 - left) * (lvl_l + p[s0]) + 0.5 * (right - e0) * (p[e0] + lvl_r)
        for i in range(s0, e0):
            integral += 0.5 * (p[i] + p[i + 1])
        integral *= step_mm
        loss = (INTACT_BONE_MG_CM3 - integral / width) / INTACT_BONE_MG_CM3
        return width, loss, loss * width
    return 0.0, 0.0, 0.0


def baseline_maps(bmd, roi, *, step_mm: float = 0.3, angles_deg=AXIAL_ANGLES_DEG, voxels=None):
    """Per-voxel star-line maps.

    Parameters
    ----------
    bmd : (nz, ny, nx) float
        Calibrated, smoothed image on an isotropic LPS-aligned grid of ``step_mm``.
    roi : (nz, ny, nx) bool
    voxels : (n, 3) int, optional
        ``(k, j, i)`` voxels to evaluate (default: every ROI voxel).

    Returns
    -------
    voxels, (width, bmd_loss, bmc_loss) : (n, 3) int and three (n,) arrays, means over orientations.
    """
    bmd = np.asarray(bmd, dtype=np.float64)
    roi = np.asarray(roi, dtype=bool)
    if voxels is None:
        voxels = np.argwhere(roi)
    voxels = np.asarray(voxels)
    ny, nx = roi.shape[1:]
    reach = int(np.ceil(np.hypot(nx, ny))) + 2
    t = np.arange(-reach, reach + 1, dtype=np.float64)
    out = np.zeros((3, len(voxels)))
    for n, (k, j, i) in enumerate(voxels):
        for ang in angles_deg:
            c, s = np.cos(np.deg2rad(ang)), np.sin(np.deg2rad(ang))
            x = i + t * c
            y = j + t * s
            ok = (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
            xi = np.clip(np.round(x).astype(int), 0, nx - 1)
            yi = np.clip(np.round(y).astype(int), 0, ny - 1)
            ok &= roi[k, yi, xi]
            # The contiguous in-ROI stretch of the line through the voxel (t = 0 at index reach).
            lo = reach
            while lo > 0 and ok[lo - 1]:
                lo -= 1
            hi = reach
            while hi < len(t) - 1 and ok[hi + 1]:
                hi += 1
            p = ndimage.map_coordinates(bmd[k], [y[lo : hi + 1], x[lo : hi + 1]], order=1, mode="nearest")
            out[:, n] += _profile_void(p, reach - lo, step_mm)
    out /= len(angles_deg)
    return voxels, (out[0], out[1], out[2])
