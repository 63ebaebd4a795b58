"""Constants, trajectories, categories and options of the sacroplasty planner (seed 001)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

import numpy as np

from ..geometry import unit
from ..imaging.envelope import DEFAULT_CLOSING_MM
from ..validation import check_number

__all__ = [
    "ANTERIOR",
    "CATEGORIES",
    "CORNERS",
    "REFERENCE",
    "SIDES",
    "TRAJECTORIES",
    "SacroplastyOptions",
    "TrajectorySpec",
    "category",
    "has_label",
    "needle_direction",
    "required_sacroplasty_labels",
]

#: The four S1 corners on the midsagittal plane.
CORNERS = ("S1_corner_PS", "S1_corner_AS", "S1_corner_PI", "S1_corner_AI")
#: Side key -> label suffix.
SIDES = {"left": "L", "right": "R"}
#: LPS unit vector towards the patient's front.
ANTERIOR = np.array([0.0, -1.0, 0.0])

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
    TrajectorySpec("axial", "2: axial", lambda lm: ANTERIOR.copy(), ()),
    TrajectorySpec(
        "long_axis",
        "3: along the sacral long axis",
        lambda lm: _s1_centre(lm) - lm["S3_body_center"],
        ("S3_body_center", *CORNERS),
    ),
)


def has_label(landmarks: Mapping[str, object], label: str) -> bool:
    """Whether ``label`` is placed (by iteration: a mapping's ``__getitem__`` may raise non-KeyErrors)."""
    return label in set(landmarks)


def required_sacroplasty_labels(landmarks: Mapping[str, object] | None = None) -> tuple[str, ...]:
    """Labels the planner needs; ``S1_foramen_sup_X`` only when ``sacroplasty_target_X`` is absent."""
    labels = [*CORNERS, "S3_body_center"]
    for s in SIDES.values():
        labels += [f"SI_joint_dorsal_{s}", f"SI_joint_ventral_sup_{s}"]
        if landmarks is None or not has_label(landmarks, f"sacroplasty_target_{s}"):
            labels.append(f"S1_foramen_sup_{s}")
    return tuple(labels)


def needle_direction(sagittal: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Unit ``d`` with sagittal (y-z) projection ∥ ``sagittal`` and axial (x-y) projection ∥ ``joint``."""
    return unit(np.array([sagittal[1] * joint[0] / joint[1], sagittal[1], sagittal[2]]))


# ---------------------------------------------------------------------------- options
#: Option -> (lower bound, whether the bound is allowed, upper bound), lengths mm, HU.
_RANGES = {
    "step_mm": (0.0, False, 5.0),
    "min_exit_run_mm": (0.0, False, 100.0),
    "air_hu": (-1100.0, True, 0.0),
    "min_air_run_mm": (0.0, False, 100.0),
    "gap_hu": (-1100.0, True, 3071.0),
    "gap_min_mm": (0.0, False, 100.0),
    "closing_mm": (0.0, True, 50.0),
    "envelope_margin_mm": (0.0, False, 500.0),
    "max_back_mm": (0.0, False, 2000.0),
    "max_forward_mm": (0.0, False, 2000.0),
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
    closing_mm : float
        Radius of the closing ball of the cortical envelope
        (:func:`bonequality.imaging.envelope.cortical_envelope`): gaps in the cortical
        shell up to about twice this wide are sealed.
    envelope_margin_mm : float
        The cortical envelope is built in the box around the landmarks grown by this much.
    max_back_mm, max_forward_mm : float
        How far behind / in front of the target the rays are sampled.

    Raises
    ------
    OptionError
        A value that is not a finite number in its range (``_RANGES``).
    """

    step_mm: float = 0.25
    min_exit_run_mm: float = 5.0
    air_hu: float = -500.0
    min_air_run_mm: float = 5.0
    gap_hu: float | None = None
    gap_min_mm: float = 3.0
    closing_mm: float = DEFAULT_CLOSING_MM
    envelope_margin_mm: float = 60.0
    max_back_mm: float = 350.0
    max_forward_mm: float = 200.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "gap_hu":
                continue
            lo, lo_inclusive, hi = _RANGES[f.name]
            v = check_number(
                value, name=f"sacroplasty option {f.name}", lo=lo, hi=hi, lo_inclusive=lo_inclusive
            )
            object.__setattr__(self, f.name, v)
