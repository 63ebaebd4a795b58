"""S1 and S2 corridor geometry and entry points (seed 000, CLINICAL.md section 2).

* **S1 corridor** per side X: ``C1`` = mean of ``S1_body_top``, ``S1_foramen_sup_L/R``;
  ``K_X`` = midpoint of ``SI_joint_ventral_sup_X`` and ``S1_foramen_sup_X``; the line
  ``C1 -> K_X`` extended laterally to where it leaves the outer iliac cortex, ``E_X``.
* **S2 corridor**: ``M_X`` = circumcentre of ``S1_foramen_inf_X``, ``S2_foramen_sup_X``,
  ``S2_body_ventral_X``; the axis ``M_R -> M_L`` moved dorsally (perpendicular to the axis
  in the axial plane) until it clears ``S2_body_ventral_mid`` by 7 mm; the probe runs
  between the two points where the extended axis leaves the bone.
* **Bone surface**: :func:`find_bone_exit`, the last exit before the skin
  (:func:`bonequality.imaging.rays.bone_exit` with ``last=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import AnalysisError, GeometryError, LandmarkError
from ..geometry import Line, circle_through, unit
from ..imaging.rays import bone_exit, first_sustained_run
from ..volume import Volume
from .options import CorridorOptions
from .probes import perp_frame

__all__ = [
    "S1Geometry",
    "S2Geometry",
    "c1_point",
    "find_bone_exit",
    "k_point",
    "s1_geometry",
    "s1_leg_entry",
    "s2_geometry",
]


def _body_end(hu: np.ndarray, air_hu: float, min_samples: int) -> int:
    """Index of the first sample outside the body: the start of the first run of at least
    ``min_samples`` samples below ``air_hu`` (the skin), else the first one outside the image."""
    inside = np.isfinite(hu)
    end = hu.size if inside.all() else int(np.argmin(inside))
    air = hu[:end] < air_hu
    k = first_sustained_run(air, min_samples, allow_truncated=False)
    return end if k < 0 else k


def find_bone_exit(
    volume: Volume,
    start,
    direction,
    *,
    threshold: float,
    min_run_mm: float = 5.0,
    air_hu: float = -400.0,
    step_mm: float = 0.25,
    must_pass=None,
    name: str = "ray",
    labels: tuple[str, ...] = (),
) -> np.ndarray:
    """Where a ray from inside the pelvis leaves the bone for good (LPS mm).

    A first-exit march stops too early here: with a cortical threshold the S1 body's
    cancellous bone, the alar void and the iliac interior are all "below threshold" for
    more than 5 mm. The exit is therefore the **last** bone -> non-bone transition before
    the body surface: the ray is sampled from ``start`` every ``step_mm`` until the first
    run of ``min_run_mm`` below ``air_hu`` (air; the skin) or the image edge; the exit is
    the threshold crossing (linear interpolation between samples) after the last sample
    at or above ``threshold``, which is followed by at least ``min_run_mm`` below it
    (:func:`bonequality.imaging.rays.bone_exit` with ``last=True``; a shorter stretch
    counts when the skin follows).

    Parameters
    ----------
    volume : Volume
        CT in HU.
    start, direction : (3,) float, LPS mm
    threshold : float, HU
    must_pass : (3,) float, optional
        A point the exit must lie beyond (e.g. ``K_X``); otherwise :class:`LandmarkError`.
    name : str
        Names the corridor in messages; ``labels`` are the landmarks blamed.

    Raises
    ------
    AnalysisError
        No bone along the ray, or still in bone at the image edge (never leaves bone).
    LandmarkError
        The exit lies before ``must_pass``.
    """
    start = np.asarray(start, dtype=float)
    d = unit(direction, name=f"{name} direction")
    lo, hi = volume.physical_bounds()
    t = np.arange(int(np.ceil(np.linalg.norm(hi - lo) / step_mm)) + 2) * step_mm
    hu = volume.sample(start + t[:, None] * d)
    skin = _body_end(hu, air_hu, int(np.ceil(min_run_mm / step_mm)))
    found = bone_exit(t, hu, threshold, min_run_mm=min_run_mm, search_to=skin, last=True)
    where = f"from LPS {np.round(start, 1).tolist()} towards {np.round(d, 2).tolist()}"
    if found is None:
        raise AnalysisError(
            f"{name}: no bone (>= {threshold:.0f} HU) along the corridor {where}; check "
            f"{', '.join(labels) or 'the landmarks'} and the bone threshold.",
        )
    if found.at_image_edge:
        raise AnalysisError(
            f"{name}: the corridor never leaves bone (>= {threshold:.0f} HU) inside the image {where}; "
            "the image must cover the whole pelvis, or check the landmarks and the bone threshold."
        )
    exit_point = start + found.t * d
    if must_pass is not None and (exit_point - np.asarray(must_pass)) @ d <= 0:
        raise LandmarkError(
            f"{name}: the corridor leaves the bone at LPS {np.round(exit_point, 1).tolist()}, before its "
            f"centre; check {', '.join(labels)} (misplaced?).",
            labels,
        )
    return exit_point


@dataclass(frozen=True)
class S1Geometry:
    """S1 corridor geometry (LPS mm): ``c1``, ``k`` and ``entry`` per side ``"L"``/``"R"``."""

    c1: np.ndarray
    k: dict
    entry: dict

    def to_dict(self) -> dict:
        return {
            "C1_lps": self.c1.tolist(),
            **{f"K_{s}_lps": self.k[s].tolist() for s in self.k},
            **{f"entry_{s}_lps": self.entry[s].tolist() for s in self.entry},
        }


@dataclass(frozen=True)
class S2Geometry:
    """S2 corridor geometry (LPS mm).

    Attributes
    ----------
    m : dict side -> (3,) circumcentre ``M_X``; ``radius``: side -> circle radius (mm)
    axis_point, axis_direction : (3,) the (possibly shifted) axis, direction right -> left
    clearance_before_mm, clearance_mm : distance of the axis from ``S2_body_ventral_mid``
        before and after the 7 mm rule
    ventral_shift_mm : dorsal shift applied (0 if none); ``moved`` : whether it was moved
    entry : dict side -> (3,) where the extended axis leaves the bone
    """

    m: dict
    radius: dict
    axis_point: np.ndarray
    axis_direction: np.ndarray
    clearance_before_mm: float
    clearance_mm: float
    ventral_shift_mm: float
    moved: bool
    entry: dict

    def to_dict(self) -> dict:
        return {
            **{f"M_{s}_lps": self.m[s].tolist() for s in self.m},
            **{f"circle_radius_{s}_mm": self.radius[s] for s in self.radius},
            "axis_point_lps": self.axis_point.tolist(),
            "axis_direction_lps": self.axis_direction.tolist(),
            "clearance_before_mm": self.clearance_before_mm,
            "clearance_mm": self.clearance_mm,
            "ventral_shift_mm": self.ventral_shift_mm,
            "moved": self.moved,
            **{f"entry_{s}_lps": self.entry[s].tolist() for s in self.entry},
        }


def c1_point(lm) -> np.ndarray:
    return (lm["S1_body_top"] + lm["S1_foramen_sup_L"] + lm["S1_foramen_sup_R"]) / 3.0


def k_point(lm, side: str) -> np.ndarray:
    return (lm[f"SI_joint_ventral_sup_{side}"] + lm[f"S1_foramen_sup_{side}"]) / 2.0


#: +1 for the patient's left (LPS +x), -1 for the right.
_SIDE_SIGN = {"L": 1.0, "R": -1.0}


def s1_leg_entry(volume, lm, side, threshold, opts) -> np.ndarray:
    """The entry point ``E_side``: where the line ``C1 -> K_side`` leaves the outer iliac cortex."""
    c1, k = c1_point(lm), k_point(lm, side)
    labels = (f"SI_joint_ventral_sup_{side}", f"S1_foramen_sup_{side}", "S1_body_top")
    d = unit(k - c1, name=f"S1 {side} corridor (C1 -> K_{side})")
    if d[0] * _SIDE_SIGN[side] <= 0:
        raise LandmarkError(
            f"S1 {side} corridor: its centre K_{side} is not on the patient's "
            f"{'left' if side == 'L' else 'right'} of the S1 body centre; check {', '.join(labels)} "
            "(left/right swapped?).",
            labels,
        )
    return find_bone_exit(
        volume,
        c1,
        d,
        threshold=threshold,
        min_run_mm=opts.min_run_mm,
        air_hu=opts.air_hu,
        must_pass=k,
        name=f"S1 {side} corridor",
        labels=labels,
    )


def s1_geometry(volume: Volume, landmarks, *, threshold: float, options: CorridorOptions | None = None):
    """S1 corridors: ``C1``, ``K_X`` and the entry points ``E_X`` (CLINICAL.md section 2)."""
    opts = options or CorridorOptions()
    entries = {}
    for side in ("L", "R"):
        entries[side] = s1_leg_entry(volume, landmarks, side, threshold, opts)
    return S1Geometry(c1_point(landmarks), {s: k_point(landmarks, s) for s in ("L", "R")}, entries)


def _dorsal_shift(line: Line, q: np.ndarray, clearance: float) -> tuple[float, np.ndarray]:
    """Dorsal shift (mm) and its unit direction so that ``line`` clears ``q`` by ``clearance``.

    The shift direction ``p`` is perpendicular to the axis in the axial plane, pointing
    posterior (+y). With ``r`` the perpendicular vector from the line to ``q``, the shifted
    line's distance is ``|r - s p|``; the smallest ``s >= 0`` giving ``clearance`` is
    ``s = r.p + sqrt((r.p)^2 - |r|^2 + clearance^2)``.
    """
    p, _ = perp_frame(line.direction)
    r = q - line.project(q)
    dist = float(np.linalg.norm(r))
    if dist >= clearance:
        return 0.0, p
    rp = float(r @ p)
    return rp + float(np.sqrt(max(rp * rp - dist * dist + clearance * clearance, 0.0))), p


def s2_geometry(volume: Volume, landmarks, *, threshold: float, options: CorridorOptions | None = None):
    """S2 corridor: circumcentres, the 7 mm ventral clearance rule and entry points."""
    opts = options or CorridorOptions()
    m, radius = {}, {}
    for side in ("L", "R"):
        names = (f"S1_foramen_inf_{side}", f"S2_foramen_sup_{side}", f"S2_body_ventral_{side}")
        try:
            circle = circle_through(*(landmarks[n] for n in names), names=names)
        except GeometryError as exc:  # collinear or coincident points: the user moves them
            raise LandmarkError(str(exc), names) from exc
        m[side], radius[side] = circle.center, circle.radius
    if (m["L"][0] - m["R"][0]) <= 0:
        raise LandmarkError(
            "S2 corridor: the left circumcentre M_L is not on the patient's left of M_R; check the S2 "
            "landmarks (left/right swapped?).",
            [f"{n}_{s}" for n in ("S1_foramen_inf", "S2_foramen_sup", "S2_body_ventral") for s in "LR"],
        )
    axis = Line.through(m["R"], m["L"], names=("M_R", "M_L"))
    q = np.asarray(landmarks["S2_body_ventral_mid"], dtype=float)
    before = float(axis.distance(q))
    p, _ = perp_frame(axis.direction)
    if before < opts.ventral_clearance_mm and float((q - axis.project(q)) @ p) > 0:
        raise LandmarkError(
            "S2 corridor: S2_body_ventral_mid lies dorsal to the S2 axis; it belongs on the ventral "
            "cortex of the S2 body (midline). Move it.",
            ["S2_body_ventral_mid"],
        )
    shift, p = _dorsal_shift(axis, q, opts.ventral_clearance_mm)
    point = (m["L"] + m["R"]) / 2.0 + shift * p
    shifted = Line(point, axis.direction)
    after = float(shifted.distance(q))
    entries = {}
    labels = tuple(f"{n}_{s}" for n in ("S1_foramen_inf", "S2_foramen_sup", "S2_body_ventral") for s in "LR")
    for side, sign in _SIDE_SIGN.items():
        entries[side] = find_bone_exit(
            volume,
            point,
            sign * axis.direction,
            threshold=threshold,
            min_run_mm=opts.min_run_mm,
            air_hu=opts.air_hu,
            must_pass=shifted.project(m[side]),
            name=f"S2 corridor ({'left' if side == 'L' else 'right'})",
            labels=labels,
        )
    return S2Geometry(m, radius, point, axis.direction, before, after, float(shift), shift > 0, entries)
