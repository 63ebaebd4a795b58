"""Focal osteoporosis defect: focal BMC loss, focal BMD loss and intercept-width maps.

Implements CLINICAL.md section 4, after seed 004 (Zhang et al., "Focal bone mineral
content loss", JOR Spine, section 2.3 and Figures 1, 2 and 7). The reading implemented:

1. **ROI** = vertebral-body mask (given, or grown from a seed point) eroded by 6 mm. The
   mask is resampled (linear, > 0.5; its surface smoothed with a Gaussian of half the
   coarsest input spacing when that exceeds 0.3 mm) onto the 0.3 mm analysis grid and
   eroded there with a Euclidean distance map in mm: a voxel is kept when its distance to
   the mask boundary (half a voxel before the nearest voxel outside) is at least 6 mm.
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

Speed: every voxel on one line of one orientation shares that line's profile, so for each
orientation the ROI is resampled once onto a grid rotated so that the orientation runs
along an array axis, and the half-maximum voids of all rows are found at once by
vectorised operations on the concatenated rows. ``benchmarks/focal_baseline.py`` holds the
straightforward per-voxel version this is checked against.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .errors import AnalysisError, CalibrationError, InputFileError, MaskError
from .progress import ProgressCallback, report
from .volume import Volume

log = logging.getLogger(__name__)

__all__ = [
    "AXIAL_ANGLES_DEG",
    "ERODE_MM",
    "GRID_MM",
    "INTACT_BONE_MG_CM3",
    "MIN_ROI_ML",
    "PAPER_MINUTES_PER_VERTEBRA",
    "REFERENCE",
    "SMOOTH_SIGMA_MM",
    "Calibration",
    "FocalDefectResult",
    "FocalDefectSummary",
    "PreparedInput",
    "ReferenceValue",
    "Voids",
    "analyze_focal_defect",
    "detect_voids",
    "prepare_focal_defect",
    "read_phantom_inserts",
    "segment_body_from_seed",
    "star_directions",
    "star_line_maps",
    "z_scores",
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
#: Elevations (deg) and azimuth steps (deg) of the optional 3-D star (axial ring first).
STAR_3D_RINGS = ((0.0, 12.0), (45.0, 45.0), (-45.0, 45.0), (90.0, 360.0))


@dataclass(frozen=True)
class ReferenceValue:
    """One row of seed 004's reference table (L1; mean ± SD)."""

    key: str
    label: str
    unit: str
    fracture_mean: float
    fracture_sd: float
    control_mean: float
    control_sd: float
    bmd_scaled: bool = True  # depends on the BMD scale (False: intercept width, scale-free)


#: Seed 004 reference values: 91 vertebral compression fracture cases vs 114 controls.
REFERENCE: tuple[ReferenceValue, ...] = (
    ReferenceValue("focal_bmc_loss_mm", "focal BMC loss", "mm", 1.03, 0.13, 0.93, 0.11),
    ReferenceValue("focal_bmd_loss", "focal BMD loss", "fraction", 0.45, 0.03, 0.42, 0.03),
    ReferenceValue("intercept_width_mm", "intercept width", "mm", 1.95, 0.18, 1.87, 0.18, bmd_scaled=False),
    ReferenceValue("bmd_mg_cm3", "BMD", "mg/cm³", 78.0, 40.0, 124.0, 71.0),
)

#: The paper's in-house program: minutes per vertebra (Intel Core i7).
PAPER_MINUTES_PER_VERTEBRA = 2.68


# ---------------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class Calibration:
    """Linear HU -> BMD calibration: ``BMD (mg/cm³ HA) = slope * HU + intercept``.

    Attributes
    ----------
    slope, intercept : float
    r_squared : float or None
        Coefficient of determination of the insert fit (None if given directly).
    source : str
        ``"slope/intercept"``, ``"phantom inserts"`` or ``"none"`` (uncalibrated).
    """

    slope: float = 1.0
    intercept: float = 0.0
    r_squared: float | None = None
    source: str = "none"

    @property
    def calibrated(self) -> bool:
        return self.source != "none"

    @property
    def units(self) -> str:
        return "mg/cm3 HA" if self.calibrated else "HU-equivalent (uncalibrated)"

    @classmethod
    def from_slope_intercept(cls, slope: float, intercept: float) -> Calibration:
        """A given calibration; raises :class:`CalibrationError` for a non-positive or non-finite slope."""
        slope, intercept = float(slope), float(intercept)
        if not (np.isfinite(slope) and np.isfinite(intercept)) or slope <= 0:
            raise CalibrationError(
                f"calibration slope {slope} / intercept {intercept}: the slope must be a positive "
                "number (mg/cm³ per HU) and both finite, e.g. --calibration 0.8,-16"
            )
        return cls(slope, intercept, None, "slope/intercept")

    @classmethod
    def from_inserts(cls, hu, density_mg_cm3, *, min_r_squared: float = 0.8) -> Calibration:
        """Least-squares fit of ``density = slope * HU + intercept`` to phantom inserts.

        Parameters
        ----------
        hu : (n,) float
            Mean CT value of each insert (HU).
        density_mg_cm3 : (n,) float
            Known hydroxyapatite density of each insert.
        min_r_squared : float
            Fits with a lower R² are rejected as ill-conditioned.
        """
        hu = np.asarray(hu, dtype=float).ravel()
        dens = np.asarray(density_mg_cm3, dtype=float).ravel()
        if hu.size != dens.size or hu.size < 2:
            raise CalibrationError(
                f"phantom inserts: need at least two inserts with one HU and one density each, got "
                f"{hu.size} HU values and {dens.size} densities"
            )
        if not (np.all(np.isfinite(hu)) and np.all(np.isfinite(dens))):
            raise CalibrationError("phantom inserts: HU values and densities must be finite numbers")
        if np.ptp(hu) < 1e-6 or np.ptp(dens) < 1e-6:
            raise CalibrationError(
                "phantom inserts: all inserts have the same HU or the same density; use inserts of "
                "different known densities"
            )
        slope, intercept = np.polyfit(hu, dens, 1)
        pred = slope * hu + intercept
        ss_res = float(np.sum((dens - pred) ** 2))
        ss_tot = float(np.sum((dens - dens.mean()) ** 2))
        r2 = 1.0 - ss_res / ss_tot
        if slope <= 0 or r2 < min_r_squared:
            raise CalibrationError(
                f"phantom inserts: the fit is not usable (slope {slope:.4g} mg/cm³ per HU, R² {r2:.3f}); "
                "denser inserts must have higher HU. Check the insert densities and HU values."
            )
        return cls(float(slope), float(intercept), r2, "phantom inserts")

    def apply(self, hu: np.ndarray) -> np.ndarray:
        return (self.slope * hu + self.intercept).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "r_squared": self.r_squared,
            "source": self.source,
            "calibrated": self.calibrated,
            "units": self.units,
        }


def read_phantom_inserts(path: str | os.PathLike, *, volume: Volume | None = None) -> Calibration:
    """Calibration from a JSON file of phantom inserts.

    The file holds ``{"inserts": [{"density_mg_cm3": d, "hu": h}, ...]}``; instead of
    ``"hu"`` an insert may give ``"center_lps": [x, y, z]`` and ``"radius_mm"``, and its HU
    is then the mean of ``volume`` within that sphere.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"phantom inserts {path}: file not found; check the path.")
    try:
        data = json.loads(path.read_text())
        inserts = data["inserts"] if isinstance(data, dict) else data
        dens = [float(e["density_mg_cm3"]) for e in inserts]
    except (ValueError, KeyError, TypeError) as exc:
        raise CalibrationError(
            f'phantom inserts {path}: expected {{"inserts": [{{"density_mg_cm3": ..., "hu": ...}}]}} ({exc})'
        ) from exc
    hu = []
    for n, e in enumerate(inserts):
        if "hu" in e:
            hu.append(float(e["hu"]))
        elif "center_lps" in e and volume is not None:
            hu.append(_sphere_mean(volume, e["center_lps"], float(e.get("radius_mm", 3.0)), f"insert {n}"))
        else:
            raise CalibrationError(f"phantom inserts {path}: insert {n} has neither 'hu' nor 'center_lps'")
    try:
        return Calibration.from_inserts(hu, dens)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None


def _sphere_mean(volume: Volume, center, radius: float, name: str) -> float:
    center = np.asarray(center, dtype=float)
    volume.require_inside(center[None], [name], what="phantom insert")
    step = min(volume.spacing.min(), radius / 3)
    g = np.arange(-radius, radius + 1e-9, step)
    pts = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pts = pts[np.linalg.norm(pts, axis=1) <= radius] + center
    vals = volume.sample(pts)
    return float(np.nanmean(vals))


def _as_calibration(calibration) -> Calibration:
    if calibration is None:
        return Calibration()
    if isinstance(calibration, Calibration):
        return calibration
    try:
        slope, intercept = calibration
    except (TypeError, ValueError):
        raise CalibrationError(
            f"calibration {calibration!r}: give a Calibration or (slope, intercept)"
        ) from None
    return Calibration.from_slope_intercept(slope, intercept)


# ---------------------------------------------------------------------------------- ROI
def segment_body_from_seed(
    volume: Volume,
    seed,
    *,
    threshold_hu: float = 200.0,
    bridge_mm: float = 1.0,
    edge_mm: float = 0.4,
    max_radius_mm: float = 40.0,
) -> Volume:
    """Grow a vertebral-body mask from a seed point: threshold + connectivity + hole filling.

    A simple stand-in for the GrowCut segmentation of seed 004; give a mask for real cases.
    Within ``max_radius_mm`` of ``seed`` (LPS mm), the bone connected to the seed is found
    on the CT smoothed by ``bridge_mm`` (so marrow spaces do not split it) at
    ``threshold_hu``; its outline is then taken from the CT smoothed only by ``edge_mm``
    (so the smoothing does not push it outwards), and the marrow spaces it encloses are
    filled, slice by axial slice and in 3-D.
    """
    seed = np.asarray(seed, dtype=float).reshape(3)
    volume.require_inside(seed[None], ["seed"], what="seed point")
    c = np.round(volume.physical_to_index(seed)).astype(int)
    r = np.ceil(max_radius_mm / volume.spacing).astype(int)
    lo = np.maximum(c - r, 0)
    hi = np.minimum(c + r + 1, volume.shape_ijk)
    sub = volume.array[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]].astype(np.float32)
    sigma = volume.spacing[::-1]
    bridged = ndimage.gaussian_filter(sub, bridge_mm / sigma, mode="nearest") >= threshold_hu
    s = c - lo
    if not bridged[s[2], s[1], s[0]]:
        raise MaskError(
            f"seed point {np.round(seed, 1).tolist()} lies in tissue below {threshold_hu:g} HU; "
            "place it inside the vertebral body's cancellous bone or give a mask."
        )
    labels, _ = ndimage.label(bridged)
    comp = labels == labels[s[2], s[1], s[0]]
    comp &= ndimage.gaussian_filter(sub, edge_mm / sigma, mode="nearest") >= threshold_hu
    # Fill marrow spaces: in every plane of the image axis closest to LPS z, then in 3-D.
    axis = 2 - int(np.argmax(np.abs(volume.direction[2, :])))  # numpy axis of that image axis
    comp = np.moveaxis(comp, axis, 0)
    comp = np.stack([ndimage.binary_fill_holes(sl) for sl in comp])
    comp = ndimage.binary_fill_holes(np.moveaxis(comp, 0, axis))
    full = np.zeros(volume.array.shape, dtype=bool)
    full[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]] = comp
    log.info("seed segmentation: %.1f ml", full.sum() * volume.voxel_volume_mm3 / 1000)
    return volume.with_array(full)


def _mask_array(volume: Volume, mask, seed) -> np.ndarray:
    if (mask is None) == (seed is None):
        raise MaskError("give either a vertebral-body mask or a seed point (not both, not neither)")
    if seed is not None:
        return segment_body_from_seed(volume, seed).array
    if isinstance(mask, Volume):
        return mask.mask_on(volume, name="vertebral-body mask")
    arr = np.asarray(mask)
    if arr.shape != volume.array.shape:
        raise MaskError(
            f"vertebral-body mask: array shape {arr.shape} differs from the CT {volume.array.shape}; "
            "pass a Volume to resample it"
        )
    if not arr.any():
        raise MaskError("vertebral-body mask is empty (no nonzero voxels); segment the body first.")
    return arr != 0


def _crop(volume: Volume, array: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> Volume:
    """Sub-volume of ``array`` (on ``volume``'s grid) for ijk in [lo, hi)."""
    sub = array[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]
    return Volume(sub, volume.spacing, volume.index_to_physical(lo), volume.direction)


def _bbox(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) ijk bounds (hi exclusive) of the nonzero voxels of a ``[k, j, i]`` mask."""
    lo, hi = [], []
    for axis in (2, 1, 0):  # i, j, k
        other = tuple(a for a in range(3) if a != axis)
        nz = np.flatnonzero(mask.any(axis=other))
        lo.append(nz[0])
        hi.append(nz[-1] + 1)
    return np.array(lo), np.array(hi)


def _lps_grid(origin: np.ndarray, size, h: float) -> sitk.Image:
    """Identity-direction sitk reference grid: ``size`` (i, j, k) voxels of ``h`` mm from ``origin`` (LPS)."""
    ref = sitk.Image([int(v) for v in size], sitk.sitkUInt8)
    ref.SetSpacing([h] * 3)
    ref.SetOrigin(np.asarray(origin, dtype=float).tolist())
    ref.SetDirection(np.eye(3).ravel().tolist())
    return ref


def _resample(volume: Volume, ref: sitk.Image, *, default: float) -> np.ndarray:
    img = sitk.Cast(volume.to_sitk(), sitk.sitkFloat32)
    out = sitk.Resample(img, ref, sitk.Transform(), sitk.sitkLinear, float(default), sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


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


def prepare_focal_defect(
    volume: Volume,
    *,
    mask=None,
    seed=None,
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
    calibration : Calibration or (slope, intercept), optional
        None = uncalibrated (HU-equivalent).
    """
    volume.require_ct(name)
    cal = _as_calibration(calibration)
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

    body = _mask_array(volume, mask, seed)
    lo_i, hi_i = _bbox(body)
    lo_i = np.maximum(lo_i - 2, 0)
    hi_i = np.minimum(hi_i + 2, volume.shape_ijk)
    body_vol = _crop(volume, body, lo_i, hi_i)
    body_vol = body_vol.with_array(body_vol.array.astype(np.float32))
    lo, hi = body_vol.physical_bounds()
    ref = _lps_grid(lo, np.maximum(1, np.ceil((hi - lo) / grid_mm - 1e-6).astype(int) + 1), grid_mm)
    fine_mask = _resample(body_vol, ref, default=0.0)
    # Smooth the mask surface at the scale of the input voxels, so that the staircase of a
    # thick-slice or oblique grid does not pull the 6 mm erosion inwards.
    mask_sigma = 0.5 * float(volume.spacing.max())
    if mask_sigma > grid_mm:
        fine_mask = ndimage.gaussian_filter(fine_mask, mask_sigma / grid_mm, mode="constant", truncate=3.0)
    fine_mask = fine_mask > 0.5
    if not fine_mask.any():
        raise MaskError("vertebral-body mask vanishes when resampled to 0.3 mm; it is too thin to analyse.")
    # Distance (mm) to the nearest voxel outside the mask; the mask edge lies half a voxel closer.
    # (ITK's Maurer transform of the background: the exact Euclidean distance, multi-threaded.)
    background = sitk.GetImageFromArray(np.pad(~fine_mask, 1).view(np.uint8))
    background.SetSpacing([grid_mm] * 3)
    dist = sitk.GetArrayFromImage(
        sitk.SignedMaurerDistanceMap(
            background, insideIsPositive=False, squaredDistance=False, useImageSpacing=True
        )
    )[1:-1, 1:-1, 1:-1]
    roi_fine = dist - grid_mm / 2 >= erode_mm
    roi_ml = roi_fine.sum() * grid_mm**3 / 1000
    if roi_ml < MIN_ROI_ML:
        what = "empty" if roi_ml == 0 else f"only {roi_ml:.2f} ml"
        raise MaskError(
            f"vertebral-body mask: the ROI is {what} after the {erode_mm:g} mm erosion (at least "
            f"{MIN_ROI_ML:g} ml needed); the mask must be a whole, filled vertebral body (no "
            f"holes), over {2 * erode_mm:g} mm across in every direction."
        )
    # Crop the analysis grid to the ROI plus a margin for the smoothing kernel.
    margin = int(np.ceil(4 * sigma_mm / grid_mm)) + 1
    lo_r, hi_r = _bbox(roi_fine)
    lo_k = np.maximum(lo_r[::-1] - margin, 0)
    hi_k = np.minimum(hi_r[::-1] + margin, roi_fine.shape)
    roi_fine = roi_fine[lo_k[0] : hi_k[0], lo_k[1] : hi_k[1], lo_k[2] : hi_k[2]]
    origin = np.asarray(ref.GetOrigin()) + lo_k[::-1] * grid_mm
    ref = _lps_grid(origin, roi_fine.shape[::-1], grid_mm)
    # Only the part of the CT around the analysis grid is converted and resampled.
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]) * (
        np.array(roi_fine.shape[::-1]) - 1
    )
    idx_ct = volume.physical_to_index(origin + corners * grid_mm)
    lo_c = np.clip(np.floor(idx_ct.min(axis=0)).astype(int) - 2, 0, np.array(volume.shape_ijk) - 1)
    hi_c = np.clip(np.ceil(idx_ct.max(axis=0)).astype(int) + 3, 1, volume.shape_ijk)
    ct_fine = _resample(_crop(volume, volume.array, lo_c, hi_c), ref, default=-1000.0)
    ct_fine = ndimage.gaussian_filter(ct_fine, sigma_mm / grid_mm, mode="nearest", truncate=4.0)
    bmd = cal.apply(ct_fine)
    spacing = np.full(3, grid_mm)
    return PreparedInput(
        Volume(bmd, spacing, origin, np.eye(3)),
        Volume(roi_fine, spacing, origin, np.eye(3)),
        cal,
        tuple(warnings),
    )


# ---------------------------------------------------------------------------------- voids
@dataclass(frozen=True)
class Voids:
    """Half-maximum voids of concatenated profiles (positions in samples of the flat array).

    ``n``: length of the flat array;
    ``start``/``stop``: first and last sample inside each void; ``left``/``right``:
    sub-sample crossings; ``width`` (mm), ``bmd_loss`` (fraction) and ``bmc_loss`` (mm).
    """

    n: int
    start: np.ndarray
    stop: np.ndarray
    left: np.ndarray
    right: np.ndarray
    width: np.ndarray
    bmd_loss: np.ndarray
    bmc_loss: np.ndarray


def detect_voids(profile: np.ndarray, step_mm: float, *, intact: float = INTACT_BONE_MG_CM3) -> Voids:
    """Half-maximum voids of every profile in a flat array, all at once (seed 004, Figure 1D).

    Parameters
    ----------
    profile : (N,) float
        Profiles (BMD) concatenated; NaN separates profiles (samples outside the ROI).
        ``profile[0]`` and ``profile[-1]`` must be NaN.
    step_mm : float
        Sample spacing along the profiles.
    intact : float
        Density of intact bone (1200 mg/cm³, seed 004 eq. 2).

    Returns
    -------
    Voids
    """
    p = np.asarray(profile, dtype=np.float32)
    n = p.size
    nothing = Voids(n, *(np.zeros(0, dtype=np.int64),) * 2, *(np.zeros(0),) * 5)
    d = p[1:] - p[:-1]
    invalid = np.isnan(d)
    s = (d > FLAT_EPS).view(np.int8) - (d < -FLAT_EPS).view(np.int8)
    # Flat stretches take the slope before them (a plateau is one extremum); NaN resets.
    key = np.where((s != 0) | invalid, np.arange(n - 1, dtype=np.int32), np.int32(0))
    np.maximum.accumulate(key, out=key)
    sf = s[key]
    is_min = np.zeros(n, dtype=bool)
    is_ext = np.zeros(n, dtype=bool)
    left, right = sf[:-1], sf[1:]
    is_min[1:-1] = (left < 0) & (right > 0)
    # Maxima, including a profile end reached rising (or left descending): a valley open at
    # the ROI edge has its low end there, which is no minimum, so it is never a void.
    is_ext[1:-1] = (left * right < 0) | ((left == 0) & (right < 0)) | ((left > 0) & (right == 0))
    ext = np.flatnonzero(is_ext)
    if ext.size < 3:
        return nothing
    # Extrema alternate within a profile; a flank joins consecutive extrema with no NaN between.
    lo, hi = int(ext[0]), int(ext[-1])
    same = ~np.logical_or.reduceat(np.isnan(p[lo:hi]), ext[:-1] - lo)
    ext_min = is_min[ext]
    # A minimum makes a void when both its flanks exist: a maximum before and after, same profile.
    good_min = np.zeros(ext.size, dtype=bool)
    good_min[1:-1] = ext_min[1:-1] & same[:-1] & same[1:]
    flank_ok = good_min[:-1] | good_min[1:]
    flank_level = 0.5 * (p[ext[:-1]] + p[ext[1:]])
    lengths = np.diff(ext)
    level = np.repeat(flank_level, lengths)  # level of the flank each sample in [lo, hi) lies on
    in_void = np.zeros(n, dtype=bool)
    in_void[lo:hi] = np.repeat(flank_ok, lengths) & (p[lo:hi] < level)
    edges = np.diff(in_void.view(np.int8))
    idx = np.flatnonzero(edges)
    rising = edges[idx] > 0
    start = idx[rising] + 1
    stop = idx[~rising]
    if start.size == 0:
        return nothing
    lvl_l = level[start - 1 - lo].astype(np.float64)
    lvl_r = level[stop - lo].astype(np.float64)
    p0, p1 = p[start - 1].astype(np.float64), p[start].astype(np.float64)
    q0, q1 = p[stop].astype(np.float64), p[stop + 1].astype(np.float64)
    left = (start - 1) + (p0 - lvl_l) / (p0 - p1)
    right = stop + (lvl_r - q0) / (q1 - q0)
    width = (right - left) * step_mm
    run_len = stop - start + 1
    offsets = np.concatenate([[0], np.cumsum(run_len)[:-1]])
    sums = np.add.reduceat(p[in_void].astype(np.float64), offsets)
    inner = sums - 0.5 * (p1 + q0)
    integral = step_mm * (inner + 0.5 * (start - left) * (lvl_l + p1) + 0.5 * (right - stop) * (q0 + lvl_r))
    mean_bmd = integral / np.maximum(width, 1e-12)
    bmd_loss = (intact - mean_bmd) / intact
    return Voids(n, start, stop, left, right, width, bmd_loss, bmd_loss * width)


def _sample_values(voids: Voids, q: np.ndarray) -> tuple[np.ndarray, ...]:
    """(width, bmd_loss, bmc_loss) at positions ``q`` of the flat array (0 outside voids).

    ``q`` is continuous (in samples): a position is in a void when it lies between the
    void's sub-sample crossings ``left`` and ``right``.
    """
    k = voids.start.size
    bounds = np.empty(2 * k + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, voids.n
    bounds[1:-1:2] = voids.start
    bounds[2:-1:2] = voids.stop + 1
    labels = np.zeros(2 * k + 1, dtype=np.int32)  # 0 = no void, v + 1 = void v
    labels[1::2] = np.arange(1, k + 1, dtype=np.int32)
    per_sample = np.repeat(labels, np.diff(bounds))
    q0 = np.clip(np.floor(q).astype(np.int64), 0, voids.n - 2)
    # Void of the sample at or before q (q <= its right crossing), else of the sample after (q >= left).
    right = np.concatenate([[-np.inf], voids.right])
    left = np.concatenate([[np.inf], voids.left])
    a = per_sample[q0]
    b = per_sample[q0 + 1]
    idx = np.where((a > 0) & (q <= right[a]), a, np.where((b > 0) & (q >= left[b]), b, 0))
    return tuple(
        np.concatenate([[0.0], arr]).astype(np.float32)[idx]
        for arr in (voids.width, voids.bmd_loss, voids.bmc_loss)
    )


# ---------------------------------------------------------------------------------- star lines
def star_directions(star: str = "2d", *, angles_deg=None) -> np.ndarray:
    """Unit star-line directions (LPS, (n, 3)); a line and its reverse are one direction.

    ``"2d"``: the 15 axial orientations 12° apart (or ``angles_deg`` from the x axis).
    ``"3d"``: those plus, per :data:`STAR_3D_RINGS`, the lines at ±45° elevation with
    azimuths 45° apart (8 lines) and the vertical: 24 directions.
    """
    if star not in ("2d", "3d"):
        raise AnalysisError(f"star '{star}': choose '2d' (the paper's axial star) or '3d'")
    a = np.deg2rad(np.asarray(AXIAL_ANGLES_DEG if angles_deg is None else angles_deg, dtype=float).ravel())
    dirs = [np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], 1)]
    if star == "3d":
        for elev, step in STAR_3D_RINGS[1:]:
            e = np.deg2rad(elev)
            # Azimuths in [0, 180): the ring at -elev supplies the reversed other half.
            az = np.deg2rad(np.arange(0.0, 180.0, step)) if abs(elev) < 90 else np.zeros(1)
            ring = np.stack([np.cos(e) * np.cos(az), np.cos(e) * np.sin(az), np.full(az.shape, np.sin(e))], 1)
            dirs.append(ring)
    return np.concatenate(dirs)


class _Grid:
    """The analysis arrays in the layouts the orientation passes need (built once)."""

    def __init__(self, bmd: np.ndarray, roi: np.ndarray):
        self.bmd = bmd
        self.roi = roi
        self.shape = bmd.shape  # (nz, ny, nx)
        # z last, so an in-plane gather fetches whole contiguous z columns.
        self.bmd_t = np.ascontiguousarray(bmd.transpose(1, 2, 0))
        self.roi_t = np.ascontiguousarray(roi.transpose(1, 2, 0))
        foot = roi.any(axis=0)
        self.fp_j, self.fp_i = np.nonzero(foot)
        pix = np.full(foot.shape, -1, dtype=np.int64)
        pix[self.fp_j, self.fp_i] = np.arange(self.fp_j.size)
        self.vk, vj, vi = np.nonzero(roi)
        self.vpix = pix[vj, vi]
        self.vj, self.vi = vj, vi
        self.n_vox = self.vk.size


def _axial_pass(g: _Grid, direction: np.ndarray, step_mm: float) -> tuple[np.ndarray, ...]:
    """Maps along one axial orientation for every ROI voxel (vectorised over all rows)."""
    c, s = float(direction[0]), float(direction[1])
    ny, nx = g.shape[1:]
    u = g.fp_i * c + g.fp_j * s  # along the line (voxel units)
    v = -g.fp_i * s + g.fp_j * c  # across (row coordinate)
    rv = np.round(v).astype(np.int64)
    cu = np.round(u).astype(np.int64)
    rmin = rv.min()
    row = rv - rmin
    nrow = int(row.max()) + 1
    cmin = np.full(nrow, np.iinfo(np.int64).max)
    cmax = np.full(nrow, np.iinfo(np.int64).min)
    np.minimum.at(cmin, row, cu)
    np.maximum.at(cmax, row, cu)
    used = cmax >= cmin
    first = np.where(used, cmin - 2, 0)
    length = np.where(used, cmax - cmin + 5, 0)
    rstart = np.concatenate([[0], np.cumsum(length)[:-1]])
    m2 = int(length.sum())
    srow = np.repeat(np.arange(nrow), length)
    scol = first[srow] + (np.arange(m2) - rstart[srow])
    vv = (srow + rmin).astype(np.float64)
    uu = scol.astype(np.float64)
    fi = uu * c - vv * s
    fj = uu * s + vv * c
    i0 = np.floor(fi).astype(np.int64)
    j0 = np.floor(fj).astype(np.int64)
    wi = (fi - i0).astype(np.float32)[:, None]
    wj = (fj - j0).astype(np.float32)[:, None]
    inside = (i0 >= 0) & (j0 >= 0) & (i0 < nx - 1) & (j0 < ny - 1)
    i0c = np.clip(i0, 0, nx - 2)
    j0c = np.clip(j0, 0, ny - 2)
    b = g.bmd_t
    top = b[j0c, i0c] * (1 - wi) + b[j0c, i0c + 1] * wi
    bot = b[j0c + 1, i0c] * (1 - wi) + b[j0c + 1, i0c + 1] * wi
    val = top * (1 - wj) + bot * wj
    ri = np.clip(np.round(fi).astype(np.int64), 0, nx - 1)
    rj = np.clip(np.round(fj).astype(np.int64), 0, ny - 1)
    roi_s = g.roi_t[rj, ri] & inside[:, None]
    roi_s[rstart[used]] = False
    roi_s[(rstart + length - 1)[used]] = False
    val[~roi_s] = np.nan
    flat = np.ascontiguousarray(val.T).ravel()
    voids = detect_voids(flat, step_mm)
    # Each voxel's exact position along its (nearest) row, in flat sample units.
    m_pix = (rstart[row] - first[row]) + u
    q = g.vk * m2 + m_pix[g.vpix]
    return _sample_values(voids, q)


def _oblique_pass(g: _Grid, direction: np.ndarray, step_mm: float) -> tuple[np.ndarray, ...]:
    """Maps along one non-axial direction (3-D star): rotated grid sampled trilinearly."""
    d = np.asarray(direction, dtype=float)
    hint = np.array([1.0, 0, 0]) if abs(d[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(d, hint)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(d, e1)
    frame = np.stack([e1, e2, d])  # rows: a, b, u axes
    pts = np.stack([g.vi, g.vj, g.vk], 1).astype(np.float64)  # x, y, z voxel units
    abu = pts @ frame.T
    rnd = np.round(abu).astype(np.int64)
    lo = rnd.min(axis=0) - np.array([0, 0, 2])
    hi = rnd.max(axis=0) + np.array([0, 0, 2])
    na, nb, nu = hi - lo + 1
    aa, bb, uu = np.meshgrid(
        np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), np.arange(lo[2], hi[2] + 1), indexing="ij"
    )
    xyz = aa[..., None] * e1 + bb[..., None] * e2 + uu[..., None] * d
    coords = xyz[..., ::-1].reshape(-1, 3).T  # (z, y, x) index rows
    val = ndimage.map_coordinates(g.bmd, coords, order=1, mode="nearest", output=np.float32)
    roi_s = ndimage.map_coordinates(g.roi.astype(np.uint8), coords, order=0, mode="constant", cval=0) > 0
    val = val.reshape(na, nb, nu)
    roi_s = roi_s.reshape(na, nb, nu)
    roi_s[..., 0] = False
    roi_s[..., -1] = False
    val[~roi_s] = np.nan
    flat = val.ravel()
    voids = detect_voids(flat, step_mm)
    r = rnd - lo
    q = (r[:, 0] * nb + r[:, 1]) * nu + (abu[:, 2] - lo[2])
    return _sample_values(voids, q)


def star_line_maps(
    bmd: np.ndarray,
    roi: np.ndarray,
    *,
    step_mm: float = GRID_MM,
    directions=None,
    workers: int = 2,
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps 4-7 on an isotropic, patient-aligned grid: mean maps over the star directions.

    Parameters
    ----------
    bmd : (nz, ny, nx) float32
        Calibrated, smoothed image on an isotropic LPS-aligned grid of ``step_mm``.
    roi : (nz, ny, nx) bool
    directions : (n, 3) float, optional
        Unit directions in (x, y, z) grid axes; default the 15 axial orientations.
    workers : int
        Threads processing orientations concurrently (1 = sequential).
    progress : callable(fraction, message), optional
        Called after each orientation; may raise OperationCancelled.

    Returns
    -------
    (intercept_width mm, focal_bmd_loss, focal_bmc_loss mm) : three (nz, ny, nx) float32
        0 outside the ROI and where no orientation found a void.
    """
    dirs = star_directions("2d") if directions is None else np.atleast_2d(np.asarray(directions, float))
    g = _Grid(np.asarray(bmd, dtype=np.float32), np.asarray(roi, dtype=bool))
    sums = [np.zeros(g.n_vox, dtype=np.float32) for _ in range(3)]

    def one(d):
        return _axial_pass(g, d, step_mm) if abs(d[2]) < 1e-9 else _oblique_pass(g, d, step_mm)

    report(progress, 0.0, f"star-lines: {len(dirs)} orientations")
    # numpy releases the GIL in its loops, so two orientations at a time use both cores.
    with ThreadPoolExecutor(max_workers=max(1, int(workers))) as pool:
        futures = [pool.submit(one, d) for d in dirs]
        try:
            for n, fut in enumerate(futures):
                for acc, v in zip(sums, fut.result()):
                    acc += v
                report(progress, (n + 1) / len(dirs), f"star-line orientation {n + 1}/{len(dirs)}")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    maps = []
    for acc in sums:
        m = np.zeros(g.shape, dtype=np.float32)
        m[g.vk, g.vj, g.vi] = acc / len(dirs)
        maps.append(m)
    return tuple(maps)


# ---------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class FocalDefectSummary:
    """ROI summaries of the focal-defect maps (seed 004 section 2.3.3, "average value").

    Lengths in mm; losses as fractions of 1200 mg/cm³; BMD in ``bmd_units``.
    ``*_void`` are the means over void voxels only (in a void along at least one line).
    """

    focal_bmc_loss_mm: float
    focal_bmd_loss: float
    intercept_width_mm: float
    focal_bmc_loss_mm_void: float
    focal_bmd_loss_void: float
    intercept_width_mm_void: float
    void_fraction: float
    bmd_mg_cm3: float
    calibrated: bool
    bmd_units: str
    calibration: dict
    roi_volume_ml: float
    roi_voxels: int
    z_scores: dict
    star: str
    n_orientations: int
    grid_mm: float
    seconds: float
    warnings: tuple[str, ...] = ()
    reference: tuple[dict, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        out["warnings"] = list(self.warnings)
        out["reference"] = list(self.reference)
        return out


@dataclass(frozen=True, eq=False)
class FocalDefectResult:
    """Maps and summary of :func:`analyze_focal_defect`.

    Attributes
    ----------
    focal_bmc_loss, focal_bmd_loss, intercept_width : Volume
        float32 maps on the 0.3 mm patient-aligned analysis grid (mm, fraction, mm); 0
        outside the ROI.
    roi : Volume
        Boolean ROI (body mask eroded by 6 mm) on the same grid.
    bmd : Volume
        The calibrated (or HU-equivalent), resampled and smoothed image the maps come from.
    summary : FocalDefectSummary
    """

    focal_bmc_loss: Volume
    focal_bmd_loss: Volume
    intercept_width: Volume
    roi: Volume
    bmd: Volume
    summary: FocalDefectSummary

    def to_dict(self) -> dict:
        return self.summary.to_dict()


def z_scores(values: dict) -> dict:
    """z-scores of ``values`` (keys of :data:`REFERENCE`) against seed 004's fracture and control groups."""
    out = {}
    for ref in REFERENCE:
        if ref.key in values:
            v = float(values[ref.key])
            out[ref.key] = {
                "vs_fracture": (v - ref.fracture_mean) / ref.fracture_sd,
                "vs_control": (v - ref.control_mean) / ref.control_sd,
            }
    return out


def _reference_rows(values: dict, z: dict, calibrated: bool) -> tuple[dict, ...]:
    """Seed 004's group values beside ours; ``comparable`` is False for BMD-scaled values
    of an uncalibrated (HU-equivalent) run, whose z-scores are only indicative."""
    return tuple(
        {
            "comparable": calibrated or not ref.bmd_scaled,
            "measure": ref.label,
            "key": ref.key,
            "unit": ref.unit,
            "value": float(values[ref.key]),
            "fracture_mean": ref.fracture_mean,
            "fracture_sd": ref.fracture_sd,
            "control_mean": ref.control_mean,
            "control_sd": ref.control_sd,
            "z_vs_fracture": z[ref.key]["vs_fracture"],
            "z_vs_control": z[ref.key]["vs_control"],
        }
        for ref in REFERENCE
    )


def analyze_focal_defect(
    volume: Volume,
    *,
    mask=None,
    seed=None,
    calibration=None,
    star: str = "2d",
    angles_deg=None,
    progress: ProgressCallback | None = None,
    name: str = "CT",
) -> FocalDefectResult:
    """Focal BMC loss, focal BMD loss and intercept-width maps of a vertebral body (seed 004).

    Parameters
    ----------
    volume : Volume
        CT in HU, any spacing and direction (LPS).
    mask : Volume or bool ndarray, optional
        Vertebral-body mask; or give ``seed``.
    seed : (3,) float, mm, LPS, optional
        A point in the body's cancellous bone; the body is grown from it.
    calibration : Calibration or (slope, intercept), optional
        HU -> mg/cm³ HA. None: values are HU-equivalent and labelled uncalibrated.
    star : {"2d", "3d"}
        The paper's 15 axial orientations (default) or the 3-D star of :func:`star_directions`.
    angles_deg : sequence of float, optional
        Replace the axial orientations (degrees from the LPS x axis), e.g. one angle for tests.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled` (checked between orientations).

    Returns
    -------
    FocalDefectResult
    """
    t0 = time.perf_counter()
    report(progress, 0.0, "focal defect: preparing ROI")
    prep = prepare_focal_defect(volume, mask=mask, seed=seed, calibration=calibration, name=name)
    report(progress, 0.15, "focal defect: star-lines")
    dirs = star_directions(star, angles_deg=angles_deg)

    def sub(fraction: float, message: str) -> None:
        report(progress, 0.15 + 0.8 * fraction, message)

    roi = prep.roi.array
    width, bmd_loss, bmc_loss = star_line_maps(
        prep.bmd.array, roi, step_mm=GRID_MM, directions=dirs, progress=sub if progress else None
    )
    voids = roi & (width > 0)
    n_void = int(voids.sum())

    def mean(a, where):
        return float(a[where].mean()) if where.any() else 0.0

    values = {
        "focal_bmc_loss_mm": mean(bmc_loss, roi),
        "focal_bmd_loss": mean(bmd_loss, roi),
        "intercept_width_mm": mean(width, roi),
        "bmd_mg_cm3": mean(prep.bmd.array, roi),
    }
    z = z_scores(values)
    summary = FocalDefectSummary(
        focal_bmc_loss_mm=values["focal_bmc_loss_mm"],
        focal_bmd_loss=values["focal_bmd_loss"],
        intercept_width_mm=values["intercept_width_mm"],
        focal_bmc_loss_mm_void=mean(bmc_loss, voids),
        focal_bmd_loss_void=mean(bmd_loss, voids),
        intercept_width_mm_void=mean(width, voids),
        void_fraction=n_void / max(1, int(roi.sum())),
        bmd_mg_cm3=values["bmd_mg_cm3"],
        calibrated=prep.calibration.calibrated,
        bmd_units=prep.calibration.units,
        calibration=prep.calibration.to_dict(),
        roi_volume_ml=float(roi.sum() * GRID_MM**3 / 1000),
        roi_voxels=int(roi.sum()),
        z_scores=z,
        star=star,
        n_orientations=len(dirs),
        grid_mm=GRID_MM,
        seconds=time.perf_counter() - t0,
        warnings=prep.warnings,
        reference=_reference_rows(values, z, prep.calibration.calibrated),
    )
    report(progress, 1.0, "focal defect: done")
    g = prep.roi
    return FocalDefectResult(
        g.with_array(bmc_loss), g.with_array(bmd_loss), g.with_array(width), prep.roi, prep.bmd, summary
    )
