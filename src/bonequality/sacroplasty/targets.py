"""Landmark checks and the plan's geometry: target ``T``, side targets, needle directions (seed 001)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import GeometryError, LandmarkError
from ..geometry import Line, closest_points
from ..landmarks import Landmarks
from .options import CORNERS, SIDES, TRAJECTORIES, has_label, needle_direction, required_sacroplasty_labels

__all__ = [
    "PlanGeometry",
    "SideGeometry",
    "as_landmarks",
    "check_landmarks",
    "joint_direction",
    "midsagittal_target",
    "plan_geometry",
    "trajectory_directions",
]


def as_landmarks(landmarks: Landmarks | Mapping[str, object]) -> Landmarks:
    """``landmarks`` as :class:`Landmarks` (from a mapping label -> (3,) LPS mm)."""
    if isinstance(landmarks, Landmarks):
        return landmarks
    if not isinstance(landmarks, Mapping):
        raise LandmarkError(
            f"sacroplasty landmarks: expected labelled points (a .mrk.json file or a mapping label -> "
            f"LPS point), got {type(landmarks).__name__}.",
            [],
        )
    return Landmarks.from_dict(landmarks)


def check_landmarks(lm: Landmarks, volume) -> None:
    """Required labels present once, finite and inside ``volume``; S1 corners apart and in order.

    Raises
    ------
    LandmarkError
        Missing, duplicated, non-finite, outside-image, coincident or swapped landmarks.
    """
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


def trajectory_directions(lm: Mapping[str, np.ndarray], joint: np.ndarray) -> dict[str, np.ndarray]:
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
        out[spec.key] = needle_direction(s / n, joint)
    return out


@dataclass(frozen=True)
class SideGeometry:
    """One side's target ``T_X`` (LPS mm), where it comes from, its joint and needle directions."""

    target: np.ndarray
    source: str
    joint: np.ndarray
    directions: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class PlanGeometry:
    """Everything the landmarks alone decide: ``T``, the skew gap, lines A and B, both sides."""

    target: np.ndarray
    skew_gap_mm: float
    line_a: Line
    line_b: Line
    sides: Mapping[str, SideGeometry]


def _side_target(lm: Landmarks, s: str, target: np.ndarray) -> tuple[np.ndarray, str]:
    """``sacroplasty_target_X`` if placed, else the middle of the ala at the level of ``T``."""
    if has_label(lm, f"sacroplasty_target_{s}"):
        return np.asarray(lm[f"sacroplasty_target_{s}"], dtype=float), "placed"
    x = 0.5 * (lm[f"S1_foramen_sup_{s}"][0] + lm[f"SI_joint_ventral_sup_{s}"][0])
    return np.array([x, target[1], target[2]]), "computed"


def plan_geometry(lm: Landmarks, volume) -> PlanGeometry:
    """All landmark checks and the geometry of the plan (CLINICAL.md section 3).

    Raises
    ------
    LandmarkError
        Missing, duplicated, non-finite, outside-image, coincident or swapped landmarks,
        a joint or trajectory that does not point anterior, a target outside the image.
    GeometryError
        Lines A and B parallel.
    """
    check_landmarks(lm, volume)
    target, gap, line_a, line_b = midsagittal_target(lm)
    sides = {}
    for side, s in SIDES.items():
        tx, source = _side_target(lm, s, target)
        joint = joint_direction(lm, s)
        sides[side] = SideGeometry(tx, source, joint, trajectory_directions(lm, joint))
    volume.require_inside(
        [sides[k].target for k in SIDES], [f"{k} target" for k in SIDES], what="sacroplasty target"
    )
    return PlanGeometry(target, float(gap), line_a, line_b, sides)
