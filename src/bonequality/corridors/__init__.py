"""Sacral screw corridors, 10 mm cylinder probes and L5 density (seed 000, CLINICAL.md section 2).

Implements Thiesen et al. (seed 000, "The three-dimensional bone mass distribution of the
posterior pelvic ring and its key role in transsacral screw placement"):

* **S1 and S2 corridors** (:mod:`.geometry`): ``C1``, ``K_X`` and the entry points ``E_X``
  on the outer iliac cortex; the S2 circumcentres ``M_X``, the 7 mm ventral clearance rule
  and the S2 entries. The S1 probe runs ``E_L -> C1 -> E_R`` (0 % = patient left, 100 % =
  patient right), as CLINICAL.md section 2 defines it; the S2 probe runs from the left
  entry to the right.
* **Probes** (:mod:`.probes`): 0.25 mm segments of 10 mm disk means (partial-area lattice),
  1 % profiles, region means (body 40-60 %, alae 20-40 % + 60-80 % pooled, whole 0-100 %),
  the free radius for the screw fit (seed 002 diameters 6.5, 7.3, 8 mm) and the
  straightened thermal image.
* **Bone threshold**: per scan (:func:`bonequality.imaging.threshold.bone_threshold`, seed
  000's "mean of the maxima and minima of density profiles across the bone") or given.
* **L5** (:mod:`.l5`): mean HU of an ROI in the trabecular core, group ``<= 100 HU`` /
  ``> 100 HU``; z-scores against seed 000 Table 1 (:data:`REFERENCE_COHORT`).

Public API: :class:`CorridorInputs` and :func:`run` (one analysis), :func:`analyze_corridors`
(the same with the inputs as arguments), :func:`update_corridors` (fast re-sampling of
only what a moved landmark changes), :meth:`CorridorResult.write` (``summary.json``,
``profiles.csv``, ``report.png``) and :meth:`CorridorResult.figures` (``cohort.csv`` columns).
"""

from __future__ import annotations

from .analysis import analyze_corridors, compute_bone_threshold, run, update_corridors
from .geometry import S1Geometry, S2Geometry, find_bone_exit, s1_geometry, s2_geometry
from .inputs import CorridorInputs
from .l5 import L5Result, l5_density
from .options import LANDMARK_DEPENDENTS, REFERENCE_COHORT, REGIONS, SCREW_DIAMETERS_MM, CorridorOptions
from .probes import Leg, ProbeResult, free_radius, sample_probe
from .result import CorridorResult, z_scores

__all__ = [
    "LANDMARK_DEPENDENTS",
    "REFERENCE_COHORT",
    "REGIONS",
    "SCREW_DIAMETERS_MM",
    "CorridorInputs",
    "CorridorOptions",
    "CorridorResult",
    "L5Result",
    "Leg",
    "ProbeResult",
    "S1Geometry",
    "S2Geometry",
    "analyze_corridors",
    "compute_bone_threshold",
    "find_bone_exit",
    "free_radius",
    "l5_density",
    "run",
    "s1_geometry",
    "s2_geometry",
    "sample_probe",
    "update_corridors",
    "z_scores",
]
