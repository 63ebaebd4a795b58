"""Steps 1-3 of seed 004 (CLINICAL.md section 4): ROI, calibration, resampling and smoothing.

1. **ROI** = the vertebral body (:func:`bonequality.imaging.body.vertebral_body`: a body
   mask as given, a whole-vertebra mask with its posterior elements cut at the spinal
   canal, or bone grown from a seed point) eroded by 6 mm. The body is resampled (linear,
   > 0.5; its surface smoothed with a Gaussian of half the coarsest input spacing when
   that exceeds 0.3 mm) onto the 0.3 mm analysis grid and eroded there with a Euclidean
   distance map in mm: a voxel is kept when its distance to the mask boundary (half a
   voxel before the nearest voxel outside) is at least 6 mm.
2. **Calibration**: ``BMD = slope * HU + intercept`` (mg/cm³ HA), or HU-equivalent.
3. **Normalisation**: the CT is resampled (linear) onto a patient-aligned (LPS x, y, z)
   grid of 0.3 mm isotropic voxels, then smoothed with a Gaussian of sigma 0.3 mm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import MaskError
from ..imaging.body import BodyOptions, vertebral_body
from ..imaging.grid import bbox_slices, crop, lps_reference, resample_onto
from ..volume import Volume
from .calibration import Calibration
from .constants import ERODE_MM, GRID_MM, MAX_INPLANE_SPACING_MM, MIN_ROI_ML, SMOOTH_SIGMA_MM
from .inputs import FocalDefectInputs, body_source

log = logging.getLogger(__name__)

__all__ = ["PreparedInput", "body_on_ct", "prepare", "prepare_focal_defect"]

#: A body mask is taken as given: no working margin, no canal search (only its largest
#: component and filled voids, which leave a solid mask unchanged).
_BODY_MASK_OPTIONS = BodyOptions(margin_mm=0.0)


@dataclass(frozen=True, eq=False)
class PreparedInput:
    """The normalised analysis input on a patient-aligned 0.3 mm grid.

    Attributes
    ----------
    bmd : Volume
        Calibrated (or HU-equivalent), resampled and Gaussian-smoothed image, float32.
    roi : Volume
        Boolean ROI (mask eroded by 6 mm) on the same grid.
    calibration : Calibration
    warnings : tuple of str
    """

    bmd: Volume
    roi: Volume
    calibration: Calibration
    warnings: tuple[str, ...] = ()


def _inplane_spacing(volume: Volume) -> float:
    """Coarsest spacing of the two image axes closest to the patient axial plane (mm)."""
    tilt = np.abs(volume.direction[2, :])  # |z component| of each axis
    axes = np.argsort(tilt)[:2]
    return float(volume.spacing[axes].max())


def _warnings(volume: Volume, cal: Calibration, name: str) -> list[str]:
    warnings = []
    inplane = _inplane_spacing(volume)
    if inplane > MAX_INPLANE_SPACING_MM:
        msg = (
            f"{name}: in-plane spacing {inplane:.2f} mm is coarser than {MAX_INPLANE_SPACING_MM:g} mm; "
            "trabecular voids are blurred and the focal-defect values are not comparable with seed 004 "
            "(0.4 mm in-plane)."
        )
        warnings.append(msg)
        log.warning(msg)
    if not cal.calibrated:
        warnings.append(
            "no BMD calibration: values are HU-equivalent and uncalibrated; z-scores of BMD, focal BMD "
            "loss and focal BMC loss against seed 004 (mg/cm³) are indicative only"
        )
    return warnings


def body_on_ct(inputs: FocalDefectInputs) -> np.ndarray:
    """The vertebral body of ``inputs`` as a bool array on the CT grid.

    Raises
    ------
    SeedNotInBoneError
        A seed point that is not in bone (a :class:`MaskError` and a :class:`LandmarkError`).
    """
    source = inputs.body
    if source.kind == "body_mask":
        return vertebral_body(inputs.ct, source, options=_BODY_MASK_OPTIONS, find_canal_beside=False).mask
    # A seed not in bone raises SeedNotInBoneError, a MaskError as well as a LandmarkError.
    return vertebral_body(inputs.ct, source).mask


def _fine_roi(volume: Volume, body: np.ndarray, label: str, erode_mm: float, grid_mm: float):
    """The body on a ``grid_mm`` LPS grid around it, eroded by ``erode_mm``: (roi, reference grid)."""
    body_vol = crop(volume, bbox_slices(body, (2, 2, 2)), body)
    body_vol = body_vol.with_array(body_vol.array.astype(np.float32))
    lo, hi = body_vol.physical_bounds()
    ref = lps_reference(lo, np.maximum(1, np.ceil((hi - lo) / grid_mm - 1e-6).astype(int) + 1), grid_mm)
    fine_mask = resample_onto(body_vol, ref, default=0.0)
    # Smooth the mask surface at the scale of the input voxels, so that the staircase of a
    # thick-slice or oblique grid does not pull the 6 mm erosion inwards.
    mask_sigma = 0.5 * float(volume.spacing.max())
    if mask_sigma > grid_mm:
        fine_mask = ndimage.gaussian_filter(fine_mask, mask_sigma / grid_mm, mode="constant", truncate=3.0)
    fine_mask = fine_mask > 0.5
    if not fine_mask.any():
        raise MaskError(f"{label}: the vertebral body vanishes when resampled to 0.3 mm; it is too thin.")
    # Distance (mm) to the nearest voxel outside the mask; the mask edge lies half a voxel closer.
    # (ITK's Maurer transform of the background: the exact Euclidean distance, multi-threaded.)
    background = sitk.GetImageFromArray(np.pad(~fine_mask, 1).view(np.uint8))
    background.SetSpacing([grid_mm] * 3)
    dist = sitk.GetArrayFromImage(
        sitk.SignedMaurerDistanceMap(
            background, insideIsPositive=False, squaredDistance=False, useImageSpacing=True
        )
    )[1:-1, 1:-1, 1:-1]
    roi = dist - grid_mm / 2 >= erode_mm
    roi_ml = roi.sum() * grid_mm**3 / 1000
    if roi_ml < MIN_ROI_ML:
        what = "empty" if roi_ml == 0 else f"only {roi_ml:.2f} ml"
        raise MaskError(
            f"{label}: the ROI is {what} after the {erode_mm:g} mm erosion (at least "
            f"{MIN_ROI_ML:g} ml needed); the mask must be a whole, filled vertebral body (no "
            f"holes), over {2 * erode_mm:g} mm across in every direction."
        )
    return roi, ref


def _fine_ct(volume: Volume, origin: np.ndarray, shape, grid_mm: float, sigma_mm: float) -> np.ndarray:
    """The CT resampled (linear) onto the ``shape`` (z, y, x) LPS grid at ``origin`` and smoothed."""
    ref = lps_reference(origin, shape[::-1], grid_mm)
    # Only the part of the CT around the analysis grid is converted and resampled.
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]) * (
        np.array(shape[::-1]) - 1
    )
    idx_ct = volume.physical_to_index(origin + corners * grid_mm)
    lo_c = np.clip(np.floor(idx_ct.min(axis=0)).astype(int) - 2, 0, np.array(volume.shape_ijk) - 1)
    hi_c = np.clip(np.ceil(idx_ct.max(axis=0)).astype(int) + 3, 1, volume.shape_ijk)
    box = tuple(slice(int(lo_c[a]), int(hi_c[a])) for a in (2, 1, 0))
    ct_fine = resample_onto(crop(volume, box), ref, default=-1000.0)
    return ndimage.gaussian_filter(ct_fine, sigma_mm / grid_mm, mode="nearest", truncate=4.0)


def prepare(
    inputs: FocalDefectInputs,
    *,
    erode_mm: float = ERODE_MM,
    grid_mm: float = GRID_MM,
    sigma_mm: float = SMOOTH_SIGMA_MM,
) -> PreparedInput:
    """Steps 1-3 (module docstring) for validated ``inputs``."""
    volume, cal = inputs.ct, inputs.calibration
    warnings = _warnings(volume, cal, inputs.name)
    body = body_on_ct(inputs)
    roi, ref = _fine_roi(volume, body, f"vertebral body ({inputs.body.label})", erode_mm, grid_mm)
    # Crop the analysis grid to the ROI plus a margin for the smoothing kernel.
    margin = int(np.ceil(4 * sigma_mm / grid_mm)) + 1
    sl = bbox_slices(roi, (margin,) * 3)
    roi = roi[sl]
    origin = np.asarray(ref.GetOrigin()) + np.array([s.start for s in sl])[::-1] * grid_mm
    bmd = cal.apply(_fine_ct(volume, origin, roi.shape, grid_mm, sigma_mm))
    spacing = np.full(3, grid_mm)
    return PreparedInput(
        Volume(bmd, spacing, origin, np.eye(3)),
        Volume(roi, spacing, origin, np.eye(3)),
        cal,
        tuple(warnings),
    )


def prepare_focal_defect(
    volume: Volume,
    *,
    mask=None,
    seed=None,
    vertebra_mask=None,
    calibration=None,
    erode_mm: float = ERODE_MM,
    grid_mm: float = GRID_MM,
    sigma_mm: float = SMOOTH_SIGMA_MM,
    name: str = "CT",
) -> PreparedInput:
    """Steps 1-3 of the method: ROI, calibration, resampling and smoothing.

    Parameters
    ----------
    volume : Volume
        CT in HU (any spacing and direction).
    mask : Volume or bool ndarray, optional
        Vertebral-body mask (a Volume on any overlapping grid, or an array on ``volume``'s grid).
    seed : (3,) float, mm, LPS, optional
        Seed point inside the body, used instead of ``mask``.
    vertebra_mask : Volume or bool ndarray, optional
        Whole-vertebra mask, used instead of ``mask``: the posterior elements are cut off.
    calibration : Calibration or (slope, intercept), optional
        None = uncalibrated (HU-equivalent).
    """
    inputs = FocalDefectInputs(
        volume,
        body_source(mask=mask, vertebra_mask=vertebra_mask, seed=seed),
        calibration=calibration,
        name=name,
    )
    return prepare(inputs, erode_mm=erode_mm, grid_mm=grid_mm, sigma_mm=sigma_mm)
