"""The plan's result objects: per trajectory, per side and the whole plan (seed 001)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..geometry import Line
from .options import REFERENCE
from .report import write_plan

if TYPE_CHECKING:
    from .inputs import SacroplastyInputs

__all__ = ["SacroplastyPlan", "SideResult", "TrajectoryResult"]


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
        For a target inside the envelope, from the target forward to where the needle
        leaves it through the outer surface of the anterior cortex (positive). For a target
        outside, minus the side's breach depth (the same on all three trajectories). NaN
        when it cannot be found.
    category : str
        Seed 001 Table 1 bin.
    anterior_cortex_lps, entry_bone_lps, entry_skin_lps : (3,) float or None, LPS mm
        Where the needle leaves the envelope (None for a target outside it), the dorsal
        bone entry and the skin entry.
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
        Whether the target lies in the envelope (the same for all three trajectories).
    joint_direction : (3,) float
        Unit axial direction of the SI joint, dorsal -> ventral.
    trajectories : mapping key -> TrajectoryResult
    breach_depth_mm : float
        For a target outside the envelope, its shortest distance to it (positive); NaN
        for a target inside (:mod:`bonequality.sacroplasty.breach`).
    breach_cortex : str or None
        The cortex passed (e.g. ``"anterior sacral cortex"``).
    breach_point_lps : (3,) float or None
        The envelope surface point nearest to the target.
    in_cortical_shell : bool or None
        With a sacrum mask as the envelope: whether the cortical shell holds the target
        (None without a mask).
    """

    side: str
    target_lps: np.ndarray
    target_source: str
    target_in_bone: bool
    joint_direction: np.ndarray
    trajectories: Mapping[str, TrajectoryResult]
    breach_depth_mm: float = np.nan
    breach_cortex: str | None = None
    breach_point_lps: np.ndarray | None = None
    in_cortical_shell: bool | None = None

    def to_dict(self) -> dict:
        depth = float(self.breach_depth_mm)
        return {
            "target_lps": _lps(self.target_lps),
            "target_source": self.target_source,
            "target_in_bone": bool(self.target_in_bone),
            "breach_depth_mm": depth if np.isfinite(depth) else None,
            "breach_cortex": self.breach_cortex,
            "breach_point_lps": _lps(self.breach_point_lps),
            "in_cortical_shell": None if self.in_cortical_shell is None else bool(self.in_cortical_shell),
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
        Whether the left-right line between the two targets stays inside the sacrum.
    warnings : tuple of str
    envelope : dict
        Which envelope decided (:meth:`bonequality.imaging.envelope.Envelope.to_dict`):
        ``"envelope"`` (``"cortical shell"`` or ``"sacrum mask"``), ``"envelope_name"``,
        ``"envelope_threshold_hu"`` and ``"envelope_closing_mm"`` (None for a mask).
    envelope_region : Envelope or None
        The envelope itself (:class:`bonequality.imaging.envelope.Envelope`), for drawing
        its outline; not part of :meth:`to_dict`.
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
    envelope: Mapping[str, object] = field(default_factory=dict)
    envelope_region: object = field(default=None, repr=False, compare=False)

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
            **dict(self.envelope),
            "left": self.left.to_dict(),
            "right": self.right.to_dict(),
            "lr_line_in_bone": bool(self.lr_line_in_bone),
            "warnings": list(self.warnings),
            "reference_seed001": REFERENCE,
        }

    def figures(self) -> dict[str, object]:
        """Flat per-case figures for ``cohort.csv``: threshold, skew gap, per side and trajectory.

        Keys ``bone_threshold_hu``, ``envelope``, ``skew_gap_mm``, ``lr_line_in_bone``,
        ``n_warnings``, ``<side>_target_in_bone``, ``<side>_breach_depth_mm`` and
        ``<side>_<trajectory>_{distance_mm,depth_mm,category}``.
        """
        out: dict[str, object] = {
            "bone_threshold_hu": float(self.bone_threshold_hu),
            "envelope": self.envelope.get("envelope", ""),
            "skew_gap_mm": float(self.skew_gap_mm),
            "lr_line_in_bone": bool(self.lr_line_in_bone),
            "n_warnings": len(self.warnings),
        }
        for side, res in self.sides.items():
            out[f"{side}_target_in_bone"] = bool(res.target_in_bone)
            out[f"{side}_breach_depth_mm"] = float(res.breach_depth_mm)
            for key, t in res.trajectories.items():
                out[f"{side}_{key}_distance_mm"] = float(t.distance_to_anterior_cortex_mm)
                out[f"{side}_{key}_depth_mm"] = float(t.needle_depth_mm)
                out[f"{side}_{key}_category"] = t.category
        return out

    def write(self, out_dir: Path, inputs: SacroplastyInputs) -> None:
        """``summary.json`` (:meth:`to_dict`, plus ``inputs``: the file names) and ``report.png``.

        ``out_dir`` must exist (normally a staging folder of
        :func:`bonequality.outputs.atomic_output_dir`).
        """
        write_plan(Path(out_dir), self, inputs)
