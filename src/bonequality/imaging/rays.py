"""Rays through a CT: sampling, runs, and the one rule for where a ray leaves bone.

CLINICAL.md section 2, "Bone surface": a ray has left the bone where HU falls below the
bone threshold and stays below it for at least ``min_run_mm`` (5 mm by default); shorter
low-HU stretches between bone (marrow spaces, a thin fracture line) count as inside.
:func:`bone_exit` is that rule, on a ray already sampled at parameters ``t`` (mm along
the ray). Which bone the exit belongs to is the caller's choice of ``search_from``/
``search_to`` and ``last``:

* the screw corridors want the **last** exit before the skin (an entry point on the outer
  iliac cortex, past the alar void and the iliac marrow);
* sacroplasty wants the **first** exit in front of a target (the anterior sacral cortex).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RayExit", "bone_exit", "clip_to_image", "close_gaps", "crossing", "first_sustained_run", "runs"]


@dataclass(frozen=True)
class RayExit:
    """Where a sampled ray leaves bone.

    Attributes
    ----------
    t : float
        Ray parameter (mm) of the threshold crossing, interpolated between the last bone
        sample and the first sample below the threshold.
    index : int
        The first sample below the threshold (``index - 1`` is the last bone sample).
    at_image_edge : bool
        The ray leaves the image while still in bone (``t`` is then the image edge, and the
        exit is unknown).
    """

    t: float
    index: int
    at_image_edge: bool = False


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the True runs of a 1-D mask."""
    d = np.diff(np.concatenate(([False], np.asarray(mask, dtype=bool), [False])).astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def close_gaps(bone: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of False shorter than ``max_gap`` samples that have bone on both sides."""
    closed = np.array(bone, dtype=bool, copy=True)
    starts, ends = runs(~closed)
    for s, e in zip(starts, ends):
        if s > 0 and e < closed.size and e - s < max_gap:
            closed[s:e] = True
    return closed


def crossing(t: np.ndarray, hu: np.ndarray, i_in: int, i_out: int, level: float) -> float:
    """Parameter where HU crosses ``level`` between samples ``i_in`` (above) and ``i_out`` (below).

    Linear interpolation; the midpoint when the outer sample is not finite (outside the
    image) or both samples are equal.
    """
    h0, h1 = hu[i_in], hu[i_out]
    if not np.isfinite(h1) or h0 == h1:
        return float(t[i_in] + 0.5 * (t[i_out] - t[i_in]))
    frac = float(np.clip((h0 - level) / (h0 - h1), 0.0, 1.0))
    return float(t[i_in] + frac * (t[i_out] - t[i_in]))


def first_sustained_run(below: np.ndarray, min_samples: int, *, allow_truncated: bool = True) -> int:
    """Index of the first sample that starts a run of at least ``min_samples`` True values.

    A run cut off by the end of the array counts when ``allow_truncated`` is True.
    Returns -1 if there is none.
    """
    below = np.asarray(below, dtype=bool)
    n = below.size
    if n == 0:
        return -1
    min_samples = max(1, int(min_samples))
    idx = np.arange(n)
    # Length of the run of True starting at each index (reverse cumulative count).
    last_reset = np.maximum.accumulate(np.where(~below[::-1], idx, -1))
    run = (idx - last_reset)[::-1]
    ok = run >= min_samples
    if allow_truncated:
        ok |= below & (run == (n - idx))
    hits = np.flatnonzero(ok)
    return int(hits[0]) if hits.size else -1


def bone_exit(
    t: np.ndarray,
    hu: np.ndarray,
    threshold: float,
    *,
    min_run_mm: float = 5.0,
    search_from: int = 0,
    search_to: int | None = None,
    last: bool = False,
) -> RayExit | None:
    """Where a sampled ray leaves bone for good (CLINICAL.md section 2, "Bone surface").

    Parameters
    ----------
    t : (n,) float, mm
        Ray parameters of the samples, evenly spaced and increasing.
    hu : (n,) float, HU
        Samples; NaN outside the image.
    threshold : float, HU
        Bone is ``hu >= threshold``.
    min_run_mm : float
        The ray has left the bone only where it stays below the threshold this long.
    search_from, search_to : int
        Sample range searched (``search_to`` exclusive; default the whole ray). The
        exit follows bone at or after ``search_from``; a run that reaches ``search_to``
        (for example the skin) counts as sustained.
    last : bool
        False: the first exit after the first bone sample in the range. True: the exit
        after the last bone sample in the range.

    Returns
    -------
    RayExit or None
        None when there is no bone in the range. ``at_image_edge`` is set when the ray is
        still in bone where it leaves the image.
    """
    hu = np.asarray(hu, dtype=float)
    n = hu.size if search_to is None else min(int(search_to), hu.size)
    step = float(t[1] - t[0]) if len(t) > 1 else 1.0
    min_samples = max(1, int(np.ceil(min_run_mm / step - 1e-9)))
    inside = np.isfinite(hu)
    bone = inside & (hu >= threshold)
    hits = np.flatnonzero(bone[search_from:n]) + search_from
    if hits.size == 0:
        return None
    if last:
        e = int(hits[-1]) + 1
        range_ends_in_image = n < hu.size and inside[n]  # e.g. at the skin
        if e + min_samples > n and not range_ends_in_image:
            return RayExit(float(t[min(e, hu.size - 1)]), e, at_image_edge=True)
    else:
        k = first_sustained_run(~bone[int(hits[0]) : n], min_samples)
        if k < 0:
            return RayExit(float(t[n - 1]), n, at_image_edge=True)
        e = int(hits[0]) + k
    if e >= hu.size or not inside[e]:
        # Left the image still in bone: the exit is not seen.
        return RayExit(float(t[min(e, hu.size - 1)]), e, at_image_edge=True)
    return RayExit(crossing(t, hu, e - 1, e, threshold), e)


def clip_to_image(volume, points: np.ndarray, direction: np.ndarray, lo: float, hi: float):
    """Parameter interval ``[t0, t1]`` (within ``[lo, hi]``) of lines inside the image grid.

    Parameters
    ----------
    volume : Volume
    points, direction : (R, 3) float, LPS mm
        Lines ``points + t * direction``; slab clipping in continuous index space.
    lo, hi : float
        Parameter bounds. A line whose point is inside the image keeps ``t = 0``.
    """
    p = volume.physical_to_index(points)
    d = (direction @ volume.direction) / volume.spacing
    n = np.asarray(volume.shape_ijk, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (-0.5 - p) / d
        b = (n - 0.5 - p) / d
    t_in = np.where(d != 0, np.minimum(a, b), -np.inf)
    t_out = np.where(d != 0, np.maximum(a, b), np.inf)
    inside_now = np.all((p >= -0.5) & (p <= n - 0.5), axis=1)
    t0 = np.maximum(np.max(t_in, axis=1), lo)
    t1 = np.minimum(np.min(t_out, axis=1), hi)
    t0 = np.where(inside_now, np.minimum(t0, 0.0), t0)
    t1 = np.where(inside_now, np.maximum(t1, 0.0), t1)
    return t0, t1
