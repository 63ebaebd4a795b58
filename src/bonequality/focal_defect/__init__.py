"""Focal osteoporosis defect: focal BMC loss, focal BMD loss and intercept-width maps.

Implements CLINICAL.md section 4, after seed 004 (Zhang et al., "Focal bone mineral
content loss", JOR Spine, section 2.3 and Figures 1, 2 and 7). The reading implemented:

1. **ROI** = the vertebral body eroded by 6 mm. The body is a body mask as given, a
   whole-vertebra mask with its posterior elements cut at the spinal canal, or bone
   (226-3071 HU) grown from a seed point (:mod:`bonequality.imaging.body`). It is
   resampled (linear, > 0.5; its surface smoothed with a Gaussian of half the coarsest
   input spacing when that exceeds 0.3 mm) onto the 0.3 mm analysis grid and eroded there
   with a Euclidean distance map in mm: a voxel is kept when its distance to the mask
   boundary (half a voxel before the nearest voxel outside) is at least 6 mm.
2. **Calibration**: ``BMD = slope * HU + intercept`` (mg/cm³ hydroxyapatite), from a given
   slope/intercept or a least-squares fit to phantom inserts (R² reported). Without one,
   BMD is the HU value itself and every output says "HU-equivalent, uncalibrated".
3. **Normalisation**: the CT is resampled (linear) onto a patient-aligned (LPS x, y, z)
   grid of 0.3 mm isotropic voxels, then smoothed with a Gaussian of sigma 0.3 mm. Oblique
   images are therefore analysed in the patient axial plane, not in their i-j plane.
4. **Star-lines**: through every ROI voxel, 15 axial lines 12° apart (0°, 12°, ..., 168°
   from the patient x axis). A line's profile is the part of the line inside the ROI,
   sampled every 0.3 mm (several parts if the ROI is not convex along it).
5. **Voids**: on each profile, local maxima and minima (plateaus are one extremum;
   differences below ``1e-3`` are flat). Around each minimum ``m`` with neighbouring maxima
   ``M1`` (before) and ``M2`` (after) on the same profile, the void is the run of samples
   below ``0.5 * (M1 + m)`` on the left flank and ``0.5 * (M2 + m)`` on the right flank;
   its ends are the linearly interpolated (sub-sample) crossings of those levels. A profile
   end is a maximum when the profile rises to it (a local maximum of the profile on its
   interval); a minimum at a profile end is not, so a valley cut open by the ROI edge is
   not a void.
6. **Per voxel and orientation**: in a void of width ``W`` (mm), ``IncptWidth = W``,
   ``focal BMD loss`` = mean of ``(1200 - BMD) / 1200`` over the void (the integral of the
   piecewise-linear profile between the two crossings, divided by ``W``) and
   ``focal BMC loss = focal BMD loss * W`` (mm; the area above the curve, seed 004
   Figure 1D). A voxel takes the values of the void its nearest line sample lies in; a
   voxel in no void gets 0 for all three.
7. **Maps**: the mean over the orientations. **Summary**: each map's mean over the ROI,
   and over the void voxels only (voxels in a void along at least one orientation).
8. **Reference** values of seed 004 (L1, 205 patients) and z-scores against them.

One run: :class:`FocalDefectInputs` (validated on construction) -> :func:`run` ->
:class:`FocalDefectResult` (``write`` its files, ``figures`` for a cohort table);
:func:`analyze_focal_defect` is the keyword wrapper. Modules: :mod:`.inputs`,
:mod:`.calibration`, :mod:`.prepare` (steps 1-3), :mod:`.star` and :mod:`.voids` (steps
4-7, vectorised over all lines of an orientation), :mod:`.reference` (step 8),
:mod:`.result`, :mod:`.report` (NRRD maps and report.png), :mod:`.constants`.
"""

from .analysis import analyze_focal_defect, run
from .calibration import Calibration, read_phantom_inserts
from .constants import (
    AXIAL_ANGLES_DEG,
    ERODE_MM,
    FLAT_EPS,
    FOCAL_MAPS,
    GRID_MM,
    INTACT_BONE_MG_CM3,
    MAP_UNITS,
    MAX_INPLANE_SPACING_MM,
    MIN_ROI_ML,
    PAPER_MINUTES_PER_VERTEBRA,
    SMOOTH_SIGMA_MM,
    STAR_3D_RINGS,
    FocalMap,
)
from .inputs import FocalDefectInputs
from .prepare import PreparedInput, prepare_focal_defect
from .reference import REFERENCE, ReferenceValue, z_scores
from .result import FocalDefectResult, FocalDefectSummary
from .star import star_directions, star_line_maps
from .voids import Voids, detect_voids

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
    "REFERENCE",
    "SMOOTH_SIGMA_MM",
    "STAR_3D_RINGS",
    "Calibration",
    "FocalDefectInputs",
    "FocalDefectResult",
    "FocalDefectSummary",
    "FocalMap",
    "PreparedInput",
    "ReferenceValue",
    "Voids",
    "analyze_focal_defect",
    "detect_voids",
    "prepare_focal_defect",
    "read_phantom_inserts",
    "run",
    "star_directions",
    "star_line_maps",
    "z_scores",
]
