"""Along one needle: where it leaves the envelope, the skin, the dorsal bone entry, low-HU gaps.

The envelope (:mod:`bonequality.imaging.envelope`) decides what is inside the sacrum;
HU decide where exactly its surface is and what the needle crosses on its way in. The
1-D helpers are those of :mod:`bonequality.imaging.rays`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..imaging.rays import clip_to_image, crossing, first_sustained_run, runs
from .options import SacroplastyOptions

__all__ = ["RayMeasures", "analyse_ray", "envelope_exit", "refine_to_cortex", "sample_rays"]


@dataclass(frozen=True)
class RayMeasures:
    """What one sampled needle ray shows, as ray parameters (mm from the target, + = anterior).

    Attributes
    ----------
    exit_t : float
        Where the ray leaves the envelope in front of a target inside it, at the outer
        surface of the cortex there (positive); NaN for a target outside the envelope or
        when the ray leaves the image (or the envelope's region) still inside.
    exit_at_image_edge : bool
        The ray is still inside the envelope where the image or the envelope's region ends.
    cortex_crossed : bool
        A sample at or above the bone threshold lies between the target and the exit: the
        envelope ends at a visible cortex there, not at a bridged gap.
    skin_t : float
        Skin entry (negative).
    skin_at_image_edge : bool
        The skin is not inside the image; ``skin_t`` is where the ray leaves it.
    entry_t : float
        Dorsal bone entry; NaN when no bone lies between the skin and the target.
    gaps : tuple of (float, float)
        Low-HU gaps between the dorsal bone entry and the target.
    """

    exit_t: float
    exit_at_image_edge: bool
    cortex_crossed: bool
    skin_t: float
    skin_at_image_edge: bool
    entry_t: float
    gaps: tuple[tuple[float, float], ...]


def sample_rays(volume, envelope, starts: np.ndarray, dirs: np.ndarray, options: SacroplastyOptions):
    """Sample CT and envelope along ``starts + t * dirs`` on one shared grid of ``t``.

    Returns ``(t, i0, hu, inside)``: the parameters (mm), the index of ``t = 0``, the
    ``(R, n)`` HU (NaN outside the image) and envelope values (0-1, 0 outside its grid).
    """
    o = options
    t0, t1 = clip_to_image(volume, starts, dirs, -o.max_back_mm, o.max_forward_mm)
    k0 = int(np.floor(np.min(t0) / o.step_mm)) - 1
    k1 = int(np.ceil(np.max(t1) / o.step_mm)) + 1
    t = np.arange(k0, k1 + 1) * o.step_mm
    pts = starts[:, None, :] + t[None, :, None] * dirs[:, None, :]
    return t, -k0, volume.sample(pts), envelope.sample(pts)


def envelope_exit(t, inside, i0: int) -> tuple[float, int]:
    """``(t, index)`` where ``inside`` (0-1) first falls below 0.5 after ``i0``; ``(NaN, -1)`` if never.

    The crossing is interpolated linearly between the last inside and the first outside sample.
    """
    out = np.flatnonzero(inside[i0 + 1 :] < 0.5)
    if not out.size:
        return np.nan, -1
    e = i0 + 1 + int(out[0])
    a, b = float(inside[e - 1]), float(inside[e])
    frac = (a - 0.5) / (a - b) if a != b else 0.5
    return float(t[e - 1] + frac * (t[e] - t[e - 1])), e


def refine_to_cortex(t, hu, t_env: float, threshold: float, window_mm: float, *, outward: bool = True):
    """The HU threshold crossing of a cortex nearest to ``t_env`` within ``window_mm``, else ``t_env``.

    ``outward``: crossings from bone (>= threshold) to below it with increasing ``t`` (a ray
    leaving bone); otherwise from below to bone (a ray arriving at bone).
    """
    finite = np.isfinite(hu)
    bone = finite & (hu >= threshold)
    if outward:
        idx = np.flatnonzero(bone[:-1] & ~bone[1:] & finite[1:])
        cand = [crossing(t, hu, i, i + 1, threshold) for i in idx if abs(t[i] - t_env) <= window_mm + 1]
    else:
        idx = np.flatnonzero(~bone[:-1] & finite[:-1] & bone[1:])
        cand = [crossing(t, hu, i + 1, i, threshold) for i in idx if abs(t[i] - t_env) <= window_mm + 1]
    cand = [c for c in cand if abs(c - t_env) <= window_mm]
    return min(cand, key=lambda c: abs(c - t_env)) if cand else float(t_env)


def _exit(t, i0, hu, inside, threshold, window_mm: float) -> tuple[float, bool, bool]:
    """``(exit t, at image edge, cortex crossed)`` for a target inside the envelope."""
    t_env, e = envelope_exit(t, inside, i0)
    if e < 0 or not np.isfinite(hu[e]):
        return np.nan, True, False
    exit_t = refine_to_cortex(t, hu, t_env, threshold, window_mm)
    if exit_t <= 0:
        exit_t = t_env
    stop = np.searchsorted(t, exit_t + window_mm, side="right")
    seg = hu[i0:stop]
    return exit_t, False, bool(np.any(np.isfinite(seg) & (seg >= threshold)))


def _skin(t, i0, hu, o: SacroplastyOptions) -> tuple[float, bool, int]:
    """``(skin t, at image edge, index of the first tissue sample)``: sustained air behind the target."""
    air = ~np.isfinite(hu) | (hu < o.air_hu)
    k = first_sustained_run(air[: i0 + 1][::-1], int(np.ceil(o.min_air_run_mm / o.step_mm)))
    if k < 0:
        return float(t[0]), True, 0
    i_air = i0 - k
    i_tissue = min(i_air + 1, i0)
    if not np.isfinite(hu[i_air]):
        return float(t[i_tissue]), True, i_tissue
    return crossing(t, hu, i_air + 1, i_air, o.air_hu), False, i_tissue


def _entry_and_gaps(t, i0, hu, inside, i_tissue, threshold, o: SacroplastyOptions, outside_only: bool):
    """Dorsal bone entry (first bone from the skin towards the target) and the low-HU gaps after it.

    Bone is HU at or above the threshold; where no such sample lies between the skin and
    the target, the entry is where the ray enters the envelope (a dorsal cortex below the
    threshold), and NaN when it does not enter it either. With ``outside_only`` (a sacrum
    mask, which leaves out the canal and the foramina) a gap must leave the envelope:
    a low-HU stretch inside the mask is marrow.
    """
    first = np.flatnonzero(np.isfinite(hu[i_tissue : i0 + 1]) & (hu[i_tissue : i0 + 1] >= threshold))
    if first.size:
        f = i_tissue + int(first[0])
        entry_t = crossing(t, hu, f, f - 1, threshold) if f > 0 else float(t[f])
    else:
        first = np.flatnonzero(inside[i_tissue : i0 + 1] >= 0.5)
        if not first.size:
            return np.nan, ()
        f = i_tissue + int(first[0])
        entry_t = float(t[f])
    gap_hu = min(threshold, 100.0) if o.gap_hu is None else o.gap_hu
    low = np.isfinite(hu[f : i0 + 1]) & (hu[f : i0 + 1] < gap_hu)
    starts, ends = runs(low)
    min_len = int(np.ceil(o.gap_min_mm / o.step_mm))
    gaps = tuple(
        (float(t[f + s]), float(t[f + e - 1]))
        for s, e in zip(starts, ends)
        if s > 0
        and f + e < i0
        and e - s >= min_len
        and not (outside_only and inside[f + s : f + e].min() >= 0.5)
    )
    return entry_t, gaps


def analyse_ray(
    t,
    i0: int,
    hu,
    inside,
    threshold: float,
    options: SacroplastyOptions,
    *,
    window_mm: float,
    gaps_outside_only: bool = False,
) -> RayMeasures:
    """Measure one ray sampled at ``t`` (``t[i0] = 0`` at the target).

    Parameters
    ----------
    hu, inside : (n,) float
        CT (HU, NaN outside the image) and envelope (0-1) samples.
    threshold : float, HU
    window_mm : float
        How far from the envelope's surface a cortex's threshold crossing is sought (about
        one voxel).
    gaps_outside_only : bool
        Report only low-HU gaps that leave the envelope (a sacrum mask).
    """
    if inside[i0] >= 0.5:
        exit_t, edge, crossed = _exit(t, i0, hu, inside, threshold, window_mm)
    else:
        exit_t, edge, crossed = np.nan, False, False
    skin_t, skin_edge, i_tissue = _skin(t, i0, hu, options)
    entry_t, gaps = _entry_and_gaps(t, i0, hu, inside, i_tissue, threshold, options, gaps_outside_only)
    return RayMeasures(float(exit_t), edge, crossed, float(skin_t), skin_edge, float(entry_t), gaps)
