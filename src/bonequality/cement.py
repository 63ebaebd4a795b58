"""Cement volumetry after vertebroplasty and sacroplasty (CLINICAL.md section 5).

The reading of seed 003 (VF % after percutaneous vertebroplasty, Mimics workflow):

* **Vertebral body**: bone 226-3071 HU, posterior elements removed, internal voids filled.
  Its volume is **VBV**. The body comes from (a) a body mask; (b) a whole-vertebra mask
  (TotalSegmentator, segment editor) whose posterior elements are cut off at the anterior
  wall of the spinal canal, found automatically; or (c) a seed point grown in the bone
  range within ``seed_radius_mm``, then cut the same way.
* **Cement**: 1000-3000 HU. Cement inside the body is **CDV**; outside it (within
  ``leak_search_mm`` of the body's bounding box) it is **leakage**, reported per location
  (paravertebral, spinal canal or foramen, cranial disc, caudal disc) with the distance
  from the nearest leak to the spinal canal.
* **VF % = CDV / VBV x 100**; ``predicted_extensive`` when VF % >= 28.58 % (seed 003's
  ROC cut-off: sensitivity 72.2 %, specificity 91.7 %).
* **Distribution score 0-10**, computed in 3-D instead of on radiographs: patient
  left/middle/right thirds of the body (coronal view, 0-3) + cranial/middle/caudal thirds
  (sagittal view, 0-3) + the four quadrants, split through the centre of the body's
  cross-section, of the best axial slab (0-4). A zone counts when cement fills at least
  ``min_zone_fraction`` (default 5 %) of the body volume (or, axially, the slab's body
  area) in that zone. 0-7 = group A (limited), 8-10 = group B (extensive).
* **Cortical-bone check**: dense cortex can exceed 1000 HU. Cement candidates are opened
  morphologically with a ball of diameter ``min_cement_thickness_mm`` (default 2 mm) and
  components under ``min_component_ml`` are dropped, so thin cortical shells (< 2 mm)
  are never reported as cement. Along a grid axis whose spacing exceeds the ball's radius
  the opening cannot act; there partial-volume averaging already lowers thin cortex.
* Sacroplasty (seeds 001/002): cement per ala (and in the sacral body band) from a sacrum
  mask, leakage into the foramina, the sacral canal, the presacral space or elsewhere; and
  for screws given as lines with a diameter, the fraction of each screw's length in contact
  with cement (seed 002's "rebar and cement").

Left/right, cranial/caudal and anterior/posterior always refer to patient LPS axes
(x = left, y = posterior, z = cranial), whatever the image's direction matrix.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from scipy.spatial import cKDTree

from .errors import AnalysisError, GeometryMismatchError, InputFileError, LandmarkError, MaskError
from .landmarks import read_mrk_json_markups
from .progress import ProgressCallback, report
from .volume import Volume

log = logging.getLogger(__name__)

__all__ = [
    "LEAK_LOCATIONS",
    "SACRAL_LEAK_LOCATIONS",
    "CanalInfo",
    "CementOptions",
    "CementResult",
    "DistributionScore",
    "SacroplastyResult",
    "Screw",
    "ScrewContact",
    "analyze_cement",
    "analyze_sacroplasty",
    "detect_cement",
    "distribution_score",
    "find_canal",
    "read_screws",
    "screw_contact",
    "vf_percent",
]

#: Leak locations around a vertebral body, in the order they are tested (first match wins;
#: a leak voxel matching none is paravertebral).
LEAK_LOCATIONS = ("canal_foramen", "cranial_disc", "caudal_disc", "paravertebral")
#: Leak locations around a sacrum.
SACRAL_LEAK_LOCATIONS = ("canal", "foramina", "presacral", "other")


@dataclass(frozen=True)
class CementOptions:
    """User-settable thresholds and sizes (defaults from CLINICAL.md section 5 / seed 003).

    Attributes
    ----------
    bone_hu : (float, float)
        Bone range for the vertebral body (Mimics default 226-3071 HU).
    cement_hu : (float, float)
        Cement range (1000-3000 HU).
    min_cement_thickness_mm : float
        Cortical-bone check: cement must contain a ball of this diameter (mm); thinner
        dense structures (cortex) are removed by morphological opening. 0 disables.
    min_component_ml : float
        Cement components smaller than this (ml) are ignored.
    cement_peak_hu : float or None
        Cortical-bone check: a component counts as cement only if its 90th-percentile HU
        reaches this (dense cortex stays near 1000-1300 HU); None disables.
    leak_search_mm : float
        Leakage is searched within this margin (mm) around the body's bounding box.
    min_zone_fraction : float
        Minimum cement fraction of a score zone's body volume for the zone to count.
    axial_slab_mm : float
        Thickness of the axial slabs searched for the best axial slice (at least one voxel).
    vf_cutoff_percent : float
        VF % from which extensive distribution is predicted (seed 003: 28.58).
    extensive_min_score : int
        Distribution score from which a case is group B (extensive): 8.
    seed_radius_mm : float
        Seed mode: bone is grown only within this radius of the seed.
    seed_snap_mm : float
        Seed mode: how far from the seed the nearest bone voxel may be.
    closing_mm : float
        Radius (mm) of a morphological closing that repairs gaps in a thin or low-density
        cortical shell before voids are filled (seed mode and the final body; 0 = off, the
        Mimics default). Useful on thick-slice CT of osteoporotic bone.
    max_canal_width_mm : float
        Holes wider (LPS x) than this are not taken for the spinal canal.
    foramen_margin_mm : float
        Leaks posterior to the body within the canal's half-width plus this margin count
        as canal/foramen leaks.
    working_spacing_mm : float
        Spacing of the LPS-aligned grid on which the spinal canal is found.
    screw_diameter_mm : float
        Default screw diameter when a screw file does not give one.
    screw_contact_margin_mm : float
        Cement within the screw radius plus this margin of the axis is in contact.
    sacral_body_halfwidth_mm : float
        Sacrum: cement within this distance of the midline is "body", beyond it "ala".
    sacral_canal_halfwidth_mm : float
        Sacrum: enclosed non-bone within this distance of the midline is canal, else foramina.
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

    def __post_init__(self) -> None:
        for name in ("bone_hu", "cement_hu"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise InputFileError(f"option {name}: lower threshold {lo} must be below the upper {hi}")
        if not 0 <= self.min_zone_fraction < 1:
            raise InputFileError("option min_zone_fraction must be in [0, 1)")
        for name in ("leak_search_mm", "seed_radius_mm", "working_spacing_mm", "screw_diameter_mm"):
            if not getattr(self, name) > 0:
                raise InputFileError(f"option {name} must be positive")


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class DistributionScore:
    """Seed 003's 0-10 spatial distribution score computed in 3-D.

    Attributes
    ----------
    coronal, sagittal, axial, total : int
    group : str
        ``"A"`` (limited, 0-7) or ``"B"`` (extensive, 8-10).
    zones : dict
        Cement fraction per zone: ``coronal`` {right, middle, left}, ``sagittal``
        {caudal, middle, cranial}, ``axial`` {left_anterior, left_posterior,
        right_anterior, right_posterior} (on the best slab).
    x_edges_mm, z_edges_mm : tuple of 4 float
        LPS x (coronal thirds) and z (sagittal thirds) boundaries of the zones.
    axial_center_mm : (float, float)
        LPS x, y where the quadrants of the best slab meet.
    best_axial_z_mm : float or None
        LPS z of the best axial slab's centre.
    min_zone_fraction : float
        The minimum cement fraction that made a zone count.
    """

    coronal: int
    sagittal: int
    axial: int
    total: int
    group: str
    zones: dict
    x_edges_mm: tuple
    z_edges_mm: tuple
    axial_center_mm: tuple
    best_axial_z_mm: float | None
    min_zone_fraction: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CanalInfo:
    """The spinal canal found as the largest axial hole of the bone/vertebra mask (LPS).

    The posterior cut is the plane ``y = cut_y0_mm + cut_slope * z`` (LPS mm) through the
    canal's anterior wall: everything posterior to it is posterior elements.
    """

    found: bool
    cut_y0_mm: float = math.nan
    cut_slope: float = 0.0
    center_x_mm: float = math.nan
    half_width_mm: float = math.nan
    posterior_y_mm: float = math.nan
    volume_ml: float = 0.0
    points: np.ndarray | None = field(default=None, repr=False, compare=False)

    def cut_y(self, z) -> np.ndarray:
        return self.cut_y0_mm + self.cut_slope * np.asarray(z, dtype=float)

    def to_dict(self) -> dict:
        return {
            "found": self.found,
            "cut_y0_mm": None if not self.found else self.cut_y0_mm,
            "cut_slope": self.cut_slope,
            "center_x_mm": None if not self.found else self.center_x_mm,
            "half_width_mm": None if not self.found else self.half_width_mm,
            "volume_ml": self.volume_ml,
        }


@dataclass(frozen=True)
class Screw:
    """A screw as a line segment (LPS mm) with a diameter (mm)."""

    name: str
    entry: np.ndarray
    tip: np.ndarray
    diameter_mm: float

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(np.asarray(self.tip) - np.asarray(self.entry)))


@dataclass(frozen=True)
class ScrewContact:
    """Fraction of one screw's length whose surface touches cement (seed 002)."""

    name: str
    length_mm: float
    diameter_mm: float
    contact_fraction: float
    contact_length_mm: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SacroplastyResult:
    """Cement in a sacrum: per region (left ala, body band, right ala) and leakage per location."""

    sacrum_ml: float
    cement_ml: dict
    leakage_ml: float
    leakage_by_location: dict
    cement_mask: np.ndarray = field(repr=False)
    leakage_mask: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "sacrum_ml": self.sacrum_ml,
            "cement_ml": dict(self.cement_ml),
            "cement_total_ml": float(sum(self.cement_ml.values())),
            "leakage_ml": self.leakage_ml,
            "leakage_by_location": dict(self.leakage_by_location),
        }


@dataclass(frozen=True, eq=False)
class CementResult:
    """Everything :func:`analyze_cement` measured.

    Masks are boolean arrays on the CT grid (``[k, j, i]``). ``to_dict()`` gives the
    JSON summary (the keys of issue 6 plus details); volumes in ml, distances in mm.
    """

    vbv_ml: float
    cdv_ml: float
    vf_percent: float
    predicted_extensive: bool
    leakage_ml: float
    leakage_by_location: dict
    nearest_leak_to_canal_mm: float | None
    distribution_score: DistributionScore | None
    side_fraction: dict
    body_source: str
    canal: CanalInfo
    options: CementOptions
    seconds: float
    body_mask: np.ndarray = field(repr=False)
    cement_mask: np.ndarray = field(repr=False)
    leakage_mask: np.ndarray = field(repr=False)
    sacroplasty: SacroplastyResult | None = None
    screws: tuple[ScrewContact, ...] = ()

    def to_dict(self) -> dict:
        return {
            "vbv_ml": self.vbv_ml,
            "cdv_ml": self.cdv_ml,
            "vf_percent": self.vf_percent,
            "predicted_extensive": self.predicted_extensive,
            "vf_cutoff_percent": self.options.vf_cutoff_percent,
            "leakage_ml": self.leakage_ml,
            "leakage_by_location": dict(self.leakage_by_location),
            "nearest_leak_to_canal_mm": self.nearest_leak_to_canal_mm,
            "distribution_score": None
            if self.distribution_score is None
            else self.distribution_score.to_dict(),
            "side_fraction": dict(self.side_fraction),
            "body_source": self.body_source,
            "canal": self.canal.to_dict(),
            "sacroplasty": None if self.sacroplasty is None else self.sacroplasty.to_dict(),
            "screws": [s.to_dict() for s in self.screws],
            "options": asdict(self.options),
            "seconds": self.seconds,
        }


# ---------------------------------------------------------------------------- helpers
def vf_percent(body_mask, cement_mask, spacing) -> float:
    """VF % = CDV / VBV x 100 (seed 003) from two masks on one grid.

    Parameters
    ----------
    body_mask, cement_mask : bool ndarray, same shape
        Vertebral body and cement; only cement inside the body counts (CDV).
    spacing : (3,) float, mm
        Voxel size (any order: only the product is used).

    Returns
    -------
    float
        VF in percent; NaN for an empty body.
    """
    body = np.asarray(body_mask, dtype=bool)
    cement = np.asarray(cement_mask, dtype=bool)
    if body.shape != cement.shape:
        raise GeometryMismatchError(f"body mask {body.shape} and cement mask {cement.shape} differ in shape")
    vbv = int(body.sum())
    if vbv == 0:
        return math.nan
    del spacing  # the voxel volume cancels in the ratio
    return 100.0 * int((cement & body).sum()) / vbv


def _as_mask(mask, volume: Volume, name: str) -> np.ndarray:
    """A mask given as a Volume (any grid) or an array on the CT grid -> bool array on the CT grid."""
    if isinstance(mask, Volume):
        return mask.mask_on(volume, name=name)
    arr = np.asarray(mask)
    if arr.shape != volume.array.shape:
        raise GeometryMismatchError(
            f"{name}: array of shape {arr.shape} is not on the CT grid {volume.array.shape}; "
            "pass a Volume (it is resampled) or a mask made on this CT."
        )
    arr = arr != 0
    if not arr.any():
        raise MaskError(f"{name} is empty (no nonzero voxels); segment the structure first.")
    return arr


def _ball(spacing, radius_mm: float) -> np.ndarray:
    """Ellipsoidal structuring element (voxel units) that is a ball of ``radius_mm`` in mm."""
    r = radius_mm / np.asarray(spacing, dtype=float)  # (i, j, k)
    n = np.floor(r).astype(int)
    kk, jj, ii = np.meshgrid(*[np.arange(-m, m + 1) for m in n[::-1]], indexing="ij")
    return (ii / max(r[0], 1e-9)) ** 2 + (jj / max(r[1], 1e-9)) ** 2 + (kk / max(r[2], 1e-9)) ** 2 <= 1.0


def _crop_slices(mask: np.ndarray, margin_vox) -> tuple[slice, ...]:
    idx = np.nonzero(mask)
    out = []
    for a, m, n in zip(idx, margin_vox, mask.shape):
        out.append(slice(max(0, int(a.min()) - int(m)), min(n, int(a.max()) + int(m) + 1)))
    return tuple(out)


def _sub_volume(volume: Volume, sl: tuple[slice, ...], array=None) -> Volume:
    origin = volume.index_to_physical([sl[2].start, sl[1].start, sl[0].start])
    arr = volume.array[sl] if array is None else array
    return Volume(arr, volume.spacing, origin, volume.direction)


def _points(vol: Volume, mask: np.ndarray) -> np.ndarray:
    """LPS positions (N, 3) of the voxels set in ``mask`` (on ``vol``'s grid)."""
    k, j, i = np.nonzero(mask)
    m = vol.direction * vol.spacing  # columns: LPS step per i, j, k
    out = np.empty((len(i), 3))
    for row in range(3):  # three axpy passes; much faster than an (N, 3) @ (3, 3) matmul
        out[:, row] = vol.origin[row] + m[row, 0] * i + m[row, 1] * j + m[row, 2] * k
    return out


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def _fill_holes(mask: np.ndarray, *, slice_axis: int | None = None) -> np.ndarray:
    """Fill holes like ``ndimage.binary_fill_holes`` but by labelling the background (faster).

    With ``slice_axis`` (numpy axis), holes are filled in each 2-D slice across that axis:
    background connects only within a slice, and only the slice's in-plane edges count as
    outside.
    """
    structure = ndimage.generate_binary_structure(3, 1)
    faces = [0, 1, 2]
    if slice_axis is not None:
        idx = [slice(None)] * 3
        for side in (0, 2):
            idx[slice_axis] = side
            structure[tuple(idx)] = False
        faces.remove(slice_axis)
    lab, n = ndimage.label(~mask, structure=structure)
    if n == 0:
        return mask.copy()
    outside = np.zeros(n + 1, dtype=bool)
    for ax in faces:
        for side in (0, -1):
            outside[np.unique(np.take(lab, side, axis=ax))] = True
    outside[0] = True
    return mask | ~outside[lab]


def _fill_voids(mask: np.ndarray, vol: Volume) -> np.ndarray:
    """Fill 3-D cavities, then holes in the grid slices closest to LPS axial planes."""
    axis_k = int(np.argmax(np.abs(vol.direction[2, :])))  # grid axis (i, j, k) nearest LPS z
    return _fill_holes(_fill_holes(mask), slice_axis=2 - axis_k)


def _lps_grid(vol: Volume, mask: np.ndarray, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample ``mask`` (on ``vol``) to an LPS-aligned grid; returns (array[z, y, x], origin)."""
    k, j, i = np.nonzero(mask)
    lo_idx = np.array([i.min(), j.min(), k.min()]) - 1.0
    hi_idx = np.array([i.max(), j.max(), k.max()]) + 1.0
    corners = np.array(
        [
            [a, b, c]
            for a in (lo_idx[0], hi_idx[0])
            for b in (lo_idx[1], hi_idx[1])
            for c in (lo_idx[2], hi_idx[2])
        ]
    )
    pts = vol.index_to_physical(corners)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = np.maximum(1, np.ceil((hi - lo) / spacing_mm)).astype(int) + 1
    ref = sitk.Image([int(s) for s in size], sitk.sitkUInt8)
    ref.SetSpacing([spacing_mm] * 3)
    ref.SetOrigin(lo.tolist())
    src = vol.with_array(mask.astype(np.uint8)).to_sitk()
    out = sitk.Resample(src, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(out).astype(bool), lo


def find_canal(
    vol: Volume,
    mask: np.ndarray,
    *,
    options: CementOptions = CementOptions(),
    z_window: tuple[float, float] | None = None,
    exclude_point=None,
) -> CanalInfo:
    """Find the spinal canal in a bone or vertebra mask and the plane of its anterior wall.

    On an LPS-aligned grid (``working_spacing_mm``), 3-D cavities are filled first (so a
    vertebral body whose trabecular bone falls below the threshold is not taken for a
    hole); the canal is then the most posterior sizeable region that is enclosed by the mask in axial
    (LPS z) slices but open in 3-D. Its anterior wall per slice is the median, over the
    central half of the canal's width, of the most anterior canal voxel edge; a plane
    ``y = y0 + slope * z`` is fitted to those walls (robust to outliers).

    Parameters
    ----------
    vol : Volume
        Grid of ``mask``.
    mask : bool ndarray
        Bone or whole-vertebra mask (posterior elements enclosing the canal).
    z_window : (float, float), optional
        Only slices in this LPS z range (mm) are used for the wall plane.
    exclude_point : (3,) float, mm, LPS, optional
        A point inside the vertebral body (the seed): the hole holding it is not the canal.
    """
    ws = max(options.working_spacing_mm, float(np.min(vol.spacing)))
    grid, lo = _lps_grid(vol, mask, ws)
    grid = _fill_holes(grid)
    holes = _fill_holes(grid, slice_axis=0) & ~grid
    lab, n = ndimage.label(holes)
    if n == 0:
        return CanalInfo(found=False)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    # Candidates: sizeable holes (>= 0.2 ml and >= 10 % of the largest) not holding the
    # seed; a hollow (low-density) vertebral body is such a hole too, but lies anterior to
    # the canal, so the most posterior candidate is the canal.
    ok = (sizes * ws**3 / 1000 >= 0.2) & (sizes >= 0.1 * sizes.max())
    if exclude_point is not None:
        e = np.round((np.asarray(exclude_point, dtype=float) - lo) / ws).astype(int)[::-1]
        if np.all(e >= 0) and np.all(e < np.array(lab.shape)):
            ok[lab[tuple(e)]] = False
    for label, box in enumerate(ndimage.find_objects(lab), start=1):
        if box is not None and ok[label]:
            ok[label] = (box[2].stop - box[2].start) * ws <= options.max_canal_width_mm
    ok[0] = False
    if not ok.any():
        return CanalInfo(found=False)
    ys_all = np.nonzero(lab)[1]
    mean_y = np.bincount(lab[lab > 0], weights=ys_all, minlength=n + 1) / np.maximum(sizes, 1)
    best = int(np.argmax(np.where(ok, mean_y, -np.inf)))
    canal = lab == best
    vol_ml = float(sizes[best]) * ws**3 / 1000
    zs, ys, xs = np.nonzero(canal)
    px = lo[0] + xs * ws
    py = lo[1] + ys * ws
    walls_z, walls_y = [], []
    for z_index in np.unique(zs):
        sel = zs == z_index
        x_s, y_s = xs[sel], ys[sel]
        xc = 0.5 * (x_s.min() + x_s.max())
        half = 0.5 * (x_s.max() - x_s.min() + 1)
        central = np.abs(x_s - xc) <= max(0.5, half / 2)
        cols = x_s[central]
        ymin = np.full(cols.max() + 1, np.iinfo(np.int64).max)
        np.minimum.at(ymin, cols, y_s[central])
        front = ymin[np.unique(cols)]
        walls_z.append(lo[2] + z_index * ws)
        walls_y.append(lo[1] + float(np.median(front)) * ws - ws / 2)
    walls_z, walls_y = np.array(walls_z), np.array(walls_y)
    if z_window is not None:
        keep = (walls_z >= z_window[0]) & (walls_z <= z_window[1])
        if keep.sum() >= 1:
            walls_z, walls_y = walls_z[keep], walls_y[keep]
    y0, slope = float(np.median(walls_y)), 0.0
    if len(walls_z) >= 5 and np.ptp(walls_z) > 4 * ws:
        keep = np.ones(len(walls_z), dtype=bool)
        for _ in range(2):
            slope, y0 = np.polyfit(walls_z[keep], walls_y[keep], 1)
            resid = np.abs(walls_y - (y0 + slope * walls_z))
            keep = resid <= max(2 * ws, 2.5 * float(np.median(resid)))
        slope, y0 = float(slope), float(y0)
        if abs(slope) > 1.0:  # steeper than 45 degrees: not a canal wall; use a coronal plane
            y0, slope = float(np.median(walls_y)), 0.0
    edge = canal & ~ndimage.binary_erosion(canal)
    ez, ey, ex = np.nonzero(edge)
    pts = np.stack([lo[0] + ex * ws, lo[1] + ey * ws, lo[2] + ez * ws], axis=1)
    return CanalInfo(
        found=True,
        cut_y0_mm=y0,
        cut_slope=slope,
        center_x_mm=float(np.median(px)),
        half_width_mm=float(0.5 * (np.percentile(px, 99) - np.percentile(px, 1)) + ws / 2),
        posterior_y_mm=float(np.percentile(py, 99) + ws / 2),
        volume_ml=vol_ml,
        points=pts,
    )


def detect_cement(vol: Volume, *, options: CementOptions = CementOptions()) -> np.ndarray:
    """Cement voxels of ``vol`` (HU): threshold plus the cortical-bone check.

    1. Candidates: ``cement_hu`` (1000-3000 HU).
    2. Morphological opening with a ball of diameter ``min_cement_thickness_mm`` (physical
       mm, so anisotropic and oblique grids behave alike): dense bone thinner than that
       (cortical shells, endplates) is removed.
    3. Components (26-connected) whose 90th-percentile HU is below ``cement_peak_hu``
       (dense cortex, 1000-1400 HU, rather than contrast-loaded PMMA) or whose volume is
       below ``min_component_ml`` are dropped.
    4. The surviving components regain the candidate voxels one voxel (6-neighbourhood)
       around them, which digital opening loses on curved surfaces.

    On anisotropic grids steps 1-3 run on an isotropic resampling at the finest spacing
    (same direction), and the surviving cores are mapped back (nearest neighbour).
    """
    lo, hi = options.cement_hu
    cand = (vol.array >= lo) & (vol.array <= hi)
    if not cand.any():
        return cand
    work = vol
    if options.min_cement_thickness_mm > 0 and np.ptp(vol.spacing) > 1e-6:
        # A ball of 1 mm radius has no extent along 1.6 mm slices, so on anisotropic grids
        # (worst when also oblique) the opening would keep thin cortex: open on an
        # isotropic resampling at the finest spacing (same direction), then map back.
        work = vol.resample_isotropic(float(np.min(vol.spacing)), order=1)
    core = _cement_cores(work, options)
    if work is not vol:
        core = work.with_array(core.astype(np.uint8)).resample_like(vol, order=0).array.astype(bool)
    return cand & ndimage.binary_dilation(core, structure=ndimage.generate_binary_structure(3, 1))


def _cement_cores(vol: Volume, options: CementOptions) -> np.ndarray:
    """Steps 1-3 of :func:`detect_cement` on ``vol``: opened candidates in dense components."""
    lo, hi = options.cement_hu
    core = (vol.array >= lo) & (vol.array <= hi)
    if options.min_cement_thickness_mm > 0:
        ball = _ball(vol.spacing, options.min_cement_thickness_mm / 2)
        if ball.size > 1:
            core = ndimage.binary_opening(core, structure=ball)
    if not core.any():
        return core
    lab, n = ndimage.label(core, structure=np.ones((3, 3, 3)))
    keep = np.ones(n + 1, dtype=bool)
    keep[0] = False
    if options.min_component_ml > 0:
        sizes = np.bincount(lab.ravel(), minlength=n + 1) * vol.voxel_volume_mm3 / 1000
        keep &= sizes >= options.min_component_ml
    if options.cement_peak_hu is not None:
        objects = ndimage.find_objects(lab)
        for label, box in enumerate(objects, start=1):
            if keep[label] and box is not None:
                values = vol.array[box][lab[box] == label]
                keep[label] = float(np.percentile(values, 90)) >= options.cement_peak_hu
    return keep[lab]


def distribution_score(
    body_points: np.ndarray,
    cement_points: np.ndarray,
    *,
    slab_mm: float = 1.0,
    min_zone_fraction: float = 0.05,
    extensive_min_score: int = 8,
) -> DistributionScore:
    """Seed 003's distribution score from LPS voxel positions of the body and its cement.

    Parameters
    ----------
    body_points, cement_points : (N, 3), (M, 3) float, mm, LPS
        Centres of the body's voxels and of the cement voxels inside the body (one grid,
        so counts are volumes).
    slab_mm : float
        Axial slab thickness for the best-slice quadrant score.
    min_zone_fraction : float
        Cement fraction of a zone's body voxels needed for the zone to count.
    """
    bx, by, bz = body_points.T
    cx, cy, cz = cement_points.T if len(cement_points) else (np.empty(0),) * 3

    def thirds(b, c):
        edges = np.linspace(b.min(), b.max(), 4)
        nb = np.bincount(np.clip(np.searchsorted(edges[1:3], b, side="right"), 0, 2), minlength=3)
        nc = np.bincount(np.clip(np.searchsorted(edges[1:3], c, side="right"), 0, 2), minlength=3)
        frac = nc / np.maximum(nb, 1)
        return edges, frac

    x_edges, fx = thirds(bx, cx)
    z_edges, fz = thirds(bz, cz)
    coronal = int(np.sum(fx >= max(min_zone_fraction, 1e-12)))
    sagittal = int(np.sum(fz >= max(min_zone_fraction, 1e-12)))
    # Axial: quadrants through the centre (mid-extent) of each slab's body cross-section.
    z0 = bz.min()
    nslab = int((bz.max() - z0) // slab_mm) + 1
    sb = np.minimum(((bz - z0) // slab_mm).astype(int), nslab - 1)
    stats = {}
    for name, fn, init in (
        ("xmin", np.minimum, np.inf),
        ("xmax", np.maximum, -np.inf),
        ("ymin", np.minimum, np.inf),
        ("ymax", np.maximum, -np.inf),
    ):
        arr = np.full(nslab, init)
        fn.at(arr, sb, bx if name[0] == "x" else by)
        stats[name] = arr
    filled = np.isfinite(stats["xmin"])  # slabs holding body voxels
    xm = np.where(filled, 0.5 * (np.where(filled, stats["xmin"], 0) + np.where(filled, stats["xmax"], 0)), 0)
    ym = np.where(filled, 0.5 * (np.where(filled, stats["ymin"], 0) + np.where(filled, stats["ymax"], 0)), 0)
    # quadrant: 2 * left (x > xm, LPS +x is patient left) + posterior (y > ym)
    qb = sb * 4 + 2 * (bx > xm[sb]) + (by > ym[sb])
    nb = np.bincount(qb, minlength=4 * nslab).reshape(nslab, 4)
    if len(cz):
        sc = np.clip(((cz - z0) // slab_mm).astype(int), 0, nslab - 1)
        qc = sc * 4 + 2 * (cx > xm[sc]) + (cy > ym[sc])
        nc = np.bincount(qc, minlength=4 * nslab).reshape(nslab, 4)
    else:
        nc = np.zeros_like(nb)
    fq = nc / np.maximum(nb, 1)
    counted = (fq >= max(min_zone_fraction, 1e-12)) & (nb > 0)
    per_slab = counted.sum(axis=1)
    order = np.lexsort((nc.sum(axis=1), per_slab))
    best = int(order[-1])
    axial = int(per_slab[best])
    total = coronal + sagittal + axial
    quad_names = ("right_anterior", "right_posterior", "left_anterior", "left_posterior")
    zones = {
        "coronal": dict(zip(("right", "middle", "left"), (float(v) for v in fx))),
        "sagittal": dict(zip(("caudal", "middle", "cranial"), (float(v) for v in fz))),
        "axial": dict(zip(quad_names, (float(v) for v in fq[best]))),
    }
    return DistributionScore(
        coronal=coronal,
        sagittal=sagittal,
        axial=axial,
        total=total,
        group="B" if total >= extensive_min_score else "A",
        zones=zones,
        x_edges_mm=tuple(float(v) for v in x_edges),
        z_edges_mm=tuple(float(v) for v in z_edges),
        axial_center_mm=(float(xm[best]), float(ym[best])),
        best_axial_z_mm=float(z0 + (best + 0.5) * slab_mm) if len(cz) else None,
        min_zone_fraction=min_zone_fraction,
    )


# ---------------------------------------------------------------------------- body
def _body_from_vertebra(sub: Volume, vert: np.ndarray, options: CementOptions, z_window=None):
    canal = find_canal(sub, vert, options=options, z_window=z_window)
    if not canal.found:
        raise AnalysisError(
            "vertebra mask: no spinal canal enclosed by the posterior elements was found, so the "
            "posterior elements cannot be cut off automatically; give a vertebral body mask instead."
        )
    pts = _points(sub, vert)
    keep = pts[:, 1] < canal.cut_y(pts[:, 2])
    body = np.zeros_like(vert)
    k, j, i = np.nonzero(vert)
    body[k[keep], j[keep], i[keep]] = True
    if not body.any():
        raise AnalysisError("vertebra mask: nothing is left anterior to the spinal canal; is it a vertebra?")
    return body, canal


def _seed_body(volume: Volume, seed, options: CementOptions):
    seed = np.asarray(seed, dtype=float).reshape(3)
    volume.require_inside(seed[None], ["seed"], what="seed point")
    r = options.seed_radius_mm
    centre = np.round(volume.physical_to_index(seed)).astype(int)
    half = np.ceil(r / volume.spacing).astype(int)
    sl = tuple(
        slice(max(0, int(centre[a] - half[a])), min(volume.shape_ijk[a], int(centre[a] + half[a] + 1)))
        for a in (2, 1, 0)
    )
    sub = _sub_volume(volume, sl)
    lo, hi = options.bone_hu
    bone = (sub.array >= lo) & (sub.array <= hi)
    # Distance to the seed: the direction matrix is orthonormal, so only spacing matters.
    c = volume.physical_to_index(seed) - np.array([sl[2].start, sl[1].start, sl[0].start])
    kk, jj, ii = np.ogrid[: bone.shape[0], : bone.shape[1], : bone.shape[2]]
    sp = volume.spacing
    dist = np.sqrt(((ii - c[0]) * sp[0]) ** 2 + ((jj - c[1]) * sp[1]) ** 2 + ((kk - c[2]) * sp[2]) ** 2)
    bone &= dist <= options.seed_radius_mm
    # Cement is in the bone range too: a leak touching an endplate or the cortex would join
    # the body. Grow from bone without detected cement; cement inside the body is enclosed
    # by its shell and comes back when the voids are filled.
    bone &= ~detect_cement(sub, options=options)
    # Mimics-like gap repair and void filling: a low-density body is only a (broken)
    # cortical shell at 226 HU.
    if options.closing_mm > 0:
        ball = _ball(sub.spacing, options.closing_mm)
        if ball.size > 1:
            bone = ndimage.binary_closing(bone, structure=ball, border_value=0) & (
                dist <= options.seed_radius_mm
            )
    solid = _fill_voids(bone, sub)
    near = solid & (dist <= options.seed_snap_mm)
    if not near.any():
        hu = float(volume.sample(seed[None], order=0)[0])
        raise LandmarkError(
            f"seed point {np.round(seed, 1).tolist()} (LPS mm) is not in bone: {hu:.0f} HU there and no "
            f"voxel within {options.seed_snap_mm} mm in {lo:.0f}-{hi:.0f} HU or enclosed by such bone. "
            "Place the seed inside the vertebral body.",
            ["seed"],
        )
    lab, _ = ndimage.label(solid)
    comp = lab == lab[near][np.argmin(dist[near])]
    canal = find_canal(
        sub, comp & bone, options=options, z_window=(seed[2] - 15.0, seed[2] + 15.0), exclude_point=seed
    )
    if canal.found:
        pts = _points(sub, comp)
        keep = pts[:, 1] < canal.cut_y(pts[:, 2])
        cut = np.zeros_like(comp)
        k, j, i = np.nonzero(comp)
        cut[k[keep], j[keep], i[keep]] = True
        lab2, _ = ndimage.label(cut)
        near2 = near & cut
        comp = lab2 == lab2[near2][np.argmin(dist[near2])] if near2.any() else _largest_component(cut)
    full = np.zeros(volume.array.shape, dtype=bool)
    full[sl] = comp
    return full, canal


# ---------------------------------------------------------------------------- leaks
def _classify_leaks(
    leak_pts: np.ndarray, body_pts: np.ndarray, canal: CanalInfo, options: CementOptions, cell: float
) -> np.ndarray:
    """Index into :data:`LEAK_LOCATIONS` for each leak point (LPS)."""
    out = np.full(len(leak_pts), LEAK_LOCATIONS.index("paravertebral"))
    if not len(leak_pts):
        return out
    # Body footprint on an LPS x-y raster (projection along z).
    x0, y0 = body_pts[:, 0].min() - cell, body_pts[:, 1].min() - cell
    bi = ((body_pts[:, 0] - x0) // cell).astype(int)
    bj = ((body_pts[:, 1] - y0) // cell).astype(int)
    foot = np.zeros((bi.max() + 2, bj.max() + 2), dtype=bool)
    foot[bi, bj] = True
    foot = ndimage.binary_fill_holes(ndimage.binary_closing(foot, iterations=2))
    li = ((leak_pts[:, 0] - x0) // cell).astype(int)
    lj = ((leak_pts[:, 1] - y0) // cell).astype(int)
    inside = (li >= 0) & (lj >= 0) & (li < foot.shape[0]) & (lj < foot.shape[1])
    in_foot = np.zeros(len(leak_pts), dtype=bool)
    in_foot[inside] = foot[li[inside], lj[inside]]
    zc = float(body_pts[:, 2].mean())
    x, y, z = leak_pts.T
    if canal.found:
        posterior = y >= canal.cut_y(z)
        xc, half, ypost = canal.center_x_mm, canal.half_width_mm, canal.posterior_y_mm
    else:  # fallback: behind the body's posterior surface, near its midline
        posterior = y > body_pts[:, 1].max()
        xc = 0.5 * (body_pts[:, 0].min() + body_pts[:, 0].max())
        half, ypost = 10.0, body_pts[:, 1].max() + 25.0
    rules = {
        "canal_foramen": posterior
        & (y <= ypost + cell)
        & (np.abs(x - xc) <= half + options.foramen_margin_mm),
        "cranial_disc": in_foot & ~posterior & (z > zc),
        "caudal_disc": in_foot & ~posterior & (z <= zc),
    }
    assigned = np.zeros(len(leak_pts), dtype=bool)
    for name in LEAK_LOCATIONS[:-1]:
        sel = rules[name] & ~assigned
        out[sel] = LEAK_LOCATIONS.index(name)
        assigned |= sel
    return out


# ---------------------------------------------------------------------------- screws
def read_screws(path: str | os.PathLike, *, diameter_mm: float = 7.0) -> tuple[Screw, ...]:
    """Screws from a Slicer ``.mrk.json``: each Line markup is one screw (entry, tip);
    in other markups consecutive defined control points pair up (entry, tip).

    A markup may state ``"screwDiameterMm"``; otherwise ``diameter_mm`` applies. Points in
    RAS files are converted to LPS.
    """
    path = Path(path)
    label = f"screws file {path}"
    screws = []
    for m_index, parsed in enumerate(read_mrk_json_markups(path, what="screws file")):
        markup = parsed.markup
        placed = [(name, p) for name, p in parsed.points if p is not None]
        names = [name for name, _ in placed]
        pts = [p for _, p in placed]
        if len(pts) % 2:
            raise InputFileError(
                f"{label}: markup {m_index + 1} has an odd number ({len(pts)}) of points; give each screw "
                "as a line (entry, tip) or as point pairs."
            )
        diameter = float(markup.get("screwDiameterMm", diameter_mm))
        for s in range(0, len(pts), 2):
            name = markup.get("name") if markup.get("type") == "Line" else names[s]
            name = name or f"screw {len(screws) + 1}"
            if np.linalg.norm(pts[s + 1] - pts[s]) < 1e-6:
                raise InputFileError(f"{label}: screw '{name}' has zero length (entry = tip).")
            screws.append(Screw(name, pts[s], pts[s + 1], diameter))
    if not screws:
        raise InputFileError(f"{label}: holds no screw (no defined control points).")
    return tuple(screws)


def screw_contact(
    volume: Volume,
    cement_mask: np.ndarray,
    screws: Sequence[Screw],
    *,
    options: CementOptions = CementOptions(),
    step_mm: float = 0.5,
) -> tuple[ScrewContact, ...]:
    """Fraction of each screw's length in contact with cement (seed 002).

    A point of the screw axis is in contact when cement lies within the screw's radius
    plus ``screw_contact_margin_mm`` of it (3-D distance to the nearest cement voxel centre).
    """
    out = []
    cement = np.asarray(cement_mask, dtype=bool)
    for screw in screws:
        volume.require_inside(
            np.stack([screw.entry, screw.tip]),
            [f"{screw.name} entry", f"{screw.name} tip"],
            what="screw point",
        )
        n = max(2, math.ceil(screw.length_mm / step_mm) + 1)
        t = np.linspace(0.0, 1.0, n)
        axis = screw.entry[None] + t[:, None] * (screw.tip - screw.entry)[None]
        reach = screw.diameter_mm / 2 + options.screw_contact_margin_mm
        idx = volume.physical_to_index(axis)
        margin = np.ceil(reach / volume.spacing).astype(int) + 2
        lo = np.maximum(0, np.floor(idx.min(axis=0)).astype(int) - margin)
        hi = np.minimum(np.array(volume.shape_ijk) - 1, np.ceil(idx.max(axis=0)).astype(int) + margin)
        sl = (slice(lo[2], hi[2] + 1), slice(lo[1], hi[1] + 1), slice(lo[0], hi[0] + 1))
        sub_c = cement[sl]
        if not sub_c.any():
            fraction = 0.0
        else:
            dist = ndimage.distance_transform_edt(~sub_c, sampling=volume.spacing[::-1])
            d = _sub_volume(volume, sl, dist.astype(np.float32)).sample(axis, order=1, fill=np.inf)
            fraction = float(np.mean(d <= reach))
        out.append(
            ScrewContact(screw.name, screw.length_mm, screw.diameter_mm, fraction, fraction * screw.length_mm)
        )
    return tuple(out)


# ---------------------------------------------------------------------------- sacrum
def analyze_sacroplasty(
    volume: Volume,
    sacrum_mask,
    *,
    options: CementOptions = CementOptions(),
    progress: ProgressCallback | None = None,
) -> SacroplastyResult:
    """Cement per sacral region and leakage per location after sacroplasty (seeds 001, 002).

    Regions split the sacrum by LPS x about its midline (middle of its left-right extent):
    ``left_ala`` (x > midline + ``sacral_body_halfwidth_mm``), ``body``, ``right_ala``.
    Leakage (cement outside the sacrum within ``leak_search_mm`` of its bounding box):
    ``canal`` / ``foramina`` when enclosed by the sacrum (inside its closing, 5 mm ball,
    within / beyond ``sacral_canal_halfwidth_mm`` of the midline), ``presacral`` when
    anterior to the sacrum in the same (x, z) column, else ``other``.
    """
    sacrum = _as_mask(sacrum_mask, volume, "sacrum mask")
    report(progress, 0.05, "sacrum: cement")
    margin = np.ceil(options.leak_search_mm / volume.spacing).astype(int)[::-1]
    sl = _crop_slices(sacrum, margin)
    sub = _sub_volume(volume, sl)
    sac = _fill_holes(sacrum[sl])
    cement = detect_cement(sub, options=options)
    vv = volume.voxel_volume_mm3
    pts_s = _points(sub, sac)
    xmid = 0.5 * (pts_s[:, 0].min() + pts_s[:, 0].max())
    inside = cement & sac
    pc = _points(sub, inside)
    dx = pc[:, 0] - xmid
    h = options.sacral_body_halfwidth_mm
    cement_ml = {
        "left_ala": float(np.sum(dx > h)) * vv / 1000,
        "body": float(np.sum(np.abs(dx) <= h)) * vv / 1000,
        "right_ala": float(np.sum(dx < -h)) * vv / 1000,
    }
    report(progress, 0.5, "sacrum: leakage")
    leak = cement & ~sac
    iters = max(1, round(5.0 / float(np.min(volume.spacing))))
    hull = ndimage.binary_closing(
        sac, structure=ndimage.generate_binary_structure(3, 1), iterations=iters, border_value=0
    )
    hull = _fill_voids(hull | sac, sub)
    pl = _points(sub, leak)
    k, j, i = np.nonzero(leak)
    enclosed = hull[k, j, i]
    by_loc = dict.fromkeys(SACRAL_LEAK_LOCATIONS, 0.0)
    if len(pl):
        cell = max(1.0, float(np.min(volume.spacing)))
        x0, z0 = pts_s[:, 0].min() - cell, pts_s[:, 2].min() - cell
        si = ((pts_s[:, 0] - x0) // cell).astype(int)
        sk = ((pts_s[:, 2] - z0) // cell).astype(int)
        front = np.full((si.max() + 2, sk.max() + 2), np.inf)
        np.minimum.at(front, (si, sk), pts_s[:, 1])
        li = np.clip(((pl[:, 0] - x0) // cell).astype(int), 0, front.shape[0] - 1)
        lk = np.clip(((pl[:, 2] - z0) // cell).astype(int), 0, front.shape[1] - 1)
        anterior = pl[:, 1] < front[li, lk]
        midline = np.abs(pl[:, 0] - xmid) <= options.sacral_canal_halfwidth_mm
        labels = np.where(enclosed & midline, 0, np.where(enclosed, 1, np.where(anterior, 2, 3)))
        for n, name in enumerate(SACRAL_LEAK_LOCATIONS):
            by_loc[name] = float(np.sum(labels == n)) * vv / 1000
    full_c = np.zeros(volume.array.shape, dtype=bool)
    full_l = np.zeros(volume.array.shape, dtype=bool)
    full_c[sl] = inside
    full_l[sl] = leak
    report(progress, 1.0, "sacrum: done")
    return SacroplastyResult(
        sacrum_ml=float(sac.sum()) * vv / 1000,
        cement_ml=cement_ml,
        leakage_ml=float(leak.sum()) * vv / 1000,
        leakage_by_location=by_loc,
        cement_mask=full_c,
        leakage_mask=full_l,
    )


# ---------------------------------------------------------------------------- main entry
def analyze_cement(
    volume: Volume,
    *,
    body_mask=None,
    vertebra_mask=None,
    seed=None,
    sacrum_mask=None,
    screws: Sequence[Screw] | None = None,
    options: CementOptions = CementOptions(),
    progress: ProgressCallback | None = None,
    name: str = "CT",
) -> CementResult:
    """Vertebroplasty volumetry (seed 003): VBV, CDV, VF %, leakage, distribution score.

    Parameters
    ----------
    volume : Volume
        Post-operative CT in HU (any spacing and direction).
    body_mask, vertebra_mask : Volume or bool ndarray on the CT grid, optional
        Exactly one of ``body_mask``, ``vertebra_mask`` or ``seed``. A whole-vertebra mask
        has its posterior elements cut off at the spinal canal's anterior wall.
    seed : (3,) float, mm, LPS, optional
        A point in the vertebral body; bone (``bone_hu``) is grown from it within
        ``seed_radius_mm`` and cut at the canal like a vertebra mask.
    sacrum_mask : Volume or bool ndarray, optional
        Adds the sacroplasty analysis (:func:`analyze_sacroplasty`).
    screws : sequence of Screw, optional
        Adds each screw's cement contact fraction (all cement: body, leaks, sacrum).
    options : CementOptions
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled`.
    name : str
        How to call the CT in error messages (e.g. its file name).

    Returns
    -------
    CementResult
    """
    t0 = time.perf_counter()
    given = [
        n
        for n, v in (("body mask", body_mask), ("vertebra mask", vertebra_mask), ("seed", seed))
        if v is not None
    ]
    if len(given) != 1:
        raise InputFileError(
            "give exactly one of a body mask, a vertebra mask or a seed point "
            f"(got {', '.join(given) if given else 'none'})"
        )
    volume.require_ct(name)
    report(progress, 0.02, "vertebral body")
    lo, hi = options.bone_hu
    margin = np.ceil(options.leak_search_mm / volume.spacing).astype(int)[::-1]
    if body_mask is not None:
        full_body = _as_mask(body_mask, volume, "body mask")
        source = "body_mask"
    elif vertebra_mask is not None:
        full_body = _as_mask(vertebra_mask, volume, "vertebra mask")
        source = "vertebra_mask"
    else:
        full_body, canal = _seed_body(volume, seed, options)
        source = "seed"
    sl = _crop_slices(full_body, margin)
    sub = _sub_volume(volume, sl)
    m = full_body[sl]
    report(progress, 0.15, "spinal canal")
    if source == "vertebra_mask":
        body, canal = _body_from_vertebra(sub, m, options)
    elif source == "seed":
        body = m
    else:
        body = m
        hu = sub.array
        bone = ((hu >= lo) & (hu <= hi)) | body
        lab, _ = ndimage.label(bone)
        ids = np.unique(lab[body])
        centre = _points(sub, body).mean(axis=0)
        canal = find_canal(sub, np.isin(lab, ids[ids > 0]), options=options, exclude_point=centre)
    report(progress, 0.4, "filling voids")
    body = _largest_component(body)
    if options.closing_mm > 0:
        ball = _ball(sub.spacing, options.closing_mm)
        if ball.size > 1:
            body = ndimage.binary_closing(body, structure=ball, border_value=0)
    body = _fill_voids(body, sub)
    # The cement search box: around the body only.
    sl2 = _crop_slices(body, margin)
    body = body[sl2]
    sub = _sub_volume(sub, sl2)
    sl = tuple(slice(a.start + b.start, a.start + b.stop) for a, b in zip(sl, sl2))
    report(progress, 0.5, "cement")
    cement = detect_cement(sub, options=options)
    inside = cement & body
    leak = cement & ~body
    vv = volume.voxel_volume_mm3
    vbv = float(body.sum()) * vv / 1000
    cdv = float(inside.sum()) * vv / 1000
    report(progress, 0.7, "distribution score")
    body_pts = _points(sub, body)
    cement_pts = _points(sub, inside)
    zext = float(np.abs(volume.direction[2, :]) @ volume.spacing)
    score = distribution_score(
        body_pts,
        cement_pts,
        slab_mm=max(options.axial_slab_mm, zext),
        min_zone_fraction=options.min_zone_fraction,
        extensive_min_score=options.extensive_min_score,
    )
    xmid = 0.5 * (body_pts[:, 0].min() + body_pts[:, 0].max())
    if len(cement_pts):
        left = float(np.mean(cement_pts[:, 0] > xmid))
        side = {"left": left, "right": 1.0 - left}
    else:
        side = {"left": None, "right": None}
    report(progress, 0.8, "leakage")
    leak_pts = _points(sub, leak)
    codes = _classify_leaks(leak_pts, body_pts, canal, options, cell=max(0.5, float(np.min(volume.spacing))))
    by_loc = {name: float(np.sum(codes == n)) * vv / 1000 for n, name in enumerate(LEAK_LOCATIONS)}
    nearest = None
    if len(leak_pts) and canal.found and canal.points is not None and len(canal.points):
        d, _ = cKDTree(canal.points).query(leak_pts, k=1)
        nearest = float(d.min())
        ws = max(options.working_spacing_mm, float(np.min(volume.spacing)))
        if nearest <= ws:  # within one working voxel of the canal wall or inside it
            in_canal = codes == LEAK_LOCATIONS.index("canal_foramen")
            nearest = 0.0 if in_canal.any() else nearest
    full = {}
    for name, arr in (("body", body), ("cement", inside), ("leak", leak)):
        f = np.zeros(volume.array.shape, dtype=bool)
        f[sl] = arr
        full[name] = f
    sacro = None
    if sacrum_mask is not None:
        sacro = analyze_sacroplasty(volume, sacrum_mask, options=options, progress=None)
    contacts: tuple[ScrewContact, ...] = ()
    if screws:
        report(progress, 0.9, "screws")
        all_cement = full["cement"] | full["leak"]
        if sacro is not None:
            all_cement = all_cement | sacro.cement_mask | sacro.leakage_mask
        contacts = screw_contact(volume, all_cement, screws, options=options)
    vf = 100.0 * cdv / vbv if vbv > 0 else math.nan
    seconds = time.perf_counter() - t0
    report(progress, 1.0, "done")
    log.info(
        "cement: VBV %.2f ml, CDV %.2f ml, VF %.1f %%, leak %.2f ml in %.2f s",
        vbv,
        cdv,
        vf,
        sum(by_loc.values()),
        seconds,
    )
    return CementResult(
        vbv_ml=vbv,
        cdv_ml=cdv,
        vf_percent=vf,
        predicted_extensive=bool(vf >= options.vf_cutoff_percent),
        leakage_ml=float(leak.sum()) * vv / 1000,
        leakage_by_location=by_loc,
        nearest_leak_to_canal_mm=nearest,
        distribution_score=score,
        side_fraction=side,
        body_source=source,
        canal=canal,
        options=options,
        seconds=seconds,
        body_mask=full["body"],
        cement_mask=full["cement"],
        leakage_mask=full["leak"],
        sacroplasty=sacro,
        screws=contacts,
    )
