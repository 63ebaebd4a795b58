"""Trilinear interpolation of a 3-D array at continuous indices, in plain numpy.

``scipy.ndimage.map_coordinates(order=1, mode="nearest")`` goes through the general spline
machinery one point at a time; for the corridor probes (hundreds of thousands of points
per landmark move) gathering the eight neighbours with ``numpy.take`` is about twice as
fast. The result is the same: indices are clamped to the grid (``mode="nearest"``) and the
weights are the products of the fractional parts. Property-tested against scipy in
``Testing/test_interpolation.py``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["trilinear"]


def _axis(row: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(lower index, fraction, step to the upper neighbour)`` along one axis of size ``n``."""
    if n == 1:
        return np.zeros(row.shape, dtype=np.intp), np.zeros(row.shape), 0
    c = np.clip(row, 0.0, n - 1.0)
    lower = np.minimum(c.astype(np.intp), n - 2)  # c >= 0, so astype floors
    return lower, c - lower, 1


def trilinear(data: np.ndarray, coords: np.ndarray) -> np.ndarray | None:
    """Values of ``data`` (``[k, j, i]``) at ``coords`` (``(3, n)``: k, j, i rows), as float64.

    Returns None when ``data`` is not C-contiguous (the caller falls back to scipy rather
    than copy a whole CT). Non-finite voxels propagate as they do in scipy only where no
    neighbour weight is zero; callers that may hold them use scipy for those points.
    """
    if not data.flags.c_contiguous:
        return None
    flat = data.reshape(-1)
    nk, nj, ni = data.shape
    (k0, fk, dk), (j0, fj, dj), (i0, fi, di) = (_axis(coords[a], n) for a, n in enumerate((nk, nj, ni)))
    base = k0 * (nj * ni)
    base += j0 * ni
    base += i0
    sk, sj, si = dk * nj * ni, dj * ni, di

    def at(offset: int) -> np.ndarray:
        return np.take(flat, base + offset if offset else base).astype(np.float64, copy=False)

    def lerp(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> np.ndarray:
        b -= a
        b *= f
        b += a
        return b

    lo_k = lerp(lerp(at(0), at(si), fi), lerp(at(sj), at(sj + si), fi), fj)
    hi_k = lerp(lerp(at(sk), at(sk + si), fi), lerp(at(sk + sj), at(sk + sj + si), fi), fj)
    return lerp(lo_k, hi_k, fk)
