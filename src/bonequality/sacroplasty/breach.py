"""A target outside the envelope: one breach depth and the cortex it passed (seed 001 Fig. 3).

The breach depth is the shortest distance from the target to the envelope (LPS mm):
the nearest envelope boundary voxels are candidates, the straight line from the target
to each is sampled, the envelope surface on it is refined to the cortex's HU threshold
crossing where there is one within about a voxel
(:func:`~bonequality.sacroplasty.rays.refine_to_cortex`), and the shortest of these
distances is the depth. It is one number per side: every trajectory of that side reports
it, negative.

The cortex passed is named from the direction ``n`` from that surface point to the
target, against the side's mean needle direction ``d`` (posterior -> anterior):
``n · d >= 0.5`` the anterior cortex (the target lies beyond the sacrum, presacral),
``n · d <= -0.5`` the dorsal cortex (the target lies behind the sacrum); otherwise the
larger of ``n``'s cranio-caudal and left-right parts: superior (the S1 endplate or the
top of the ala), inferior, lateral (towards the SI joint) or medial (towards the canal
or a foramen).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import unit
from .rays import refine_to_cortex

__all__ = ["Breach", "cortex_passed", "measure_breach"]

#: Boundary voxels tried as the nearest point of the envelope.
CANDIDATES = 12


@dataclass(frozen=True)
class Breach:
    """How far outside the envelope a target lies.

    Attributes
    ----------
    depth_mm : float
        Shortest distance to the envelope (positive); NaN when the envelope is not near.
    point_lps : (3,) float or None, LPS mm
        The envelope surface point nearest to the target.
    cortex : str
        The cortex passed (module docstring), ``"unknown"`` without a point.
    """

    depth_mm: float
    point_lps: np.ndarray | None
    cortex: str


def cortex_passed(normal: np.ndarray, mean_direction: np.ndarray, side: str) -> str:
    """Name of the cortex between the envelope and a target at unit ``normal`` from it (module docstring)."""
    c = float(normal @ mean_direction)
    if c >= 0.5:
        return "anterior sacral cortex"
    if c <= -0.5:
        return "dorsal sacral cortex"
    if abs(normal[2]) >= abs(normal[0]):
        return "superior cortex (S1 endplate or top of the ala)" if normal[2] > 0 else "inferior cortex"
    lateral = (normal[0] > 0) == (side == "left")  # LPS x points to the patient's left
    return "lateral cortex (towards the SI joint)" if lateral else "medial cortex (towards the canal)"


def measure_breach(
    envelope,
    ct,
    target: np.ndarray,
    mean_direction: np.ndarray,
    side: str,
    threshold: float,
    *,
    window_mm: float,
    step_mm: float,
) -> Breach:
    """The breach depth of ``target`` (outside ``envelope``) and the cortex passed (module docstring).

    Parameters
    ----------
    envelope : Envelope
    ct : Volume
        The CT (float copy), for the threshold crossing.
    target : (3,) float, LPS mm
    mean_direction : (3,) float
        Unit mean needle direction of the side.
    side : str
        ``"left"`` or ``"right"``.
    threshold : float, HU
    window_mm, step_mm : float
        Refinement window (about one voxel) and sampling step along each line.
    """
    cands = envelope.nearest_boundary(target, k=CANDIDATES)
    if cands.shape[0] == 0:
        return Breach(np.nan, None, "unknown")
    best, best_u = np.inf, None
    reach = float(np.max(np.linalg.norm(cands - target, axis=1))) + 2.0 * window_mm
    t = np.arange(0.0, reach + step_mm, step_mm)
    dirs = np.array([unit(p - target) for p in cands])
    pts = target + t[None, :, None] * dirs[:, None, :]
    inside = envelope.sample(pts)
    hu = ct.sample(pts)
    for r in range(dirs.shape[0]):
        hit = np.flatnonzero(inside[r] >= 0.5)
        if not hit.size:
            continue
        e = int(hit[0])
        a, b = float(inside[r, e - 1]), float(inside[r, e])
        t_env = float(t[e - 1] + (0.5 - a) / (b - a) * (t[e] - t[e - 1])) if e > 0 and a != b else float(t[e])
        d = refine_to_cortex(t, hu[r], t_env, threshold, window_mm, outward=False)
        if 0.0 < d < best:
            best, best_u = d, dirs[r]
    if best_u is None:
        return Breach(np.nan, None, "unknown")
    return Breach(float(best), target + best * best_u, cortex_passed(best_u * -1.0, mean_direction, side))
