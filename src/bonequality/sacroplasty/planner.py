"""The planner: both targets and all six needles on one CT, fast enough to re-plan while dragging."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..imaging.threshold import bone_threshold as per_scan_bone_threshold
from ..landmarks import Landmarks
from ..validation import check_bone_threshold, check_ct
from .options import SIDES, TRAJECTORIES, SacroplastyOptions, category
from .rays import RayMeasures, analyse_ray, lr_line_in_bone, sample_rays
from .result import SacroplastyPlan, SideResult, TrajectoryResult
from .targets import (
    PlanGeometry,
    as_landmarks,
    joint_direction,
    midsagittal_target,
    plan_geometry,
    trajectory_directions,
)

__all__ = ["SacroplastyPlanner"]


class SacroplastyPlanner:
    """Plans the needles on one CT; reuse it while landmarks move (fast re-planning).

    Construction checks the CT (:func:`bonequality.validation.check_ct`) and prepares the
    image once (a float32 copy for sampling); :meth:`plan` then samples all six
    trajectories in one vectorised interpolation.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    bone_threshold : float, optional
        HU; when None it is the per-scan threshold
        :func:`bonequality.imaging.threshold.bone_threshold` of ``volume`` and the landmarks
        (the one the screw corridors report; recomputed when those landmarks move).
    options : SacroplastyOptions, optional
    name : str
        How the CT is called in messages.

    Raises
    ------
    NotCTError
        ``volume`` does not look like a CT in HU.
    OptionError
        ``bone_threshold`` outside 0-3071 HU.
    """

    def __init__(
        self,
        volume,
        *,
        bone_threshold: float | None = None,
        options: SacroplastyOptions | None = None,
        name: str = "CT",
    ):
        check_ct(volume, name)
        self._prepare(volume, check_bone_threshold(bone_threshold), options)

    @classmethod
    def from_inputs(cls, inputs) -> SacroplastyPlanner:
        """A planner for already validated :class:`~bonequality.sacroplasty.SacroplastyInputs`."""
        planner = cls.__new__(cls)
        planner._prepare(inputs.ct, inputs.bone_threshold, inputs.options)
        return planner

    def _prepare(self, volume, threshold: float | None, options: SacroplastyOptions | None) -> None:
        #: The CT as given: the per-scan threshold is computed (and cached) on this object.
        self.ct = volume
        arr = volume.array
        self.volume = volume if arr.dtype == np.float32 else volume.with_array(arr.astype(np.float32))
        self.bone_threshold = threshold
        self.options = options or SacroplastyOptions()

    # ------------------------------------------------------------------ geometry
    midsagittal_target = staticmethod(midsagittal_target)
    joint_direction = staticmethod(joint_direction)

    @staticmethod
    def directions(lm: Mapping[str, np.ndarray], joint: np.ndarray) -> dict[str, np.ndarray]:
        """Unit needle direction of each trajectory for a side with axial joint direction ``joint``."""
        return trajectory_directions(lm, joint)

    def threshold(self, landmarks: Mapping[str, object]) -> tuple[float, str]:
        """``(bone threshold HU, "user" | "per-scan")`` for these landmarks."""
        if self.bone_threshold is not None:
            return self.bone_threshold, "user"
        return per_scan_bone_threshold(self.ct, landmarks), "per-scan"

    # ------------------------------------------------------------------ public
    def plan(self, landmarks: Landmarks | Mapping[str, object]) -> SacroplastyPlan:
        """Plan both sides and all three trajectories (CLINICAL.md section 3).

        Raises
        ------
        LandmarkError
            Missing, duplicated, non-finite, outside-image, coincident or swapped landmarks.
        GeometryError
            Lines A and B parallel.
        AnalysisError
            Per-scan threshold: no threshold profile crosses the body.
        """
        lm = as_landmarks(landmarks)
        geo = plan_geometry(lm, self.volume)
        warnings: list[str] = []
        if geo.skew_gap_mm > 2.0:
            warnings.append(
                f"lines A and B miss each other by {geo.skew_gap_mm:.1f} mm (skew); the target is the "
                "midpoint of their shortest connection. Place the four corners on one midsagittal slice."
            )
        threshold, source = self.threshold(lm)
        trajectories, in_bone = self._trajectories(geo, threshold, warnings)
        sides = self._side_results(geo, trajectories, in_bone, warnings)
        lr_ok = self._lr_line(geo, sides, threshold, warnings)
        return SacroplastyPlan(
            target_midsagittal_lps=geo.target,
            skew_gap_mm=geo.skew_gap_mm,
            line_a=geo.line_a,
            line_b=geo.line_b,
            bone_threshold_hu=float(threshold),
            threshold_source=source,
            left=sides["left"],
            right=sides["right"],
            lr_line_in_bone=lr_ok,
            warnings=tuple(warnings),
        )

    # ------------------------------------------------------------------ plan steps
    def _trajectories(self, geo: PlanGeometry, threshold: float, warnings: list[str]):
        """Sample and measure the six rays: ``({side: {key: result}}, {side: [in bone per ray]})``."""
        keys = [(side, spec.key) for side in SIDES for spec in TRAJECTORIES]
        starts = np.array([geo.sides[side].target for side, _ in keys])
        dirs = np.array([geo.sides[side].directions[k] for side, k in keys])
        t, i0, hu = sample_rays(self.volume, starts, dirs, self.options)
        results: dict[str, dict[str, TrajectoryResult]] = {side: {} for side in SIDES}
        in_bone: dict[str, list[bool]] = {side: [] for side in SIDES}
        for r, (side, key) in enumerate(keys):
            m = analyse_ray(t, i0, hu[r], threshold, self.options)
            in_bone[side].append(m.in_bone)
            results[side][key] = _trajectory_result(key, starts[r], dirs[r], m)
            warnings += _ray_warnings(f"{side} {key}", m)
        return results, in_bone

    @staticmethod
    def _side_results(geo: PlanGeometry, trajectories, in_bone, warnings: list[str]) -> dict[str, SideResult]:
        """One :class:`SideResult` per side; a BREACH warning first for a target outside the bone."""
        out = {}
        for side, g in geo.sides.items():
            inside = bool(np.all(in_bone[side]))
            if not inside:
                warnings.insert(0, _breach_warning(side, g.target, trajectories[side]))
            out[side] = SideResult(side, g.target, g.source, inside, g.joint, trajectories[side])
        return out

    def _lr_line(self, geo: PlanGeometry, sides: dict[str, SideResult], threshold, warnings) -> bool:
        """Whether the line between the targets stays in the sacrum (warning appended when not)."""
        ok, msg = lr_line_in_bone(
            self.volume, geo.sides["right"].target, geo.sides["left"].target, threshold, self.options
        )
        if not ok:
            warnings.append(msg)
        elif not all(r.target_in_bone for r in sides.values()):
            ok = False
            warnings.append(
                "the left-right line between the two targets leaves the sacrum at the breached target."
            )
        return ok


def _trajectory_result(key: str, tx: np.ndarray, d: np.ndarray, m: RayMeasures) -> TrajectoryResult:
    def at(v):
        return tx + v * d if np.isfinite(v) else None

    return TrajectoryResult(
        key=key,
        direction=d,
        distance_to_anterior_cortex_mm=float(m.cortex_t),
        category=category(m.cortex_t),
        anterior_cortex_lps=at(m.cortex_t),
        entry_bone_lps=at(m.entry_t),
        entry_skin_lps=at(m.skin_t),
        needle_depth_mm=float(-m.skin_t),
        skin_at_image_edge=m.skin_at_image_edge,
        gaps_mm=m.gaps,
    )


def _ray_warnings(name: str, m: RayMeasures) -> list[str]:
    out = []
    if m.cortex_at_image_edge:
        out.append(f"{name}: still in bone where the ray leaves the image; distance unknown.")
    if m.skin_at_image_edge:
        out.append(
            f"{name}: the skin behind the target is outside the image; the needle depth "
            f"({-m.skin_t:.0f} mm) is a lower bound."
        )
    if not np.isfinite(m.entry_t):
        out.append(f"{name}: no bone between the skin and the target.")
    for a, b in m.gaps:
        out.append(
            f"{name}: crosses a low-HU gap (neural foramen or sacral canal?) from {-a:.1f} to "
            f"{-b:.1f} mm before the target; check the trajectory on the images."
        )
    return out


def _breach_warning(side: str, target: np.ndarray, trajectories: Mapping[str, TrajectoryResult]) -> str:
    worst = min(
        (r.distance_to_anterior_cortex_mm for r in trajectories.values()),
        key=lambda v: v if np.isfinite(v) else np.inf,
    )
    return (
        f"BREACH: the {side} target {np.round(target, 1).tolist()} lies outside the bone"
        + (f", {-worst:.1f} mm beyond the anterior sacral cortex" if np.isfinite(worst) else "")
        + " (seed 001 Fig. 3). Do not advance the needle to it; re-plan."
    )
