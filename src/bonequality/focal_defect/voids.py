"""Half-maximum voids of star-line profiles (CLINICAL.md section 4, steps 5 and 6; seed 004, Figure 1D).

All profiles of one orientation are concatenated into one flat array (NaN between them)
and their voids are found at once by vectorised operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import FLAT_EPS, INTACT_BONE_MG_CM3

__all__ = ["Voids", "detect_voids", "values_at"]


@dataclass(frozen=True)
class Voids:
    """Half-maximum voids of concatenated profiles (positions in samples of the flat array).

    ``n``: length of the flat array;
    ``start``/``stop``: first and last sample inside each void; ``left``/``right``:
    sub-sample crossings; ``width`` (mm), ``bmd_loss`` (fraction) and ``bmc_loss`` (mm).
    """

    n: int
    start: np.ndarray
    stop: np.ndarray
    left: np.ndarray
    right: np.ndarray
    width: np.ndarray
    bmd_loss: np.ndarray
    bmc_loss: np.ndarray


def detect_voids(profile: np.ndarray, step_mm: float, *, intact: float = INTACT_BONE_MG_CM3) -> Voids:
    """Half-maximum voids of every profile in a flat array, all at once (seed 004, Figure 1D).

    Parameters
    ----------
    profile : (N,) float
        Profiles (BMD) concatenated; NaN separates profiles (samples outside the ROI).
        ``profile[0]`` and ``profile[-1]`` must be NaN.
    step_mm : float
        Sample spacing along the profiles.
    intact : float
        Density of intact bone (1200 mg/cm³, seed 004 eq. 2).

    Returns
    -------
    Voids
    """
    p = np.asarray(profile, dtype=np.float32)
    n = p.size
    nothing = Voids(n, *(np.zeros(0, dtype=np.int64),) * 2, *(np.zeros(0),) * 5)
    d = p[1:] - p[:-1]
    invalid = np.isnan(d)
    s = (d > FLAT_EPS).view(np.int8) - (d < -FLAT_EPS).view(np.int8)
    # Flat stretches take the slope before them (a plateau is one extremum); NaN resets.
    key = np.where((s != 0) | invalid, np.arange(n - 1, dtype=np.int32), np.int32(0))
    np.maximum.accumulate(key, out=key)
    sf = s[key]
    is_min = np.zeros(n, dtype=bool)
    is_ext = np.zeros(n, dtype=bool)
    left, right = sf[:-1], sf[1:]
    is_min[1:-1] = (left < 0) & (right > 0)
    # Maxima, including a profile end reached rising (or left descending): a valley open at
    # the ROI edge has its low end there, which is no minimum, so it is never a void.
    is_ext[1:-1] = (left * right < 0) | ((left == 0) & (right < 0)) | ((left > 0) & (right == 0))
    ext = np.flatnonzero(is_ext)
    if ext.size < 3:
        return nothing
    # Extrema alternate within a profile; a flank joins consecutive extrema with no NaN between.
    lo, hi = int(ext[0]), int(ext[-1])
    same = ~np.logical_or.reduceat(np.isnan(p[lo:hi]), ext[:-1] - lo)
    ext_min = is_min[ext]
    # A minimum makes a void when both its flanks exist: a maximum before and after, same profile.
    good_min = np.zeros(ext.size, dtype=bool)
    good_min[1:-1] = ext_min[1:-1] & same[:-1] & same[1:]
    flank_ok = good_min[:-1] | good_min[1:]
    flank_level = 0.5 * (p[ext[:-1]] + p[ext[1:]])
    lengths = np.diff(ext)
    level = np.repeat(flank_level, lengths)  # level of the flank each sample in [lo, hi) lies on
    in_void = np.zeros(n, dtype=bool)
    in_void[lo:hi] = np.repeat(flank_ok, lengths) & (p[lo:hi] < level)
    edges = np.diff(in_void.view(np.int8))
    idx = np.flatnonzero(edges)
    rising = edges[idx] > 0
    start = idx[rising] + 1
    stop = idx[~rising]
    if start.size == 0:
        return nothing
    lvl_l = level[start - 1 - lo].astype(np.float64)
    lvl_r = level[stop - lo].astype(np.float64)
    p0, p1 = p[start - 1].astype(np.float64), p[start].astype(np.float64)
    q0, q1 = p[stop].astype(np.float64), p[stop + 1].astype(np.float64)
    left = (start - 1) + (p0 - lvl_l) / (p0 - p1)
    right = stop + (lvl_r - q0) / (q1 - q0)
    width = (right - left) * step_mm
    run_len = stop - start + 1
    offsets = np.concatenate([[0], np.cumsum(run_len)[:-1]])
    sums = np.add.reduceat(p[in_void].astype(np.float64), offsets)
    inner = sums - 0.5 * (p1 + q0)
    integral = step_mm * (inner + 0.5 * (start - left) * (lvl_l + p1) + 0.5 * (right - stop) * (q0 + lvl_r))
    mean_bmd = integral / np.maximum(width, 1e-12)
    bmd_loss = (intact - mean_bmd) / intact
    return Voids(n, start, stop, left, right, width, bmd_loss, bmd_loss * width)


def values_at(voids: Voids, q: np.ndarray) -> tuple[np.ndarray, ...]:
    """(width, bmd_loss, bmc_loss) at positions ``q`` of the flat array (0 outside voids).

    ``q`` is continuous (in samples): a position is in a void when it lies between the
    void's sub-sample crossings ``left`` and ``right``.
    """
    k = voids.start.size
    bounds = np.empty(2 * k + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, voids.n
    bounds[1:-1:2] = voids.start
    bounds[2:-1:2] = voids.stop + 1
    labels = np.zeros(2 * k + 1, dtype=np.int32)  # 0 = no void, v + 1 = void v
    labels[1::2] = np.arange(1, k + 1, dtype=np.int32)
    per_sample = np.repeat(labels, np.diff(bounds))
    q0 = np.clip(np.floor(q).astype(np.int64), 0, voids.n - 2)
    # Void of the sample at or before q (q <= its right crossing), else of the sample after (q >= left).
    right = np.concatenate([[-np.inf], voids.right])
    left = np.concatenate([[np.inf], voids.left])
    a = per_sample[q0]
    b = per_sample[q0 + 1]
    idx = np.where((a > 0) & (q <= right[a]), a, np.where((b > 0) & (q >= left[b]), b, 0))
    return tuple(
        np.concatenate([[0.0], arr]).astype(np.float32)[idx]
        for arr in (voids.width, voids.bmd_loss, voids.bmc_loss)
    )
