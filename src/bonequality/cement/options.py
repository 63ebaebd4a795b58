"""User-settable thresholds and sizes of the cement analysis, with their ranges (seed 003)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError
from ..imaging.body import BodyOptions
from ..validation import HU_RANGE, SCREW_DIAMETER_RANGE_MM, check_number

__all__ = [
    "HU_RANGE",
    "LEAK_LOCATIONS",
    "LEAK_RULES",
    "OPTION_RANGES",
    "SACRAL_LEAK_LOCATIONS",
    "CementOptions",
]

#: Leak locations around a vertebral body, in the order they are tested (first match wins;
#: a leak voxel matching none is paravertebral).
LEAK_LOCATIONS = ("canal_foramen", "cranial_disc", "caudal_disc", "paravertebral")
#: Leak locations around a sacrum.
SACRAL_LEAK_LOCATIONS = ("canal", "foramina", "presacral", "other")
#: How dense voxels outside (and inside) the body are told from bone: ``"cement"`` weighs
#: the evidence (:mod:`bonequality.cement.cortex`), ``"threshold"`` counts every voxel the
#: threshold and the cortical-bone check keep (Mimics' raw number).
LEAK_RULES = ("cement", "threshold")

#: Numeric option -> (lowest, highest, lowest allowed?, unit). Every one must be finite;
#: the highest is allowed except for ``min_zone_fraction``.
OPTION_RANGES = {
    "min_cement_thickness_mm": (0.0, 10.0, True, "mm"),
    "min_component_ml": (0.0, 10.0, True, "ml"),
    "leak_search_mm": (0.0, 100.0, False, "mm"),
    "min_zone_fraction": (0.0, 1.0, True, ""),
    "axial_slab_mm": (0.0, 20.0, True, "mm"),
    "vf_cutoff_percent": (0.0, 100.0, True, "%"),
    "extensive_min_score": (0.0, 10.0, True, ""),
    "seed_radius_mm": (0.0, 100.0, False, "mm"),
    "seed_snap_mm": (0.0, 20.0, True, "mm"),
    "closing_mm": (0.0, 5.0, True, "mm"),  # 7 mm: 82 s, 2.4 GB; 10 mm: > 5 min, > 14 GB at 0.5 mm
    "max_canal_width_mm": (0.0, 100.0, False, "mm"),
    "foramen_margin_mm": (0.0, 50.0, True, "mm"),
    "working_spacing_mm": (0.0, 5.0, False, "mm"),
    "screw_diameter_mm": (*SCREW_DIAMETER_RANGE_MM, False, "mm"),
    "screw_contact_margin_mm": (0.0, 10.0, True, "mm"),
    "sacral_body_halfwidth_mm": (0.0, 100.0, True, "mm"),
    "sacral_canal_halfwidth_mm": (0.0, 100.0, True, "mm"),
    "cortical_shell_mm": (0.0, 10.0, False, "mm"),
    "cortex_margin_hu": (0.0, 1000.0, True, "HU"),
}


def _check_hu_range(value, name: str) -> None:
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise OptionError(f"option {name}: give two HU values (lower, upper), got {value!r}") from None
    for v in (lo, hi):
        check_number(v, name=f"option {name}", lo=HU_RANGE[0], hi=HU_RANGE[1], unit="HU")
    if not lo < hi:
        raise OptionError(f"option {name}: lower threshold {lo} must be below the upper {hi}")


@dataclass(frozen=True)
class CementOptions:
    """User-settable thresholds and sizes (defaults from CLINICAL.md section 5 / seed 003).

    Every number must be finite and within its range (:class:`~bonequality.errors.OptionError`
    otherwise): HU thresholds within -1024 to 4000 HU, lengths as stated below.

    Attributes
    ----------
    bone_hu : (float, float)
        Bone range for the vertebral body (Mimics default 226-3071 HU).
    cement_hu : (float, float)
        Cement range (1000-3000 HU).
    min_cement_thickness_mm : float
        Cortical-bone check: cement must contain a ball of this diameter (mm, 0-10); thinner
        dense structures (cortex) are removed by morphological opening. 0 disables.
    min_component_ml : float
        Cement components smaller than this (ml, 0-10) are ignored.
    cement_peak_hu : float or None
        Cortical-bone check: a component counts as cement only if its 90th-percentile HU
        reaches this (dense cortex stays near 1000-1300 HU); None disables.
    leak_search_mm : float
        Leakage is searched within this margin (mm, (0, 100]) around the body's bounding box.
    min_zone_fraction : float
        Minimum cement fraction of a score zone's body volume for the zone to count ([0, 1)).
    axial_slab_mm : float
        Thickness of the axial slabs searched for the best axial slice (at least one voxel;
        0-20 mm).
    vf_cutoff_percent : float
        VF % from which extensive distribution is predicted (seed 003: 28.58).
    extensive_min_score : int
        Distribution score (0-10) from which a case is group B (extensive): 8.
    seed_radius_mm : float
        Seed mode: bone is grown only within this radius of the seed ((0, 100] mm).
    seed_snap_mm : float
        Seed mode: how far from the seed the nearest bone voxel may be (0-20 mm).
    closing_mm : float
        Radius (mm, 0-5) of a morphological closing that repairs gaps in a thin or
        low-density cortical shell before voids are filled (seed mode and the final body;
        0 = off, the Mimics default). Useful on thick-slice CT of osteoporotic bone.
    max_canal_width_mm : float
        Holes wider (LPS x) than this are not taken for the spinal canal ((0, 100] mm).
    foramen_margin_mm : float
        Leaks posterior to the body within the canal's half-width plus this margin (0-50 mm)
        count as canal/foramen leaks.
    working_spacing_mm : float
        Spacing of the LPS-aligned grid on which the spinal canal is found ((0, 5] mm).
    screw_diameter_mm : float
        Default screw diameter when a screw file does not give one ((0, 20] mm).
    screw_contact_margin_mm : float
        Cement within the screw radius plus this margin (0-10 mm) of the axis is in contact.
    sacral_body_halfwidth_mm : float
        Sacrum: cement within this distance of the midline is "body", beyond it "ala".
    sacral_canal_halfwidth_mm : float
        Sacrum: enclosed non-bone within this distance of the midline is canal, else foramina.
    leak_rule : str
        ``"cement"`` (default): dense components are told from cortical and sclerotic bone by
        their HU against this scan's own cortex, their place in the bone and their link to
        the intra-body cement (:mod:`bonequality.cement.cortex`); ``"threshold"``: every
        voxel the threshold and the cortical-bone check keep counts (Mimics' raw number).
    cortical_shell_mm : float
        ``leak_rule="cement"``: thickness (mm, (0, 10]) of the bone's cortical shell, where
        the scan's cortical level is measured and where a dense component is an endplate
        or wall rather than cement.
    cortex_margin_hu : float
        ``leak_rule="cement"``: a component is cement wherever it lies when its 90th
        percentile HU exceeds the scan's cortical level by this margin (0-1000 HU).
    """

    bone_hu: tuple[float, float] = (226.0, 3071.0)
    cement_hu: tuple[float, float] = (1000.0, 3000.0)
    min_cement_thickness_mm: float = 2.0
    min_component_ml: float = 0.01
    cement_peak_hu: float | None = 1400.0
    leak_search_mm: float = 15.0
    min_zone_fraction: float = 0.05
    axial_slab_mm: float = 1.0
    vf_cutoff_percent: float = 28.58
    extensive_min_score: int = 8
    seed_radius_mm: float = 45.0
    seed_snap_mm: float = 3.0
    closing_mm: float = 0.0
    max_canal_width_mm: float = 32.0
    foramen_margin_mm: float = 10.0
    working_spacing_mm: float = 0.5
    screw_diameter_mm: float = 7.0
    screw_contact_margin_mm: float = 1.0
    sacral_body_halfwidth_mm: float = 15.0
    sacral_canal_halfwidth_mm: float = 12.0
    leak_rule: str = "cement"
    cortical_shell_mm: float = 3.0
    cortex_margin_hu: float = 100.0

    def __post_init__(self) -> None:
        if self.leak_rule not in LEAK_RULES:
            raise OptionError(f"option leak_rule: {self.leak_rule!r}; choose one of {', '.join(LEAK_RULES)}")
        for name in ("bone_hu", "cement_hu"):
            _check_hu_range(getattr(self, name), name)
        if self.cement_peak_hu is not None:
            check_number(
                self.cement_peak_hu, name="option cement_peak_hu", lo=HU_RANGE[0], hi=HU_RANGE[1], unit="HU"
            )
        for name, (lo, hi, lo_inclusive, unit) in OPTION_RANGES.items():
            check_number(
                getattr(self, name),
                name=f"option {name}",
                lo=lo,
                hi=hi,
                lo_inclusive=lo_inclusive,
                hi_inclusive=name != "min_zone_fraction",
                unit=unit,
            )
        if float(self.extensive_min_score) != round(float(self.extensive_min_score)):
            raise OptionError(
                f"option extensive_min_score: {self.extensive_min_score!r} is not a whole number"
            )

    def body_options(self) -> BodyOptions:
        """How the vertebral body is made (:func:`bonequality.imaging.body.vertebral_body`).

        The body's working box extends ``leak_search_mm`` beyond it: leakage and the
        spinal canal are searched there. A body mask that holds the posterior elements has
        them cut off (with a warning): their cortex would otherwise count as CDV.
        """
        return BodyOptions(
            bone_hu=tuple(self.bone_hu),
            seed_radius_mm=self.seed_radius_mm,
            seed_snap_mm=self.seed_snap_mm,
            closing_mm=self.closing_mm,
            max_canal_width_mm=self.max_canal_width_mm,
            working_spacing_mm=self.working_spacing_mm,
            margin_mm=self.leak_search_mm,
            cut_body_mask=True,
        )
