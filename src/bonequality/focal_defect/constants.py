"""Method constants of seed 004 (CLINICAL.md section 4) and the one table of the three maps."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AXIAL_ANGLES_DEG",
    "ERODE_MM",
    "FLAT_EPS",
    "FOCAL_MAPS",
    "GRID_MM",
    "INTACT_BONE_MG_CM3",
    "MAP_UNITS",
    "MAX_INPLANE_SPACING_MM",
    "MIN_ROI_ML",
    "PAPER_MINUTES_PER_VERTEBRA",
    "SMOOTH_SIGMA_MM",
    "STARS",
    "STAR_3D_RINGS",
    "FocalMap",
]

#: ROI erosion from the vertebral-body mask (mm), seed 004 section 2.3.1.
ERODE_MM = 6.0
#: Isotropic analysis grid (mm) and Gaussian sigma (mm), seed 004 "Image normalization".
GRID_MM = 0.3
SMOOTH_SIGMA_MM = 0.3
#: The 15 axial star-line orientations, 12° apart (degrees from the patient x axis).
AXIAL_ANGLES_DEG = tuple(12.0 * n for n in range(15))
#: Density of intact bone tissue (mg/cm³) in the BMD-loss formula (seed 004, eq. 2).
INTACT_BONE_MG_CM3 = 1200.0
#: In-plane spacing (mm) beyond which the voids are too blurred to measure.
MAX_INPLANE_SPACING_MM = 1.0
#: Smallest ROI (ml) left after erosion that is analysed.
MIN_ROI_ML = 0.3
#: Profile differences below this (BMD units) count as flat when finding extrema.
FLAT_EPS = 1e-3
#: Star choices: the paper's axial star and the optional 3-D star.
STARS = ("2d", "3d")
#: Elevations (deg) and azimuth steps (deg) of the optional 3-D star (axial ring first).
STAR_3D_RINGS = ((0.0, 12.0), (45.0, 45.0), (-45.0, 45.0), (90.0, 360.0))
#: The paper's in-house program: minutes per vertebra (Intel Core i7).
PAPER_MINUTES_PER_VERTEBRA = 2.68


@dataclass(frozen=True)
class FocalMap:
    """One output map: result attribute, file name, quantity and unit."""

    attr: str
    file: str
    quantity: str
    unit: str


#: The three maps of seed 004. THE definition of their units: the NRRD headers, the
#: reference rows of the summary and the report's panels all read it.
FOCAL_MAPS: tuple[FocalMap, ...] = (
    FocalMap("focal_bmc_loss", "focal_bmc_loss.nrrd", "focal BMC loss", "mm"),
    FocalMap("focal_bmd_loss", "focal_bmd_loss.nrrd", "focal BMD loss", "fraction of 1200 mg/cm3"),
    FocalMap("intercept_width", "intercept_width.nrrd", "intercept width", "mm"),
)
#: Map attribute -> unit.
MAP_UNITS = {m.attr: m.unit for m in FOCAL_MAPS}
