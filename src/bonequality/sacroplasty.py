"""Sacroplasty needle planning from the corners of S1 (seed 001, CLINICAL.md section 3).

Seed 001 (a landmark for fluoroscopically guided sacroplasty) defines the needle target
on the lateral view as the crossing of two lines drawn between the corners of the first
sacral segment, and measures how far the anterior sacral cortex lies beyond that target
along three needle trajectories, each turned medio-laterally to run parallel to the
sacroiliac joint.

Definitions implemented here (all coordinates LPS millimetres; ``x`` = patient left,
``y`` = posterior, ``z`` = superior; "anterior" is ``-y``):

* Line A runs ``S1_corner_PS -> S1_corner_AI``, line B ``S1_corner_AS -> S1_corner_PI``.
  The midsagittal target ``T`` is the midpoint of their common perpendicular
  (:func:`bonequality.geometry.closest_points`); its length is the *skew gap*.
* The side target ``T_X`` keeps the ``y`` (AP) and ``z`` (CC) of ``T``; its ``x`` (LR) is
  the middle of the ala, midway between ``S1_foramen_sup_X`` and ``SI_joint_ventral_sup_X``.
  A placed ``sacroplasty_target_X`` replaces it.
* Each trajectory has a *sagittal direction* ``s`` (its lateral-view, i.e. ``y-z``, part):
  ``disc_parallel`` = ``S1_corner_PS -> S1_corner_AS``; ``axial`` = ``(0, -1, 0)``;
  ``long_axis`` = ``S3_body_center ->`` the mean of the four corners. The side's *joint
  direction* ``j`` is ``SI_joint_dorsal_X -> SI_joint_ventral_sup_X`` projected on the
  axial plane (its ``x-y`` part). The needle direction is the unique direction whose
  sagittal projection is parallel to ``s`` and whose axial projection is parallel to
  ``j``: ``d ∝ (s_y * j_x / j_y, s_y, s_z)`` (both ``s_y`` and ``j_y`` point anterior,
  so the factor ``s_y / j_y`` is positive). This is how the needle is set up under
  fluoroscopy: the cranio-caudal angle on the lateral view, parallel to the joint on the
  axial view. All three trajectories of one side therefore lie in one plane, the
  sagittal-oblique plane through ``T_X`` spanned by ``j`` and ``z`` (seed 001 Fig. 1C),
  which :func:`reformat_along_joint` samples.
* Along each trajectory (the line through ``T_X`` with direction ``d``) the CT is sampled
  every ``step_mm`` and classified with the bone threshold. As in CLINICAL.md section 2
  ("Bone surface"), the ray has left the bone only where HU stays below the threshold for
  at least ``min_exit_run_mm``; shorter low-HU stretches between bone count as inside.
  ``T_X`` is *in bone* when the ray meets bone within ``max_marrow_mm`` (30 mm) in front
  of it: ala marrow is often fatty and below any bone threshold, so the target itself
  may read -30 HU although it lies inside the ala. The *anterior cortex* is where the ray
  then leaves that bone (threshold crossing interpolated between samples); the distance
  is positive. For a target with no bone in front of it (presacral soft tissue) the
  distance is measured back to the outer surface of the last bone behind it and is
  negative: a breach (seed 001 Fig. 3). A target behind the sacrum would wrongly count
  as inside; the landmarks (S1 corners) rule that out in practice.
* The *skin entry* is the first tissue -> air crossing (``air_hu``, default -500 HU,
  air sustained >= ``min_air_run_mm``) behind ``T_X``; the *dorsal bone entry* is the
  first bone sample met from the skin towards the target; the *needle depth* is
  ``|T_X - skin|``.
* A *low-HU gap* (neural foramen or sacral canal crossed before the target) is a run of
  at least ``gap_min_mm`` below ``gap_hu`` strictly between the dorsal bone entry and the
  target, with denser tissue on both sides.

Categories follow seed 001 Table 1: ``"<3 mm"``, ``"3-10 mm"``, ``">10 mm"`` (negative
distances are ``"<3 mm"``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .errors import GeometryError, LandmarkError
from .geometry import Line, closest_points, first_sustained_run, unit
from .landmarks import Landmarks

log = logging.getLogger(__name__)

__all__ = [
    "CORNERS",
    "REFERENCE",
    "SIDES",
    "TRAJECTORIES",
    "Reformat",
    "SacroplastyOptions",
    "SacroplastyPlan",
    "SacroplastyPlanner",
    "SideResult",
    "TrajectoryResult",
    "TrajectorySpec",
    "category",
    "estimate_bone_threshold",
    "plan_sacroplasty",
    "reformat_along_joint",
    "reformat_midsagittal",
    "reformat_plane",
    "required_sacroplasty_labels",
]

#: The four S1 corners on the midsagittal plane.
CORNERS = ("S1_corner_PS", "S1_corner_AS", "S1_corner_PI", "S1_corner_AI")
#: Side key -> label suffix.
SIDES = {"left": "L", "right": "R"}
_ANTERIOR = np.array([0.0, -1.0, 0.0])

#: Seed 001 Table 1 (200 hemisacra): mean, SD (mm) and % of < 3 / 3-10 / > 10 mm.
REFERENCE: dict[str, dict] = {
    "disc_parallel": {"mean_mm": 11.3, "sd_mm": 4.6, "percent_by_category": (3.5, 61.5, 35.0)},
    "axial": {"mean_mm": 11.1, "sd_mm": 9.2, "percent_by_category": (4.0, 69.0, 27.0)},
    "long_axis": {"mean_mm": 12.8, "sd_mm": 5.2, "percent_by_category": (3.5, 58.5, 38.0)},
}

#: Category bins of seed 001 Table 1 as CLINICAL.md writes them (< 3 mm, 3-10 mm, > 10 mm):
#: (upper bound mm, whether the bound belongs to the bin, label).
CATEGORIES = ((3.0, False, "<3 mm"), (10.0, True, "3-10 mm"), (np.inf, True, ">10 mm"))


def category(distance_mm: float) -> str:
    """Seed 001 Table 1 bin of a target-to-cortex distance (``"unknown"`` for NaN)."""
    if not np.isfinite(distance_mm):
        return "unknown"
    return next(
        label
        for upper, inclusive, label in CATEGORIES
        if distance_mm < upper or (inclusive and distance_mm == upper)
    )


# ---------------------------------------------------------------------------- trajectories
def _s1_centre(lm: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.mean([lm[c] for c in CORNERS], axis=0)


@dataclass(frozen=True)
class TrajectorySpec:
    """One needle trajectory of seed 001: its key, title and sagittal (lateral-view) direction.

    ``sagittal(landmarks)`` returns an LPS vector whose ``y-z`` part is the direction on
    the lateral view; ``labels`` name the landmarks it depends on (for error messages).
    """

    key: str
    title: str
    sagittal: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    labels: tuple[str, ...]


TRAJECTORIES: tuple[TrajectorySpec, ...] = (
    TrajectorySpec(
        "disc_parallel",
        "1: parallel to the L5-S1 disc",
        lambda lm: lm["S1_corner_AS"] - lm["S1_corner_PS"],
        ("S1_corner_PS", "S1_corner_AS"),
    ),
    TrajectorySpec("axial", "2: axial", lambda lm: _ANTERIOR.copy(), ()),
    TrajectorySpec(
        "long_axis",
        "3: along the sacral long axis",
        lambda lm: _s1_centre(lm) - lm["S3_body_center"],
        ("S3_body_center", *CORNERS),
    ),
)


def _has(landmarks: Mapping[str, object], label: str) -> bool:
    # Iterate rather than use ``in``: Landmarks.__getitem__ raises LandmarkError (not KeyError)
    # for absent labels, which Mapping.__contains__ does not catch.
    return label in set(landmarks)


def required_sacroplasty_labels(landmarks: Mapping[str, object] | None = None) -> tuple[str, ...]:
    """Labels the planner needs; ``S1_foramen_sup_X`` only when ``sacroplasty_target_X`` is absent."""
    labels = [*CORNERS, "S3_body_center"]
    for s in SIDES.values():
        labels += [f"SI_joint_dorsal_{s}", f"SI_joint_ventral_sup_{s}"]
        if landmarks is None or not _has(landmarks, f"sacroplasty_target_{s}"):
            labels.append(f"S1_foramen_sup_{s}")
    return tuple(labels)


def _needle_direction(sagittal: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Unit ``d`` with sagittal (y-z) projection ∥ ``sagittal`` and axial (x-y) projection ∥ ``joint``."""
    return unit(np.array([sagittal[1] * joint[0] / joint[1], sagittal[1], sagittal[2]]))


# ---------------------------------------------------------------------------- results
def _lps(p) -> list[float] | None:
    return None if p is None else [float(v) for v in np.asarray(p, dtype=float)]


@dataclass(frozen=True)
class TrajectoryResult:
    """One side x trajectory.

    Attributes
    ----------
    key : str
        ``"disc_parallel"``, ``"axial"`` or ``"long_axis"``.
    direction : (3,) float
        Unit needle direction, LPS, pointing posterior -> anterior.
    distance_to_anterior_cortex_mm : float
        From the target forward to the outer anterior cortex; negative when the target lies
        beyond it (breach); NaN when it cannot be found.
    category : str
        Seed 001 Table 1 bin.
    anterior_cortex_lps, entry_bone_lps, entry_skin_lps : (3,) float or None, LPS mm
    needle_depth_mm : float
        Skin entry to target.
    skin_at_image_edge : bool
        The skin was not found inside the image; the skin entry is where the ray leaves
        the image and the depth is a lower bound.
    gaps_mm : tuple of (float, float)
        Low-HU gaps crossed before the target, as (start, end) distances from the target
        (negative = behind it).
    """

    key: str
    direction: np.ndarray
    distance_to_anterior_cortex_mm: float
    category: str
    anterior_cortex_lps: np.ndarray | None
    entry_bone_lps: np.ndarray | None
    entry_skin_lps: np.ndarray | None
    needle_depth_mm: float
    skin_at_image_edge: bool = False
    gaps_mm: tuple[tuple[float, float], ...] = ()

    def to_dict(self) -> dict:
        return {
            "direction_lps": _lps(self.direction),
            "distance_to_anterior_cortex_mm": float(self.distance_to_anterior_cortex_mm),
            "category": self.category,
            "anterior_cortex_lps": _lps(self.anterior_cortex_lps),
            "entry_bone_lps": _lps(self.entry_bone_lps),
            "entry_skin_lps": _lps(self.entry_skin_lps),
            "needle_depth_mm": float(self.needle_depth_mm),
            "skin_at_image_edge": bool(self.skin_at_image_edge),
            "low_hu_gaps_mm": [[float(a), float(b)] for a, b in self.gaps_mm],
        }


@dataclass(frozen=True)
class SideResult:
    """One hemisacrum: its target and its three trajectories.

    Attributes
    ----------
    side : str
        ``"left"`` or ``"right"``.
    target_lps : (3,) float, LPS mm
    target_source : str
        ``"computed"`` (middle of the ala) or ``"placed"`` (``sacroplasty_target_X``).
    target_in_bone : bool
    joint_direction : (3,) float
        Unit axial direction of the SI joint, dorsal -> ventral.
    trajectories : mapping key -> TrajectoryResult
    """

    side: str
    target_lps: np.ndarray
    target_source: str
    target_in_bone: bool
    joint_direction: np.ndarray
    trajectories: Mapping[str, TrajectoryResult]

    def to_dict(self) -> dict:
        return {
            "target_lps": _lps(self.target_lps),
            "target_source": self.target_source,
            "target_in_bone": bool(self.target_in_bone),
            "joint_direction_lps": _lps(self.joint_direction),
            **{k: t.to_dict() for k, t in self.trajectories.items()},
        }


@dataclass(frozen=True)
class SacroplastyPlan:
    """The whole plan (seed 001): midsagittal target, both sides, warnings.

    Attributes
    ----------
    target_midsagittal_lps : (3,) float, LPS mm
        ``T``, midpoint of the common perpendicular of lines A and B.
    skew_gap_mm : float
        Length of that perpendicular (0 when A and B intersect).
    line_a, line_b : Line
        Lines A (``S1_corner_PS -> S1_corner_AI``) and B (``S1_corner_AS -> S1_corner_PI``).
    bone_threshold_hu : float
    threshold_source : str
        ``"user"`` or ``"per-scan"``.
    left, right : SideResult
    lr_line_in_bone : bool
        Whether the left-right line between the two targets stays inside the bone.
    warnings : tuple of str
    """

    target_midsagittal_lps: np.ndarray
    skew_gap_mm: float
    line_a: Line
    line_b: Line
    bone_threshold_hu: float
    threshold_source: str
    left: SideResult
    right: SideResult
    lr_line_in_bone: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def sides(self) -> dict[str, SideResult]:
        return {"left": self.left, "right": self.right}

    def to_dict(self) -> dict:
        """JSON-able summary; the keys of ``summary.json`` (issue 4)."""
        return {
            "target_midsagittal_lps": _lps(self.target_midsagittal_lps),
            "skew_gap_mm": float(self.skew_gap_mm),
            "line_a": {"point_lps": _lps(self.line_a.point), "direction_lps": _lps(self.line_a.direction)},
            "line_b": {"point_lps": _lps(self.line_b.point), "direction_lps": _lps(self.line_b.direction)},
            "bone_threshold_hu": float(self.bone_threshold_hu),
            "threshold_source": self.threshold_source,
            "left": self.left.to_dict(),
            "right": self.right.to_dict(),
            "lr_line_in_bone": bool(self.lr_line_in_bone),
            "warnings": list(self.warnings),
            "reference_seed001": REFERENCE,
        }


@dataclass(frozen=True)
class SacroplastyOptions:
    """Knobs of the planner (defaults from CLINICAL.md; all lengths mm, HU after rescale).

    Attributes
    ----------
    step_mm : float
        Ray sampling step.
    min_exit_run_mm : float
        A ray has left the bone where HU stays below the threshold this long (CLINICAL.md 2).
    air_hu : float
        Body surface (skin) threshold.
    min_air_run_mm : float
        Air must last this long behind the skin (ignores small gas pockets).
    gap_hu : float or None
        Low-HU gap threshold (foramen / canal); None = min(bone threshold, 100 HU).
    gap_min_mm : float
        Shortest low-HU run reported as a gap.
    max_marrow_mm : float
        The target counts as inside the bone when the ray meets bone (>= threshold) within
        this distance in front of it: fatty or osteoporotic ala marrow is often below any
        bone threshold (seed 000: alae 8 ± 56 HU when L5 <= 100 HU), so the anterior cortex
        may lie beyond a long low-HU stretch. Also the longest low-HU stretch the left-right
        line between the targets may cross without "leaving the sacrum".
    max_back_mm, max_forward_mm : float
        How far behind / in front of the target the rays are sampled.
    """

    step_mm: float = 0.25
    min_exit_run_mm: float = 5.0
    air_hu: float = -500.0
    min_air_run_mm: float = 5.0
    gap_hu: float | None = None
    gap_min_mm: float = 3.0
    max_marrow_mm: float = 30.0
    max_back_mm: float = 350.0
    max_forward_mm: float = 200.0


# ---------------------------------------------------------------------------- 1-D helpers
def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the True runs of a 1-D mask."""
    d = np.diff(np.concatenate(([False], mask, [False])).astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _close_gaps(bone: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of False shorter than ``max_gap`` samples that have bone on both sides."""
    closed = bone.copy()
    starts, ends = _runs(~bone)
    for s, e in zip(starts, ends):
        if s > 0 and e < bone.size and e - s < max_gap:
            closed[s:e] = True
    return closed


def _crossing(t: np.ndarray, hu: np.ndarray, i_in: int, i_out: int, level: float) -> float:
    """Parameter where HU crosses ``level`` between samples ``i_in`` (above) and ``i_out`` (below)."""
    h0, h1 = hu[i_in], hu[i_out]
    if not np.isfinite(h1) or h0 == h1:
        return float(t[i_in] + 0.5 * (t[i_out] - t[i_in]))
    frac = float(np.clip((h0 - level) / (h0 - h1), 0.0, 1.0))
    return float(t[i_in] + frac * (t[i_out] - t[i_in]))


def _clip_to_image(volume, points: np.ndarray, direction: np.ndarray, lo: float, hi: float):
    """Parameter interval ``[t0, t1]`` (within ``[lo, hi]``) of the lines inside the image grid.

    ``points`` (R, 3) and ``direction`` (R, 3) LPS; slab clipping in continuous index space.
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


# ---------------------------------------------------------------------------- threshold
def estimate_bone_threshold(
    volume, profiles, *, min_tissue_hu: float = -200.0, step_mm: float = 0.5
) -> float:
    """Per-scan bone threshold in the manner of seed 000 (CLINICAL.md section 2).

    For each density profile running through the bone (from soft tissue to soft tissue),
    take the maximum and the minimum HU; the threshold is the mean of all of them. Values
    below ``min_tissue_hu`` (air, gas and their partial-volume edges; fat is about -100 HU)
    and samples outside the image are ignored, so the minimum is that of soft tissue.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    profiles : sequence of (start, end) pairs of (3,) LPS points, mm
    """
    values = []
    for a, b in profiles:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        n = max(2, int(np.linalg.norm(b - a) / step_mm) + 1)
        hu = volume.sample(a + np.linspace(0.0, 1.0, n)[:, None] * (b - a))
        hu = hu[np.isfinite(hu) & (hu >= min_tissue_hu)]
        if hu.size:
            values += [float(hu.max()), float(hu.min())]
    if not values:
        raise GeometryError("no density profile for the bone threshold lies inside the image")
    return float(np.mean(values))


# ---------------------------------------------------------------------------- planner
class SacroplastyPlanner:
    """Plans the needles on one CT; reuse it while landmarks move (fast re-planning).

    Construction prepares the image once (a float32 copy for sampling); :meth:`plan`
    then samples all six trajectories in one vectorised interpolation.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    bone_threshold : float, optional
        HU; when None it is estimated per scan by :func:`estimate_bone_threshold` from
        profiles through the targets (recomputed when the landmarks move).
    options : SacroplastyOptions, optional
    """

    def __init__(
        self, volume, *, bone_threshold: float | None = None, options: SacroplastyOptions | None = None
    ):
        arr = volume.array
        self.volume = volume if arr.dtype == np.float32 else volume.with_array(arr.astype(np.float32))
        self.bone_threshold = None if bone_threshold is None else float(bone_threshold)
        self.options = options or SacroplastyOptions()

    # ------------------------------------------------------------------ geometry
    @staticmethod
    def _check_landmarks(lm: Landmarks, volume) -> None:
        lm.validate(required_sacroplasty_labels(lm), volume=volume)
        for i, a in enumerate(CORNERS):
            for b in CORNERS[i + 1 :]:
                if np.linalg.norm(lm[a] - lm[b]) < 1.0:
                    raise LandmarkError(
                        f"{lm.source}: S1 corners {a} and {b} coincide (less than 1 mm apart); "
                        "place each at its own corner of S1 on the midsagittal plane.",
                        [a, b],
                    )
        for post, ant in (("S1_corner_PS", "S1_corner_AS"), ("S1_corner_PI", "S1_corner_AI")):
            if lm[ant][1] >= lm[post][1]:
                raise LandmarkError(
                    f"{lm.source}: {ant} is not anterior to {post}; the anterior corners must lie in "
                    "front of the posterior ones (swapped labels?).",
                    [ant, post],
                )

    @staticmethod
    def midsagittal_target(lm: Mapping[str, np.ndarray]) -> tuple[np.ndarray, float, Line, Line]:
        """``(T, skew gap, line A, line B)`` from the four S1 corners."""
        names_a = ("S1_corner_PS", "S1_corner_AI")
        names_b = ("S1_corner_AS", "S1_corner_PI")
        line_a = Line.through(lm[names_a[0]], lm[names_a[1]], names=names_a)
        line_b = Line.through(lm[names_b[0]], lm[names_b[1]], names=names_b)
        label_a = "line A (S1_corner_PS -> S1_corner_AI)"
        label_b = "line B (S1_corner_AS -> S1_corner_PI)"
        if abs(float(line_a.direction @ line_b.direction)) > np.cos(np.deg2rad(2.0)):
            raise GeometryError(
                f"{label_a} and {label_b} are parallel (less than 2 degrees apart): they have no crossing "
                "point. Check the four S1 corners."
            )
        p1, p2, gap = closest_points(line_a, line_b, names=(label_a, label_b))
        return (p1 + p2) / 2.0, gap, line_a, line_b

    @staticmethod
    def joint_direction(lm: Mapping[str, np.ndarray], s: str) -> np.ndarray:
        """Unit axial (x-y) direction ``SI_joint_dorsal_X -> SI_joint_ventral_sup_X``."""
        dorsal, ventral = f"SI_joint_dorsal_{s}", f"SI_joint_ventral_sup_{s}"
        v = lm[ventral] - lm[dorsal]
        v = np.array([v[0], v[1], 0.0])
        if np.linalg.norm(v) < 1.0:
            raise LandmarkError(
                f"{dorsal} and {ventral} coincide on the axial plane; place the dorsal point further back "
                "along the SI joint line.",
                [dorsal, ventral],
            )
        v = v / np.linalg.norm(v)
        if v[1] > -np.sin(np.deg2rad(10.0)):
            raise LandmarkError(
                f"the SI joint direction {dorsal} -> {ventral} does not point anterior (needs at least 10 "
                "degrees from left-right); place the dorsal point behind the ventral one.",
                [dorsal, ventral],
            )
        return v

    def directions(self, lm: Mapping[str, np.ndarray], joint: np.ndarray) -> dict[str, np.ndarray]:
        """Unit needle direction of each trajectory for a side with axial joint direction ``joint``."""
        out = {}
        for spec in TRAJECTORIES:
            s = np.asarray(spec.sagittal(lm), dtype=float)
            s = np.array([0.0, s[1], s[2]])
            n = np.linalg.norm(s)
            if n < 1e-6 or s[1] / n > -np.sin(np.deg2rad(5.0)):
                raise LandmarkError(
                    f"trajectory {spec.title}: its lateral-view direction from {', '.join(spec.labels)} "
                    "does not point anterior (posterior -> anterior needed); check these landmarks.",
                    list(spec.labels),
                )
            out[spec.key] = _needle_direction(s / n, joint)
        return out

    # ------------------------------------------------------------------ sampling
    def _sample_rays(self, starts: np.ndarray, dirs: np.ndarray):
        """Sample rays ``starts + t * dirs`` on one shared grid of ``t``; outside = NaN."""
        o = self.options
        t0, t1 = _clip_to_image(self.volume, starts, dirs, -o.max_back_mm, o.max_forward_mm)
        k0 = int(np.floor(np.min(t0) / o.step_mm)) - 1
        k1 = int(np.ceil(np.max(t1) / o.step_mm)) + 1
        t = np.arange(k0, k1 + 1) * o.step_mm
        pts = starts[:, None, :] + t[None, :, None] * dirs[:, None, :]
        hu = self.volume.sample(pts)
        return t, -k0, hu

    # ------------------------------------------------------------------ per ray
    def _analyse_ray(self, t, i0, hu, threshold, key, side, warnings) -> tuple[bool, dict]:
        o = self.options
        step = o.step_mm
        bone = np.isfinite(hu) & (hu >= threshold)
        closed = _close_gaps(bone, int(np.ceil(o.min_exit_run_mm / step)))
        name = f"{side} {key}"
        n_marrow = int(np.ceil(o.max_marrow_mm / step))
        ahead = np.flatnonzero(bone[i0 : i0 + n_marrow + 1])
        in_bone = bool(ahead.size)
        cortex_t = np.nan
        if in_bone:
            first = i0 + int(ahead[0])
            after = np.flatnonzero(~closed[first:])
            if after.size == 0 or not np.isfinite(hu[first + after[0]]):
                warnings.append(f"{name}: still in bone where the ray leaves the image; distance unknown.")
            else:
                e = first + int(after[0])
                cortex_t = _crossing(t, hu, e - 1, e, threshold)
        else:
            behind = np.flatnonzero(closed[:i0])
            if behind.size:
                b = int(behind[-1])
                cortex_t = _crossing(t, hu, b, b + 1, threshold)
        # Skin: first sustained air run behind the target.
        air = ~np.isfinite(hu) | (hu < o.air_hu)
        rev = air[: i0 + 1][::-1]
        k = first_sustained_run(rev, int(np.ceil(o.min_air_run_mm / step)))
        skin_edge = False
        if k < 0:
            i_skin_tissue = 0
            skin_t = float(t[0])
            skin_edge = True
        else:
            i_air = i0 - k
            i_skin_tissue = min(i_air + 1, i0)
            if not np.isfinite(hu[i_air]):
                skin_edge = True
                skin_t = float(t[i_skin_tissue])
            else:
                skin_t = _crossing(t, hu, i_air + 1, i_air, o.air_hu)
        # Dorsal bone entry: first bone sample from the skin towards the target.
        first = np.flatnonzero(bone[i_skin_tissue : i0 + 1])
        entry_t = np.nan
        gaps: list[tuple[float, float]] = []
        if first.size:
            f = i_skin_tissue + int(first[0])
            entry_t = _crossing(t, hu, f, f - 1, threshold) if f > 0 else float(t[f])
            gap_hu = min(threshold, 100.0) if o.gap_hu is None else o.gap_hu
            low = np.isfinite(hu[f : i0 + 1]) & (hu[f : i0 + 1] < gap_hu)
            starts, ends = _runs(low)
            min_len = int(np.ceil(o.gap_min_mm / step))
            for s_, e_ in zip(starts, ends):
                if s_ > 0 and f + e_ < i0 and e_ - s_ >= min_len:
                    gaps.append((float(t[f + s_]), float(t[f + e_ - 1])))
        return (
            in_bone,
            {
                "cortex_t": cortex_t,
                "skin_t": skin_t,
                "skin_edge": skin_edge,
                "entry_t": entry_t,
                "gaps": tuple(gaps),
            },
        )

    # ------------------------------------------------------------------ public
    def plan(self, landmarks: Landmarks | Mapping[str, object]) -> SacroplastyPlan:
        """Plan both sides and all three trajectories (CLINICAL.md section 3).

        Raises
        ------
        LandmarkError
            Missing, duplicated, non-finite, outside-image, coincident or swapped landmarks.
        GeometryError
            Lines A and B parallel.
        """
        lm = landmarks if isinstance(landmarks, Landmarks) else Landmarks.from_dict(landmarks)
        vol = self.volume
        self._check_landmarks(lm, vol)
        target, gap, line_a, line_b = self.midsagittal_target(lm)
        warnings: list[str] = []
        if gap > 2.0:
            warnings.append(
                f"lines A and B miss each other by {gap:.1f} mm (skew); the target is the midpoint of their "
                "shortest connection. Place the four corners on one midsagittal slice."
            )
        # Targets and directions.
        sides = {}
        for side, s in SIDES.items():
            placed = _has(lm, f"sacroplasty_target_{s}")
            if placed:
                tx = np.asarray(lm[f"sacroplasty_target_{s}"], dtype=float)
            else:
                x = 0.5 * (lm[f"S1_foramen_sup_{s}"][0] + lm[f"SI_joint_ventral_sup_{s}"][0])
                tx = np.array([x, target[1], target[2]])
            joint = self.joint_direction(lm, s)
            sides[side] = (tx, "placed" if placed else "computed", joint, self.directions(lm, joint))
        vol.require_inside(
            [sides[k][0] for k in SIDES], [f"{k} target" for k in SIDES], what="sacroplasty target"
        )
        keys = [(side, spec.key) for side in SIDES for spec in TRAJECTORIES]
        starts = np.array([sides[side][0] for side, _ in keys])
        dirs = np.array([sides[side][3][k] for side, k in keys])
        t, i0, hu = self._sample_rays(starts, dirs)
        if self.bone_threshold is None:
            threshold = self._per_scan_threshold(lm, target, sides)
            source = "per-scan"
        else:
            threshold, source = self.bone_threshold, "user"
        # Per ray.
        results: dict[str, dict[str, TrajectoryResult]] = {side: {} for side in SIDES}
        in_bone_votes: dict[str, list[bool]] = {side: [] for side in SIDES}
        for r, (side, key) in enumerate(keys):
            tx, d = starts[r], dirs[r]
            ib, m = self._analyse_ray(t, i0, hu[r], threshold, key, side, warnings)
            in_bone_votes[side].append(ib)
            dist = m["cortex_t"]

            def at(v, tx=tx, d=d):
                return tx + v * d if np.isfinite(v) else None

            results[side][key] = TrajectoryResult(
                key=key,
                direction=d,
                distance_to_anterior_cortex_mm=float(dist),
                category=category(dist),
                anterior_cortex_lps=at(dist),
                entry_bone_lps=at(m["entry_t"]),
                entry_skin_lps=at(m["skin_t"]),
                needle_depth_mm=float(-m["skin_t"]),
                skin_at_image_edge=m["skin_edge"],
                gaps_mm=m["gaps"],
            )
            if m["skin_edge"]:
                warnings.append(
                    f"{side} {key}: the skin behind the target is outside the image; the needle depth "
                    f"({-m['skin_t']:.0f} mm) is a lower bound."
                )
            if not np.isfinite(m["entry_t"]):
                warnings.append(f"{side} {key}: no bone between the skin and the target.")
            for a, b in m["gaps"]:
                warnings.append(
                    f"{side} {key}: crosses a low-HU gap (neural foramen or sacral canal?) from {-a:.1f} to "
                    f"{-b:.1f} mm before the target; check the trajectory on the images."
                )
        side_results = {}
        for side, (tx, src, joint, _) in sides.items():
            in_bone = bool(np.all(in_bone_votes[side]))
            if not in_bone:
                worst = min(
                    (r.distance_to_anterior_cortex_mm for r in results[side].values()),
                    key=lambda v: v if np.isfinite(v) else np.inf,
                )
                warnings.insert(
                    0,
                    f"BREACH: the {side} target {np.round(tx, 1).tolist()} lies outside the bone"
                    + (f", {-worst:.1f} mm beyond the anterior sacral cortex" if np.isfinite(worst) else "")
                    + " (seed 001 Fig. 3). Do not advance the needle to it; re-plan.",
                )
            side_results[side] = SideResult(side, tx, src, in_bone, joint, results[side])
        lr_ok, lr_msg = self._lr_line_in_bone(sides["right"][0], sides["left"][0], threshold)
        if not lr_ok:
            warnings.append(lr_msg)
        elif not all(r.target_in_bone for r in side_results.values()):
            lr_ok = False
            warnings.append(
                "the left-right line between the two targets leaves the sacrum at the breached target."
            )
        return SacroplastyPlan(
            target_midsagittal_lps=target,
            skew_gap_mm=float(gap),
            line_a=line_a,
            line_b=line_b,
            bone_threshold_hu=float(threshold),
            threshold_source=source,
            left=side_results["left"],
            right=side_results["right"],
            lr_line_in_bone=lr_ok,
            warnings=tuple(warnings),
        )

    def _per_scan_threshold(self, lm, target, sides) -> float:
        """Seed-000 threshold from AP profiles (±35 mm) through ``T`` and both targets, and an LR
        profile at the level of ``T`` from 20 mm beyond one ``SI_joint_ventral_sup`` to the other."""
        half = 35.0
        profiles = [
            (p + half * _ANTERIOR, p - half * _ANTERIOR) for p in (target, *(v[0] for v in sides.values()))
        ]
        xr = lm["SI_joint_ventral_sup_R"][0] - 20.0
        xl = lm["SI_joint_ventral_sup_L"][0] + 20.0
        profiles.append((np.array([xr, target[1], target[2]]), np.array([xl, target[1], target[2]])))
        return estimate_bone_threshold(self.volume, profiles)

    def _lr_line_in_bone(self, a: np.ndarray, b: np.ndarray, threshold: float) -> tuple[bool, str]:
        """Whether the segment between the targets stays inside the sacrum.

        With the same rule as for the targets, a point of the segment is inside when bone
        (>= threshold) lies within ``max_marrow_mm`` anterior of it (``-y``); the segment
        leaves the sacrum where at least 2 mm in a row fail that test (presacral soft
        tissue, an anterior neural foramen). Sampled every 1 mm, 0.5 mm along each AP ray.
        """
        o = self.options
        d = unit(b - a, name="the line between the two targets")
        length = float(np.linalg.norm(b - a))
        t = np.arange(0.0, length + 0.5, 1.0)
        s = np.arange(0.0, o.max_marrow_mm + 0.25, 0.5)
        pts = (a + t[:, None] * d)[:, None, :] + s[None, :, None] * _ANTERIOR
        hu = self.volume.sample(pts)
        inside = np.any(np.isfinite(hu) & (hu >= threshold), axis=1)
        starts, ends = _runs(~inside)
        for s_, e_ in zip(starts, ends):
            if e_ - s_ >= 2:
                return False, (
                    "the left-right line between the two targets leaves the sacrum for about "
                    f"{e_ - s_:.0f} mm from LPS {np.round(a + t[s_] * d, 1).tolist()} (no bone within "
                    f"{o.max_marrow_mm:.0f} mm in front of it); check the targets on the images."
                )
        return True, ""


def plan_sacroplasty(
    volume,
    landmarks: Landmarks | Mapping[str, object],
    *,
    bone_threshold: float | None = None,
    options: SacroplastyOptions | None = None,
) -> SacroplastyPlan:
    """Plan sacroplasty needles on ``volume`` from ``landmarks`` (seed 001; CLINICAL.md section 3).

    One-shot form of :class:`SacroplastyPlanner`; keep a planner to re-plan fast while
    landmarks move.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    landmarks : Landmarks or mapping label -> (3,) LPS mm
        Needs :func:`required_sacroplasty_labels`.
    bone_threshold : float, optional
        HU; None = per-scan estimate (:func:`estimate_bone_threshold`).
    options : SacroplastyOptions, optional

    Returns
    -------
    SacroplastyPlan
    """
    return SacroplastyPlanner(volume, bone_threshold=bone_threshold, options=options).plan(landmarks)


# ---------------------------------------------------------------------------- reformat
@dataclass(frozen=True)
class Reformat:
    """A planar reformat: ``image[r, c]`` at LPS ``origin + c * spacing * u + r * spacing * v``.

    Attributes
    ----------
    image : (nv, nu) float ndarray
        HU (NaN outside the CT).
    origin : (3,) float, LPS mm
        Position of pixel ``[0, 0]``.
    u, v : (3,) float
        Unit LPS directions of columns (``u``, towards anterior along the joint) and rows
        (``v``, superior).
    spacing : float, mm
    """

    image: np.ndarray
    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    spacing: float

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.u, self.v)

    def to_pixel(self, points) -> np.ndarray:
        """LPS points ``(..., 3)`` projected on the plane, as ``(..., 2)`` (column, row) pixels."""
        rel = np.asarray(points, dtype=float) - self.origin
        return np.stack([rel @ self.u, rel @ self.v], axis=-1) / self.spacing

    def to_mm(self, points) -> np.ndarray:
        """LPS points ``(..., 3)`` to in-plane ``(..., 2)`` mm (u, v) from :attr:`origin`."""
        return self.to_pixel(points) * self.spacing

    def extent_mm(self) -> tuple[float, float, float, float]:
        """``(u_min, u_max, v_min, v_max)`` in mm, for matplotlib ``imshow(extent=...)`` with origin lower."""
        nv, nu = self.image.shape
        h = self.spacing / 2
        return (-h, (nu - 1) * self.spacing + h, -h, (nv - 1) * self.spacing + h)


def reformat_plane(volume, center, u, v, *, size_mm: float = 120.0, spacing_mm: float = 0.5) -> Reformat:
    """Square planar reformat through ``center`` with columns along ``u`` and rows along ``v``.

    Parameters
    ----------
    volume : Volume
    center : (3,) float, LPS mm
        Middle of the image.
    u, v : (3,) float
        In-plane LPS directions (made orthonormal: ``v`` loses its component along ``u``).
    size_mm, spacing_mm : float
        Side length and pixel size, mm.
    """
    u = unit(u, name="reformat column direction")
    v = np.asarray(v, dtype=float)
    v = unit(v - (v @ u) * u, name="reformat row direction")
    n = round(size_mm / spacing_mm) + 1
    origin = np.asarray(center, dtype=float) - (n - 1) / 2 * spacing_mm * (u + v)
    g = np.arange(n) * spacing_mm
    pts = origin + g[None, :, None] * u + g[:, None, None] * v
    return Reformat(volume.sample(pts), origin, u, v, float(spacing_mm))


def reformat_along_joint(
    volume, center, joint_direction, *, size_mm: float = 120.0, spacing_mm: float = 0.5
) -> Reformat:
    """Sagittal-oblique reformat through ``center`` parallel to an SI joint (seed 001 Fig. 1C).

    The plane contains the vertical (LPS ``z``) and the axial joint direction, so it holds
    all three needle trajectories of that side. Columns run along the joint towards
    anterior, rows upward; ``center`` is in the middle.

    Parameters
    ----------
    volume : Volume
    center : (3,) float, LPS mm
    joint_direction : (3,) float
        Axial direction dorsal -> ventral (its ``z`` part is ignored).
    size_mm, spacing_mm : float
        Side length and pixel size of the square image.
    """
    j = np.asarray(joint_direction, dtype=float)
    u = np.array([j[0], j[1], 0.0])
    return reformat_plane(volume, center, u, (0.0, 0.0, 1.0), size_mm=size_mm, spacing_mm=spacing_mm)


def reformat_midsagittal(volume, center, *, size_mm: float = 120.0, spacing_mm: float = 0.5) -> Reformat:
    """Sagittal reformat through ``center`` (seed 001 Fig. 1A): columns anterior (-y), rows up (z)."""
    return reformat_plane(volume, center, _ANTERIOR, (0.0, 0.0, 1.0), size_mm=size_mm, spacing_mm=spacing_mm)
