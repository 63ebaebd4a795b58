"""Imaging primitives shared by every analysis (one implementation of each job).

* :mod:`.grid` - crops, sub-volumes, voxel positions, LPS-aligned resampling;
* :mod:`.morphology` - structuring balls, connected components, hole and void filling;
* :mod:`.rays` - sampling along rays and the one "where a ray leaves bone" rule of
  CLINICAL.md section 2 ("Bone surface");
* :mod:`.threshold` - the one per-scan bone threshold (seed 000);
* :mod:`.envelope` - the region a cortical shell (or a sacrum mask) encloses;
* :mod:`.body` - the one vertebral-body source (body mask, whole-vertebra mask with the
  automatic posterior cut, or a seed point).

Sampling a volume at LPS points is :meth:`bonequality.volume.Volume.sample`.
"""

from .body import BodyOptions, BodySource, VertebralBody, vertebral_body
from .canal import CanalInfo, find_canal
from .envelope import Envelope, cortical_envelope, mask_envelope
from .grid import bbox_slices, crop, lps_grid_mask, lps_reference, resample_onto, voxel_points
from .morphology import axial_axis, ball, fill_holes, fill_voids, largest_component
from .rays import RayExit, bone_exit, clip_to_image, close_gaps, crossing, first_sustained_run, runs
from .threshold import bone_threshold, threshold_profiles

__all__ = [
    "BodyOptions",
    "BodySource",
    "CanalInfo",
    "Envelope",
    "RayExit",
    "VertebralBody",
    "axial_axis",
    "ball",
    "bbox_slices",
    "bone_exit",
    "bone_threshold",
    "clip_to_image",
    "close_gaps",
    "cortical_envelope",
    "crop",
    "crossing",
    "fill_holes",
    "fill_voids",
    "find_canal",
    "first_sustained_run",
    "largest_component",
    "lps_grid_mask",
    "lps_reference",
    "mask_envelope",
    "resample_onto",
    "runs",
    "threshold_profiles",
    "vertebral_body",
    "voxel_points",
]
