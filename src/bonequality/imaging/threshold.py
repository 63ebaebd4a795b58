"""The per-scan bone threshold (seed 000), one estimator for every analysis of a scan.

Seed 000: "density profiles are measured on several slices along a distance that runs
completely through the dense areas of the bone ... The maximum and minimum HU values are
determined for each profile and the total average is calculated from all values."

Reading implemented (:func:`bone_threshold`): a fixed set of straight profiles through
the posterior pelvic ring, defined by the landmarks (:func:`threshold_profiles`), each
sampled every 0.5 mm along a whole line through the body. A profile "across the bone"
runs from 10 mm before its first to 10 mm after its last dense sample (>= half its
maximum), inside the body (air below ``air_hu`` cut off). Each profile contributes its
maximum and its minimum; the threshold is the mean of these values.

The profiles depend only on the landmarks, never on which analysis asks, so the screw
corridors and sacroplasty report the same threshold for one scan and one landmark set:

* with the sacroplasty landmarks (CLINICAL.md section 3): antero-posterior lines through
  the S1 centre (the mean of the four corners) and through the middle of each ala at
  that level (midway between ``S1_foramen_sup_X`` and ``SI_joint_ventral_sup_X``), and
  the lateral line through the S1 centre: profiles across the sacrum itself;
* otherwise, with the corridor landmarks (section 2): the left and right S1 trajectories
  (``C1 -> K_X``), the lateral line through the midpoint of the S1/S2 foramina
  landmarks, and antero-posterior lines through ``C1`` and ``L5_body_center``.

When a landmark file holds both sets, the sacral profiles are used: the corridor
profiles end in the dense outer iliac cortex, which lifts the mean above the thin
anterior sacral cortex that sacroplasty must still see as bone (on the pelvis phantom
459 HU against a 441 HU anterior S1 cortex; 377 HU from the sacral profiles).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping

import numpy as np

from ..errors import AnalysisError, LandmarkError
from ..geometry import unit
from ..volume import Volume

log = logging.getLogger(__name__)

__all__ = ["AIR_HU", "bone_threshold", "threshold_profiles"]

#: Below this, a profile sample is air (the body's outside).
AIR_HU = -400.0
#: Soft tissue included on each side of the dense part of a profile (mm).
PROFILE_PAD_MM = 10.0
#: Profile sampling step (mm).
STEP_MM = 0.5

_CORRIDOR_LABELS = (
    "S1_body_top",
    "S1_foramen_sup_L",
    "S1_foramen_sup_R",
    "SI_joint_ventral_sup_L",
    "SI_joint_ventral_sup_R",
    "S1_foramen_inf_L",
    "S1_foramen_inf_R",
    "S2_foramen_sup_L",
    "S2_foramen_sup_R",
    "L5_body_center",
)
_CORNERS = ("S1_corner_PS", "S1_corner_AS", "S1_corner_PI", "S1_corner_AI")
_SACROPLASTY_LABELS = (
    *_CORNERS,
    "S1_foramen_sup_L",
    "S1_foramen_sup_R",
    "SI_joint_ventral_sup_L",
    "SI_joint_ventral_sup_R",
)
_AP = np.array([0.0, 1.0, 0.0])
_LR = np.array([1.0, 0.0, 0.0])
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _present(landmarks: Mapping[str, object], labels) -> bool:
    def ok(label):
        try:
            p = np.asarray(landmarks[label], dtype=float)
        except (KeyError, TypeError, ValueError):
            return False
        return p.shape == (3,) and bool(np.all(np.isfinite(p)))

    return all(ok(label) for label in labels)


def threshold_profiles(landmarks: Mapping[str, object]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(point, direction)`` lines (LPS mm) whose profiles set the bone threshold.

    Raises
    ------
    LandmarkError
        Neither the sacroplasty nor the corridor landmarks are all present.
    """
    if _present(landmarks, _SACROPLASTY_LABELS):
        p = {k: np.asarray(landmarks[k], dtype=float) for k in _SACROPLASTY_LABELS}
        centre = np.mean([p[c] for c in _CORNERS], axis=0)
        lines = [(centre, _AP), (centre, _LR)]
        for s in ("L", "R"):
            x = 0.5 * (p[f"S1_foramen_sup_{s}"][0] + p[f"SI_joint_ventral_sup_{s}"][0])
            lines.append((np.array([x, centre[1], centre[2]]), _AP))
        return lines
    if _present(landmarks, _CORRIDOR_LABELS):
        p = {k: np.asarray(landmarks[k], dtype=float) for k in _CORRIDOR_LABELS}
        c1 = (p["S1_body_top"] + p["S1_foramen_sup_L"] + p["S1_foramen_sup_R"]) / 3.0
        m_mid = (
            p["S1_foramen_inf_L"] + p["S2_foramen_sup_L"] + p["S1_foramen_inf_R"] + p["S2_foramen_sup_R"]
        ) / 4.0
        return [
            (c1, (p["SI_joint_ventral_sup_L"] + p["S1_foramen_sup_L"]) / 2.0 - c1),
            (c1, (p["SI_joint_ventral_sup_R"] + p["S1_foramen_sup_R"]) / 2.0 - c1),
            (m_mid, p["S2_foramen_sup_L"] - p["S2_foramen_sup_R"]),
            (c1, _AP),
            (p["L5_body_center"], _AP),
        ]
    raise LandmarkError(
        "bone threshold: the landmarks hold neither the corridor set ("
        + ", ".join(_CORRIDOR_LABELS)
        + ") nor the sacroplasty set ("
        + ", ".join(_SACROPLASTY_LABELS)
        + "); place them, or give the bone threshold explicitly.",
        [],
    )


def _body_segment(hu: np.ndarray, centre: int, air_hu: float) -> np.ndarray:
    """The samples of ``hu`` in the contiguous non-air run that contains index ``centre``."""
    ok = np.isfinite(hu) & (hu >= air_hu)
    if not ok[centre]:
        return hu[:0]
    bad_before = np.flatnonzero(~ok[:centre])
    lo = bad_before[-1] + 1 if bad_before.size else 0
    bad_after = np.flatnonzero(~ok[centre:])
    hi = centre + bad_after[0] if bad_after.size else hu.size
    return hu[lo:hi]


def _profile_extremes(volume: Volume, start: np.ndarray, direction: np.ndarray, air_hu: float) -> list[float]:
    lo, hi = volume.physical_bounds()
    reach = float(np.linalg.norm(hi - lo))
    t = np.arange(-reach, reach + STEP_MM / 2, STEP_MM)
    hu = volume.sample(start + t[:, None] * unit(direction))
    seg = _body_segment(hu, int(np.argmin(np.abs(t))), air_hu)
    if seg.size == 0 or np.max(seg) <= 0:
        return []
    top = float(np.max(seg))
    dense = np.flatnonzero(seg >= 0.5 * top)
    pad = round(PROFILE_PAD_MM / STEP_MM)
    span = seg[max(0, dense[0] - pad) : dense[-1] + pad + 1]
    return [top, float(np.min(span))]


def bone_threshold(volume: Volume, landmarks: Mapping[str, object], *, air_hu: float = AIR_HU) -> float:
    """Per-scan bone threshold (HU) from the landmarks' profiles (module docstring).

    Parameters
    ----------
    volume : Volume
        CT in HU.
    landmarks : mapping label -> (3,) LPS mm
        Either the corridor or the sacroplasty landmark set (:func:`threshold_profiles`).
    air_hu : float
        Samples below this are outside the body.

    Returns
    -------
    float
        Threshold in HU; cached per volume and landmark positions.

    Raises
    ------
    LandmarkError
        Neither landmark set is complete.
    AnalysisError
        No profile crosses the body.
    """
    lines = threshold_profiles(landmarks)
    key = (np.round(np.concatenate([np.concatenate([a, b]) for a, b in lines]), 3).tobytes(), float(air_hu))
    cached = _CACHE.get(volume)
    if cached is not None and cached[0] == key:
        return cached[1]
    values: list[float] = []
    for start, d in lines:
        if np.linalg.norm(d) >= 1e-6:
            values += _profile_extremes(volume, start, d, air_hu)
    if not values:
        raise AnalysisError(
            "bone threshold: no profile through the landmarks crosses the body; check the landmarks "
            "(they must lie on the pelvis) or give the threshold explicitly (--bone-threshold)."
        )
    threshold = float(np.mean(values))
    _CACHE[volume] = (key, threshold)
    log.info("bone threshold %.1f HU from %d profiles", threshold, len(values) // 2)
    return threshold
