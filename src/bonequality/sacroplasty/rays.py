"""Along one needle: anterior cortex, skin, dorsal bone entry and low-HU gaps (CLINICAL.md 3).

The 1-D rules are those of :mod:`bonequality.imaging.rays`; the anterior cortex is
:func:`~bonequality.imaging.rays.bone_exit` (first mode) from the first bone in front of
the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import unit
from ..imaging.rays import bone_exit, clip_to_image, close_gaps, crossing, first_sustained_run, runs
from .options import ANTERIOR, SacroplastyOptions

__all__ = ["RayMeasures", "analyse_ray", "lr_line_in_bone", "sample_rays"]


@dataclass(frozen=True)
class RayMeasures:
    """What one sampled needle ray shows, as ray parameters (mm from the target, + = anterior).

    Attributes
    ----------
    in_bone : bool
        Bone within ``max_marrow_mm`` in front of the target.
    cortex_t : float
        Anterior cortex (positive) or, for a target outside the bone, the outer surface of
        the last bone behind it (negative); NaN when not found.
    cortex_at_image_edge : bool
        Still in bone where the ray leaves the image (``cortex_t`` is NaN).
    skin_t : float
        Skin entry (negative).
    skin_at_image_edge : bool
        The skin is not inside the image; ``skin_t`` is where the ray leaves it.
    entry_t : float
        Dorsal bone entry; NaN when no bone lies between the skin and the target.
    gaps : tuple of (float, float)
        Low-HU gaps between the dorsal bone entry and the target.
    """

    in_bone: bool
    cortex_t: float
    cortex_at_image_edge: bool
    skin_t: float
    skin_at_image_edge: bool
    entry_t: float
    gaps: tuple[tuple[float, float], ...]


def sample_rays(volume, starts: np.ndarray, dirs: np.ndarray, options: SacroplastyOptions):
    """Sample rays ``starts + t * dirs`` on one shared grid of ``t``; outside = NaN.

    Returns ``(t, i0, hu)``: the parameters (mm), the index of ``t = 0`` and the ``(R, n)``
    samples.
    """
    o = options
    t0, t1 = clip_to_image(volume, starts, dirs, -o.max_back_mm, o.max_forward_mm)
    k0 = int(np.floor(np.min(t0) / o.step_mm)) - 1
    k1 = int(np.ceil(np.max(t1) / o.step_mm)) + 1
    t = np.arange(k0, k1 + 1) * o.step_mm
    pts = starts[:, None, :] + t[None, :, None] * dirs[:, None, :]
    return t, -k0, volume.sample(pts)


def _cortex(t, i0, hu, bone, threshold, o: SacroplastyOptions) -> tuple[bool, float, bool]:
    """``(in bone, cortex t, at image edge)``: the exit in front, or the breach distance behind."""
    n_marrow = int(np.ceil(o.max_marrow_mm / o.step_mm))
    ahead = np.flatnonzero(bone[i0 : i0 + n_marrow + 1])
    if ahead.size:
        ex = bone_exit(t, hu, threshold, min_run_mm=o.min_exit_run_mm, search_from=i0 + int(ahead[0]))
        if ex.at_image_edge:
            return True, np.nan, True
        return True, ex.t, False
    closed = close_gaps(bone, int(np.ceil(o.min_exit_run_mm / o.step_mm)))
    behind = np.flatnonzero(closed[:i0])
    if behind.size:
        b = int(behind[-1])
        return False, crossing(t, hu, b, b + 1, threshold), False
    return False, np.nan, False


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


def _entry_and_gaps(t, i0, hu, bone, i_tissue, threshold, o: SacroplastyOptions):
    """Dorsal bone entry (first bone from the skin towards the target) and the low-HU gaps after it."""
    first = np.flatnonzero(bone[i_tissue : i0 + 1])
    if not first.size:
        return np.nan, ()
    f = i_tissue + int(first[0])
    entry_t = crossing(t, hu, f, f - 1, threshold) if f > 0 else float(t[f])
    gap_hu = min(threshold, 100.0) if o.gap_hu is None else o.gap_hu
    low = np.isfinite(hu[f : i0 + 1]) & (hu[f : i0 + 1] < gap_hu)
    starts, ends = runs(low)
    min_len = int(np.ceil(o.gap_min_mm / o.step_mm))
    gaps = tuple(
        (float(t[f + s]), float(t[f + e - 1]))
        for s, e in zip(starts, ends)
        if s > 0 and f + e < i0 and e - s >= min_len
    )
    return entry_t, gaps


def analyse_ray(t, i0: int, hu: np.ndarray, threshold: float, options: SacroplastyOptions) -> RayMeasures:
    """Measure one ray sampled at ``t`` (``t[i0] = 0`` at the target) with the bone threshold (HU)."""
    bone = np.isfinite(hu) & (hu >= threshold)
    in_bone, cortex_t, cortex_edge = _cortex(t, i0, hu, bone, threshold, options)
    skin_t, skin_edge, i_tissue = _skin(t, i0, hu, options)
    entry_t, gaps = _entry_and_gaps(t, i0, hu, bone, i_tissue, threshold, options)
    return RayMeasures(in_bone, float(cortex_t), cortex_edge, float(skin_t), skin_edge, float(entry_t), gaps)


def lr_line_in_bone(volume, a: np.ndarray, b: np.ndarray, threshold: float, options: SacroplastyOptions):
    """``(ok, message)``: whether the segment between the targets stays inside the sacrum.

    With the same rule as for the targets, a point of the segment is inside when bone
    (>= threshold) lies within ``max_marrow_mm`` anterior of it (``-y``); the segment
    leaves the sacrum where at least 2 mm in a row fail that test (presacral soft
    tissue, an anterior neural foramen). Sampled every 1 mm, 0.5 mm along each AP ray.
    """
    o = options
    d = unit(b - a, name="the line between the two targets")
    length = float(np.linalg.norm(b - a))
    t = np.arange(0.0, length + 0.5, 1.0)
    s = np.arange(0.0, o.max_marrow_mm + 0.25, 0.5)
    pts = (a + t[:, None] * d)[:, None, :] + s[None, :, None] * ANTERIOR
    hu = volume.sample(pts)
    inside = np.any(np.isfinite(hu) & (hu >= threshold), axis=1)
    starts, ends = runs(~inside)
    for s_, e_ in zip(starts, ends):
        if e_ - s_ >= 2:
            return False, (
                "the left-right line between the two targets leaves the sacrum for about "
                f"{e_ - s_:.0f} mm from LPS {np.round(a + t[s_] * d, 1).tolist()} (no bone within "
                f"{o.max_marrow_mm:.0f} mm in front of it); check the targets on the images."
            )
    return True, ""
