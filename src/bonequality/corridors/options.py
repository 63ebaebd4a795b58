"""Constants and options of the corridor analysis (seed 000, CLINICAL.md section 2).

Seed 000 Table 1 (:data:`REFERENCE_COHORT`), the probe regions (:data:`REGIONS`), the
screw diameters of seed 002 and which landmark each part of the analysis depends on
(:data:`LANDMARK_DEPENDENTS`, for the live update).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import OptionError
from ..validation import check_integer, check_number, check_screw_diameter

__all__ = [
    "L5_GROUP_HU",
    "LANDMARK_DEPENDENTS",
    "OPTION_RANGES",
    "REFERENCE_COHORT",
    "REGIONS",
    "SCREW_DIAMETERS_MM",
    "CorridorOptions",
]

#: Screw diameters (mm) of seed 002's cannulated screws.
SCREW_DIAMETERS_MM = (6.5, 7.3, 8.0)

#: Region name -> list of (start %, stop %) of the probe length (seed 000, "Methods").
REGIONS: dict[str, tuple[tuple[float, float], ...]] = {
    "corridor": ((0.0, 100.0),),
    "body": ((40.0, 60.0),),
    "alae": ((20.0, 40.0), (60.0, 80.0)),
}

#: Seed 000 Table 1: group -> measure -> (n, mean HU, SD HU).
REFERENCE_COHORT: dict[str, dict[str, tuple[int, float, float]]] = {
    "all": {
        "L5": (324, 163, 68),
        "S1_corridor": (324, 198, 71),
        "S1_body": (324, 218, 77),
        "S1_alae": (324, 70, 69),
        "S2_corridor": (324, 143, 60),
        "S2_body": (324, 133, 69),
        "S2_alae": (324, 30, 55),
    },
    "L5 > 100 HU": {
        "L5": (272, 179, 60),
        "S1_corridor": (272, 213, 64),
        "S1_body": (272, 236, 69),
        "S1_alae": (272, 82, 64),
        "S2_corridor": (272, 157, 55),
        "S2_body": (272, 147, 63),
        "S2_alae": (272, 41, 51),
    },
    "L5 <= 100 HU": {
        "L5": (52, 76, 22),
        "S1_corridor": (52, 114, 38),
        "S1_body": (52, 126, 35),
        "S1_alae": (52, 8, 56),
        "S2_corridor": (52, 72, 30),
        "S2_body": (52, 58, 42),
        "S2_alae": (52, -23, 41),
    },
}

#: L5 group boundary (HU): ``<= 100`` is the osteoporotic range (seed 000, after Pickhardt).
L5_GROUP_HU = 100.0

#: Numeric option -> (lowest, whether the lowest is allowed, highest), mm or HU; every value
#: must be finite and within its range (the highest allowed).
OPTION_RANGES: dict[str, tuple[float, bool, float]] = {
    "probe_diameter_mm": (0.0, False, 40.0),
    "segment_mm": (0.0, False, 5.0),
    "disk_step_mm": (0.0, False, 5.0),
    "min_run_mm": (0.0, False, 100.0),
    "air_hu": (-1100.0, True, 0.0),
    "ventral_clearance_mm": (0.0, True, 50.0),
    "free_radius_step_mm": (0.0, False, 5.0),
    "free_radius_max_mm": (0.0, False, 50.0),
    "free_radius_angles": (1, True, 360),
    "free_radius_every_mm": (0.0, False, 50.0),
    "plate_margin_mm": (0.0, True, 50.0),
    "plate_fraction": (0.0, False, 1.0),
    "thermal_half_width_mm": (0.0, False, 100.0),
    "thermal_step_mm": (0.0, False, 5.0),
    "l5_cortex_margin_mm": (0.0, True, 20.0),
    "l5_max_radius_mm": (0.0, False, 50.0),
    "l5_min_radius_mm": (0.0, False, 50.0),
    "l5_max_half_height_mm": (0.0, False, 50.0),
    "l5_cortex_contrast_hu": (0.0, True, 3000.0),
}

#: Landmark -> the parts of the analysis that depend on it (for :func:`update_corridors`).
LANDMARK_DEPENDENTS: dict[str, tuple[str, ...]] = {
    "S1_body_top": ("S1_L", "S1_R"),
    "S1_foramen_sup_L": ("S1_L", "S1_R"),
    "S1_foramen_sup_R": ("S1_L", "S1_R"),
    "SI_joint_ventral_sup_L": ("S1_L",),
    "SI_joint_ventral_sup_R": ("S1_R",),
    "S1_foramen_inf_L": ("S2",),
    "S1_foramen_inf_R": ("S2",),
    "S2_foramen_sup_L": ("S2",),
    "S2_foramen_sup_R": ("S2",),
    "S2_body_ventral_L": ("S2",),
    "S2_body_ventral_R": ("S2",),
    "S2_body_ventral_mid": ("S2",),
    "L5_body_center": ("L5",),
}


@dataclass(frozen=True)
class CorridorOptions:
    """Options of the corridor analysis (defaults: CLINICAL.md section 2 and seed 000).

    Attributes
    ----------
    probe_diameter_mm : float
        Cylinder probe diameter (10 mm).
    segment_mm : float
        Target segment length along the probe axis (0.25 mm).
    disk_step_mm : float
        Pitch of the square point lattice covering each segment's disk.
    min_run_mm : float
        The bone surface is where HU stays below the threshold for at least this long (5 mm).
    air_hu : float
        HU below which (for ``min_run_mm``) a ray has reached air: the body surface.
    ventral_clearance_mm : float
        Minimum distance of the S2 axis from ``S2_body_ventral_mid`` (7 mm).
    screw_diameters_mm : tuple of float
        Diameters checked for fit (seed 002: 6.5, 7.3, 8 mm).
    free_radius_step_mm, free_radius_max_mm, free_radius_angles, free_radius_every_mm : float/int
        Radial search of :func:`free_radius`.
    plate_margin_mm, plate_fraction : float
        Axis positions within ``plate_margin_mm`` of a cortex the axis itself crosses (iliac
        cortices, SI joint plates; axis HU >= ``plate_fraction`` x threshold, as thin plates
        peak below the threshold after blurring) are excluded from the free-radius check.
    thermal_half_width_mm, thermal_step_mm : float
        Extent and pixel size across the probe of the straightened thermal image.
    l5_cortex_margin_mm, l5_max_radius_mm, l5_max_half_height_mm, l5_min_radius_mm : float
        mm; ``l5_cortex_contrast_hu`` (HU) how much denser than the centre the cortex is.
        L5 ROI (see :func:`l5_density`).

    Raises
    ------
    OptionError
        A value that is not a finite number within its range (:data:`OPTION_RANGES`), a
        screw diameter outside (0, 20] mm, or ``l5_min_radius_mm`` above ``l5_max_radius_mm``.
    """

    probe_diameter_mm: float = 10.0
    segment_mm: float = 0.25
    disk_step_mm: float = 0.5
    min_run_mm: float = 5.0
    air_hu: float = -400.0
    ventral_clearance_mm: float = 7.0
    screw_diameters_mm: tuple[float, ...] = SCREW_DIAMETERS_MM
    free_radius_step_mm: float = 0.5
    free_radius_max_mm: float = 10.0
    free_radius_angles: int = 16
    free_radius_every_mm: float = 1.0
    plate_margin_mm: float = 4.0
    plate_fraction: float = 0.75
    thermal_half_width_mm: float = 15.0
    thermal_step_mm: float = 0.5
    l5_cortex_margin_mm: float = 3.0
    l5_max_radius_mm: float = 12.0
    l5_min_radius_mm: float = 4.0
    l5_max_half_height_mm: float = 8.0
    l5_cortex_contrast_hu: float = 150.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "screw_diameters_mm":
                continue
            lo, lo_inclusive, hi = OPTION_RANGES[f.name]
            name = f"corridor option {f.name}"
            if isinstance(lo, int):
                v = check_integer(getattr(self, f.name), name=name, lo=lo, hi=hi)
            else:
                v = check_number(getattr(self, f.name), name=name, lo=lo, hi=hi, lo_inclusive=lo_inclusive)
            object.__setattr__(self, f.name, v)
        try:
            diameters = tuple(self.screw_diameters_mm)
        except TypeError:
            diameters = (self.screw_diameters_mm,)
        if not 1 <= len(diameters) <= 10:
            raise OptionError(
                f"corridor option screw_diameters_mm: give 1 to 10 diameters, got {len(diameters)}"
            )
        checked = tuple(check_screw_diameter(d, name="corridor option screw_diameters_mm") for d in diameters)
        object.__setattr__(self, "screw_diameters_mm", checked)
        if self.l5_min_radius_mm > self.l5_max_radius_mm:
            raise OptionError(
                f"corridor options: l5_min_radius_mm {self.l5_min_radius_mm:g} is above l5_max_radius_mm "
                f"{self.l5_max_radius_mm:g}; give a smaller minimum"
            )
