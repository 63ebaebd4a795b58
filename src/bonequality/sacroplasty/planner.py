"""The planner: both targets and all six needles on one CT, fast enough to re-plan while dragging."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..geometry import unit
from ..imaging.envelope import (
    LIVE_ENVELOPE_TOLERANCE,
    SACRUM_MASK,
    Envelope,
    cortical_envelope,
    mask_envelope,
)
from ..imaging.threshold import bone_threshold as per_scan_bone_threshold
from ..landmarks import Landmarks
from ..validation import check_bone_threshold, check_ct
from .breach import measure_breach
from .options import SIDES, TRAJECTORIES, SacroplastyOptions, category, required_sacroplasty_labels
from .rays import RayMeasures, analyse_ray, sample_rays
from .result import SacroplastyPlan, SideResult, TrajectoryResult
from .sides import lr_line_in_envelope, side_warnings
from .targets import (
    PlanGeometry,
    as_landmarks,
    joint_direction,
    midsagittal_target,
    plan_geometry,
    trajectory_directions,
)

__all__ = ["LIVE_ENVELOPE_TOLERANCE", "SacroplastyPlanner"]


class SacroplastyPlanner:
    """Plans the needles on one CT; reuse it while landmarks move (fast re-planning).

    Construction checks the CT (:func:`bonequality.validation.check_ct`) and prepares the
    image once (a float32 copy for sampling). The envelope (what is inside the sacrum,
    :mod:`bonequality.imaging.envelope`) is built on the first :meth:`plan` and kept: the
    sacrum mask when one is given, else the cortical shell at the plan's bone threshold in
    a box around the landmarks (``envelope_margin_mm``). It is built again only when the
    threshold changes (by more than the ``envelope_tolerance`` of :meth:`plan`) or the
    landmarks leave that box; otherwise a plan only samples the six rays.

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
    sacrum_mask : Volume or bool ndarray on ``volume``'s grid, optional
        A sacrum segmentation: then it is the envelope.
    sacrum_mask_name : str
        How the mask is called in messages.

    Raises
    ------
    NotCTError
        ``volume`` does not look like a CT in HU.
    OptionError
        ``bone_threshold`` outside 0-3071 HU.
    MaskError
        ``sacrum_mask`` empty or not overlapping the CT.
    """

    def __init__(
        self,
        volume,
        *,
        bone_threshold: float | None = None,
        options: SacroplastyOptions | None = None,
        name: str = "CT",
        sacrum_mask=None,
        sacrum_mask_name: str = "sacrum mask",
    ):
        check_ct(volume, name)
        self._prepare(volume, check_bone_threshold(bone_threshold), options)
        if sacrum_mask is not None:
            self._mask = mask_envelope(self.ct, sacrum_mask, name=sacrum_mask_name)

    @classmethod
    def from_inputs(cls, inputs) -> SacroplastyPlanner:
        """A planner for already validated :class:`~bonequality.sacroplasty.SacroplastyInputs`."""
        planner = cls.__new__(cls)
        planner._prepare(inputs.ct, inputs.bone_threshold, inputs.options)
        if inputs.sacrum_mask is not None:
            planner._mask = mask_envelope(inputs.ct, inputs.sacrum_mask, name=inputs.sacrum_mask_name)
        return planner

    def _prepare(self, volume, threshold: float | None, options: SacroplastyOptions | None) -> None:
        #: The CT as given: the per-scan threshold is computed (and cached) on this object.
        self.ct = volume
        arr = volume.array
        self.volume = volume if arr.dtype == np.float32 else volume.with_array(arr.astype(np.float32))
        self.bone_threshold = threshold
        self.options = options or SacroplastyOptions()
        self._mask: Envelope | None = None
        self._shell: Envelope | None = None
        #: Refinement window (mm): about one voxel.
        self.window_mm = float(np.max(volume.spacing)) + self.options.step_mm

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

    # ------------------------------------------------------------------ envelope
    @property
    def sacrum_mask(self) -> Envelope | None:
        """The sacrum mask envelope, when one was given."""
        return self._mask

    def cortical_shell(
        self, threshold: float, lo: np.ndarray, hi: np.ndarray, *, tolerance: float = 0.0
    ) -> Envelope:
        """The cortical envelope at ``threshold`` around the landmarks' LPS box ``[lo, hi]`` (cached).

        It is built in ``[lo, hi]`` grown by ``envelope_margin_mm`` (clipped to the CT). The
        cached one is reused while its threshold differs by at most ``tolerance`` times its
        own and it still covers ``[lo, hi]`` grown by half that margin.
        """
        m = self.options.envelope_margin_mm
        img_lo, img_hi = self.volume.physical_bounds()
        need_lo = np.maximum(lo - m / 2, img_lo + 1e-6)
        need_hi = np.minimum(hi + m / 2, img_hi - 1e-6)
        if self._shell is not None and self._shell.reusable(threshold, need_lo, need_hi, tolerance=tolerance):
            return self._shell
        self._shell = cortical_envelope(
            self.volume, threshold, closing_mm=self.options.closing_mm, region=(lo - m, hi + m)
        )
        return self._shell

    def _envelopes(self, lm: Landmarks, geo: PlanGeometry, threshold: float, tolerance: float):
        """``(envelope, cortical shell)``: the envelope decides; the shell is compared with a mask."""
        pts = [lm[k] for k in required_sacroplasty_labels(lm)] + [g.target for g in geo.sides.values()]
        pts = np.array(pts, dtype=float)
        shell = self.cortical_shell(threshold, pts.min(axis=0), pts.max(axis=0), tolerance=tolerance)
        return (self._mask if self._mask is not None else shell), shell

    # ------------------------------------------------------------------ public
    def plan(
        self, landmarks: Landmarks | Mapping[str, object], *, envelope_tolerance: float = 0.0
    ) -> SacroplastyPlan:
        """Plan both sides and all three trajectories (CLINICAL.md section 3).

        Parameters
        ----------
        landmarks : Landmarks or mapping label -> (3,) LPS mm
        envelope_tolerance : float
            Reuse the cached cortical envelope while the bone threshold differs from its
            own by at most this fraction of it (live re-planning uses
            :data:`LIVE_ENVELOPE_TOLERANCE`); 0 builds it at exactly the plan's threshold.
            The envelope's own threshold is in the plan (``envelope_threshold_hu``).

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
        envelope, shell = self._envelopes(lm, geo, threshold, envelope_tolerance)
        rays = self._rays(geo, envelope, threshold)
        sides = {
            side: self._side(side, geo, rays[side], envelope, shell, threshold, warnings) for side in SIDES
        }
        lr_ok, msg = lr_line_in_envelope(
            self.volume,
            envelope,
            sides["right"].target_lps,
            sides["left"].target_lps,
            threshold,
            self.options,
        )
        if msg:
            warnings.append(msg)
        elif not all(r.target_in_bone for r in sides.values()):
            lr_ok = False
            warnings.append(
                "the left-right line between the two targets leaves the sacrum at the breached target."
            )
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
            envelope=envelope.to_dict(),
            envelope_region=envelope,
        )

    # ------------------------------------------------------------------ plan steps
    def _rays(
        self, geo: PlanGeometry, envelope: Envelope, threshold: float
    ) -> dict[str, dict[str, RayMeasures]]:
        """Sample and measure the six rays in one interpolation: ``{side: {key: measures}}``."""
        keys = [(side, spec.key) for side in SIDES for spec in TRAJECTORIES]
        starts = np.array([geo.sides[side].target for side, _ in keys])
        dirs = np.array([geo.sides[side].directions[k] for side, k in keys])
        t, i0, hu, inside = sample_rays(self.volume, envelope, starts, dirs, self.options)
        out: dict[str, dict[str, RayMeasures]] = {side: {} for side in SIDES}
        for r, (side, key) in enumerate(keys):
            m = analyse_ray(
                t,
                i0,
                hu[r],
                inside[r],
                threshold,
                self.options,
                window_mm=self.window_mm,
                gaps_outside_only=envelope.source == SACRUM_MASK,
            )
            if np.isfinite(m.exit_t):
                p = starts[r] + m.exit_t * dirs[r]
                at_edge = not envelope.within_grid(p, margin_mm=self.window_mm)
                if at_edge and self.volume.contains(p, margin_mm=self.window_mm):
                    m = RayMeasures(np.nan, True, False, m.skin_t, m.skin_at_image_edge, m.entry_t, m.gaps)
            out[side][key] = m
        return out

    def _side(self, side, geo: PlanGeometry, rays, envelope, shell, threshold, warnings) -> SideResult:
        """One :class:`SideResult`: the envelope's decision, the trajectories, their warnings."""
        g = geo.sides[side]
        inside = bool(envelope.contains(g.target))
        breach = None
        if not inside:
            mean_d = unit(np.sum(list(g.directions.values()), axis=0))
            breach = measure_breach(
                envelope,
                self.volume,
                g.target,
                mean_d,
                side,
                threshold,
                window_mm=self.window_mm,
                step_mm=self.options.step_mm,
            )
        trajectories = {
            key: _trajectory_result(key, g.target, g.directions[key], m, breach) for key, m in rays.items()
        }
        in_shell = bool(shell.contains(g.target)) if envelope is not shell else None
        result = SideResult(
            side,
            g.target,
            g.source,
            inside,
            g.joint,
            trajectories,
            breach_depth_mm=np.nan if breach is None else breach.depth_mm,
            breach_cortex=None if breach is None else breach.cortex,
            breach_point_lps=None if breach is None else breach.point_lps,
            in_cortical_shell=in_shell,
        )
        side_warnings(result, rays, envelope, shell, threshold, warnings)
        return result


def _trajectory_result(key: str, tx: np.ndarray, d: np.ndarray, m: RayMeasures, breach) -> TrajectoryResult:
    def at(v):
        return tx + v * d if np.isfinite(v) else None

    distance = m.exit_t if breach is None else -breach.depth_mm
    return TrajectoryResult(
        key=key,
        direction=d,
        distance_to_anterior_cortex_mm=float(distance),
        category=category(distance),
        anterior_cortex_lps=at(m.exit_t) if breach is None else None,
        entry_bone_lps=at(m.entry_t),
        entry_skin_lps=at(m.skin_t),
        needle_depth_mm=float(-m.skin_t),
        skin_at_image_edge=m.skin_at_image_edge,
        gaps_mm=m.gaps,
    )
