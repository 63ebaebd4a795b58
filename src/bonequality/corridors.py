"""Sacral screw corridors, 10 mm cylinder probes and L5 density (seed 000, CLINICAL.md section 2).

Implements Thiesen et al. (seed 000, "The three-dimensional bone mass distribution of the
posterior pelvic ring and its key role in transsacral screw placement"):

* **S1 corridor** per side X: ``C1`` = mean of ``S1_body_top``, ``S1_foramen_sup_L/R``;
  ``K_X`` = midpoint of ``SI_joint_ventral_sup_X`` and ``S1_foramen_sup_X``; the line
  ``C1 -> K_X`` extended laterally to where it leaves the outer iliac cortex, ``E_X``.
  The S1 probe runs ``E_L -> C1 -> E_R`` (0 % = patient left, 100 % = patient right), as
  CLINICAL.md section 2 defines it; the S2 probe runs from the left entry to the right.
* **S2 corridor**: ``M_X`` = circumcentre of ``S1_foramen_inf_X``, ``S2_foramen_sup_X``,
  ``S2_body_ventral_X``; the axis ``M_R -> M_L`` moved dorsally (perpendicular to the axis
  in the axial plane) until it clears ``S2_body_ventral_mid`` by 7 mm; the probe runs
  between the two points where the extended axis leaves the bone.
* **Sampling** (this module's reading of "sub-voxel sampling"): along each probe leg,
  segments of 0.25 mm (the leg length divided into ``round(L / 0.25)`` equal segments);
  a segment's value is the weighted mean of the trilinearly interpolated HU at the
  centres of a fixed square lattice of 0.5 mm cells covering the 10 mm disk
  perpendicular to the axis at the segment centre, each weighted by the area of its cell
  inside the disk (partial-area weights). The pattern is point-symmetric, so the mean of
  a field that is linear in position is its value on the axis, exactly.
* **Profiles** in 1 % bins of the probe length (mean of the segments whose centres fall
  in the bin) and region means over segments: body 40-60 %, alae 20-40 % + 60-80 %
  pooled, whole 0-100 %.
* **Bone surface / entry points**: see :func:`find_bone_exit`. The bone threshold is
  computed per scan (:func:`compute_bone_threshold`; seed 000's "mean of the maxima and
  minima of density profiles across the bone") or given by the user.
* **L5**: mean HU of an ROI in the trabecular core (:func:`l5_density`), group
  ``<= 100 HU`` / ``> 100 HU``; z-scores against seed 000 Table 1 (:data:`REFERENCE_COHORT`).
* **Screw fit** (seed 002 diameters 6.5, 7.3, 8 mm): free radius around the axis, see
  :func:`free_radius`.
* **Thermal image**: the HU on the axial-ish plane through each probe axis, straightened
  (rows: offset across the probe, dorsal positive; columns: position along the probe).

Public API: :func:`analyze_corridors` (everything), :func:`update_corridors` (fast
re-sampling of only what a moved landmark changes), :func:`compute_bone_threshold`,
:func:`find_bone_exit`, :func:`sample_probe`, :func:`s1_geometry`, :func:`s2_geometry`, :func:`l5_density`,
:func:`z_scores`; results are frozen dataclasses with ``to_dict()``.
"""

from __future__ import annotations

import functools
import logging
import weakref
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from .errors import AnalysisError, GeometryError, LandmarkError
from .geometry import Line, circle_through, unit
from .landmarks import Landmarks, required_labels
from .progress import ProgressCallback, report
from .volume import Volume

log = logging.getLogger(__name__)

__all__ = [
    "LANDMARK_DEPENDENTS",
    "REFERENCE_COHORT",
    "REGIONS",
    "SCREW_DIAMETERS_MM",
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
    "s1_geometry",
    "s2_geometry",
    "sample_probe",
    "update_corridors",
    "z_scores",
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


# ----------------------------------------------------------------------------- sampling
class _Sampler:
    """Trilinear sampling of a volume at LPS points (NaN outside), without copying the array."""

    def __init__(self, volume: Volume):
        self.volume = volume
        self.matrix = volume.direction / volume.spacing[np.newaxis, :]  # LPS offset -> ijk
        self.upper = np.asarray(volume.shape_ijk, dtype=float) - 0.5

    def __call__(self, points: np.ndarray) -> np.ndarray:
        pts = np.asarray(points, dtype=float)
        shape = pts.shape[:-1]
        pts = pts.reshape(-1, 3)
        d = [pts[:, a] - self.volume.origin[a] for a in range(3)]
        # (k, j, i) rows for map_coordinates; explicit sums, not a BLAS matmul (which
        # spawns threads and is erratic on a loaded 2-core machine).
        coords = np.empty((3, pts.shape[0]))
        outside = np.zeros(pts.shape[0], dtype=bool)
        for c in range(3):
            row = coords[2 - c]
            np.multiply(d[0], self.matrix[0, c], out=row)
            row += d[1] * self.matrix[1, c]
            row += d[2] * self.matrix[2, c]
            outside |= (row < -0.5) | (row > self.upper[c])
        out = ndimage.map_coordinates(self.volume.array, coords, order=1, mode="nearest", output=np.float64)
        out[outside] = np.nan
        return out.reshape(shape)


@functools.lru_cache(maxsize=8)
def _disk_lattice(radius: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Square lattice of ``step`` cells covering the disk, with partial-area weights.

    Returns ``(offsets (P, 2), weights (P,))``: cell centres (point-symmetric) and the area
    fraction of each cell inside the disk (32 x 32 sub-samples per cell), normalised to 1.
    """
    n = int(np.ceil(radius / step))
    g = (np.arange(-n, n) + 0.5) * step
    u, v = np.meshgrid(g, g)
    sub = (np.arange(32) + 0.5) / 32 * step - step / 2
    su, sv = np.meshgrid(sub, sub)
    frac = np.mean(
        (u.ravel()[:, None] + su.ravel()) ** 2 + (v.ravel()[:, None] + sv.ravel()) ** 2 <= radius**2, axis=1
    )
    keep = frac > 0
    w = frac[keep]
    return np.stack([u.ravel()[keep], v.ravel()[keep]], axis=1), w / w.sum()


def _perp_frame(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) perpendicular to ``w``: ``u`` dorsal (+y) in the axial plane, ``v = w x u``."""
    u = np.cross([0.0, 0.0, 1.0], w)
    if np.linalg.norm(u) < 1e-6:  # axis along z: fall back to the y axis
        u = np.array([0.0, 1.0, 0.0]) - w[1] * w
    u = unit(u)
    if u[1] < 0:
        u = -u
    return u, np.cross(w, u)


# ----------------------------------------------------------------------------- threshold
_THRESHOLD_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Soft tissue included on each side of the dense part of a threshold profile (mm).
_PROFILE_PAD_MM = 10.0


def _body_segment(hu: np.ndarray, centre: int, air_hu: float) -> np.ndarray:
    """The samples of ``hu`` in the contiguous non-air run that contains index ``centre``."""
    ok = np.isfinite(hu) & (hu >= air_hu)
    if not ok[centre]:
        return hu[:0]
    lo = centre
    bad_before = np.flatnonzero(~ok[:centre])
    lo = bad_before[-1] + 1 if bad_before.size else 0
    bad_after = np.flatnonzero(~ok[centre:])
    hi = centre + bad_after[0] if bad_after.size else hu.size
    return hu[lo:hi]


def compute_bone_threshold(
    volume: Volume, landmarks, *, options: CorridorOptions | None = None, use_cache: bool = True
) -> float:
    """Per-scan bone threshold (HU), seed 000's reading fixed here.

    Seed 000: "density profiles are measured on several slices along a distance that runs
    completely through the dense areas of the bone ... The maximum and minimum HU values
    are determined for each profile and the total average is calculated from all values."

    Reading implemented: five profiles through the posterior pelvic ring, each sampled
    every 0.5 mm along a whole line through the body: the left and right S1 trajectories
    (through ``C1`` and ``K_X``), the lateral line through the midpoint of the S2 foramina
    landmarks, and antero-posterior lines through ``C1`` and through ``L5_body_center``.
    A profile "across the bone" runs from 10 mm before its first to 10 mm after its last
    dense sample (>= half its maximum), inside the body (air below ``air_hu`` cut off).
    Each profile contributes its maximum and its minimum; the threshold is the mean of
    these ten values. The value is cached per volume and landmark set.

    Returns
    -------
    float
        Threshold in HU.
    """
    opts = options or CorridorOptions()
    labels = required_labels("corridors")
    pts = {k: np.asarray(landmarks[k], dtype=float) for k in labels}
    key = np.round(np.concatenate([pts[k] for k in labels]), 3).tobytes()
    if use_cache:
        cached = _THRESHOLD_CACHE.get(volume)
        if cached is not None and cached[0] == key:
            return cached[1]
    c1 = (pts["S1_body_top"] + pts["S1_foramen_sup_L"] + pts["S1_foramen_sup_R"]) / 3.0
    m_mid = (
        pts["S1_foramen_inf_L"] + pts["S2_foramen_sup_L"] + pts["S1_foramen_inf_R"] + pts["S2_foramen_sup_R"]
    ) / 4.0
    lines = [
        (c1, (pts["SI_joint_ventral_sup_L"] + pts["S1_foramen_sup_L"]) / 2.0 - c1),
        (c1, (pts["SI_joint_ventral_sup_R"] + pts["S1_foramen_sup_R"]) / 2.0 - c1),
        (m_mid, pts["S2_foramen_sup_L"] - pts["S2_foramen_sup_R"]),
        (c1, np.array([0.0, 1.0, 0.0])),
        (pts["L5_body_center"], np.array([0.0, 1.0, 0.0])),
    ]
    lo, hi = volume.physical_bounds()
    reach = float(np.linalg.norm(hi - lo))
    t = np.arange(-reach, reach + 0.25, 0.5)
    sampler = _Sampler(volume)
    values = []
    for start, d in lines:
        if np.linalg.norm(d) < 1e-6:
            continue
        d = unit(d)
        hu = sampler(start + t[:, None] * d)
        seg = _body_segment(hu, int(np.argmin(np.abs(t))), opts.air_hu)
        if seg.size == 0 or np.max(seg) <= 0:
            continue
        top = float(np.max(seg))
        dense = np.flatnonzero(seg >= 0.5 * top)
        pad = round(_PROFILE_PAD_MM / 0.5)
        span = seg[max(0, dense[0] - pad) : dense[-1] + pad + 1]
        values += [top, float(np.min(span))]
    if not values:
        raise AnalysisError(
            "bone threshold: no profile through the landmarks crosses the body; check the landmarks "
            "(they must lie on the pelvis) or give the threshold explicitly (--bone-threshold)."
        )
    threshold = float(np.mean(values))
    _THRESHOLD_CACHE[volume] = (key, threshold)
    log.info("bone threshold %.1f HU from %d profiles", threshold, len(values) // 2)
    return threshold


# ----------------------------------------------------------------------------- bone exit
def find_bone_exit(
    volume: Volume,
    start,
    direction,
    *,
    threshold: float,
    min_run_mm: float = 5.0,
    air_hu: float = -400.0,
    step_mm: float = 0.25,
    must_pass=None,
    name: str = "ray",
    labels: tuple[str, ...] = (),
    _sampler: _Sampler | None = None,
) -> np.ndarray:
    """Where a ray from inside the pelvis leaves the bone for good (LPS mm).

    A first-exit march stops too early here: with a cortical threshold the S1 body's
    cancellous bone, the alar void and the iliac interior are all "below threshold" for
    more than 5 mm. The exit is therefore the **last** bone -> non-bone transition before
    the body surface: the ray is sampled from ``start`` every ``step_mm`` until the first
    run of ``min_run_mm`` below ``air_hu`` (air; the skin) or the image edge; the exit is
    the threshold crossing (linear interpolation between samples) after the last sample
    at or above ``threshold``, which is followed by at least ``min_run_mm`` below it.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    start, direction : (3,) float, LPS mm
    threshold : float, HU
    must_pass : (3,) float, optional
        A point the exit must lie beyond (e.g. ``K_X``); otherwise :class:`LandmarkError`.
    name : str
        Names the corridor in messages; ``labels`` are the landmarks blamed.

    Raises
    ------
    AnalysisError
        No bone along the ray, or still in bone at the image edge (never leaves bone).
    LandmarkError
        The exit lies before ``must_pass``.
    """
    start = np.asarray(start, dtype=float)
    d = unit(direction, name=f"{name} direction")
    sampler = _sampler or _Sampler(volume)
    lo, hi = volume.physical_bounds()
    n = int(np.ceil(np.linalg.norm(hi - lo) / step_mm)) + 2
    t = np.arange(n) * step_mm
    hu = sampler(start + t[:, None] * d)
    inside = np.isfinite(hu)
    end = int(np.argmin(inside)) if not inside.all() else n  # first sample outside the image
    min_samples = int(np.ceil(min_run_mm / step_mm))
    air = inside & (hu < air_hu)
    if air[:end].any():
        # first run of >= min_samples air samples
        run = np.convolve(air[:end].astype(int), np.ones(min_samples, dtype=int), mode="valid")
        full = np.flatnonzero(run >= min_samples)
        if full.size:
            end = int(full[0])
    bone = np.flatnonzero(inside[:end] & (hu[:end] >= threshold))
    where = f"from LPS {np.round(start, 1).tolist()} towards {np.round(d, 2).tolist()}"
    if bone.size == 0:
        raise AnalysisError(
            f"{name}: no bone (>= {threshold:.0f} HU) along the corridor {where}; check "
            f"{', '.join(labels) or 'the landmarks'} and the bone threshold.",
        )
    last = int(bone[-1])
    if last + 1 + min_samples > end and (end >= n or not inside[min(end, n - 1)]):
        raise AnalysisError(
            f"{name}: the corridor never leaves bone (>= {threshold:.0f} HU) inside the image {where}; "
            "the image must cover the whole pelvis, or check the landmarks and the bone threshold."
        )
    h0, h1 = hu[last], hu[last + 1] if last + 1 < n else np.nan
    frac = 1.0 if not np.isfinite(h1) or h0 == h1 else float(np.clip((h0 - threshold) / (h0 - h1), 0, 1))
    exit_point = start + (t[last] + frac * step_mm) * d
    if must_pass is not None and (exit_point - np.asarray(must_pass)) @ d <= 0:
        raise LandmarkError(
            f"{name}: the corridor leaves the bone at LPS {np.round(exit_point, 1).tolist()}, before its "
            f"centre; check {', '.join(labels)} (misplaced?).",
            labels,
        )
    return exit_point


# ----------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class S1Geometry:
    """S1 corridor geometry (LPS mm): ``c1``, ``k`` and ``entry`` per side ``"L"``/``"R"``."""

    c1: np.ndarray
    k: dict
    entry: dict

    def to_dict(self) -> dict:
        return {
            "C1_lps": self.c1.tolist(),
            **{f"K_{s}_lps": self.k[s].tolist() for s in self.k},
            **{f"entry_{s}_lps": self.entry[s].tolist() for s in self.entry},
        }


@dataclass(frozen=True)
class S2Geometry:
    """S2 corridor geometry (LPS mm).

    Attributes
    ----------
    m : dict side -> (3,) circumcentre ``M_X``; ``radius``: side -> circle radius (mm)
    axis_point, axis_direction : (3,) the (possibly shifted) axis, direction right -> left
    clearance_before_mm, clearance_mm : distance of the axis from ``S2_body_ventral_mid``
        before and after the 7 mm rule
    ventral_shift_mm : dorsal shift applied (0 if none); ``moved`` : whether it was moved
    entry : dict side -> (3,) where the extended axis leaves the bone
    """

    m: dict
    radius: dict
    axis_point: np.ndarray
    axis_direction: np.ndarray
    clearance_before_mm: float
    clearance_mm: float
    ventral_shift_mm: float
    moved: bool
    entry: dict

    def to_dict(self) -> dict:
        return {
            **{f"M_{s}_lps": self.m[s].tolist() for s in self.m},
            **{f"circle_radius_{s}_mm": self.radius[s] for s in self.radius},
            "axis_point_lps": self.axis_point.tolist(),
            "axis_direction_lps": self.axis_direction.tolist(),
            "clearance_before_mm": self.clearance_before_mm,
            "clearance_mm": self.clearance_mm,
            "ventral_shift_mm": self.ventral_shift_mm,
            "moved": self.moved,
            **{f"entry_{s}_lps": self.entry[s].tolist() for s in self.entry},
        }


def _c1(lm) -> np.ndarray:
    return (lm["S1_body_top"] + lm["S1_foramen_sup_L"] + lm["S1_foramen_sup_R"]) / 3.0


def _k(lm, side: str) -> np.ndarray:
    return (lm[f"SI_joint_ventral_sup_{side}"] + lm[f"S1_foramen_sup_{side}"]) / 2.0


#: +1 for the patient's left (LPS +x), -1 for the right.
_SIDE_SIGN = {"L": 1.0, "R": -1.0}


def _s1_leg_geometry(volume, lm, side, threshold, opts, sampler) -> tuple[np.ndarray, np.ndarray]:
    c1, k = _c1(lm), _k(lm, side)
    labels = (f"SI_joint_ventral_sup_{side}", f"S1_foramen_sup_{side}", "S1_body_top")
    d = unit(k - c1, name=f"S1 {side} corridor (C1 -> K_{side})")
    if d[0] * _SIDE_SIGN[side] <= 0:
        raise LandmarkError(
            f"S1 {side} corridor: its centre K_{side} is not on the patient's "
            f"{'left' if side == 'L' else 'right'} of the S1 body centre; check {', '.join(labels)} "
            "(left/right swapped?).",
            labels,
        )
    entry = find_bone_exit(
        volume,
        c1,
        d,
        threshold=threshold,
        min_run_mm=opts.min_run_mm,
        air_hu=opts.air_hu,
        must_pass=k,
        name=f"S1 {side} corridor",
        labels=labels,
        _sampler=sampler,
    )
    return c1, entry


def s1_geometry(volume: Volume, landmarks, *, threshold: float, options: CorridorOptions | None = None):
    """S1 corridors: ``C1``, ``K_X`` and the entry points ``E_X`` (CLINICAL.md section 2)."""
    opts = options or CorridorOptions()
    sampler = _Sampler(volume)
    entries = {}
    for side in ("L", "R"):
        _, entries[side] = _s1_leg_geometry(volume, landmarks, side, threshold, opts, sampler)
    return S1Geometry(_c1(landmarks), {s: _k(landmarks, s) for s in ("L", "R")}, entries)


def _dorsal_shift(line: Line, q: np.ndarray, clearance: float) -> tuple[float, np.ndarray]:
    """Dorsal shift (mm) and its unit direction so that ``line`` clears ``q`` by ``clearance``.

    The shift direction ``p`` is perpendicular to the axis in the axial plane, pointing
    posterior (+y). With ``r`` the perpendicular vector from the line to ``q``, the shifted
    line's distance is ``|r - s p|``; the smallest ``s >= 0`` giving ``clearance`` is
    ``s = r.p + sqrt((r.p)^2 - |r|^2 + clearance^2)``.
    """
    p, _ = _perp_frame(line.direction)
    r = q - line.project(q)
    dist = float(np.linalg.norm(r))
    if dist >= clearance:
        return 0.0, p
    rp = float(r @ p)
    return rp + float(np.sqrt(max(rp * rp - dist * dist + clearance * clearance, 0.0))), p


def s2_geometry(volume: Volume, landmarks, *, threshold: float, options: CorridorOptions | None = None):
    """S2 corridor: circumcentres, the 7 mm ventral clearance rule and entry points."""
    opts = options or CorridorOptions()
    m, radius = {}, {}
    for side in ("L", "R"):
        names = (f"S1_foramen_inf_{side}", f"S2_foramen_sup_{side}", f"S2_body_ventral_{side}")
        try:
            circle = circle_through(*(landmarks[n] for n in names), names=names)
        except GeometryError as exc:  # collinear or coincident points: the user moves them
            raise LandmarkError(str(exc), names) from exc
        m[side], radius[side] = circle.center, circle.radius
    if (m["L"][0] - m["R"][0]) <= 0:
        raise LandmarkError(
            "S2 corridor: the left circumcentre M_L is not on the patient's left of M_R; check the S2 "
            "landmarks (left/right swapped?).",
            [f"{n}_{s}" for n in ("S1_foramen_inf", "S2_foramen_sup", "S2_body_ventral") for s in "LR"],
        )
    axis = Line.through(m["R"], m["L"], names=("M_R", "M_L"))
    q = np.asarray(landmarks["S2_body_ventral_mid"], dtype=float)
    before = float(axis.distance(q))
    p, _ = _perp_frame(axis.direction)
    if before < opts.ventral_clearance_mm and float((q - axis.project(q)) @ p) > 0:
        raise LandmarkError(
            "S2 corridor: S2_body_ventral_mid lies dorsal to the S2 axis; it belongs on the ventral "
            "cortex of the S2 body (midline). Move it.",
            ["S2_body_ventral_mid"],
        )
    shift, p = _dorsal_shift(axis, q, opts.ventral_clearance_mm)
    point = (m["L"] + m["R"]) / 2.0 + shift * p
    shifted = Line(point, axis.direction)
    after = float(shifted.distance(q))
    sampler = _Sampler(volume)
    entries = {}
    labels = tuple(f"{n}_{s}" for n in ("S1_foramen_inf", "S2_foramen_sup", "S2_body_ventral") for s in "LR")
    for side, sign in _SIDE_SIGN.items():
        entries[side] = find_bone_exit(
            volume,
            point,
            sign * axis.direction,
            threshold=threshold,
            min_run_mm=opts.min_run_mm,
            air_hu=opts.air_hu,
            must_pass=shifted.project(m[side]),
            name=f"S2 corridor ({'left' if side == 'L' else 'right'})",
            labels=labels,
            _sampler=sampler,
        )
    return S2Geometry(m, radius, point, axis.direction, before, after, float(shift), shift > 0, entries)


# ----------------------------------------------------------------------------- probes
@dataclass(frozen=True)
class Leg:
    """One straight piece of a probe, sampled from ``start`` to ``end`` (LPS mm).

    Attributes
    ----------
    segments_hu : (n,) float
        Disk-mean HU of each 0.25 mm segment, from ``start`` to ``end``.
    thermal : (h, n) float
        HU on the plane through the axis spanned by the axis and the dorsal direction
        ``u`` (row 0 = most ventral offset), one column per segment.
    free_radius_mm : (m,) float
        Free radius at ``free_radius_t_mm`` (distance from ``start``); NaN where excluded.
    """

    name: str
    start: np.ndarray
    end: np.ndarray
    segments_hu: np.ndarray
    thermal: np.ndarray
    thermal_offsets_mm: np.ndarray
    free_radius_t_mm: np.ndarray
    free_radius_mm: np.ndarray

    @property
    def length_mm(self) -> float:
        return float(np.linalg.norm(self.end - self.start))


def _leg_points(a: np.ndarray, b: np.ndarray, opts: CorridorOptions):
    """All sample points of one leg, and how to split the samples back."""
    axis = b - a
    length = float(np.linalg.norm(axis))
    if length < opts.segment_mm:
        raise AnalysisError(f"probe leg from {np.round(a, 1).tolist()} is shorter than one segment")
    w = axis / length
    u, v = _perp_frame(w)
    n = max(1, round(length / opts.segment_mm))
    t = (np.arange(n) + 0.5) * (length / n)
    centres = a + t[:, None] * w
    disk, weights = _disk_lattice(opts.probe_diameter_mm / 2.0, opts.disk_step_mm)
    disk_pts = centres[:, None, :] + disk[None, :, 0, None] * u + disk[None, :, 1, None] * v
    offs = np.arange(-opts.thermal_half_width_mm, opts.thermal_half_width_mm + 1e-9, opts.thermal_step_mm)
    thermal_pts = centres[None, :, :] + offs[:, None, None] * u
    every = max(1, round(opts.free_radius_every_mm / (length / n)))
    fr_idx = np.arange(every // 2, n, every)
    ang = np.arange(opts.free_radius_angles) * (2 * np.pi / opts.free_radius_angles)
    radii = np.arange(0.0, opts.free_radius_max_mm + 1e-9, opts.free_radius_step_mm)
    dirs = np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * v  # (A, 3)
    fr_pts = centres[fr_idx, None, None, :] + radii[None, None, :, None] * dirs[None, :, None, :]
    parts = [disk_pts.reshape(-1, 3), thermal_pts.reshape(-1, 3), fr_pts.reshape(-1, 3), centres]
    meta = {
        "n": n,
        "t": t,
        "disk": disk.shape[0],
        "weights": weights,
        "every_mm": every * length / n,
        "offs": offs,
        "fr_idx": fr_idx,
        "radii": radii,
        "angles": ang.size,
    }
    return parts, meta


def free_radius(
    radial_hu: np.ndarray, radii: np.ndarray, *, threshold: float, excluded: np.ndarray | None = None
) -> np.ndarray:
    """Free radius (mm) around the axis at each evaluated position.

    Definition used (the screw-fit check of CLINICAL.md section 2): at each axis position,
    rays in the plane perpendicular to the axis leave the axis in ``A`` directions; along
    each, the cortex is met at the first radius where HU >= ``threshold`` (linear
    interpolation between samples); the free radius is the smallest such radius (capped at
    the search radius). ``excluded`` positions are NaN: the caller excludes positions
    within ``plate_margin_mm`` of where the axis itself (sampled every 0.25 mm) crosses
    cortex (the iliac cortices and SI joint plates the screw is meant to cross).

    Parameters
    ----------
    radial_hu : (m, A, R) float
        HU along the rays; ``radii`` (R,) with ``radii[0] = 0`` (the axis).
    excluded : (m,) bool, optional
        Positions to leave out.
    """
    above = radial_hu >= threshold
    above[..., 0] = False
    hit = np.argmax(above, axis=2)  # first index >= threshold (0 when none)
    has = above.any(axis=2)
    h0 = np.take_along_axis(radial_hu, np.maximum(hit - 1, 0)[..., None], axis=2)[..., 0]
    h1 = np.take_along_axis(radial_hu, hit[..., None], axis=2)[..., 0]
    step = radii[1] - radii[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.clip((threshold - h0) / (h1 - h0), 0.0, 1.0)
    r = np.where(has, radii[np.maximum(hit - 1, 0)] + np.nan_to_num(frac, nan=1.0) * step, radii[-1])
    out = np.nanmin(np.where(np.isfinite(radial_hu).all(axis=2), r, np.nan), axis=1)
    if excluded is not None:
        out[excluded] = np.nan
    return out


def _build_leg(name, a, b, samples, meta, threshold, opts) -> Leg:
    n, p = meta["n"], meta["disk"]
    disk_hu, thermal_hu, fr_hu, axis_hu = samples
    hu = disk_hu.reshape(n, p)
    w = np.where(np.isfinite(hu), meta["weights"], 0.0)
    with np.errstate(invalid="ignore"):
        seg = np.nansum(hu * w, axis=1) / w.sum(axis=1)  # NaN (outside the image) is left out
    thermal = thermal_hu.reshape(meta["offs"].size, n)
    radial = fr_hu.reshape(meta["fr_idx"].size, meta["angles"], meta["radii"].size)
    seg_mm = float(meta["t"][1] - meta["t"][0]) if n > 1 else opts.segment_mm
    margin = int(np.ceil(opts.plate_margin_mm / seg_mm))
    # Thin plates blurred by the CT peak below the threshold on the axis still count.
    axis_bone = axis_hu >= opts.plate_fraction * threshold
    near_plate = ndimage.binary_dilation(axis_bone, iterations=margin) if axis_bone.any() else axis_bone
    fr = free_radius(radial, meta["radii"], threshold=threshold, excluded=near_plate[meta["fr_idx"]])
    return Leg(name, a, b, seg, thermal, meta["offs"], meta["t"][meta["fr_idx"]], fr)


def _sample_legs(sampler: _Sampler, specs, threshold, opts) -> list[Leg]:
    """Sample several legs with ONE interpolation call. ``specs``: [(name, start, end)]."""
    all_parts, metas, sizes = [], [], []
    for _, a, b in specs:
        parts, meta = _leg_points(a, b, opts)
        all_parts += parts
        metas.append(meta)
        sizes.append([q.shape[0] for q in parts])
    values = sampler(np.concatenate(all_parts))
    legs, pos = [], 0
    for (name, a, b), meta, sz in zip(specs, metas, sizes):
        chunks = []
        for s in sz:
            chunks.append(values[pos : pos + s])
            pos += s
        legs.append(_build_leg(name, a, b, chunks, meta, threshold, opts))
    return legs


@dataclass(frozen=True)
class ProbeResult:
    """A cylinder probe (S1: ``E_L -> C1 -> E_R``; S2: ``E_L -> E_R``) and its measurements.

    Attributes
    ----------
    corridor : {"S1", "S2"}
    legs : tuple of Leg
        Straight pieces in order from the patient's right to left.
    length_mm : float
        Total probe length (100 %).
    segment_percent : (n,) float
        Position of each segment centre in % of the probe length (0 % = left entry).
    segments_hu : (n,) float
        Raw 0.25 mm segment means (HU).
    percent, profile_hu : (100,) float
        1 % bin centres (0.5 ... 99.5) and bin means (HU).
    region_means : dict
        ``corridor``, ``body``, ``alae`` -> mean HU.
    min_free_radius_mm : float
        Smallest free radius along the probe (NaN if no position could be evaluated).
    screw_fit : dict
        Diameter (mm) -> whether it fits (``2 * min_free_radius >= diameter``).
    """

    corridor: str
    legs: tuple
    length_mm: float
    segment_percent: np.ndarray
    segments_hu: np.ndarray
    percent: np.ndarray
    profile_hu: np.ndarray
    region_means: dict
    min_free_radius_mm: float
    screw_fit: dict

    @property
    def entry_left(self) -> np.ndarray:
        return self.legs[0].start

    @property
    def entry_right(self) -> np.ndarray:
        return self.legs[-1].end

    def thermal_image(self) -> tuple[np.ndarray, np.ndarray]:
        """Straightened thermal image (rows: offset, dorsal up; columns: segments) and offsets (mm)."""
        return np.concatenate([leg.thermal for leg in self.legs], axis=1), self.legs[0].thermal_offsets_mm

    def to_dict(self) -> dict:
        return {
            "length_mm": self.length_mm,
            "corridor_mean_hu": self.region_means["corridor"],
            "body_mean_hu": self.region_means["body"],
            "alae_mean_hu": self.region_means["alae"],
            "entry_left_lps": self.entry_left.tolist(),
            "entry_right_lps": self.entry_right.tolist(),
            "min_free_radius_mm": self.min_free_radius_mm,
            "screw_fit": {f"{d:g}": ok for d, ok in self.screw_fit.items()},
        }


def _probe(corridor: str, legs: list[Leg], opts: CorridorOptions) -> ProbeResult:
    lengths = np.array([leg.length_mm for leg in legs])
    total = float(lengths.sum())
    offsets = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    pos = np.concatenate(
        [
            off + (np.arange(leg.segments_hu.size) + 0.5) * leg.length_mm / leg.segments_hu.size
            for off, leg in zip(offsets, legs)
        ]
    )
    seg = np.concatenate([leg.segments_hu for leg in legs])
    pct = pos / total * 100.0
    bins = np.clip(np.floor(pct).astype(int), 0, 99)
    counts = np.bincount(bins, minlength=100)
    sums = np.bincount(bins, weights=seg, minlength=100)
    with np.errstate(invalid="ignore"):
        profile = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    regions = {}
    for name, ranges in REGIONS.items():
        sel = np.zeros(pct.size, dtype=bool)
        for lo, hi in ranges:
            sel |= (pct >= lo) & (pct < hi)
        regions[name] = float(np.mean(seg[sel])) if sel.any() else float("nan")
    fr = np.concatenate([leg.free_radius_mm for leg in legs])
    min_fr = float(np.nanmin(fr)) if np.isfinite(fr).any() else float("nan")
    fit = {float(d): bool(np.isfinite(min_fr) and 2 * min_fr >= d) for d in opts.screw_diameters_mm}
    return ProbeResult(
        corridor, tuple(legs), total, pct, seg, np.arange(100) + 0.5, profile, regions, min_fr, fit
    )


def sample_probe(
    volume: Volume,
    vertices,
    *,
    threshold: float,
    corridor: str = "probe",
    options: CorridorOptions | None = None,
) -> ProbeResult:
    """Sample a cylinder probe along a polyline (LPS mm, patient right to left).

    ``vertices`` (m >= 2, 3): e.g. ``[E_R, C1, E_L]`` for S1 or ``[E_R, E_L]`` for S2. Each
    straight piece is a :class:`Leg`; percentages run over the total length. ``threshold``
    (HU) is used for the free-radius (screw-fit) check.
    """
    opts = options or CorridorOptions()
    v = np.asarray(vertices, dtype=float).reshape(-1, 3)
    if v.shape[0] < 2:
        raise AnalysisError(f"{corridor}: a probe needs at least two points, got {v.shape[0]}")
    specs = [(f"{corridor}_{i}", v[i], v[i + 1]) for i in range(v.shape[0] - 1)]
    return _probe(corridor, _sample_legs(_Sampler(volume), specs, float(threshold), opts), opts)


# ----------------------------------------------------------------------------- L5
@dataclass(frozen=True)
class L5Result:
    """L5 trabecular density.

    Attributes
    ----------
    mean_hu : float
        Mean HU of the voxels whose centres lie in the ROI.
    roi_volume_ml : float
        Number of ROI voxels times the voxel volume, ml.
    group : str
        ``"L5 <= 100 HU"`` or ``"L5 > 100 HU"`` (seed 000).
    roi : dict
        How the ROI was made (``"cylinder"``: centre, radius, half-height; or ``"mask"``).
    """

    mean_hu: float
    roi_volume_ml: float
    group: str
    n_voxels: int
    roi: dict

    def to_dict(self) -> dict:
        return {
            "mean_hu": self.mean_hu,
            "roi_volume_ml": self.roi_volume_ml,
            "group": self.group,
            "n_voxels": self.n_voxels,
            "roi": self.roi,
        }


#: Offsets (mm) of a 5 mm ball lattice (2.5 mm pitch), for the median HU at the L5 centre.
_g = np.arange(-5.0, 5.01, 2.5)
_BALL_OFFSETS = np.stack(np.meshgrid(_g, _g, _g), axis=-1).reshape(-1, 3)
_BALL_OFFSETS = _BALL_OFFSETS[np.linalg.norm(_BALL_OFFSETS, axis=1) <= 5.0]


def _group(mean_hu: float) -> str:
    return "L5 <= 100 HU" if mean_hu <= L5_GROUP_HU else "L5 > 100 HU"


def _voxels_in_box(volume: Volume, lo: np.ndarray, hi: np.ndarray):
    """Integer voxel indices (k, j, i) and LPS centres of the voxels whose centres may lie in a box."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    idx = volume.physical_to_index(corners)
    n = np.asarray(volume.shape_ijk)
    a = np.clip(np.floor(idx.min(axis=0)).astype(int), 0, n - 1)
    b = np.clip(np.ceil(idx.max(axis=0)).astype(int), 0, n - 1)
    kk, jj, ii = np.meshgrid(
        np.arange(a[2], b[2] + 1), np.arange(a[1], b[1] + 1), np.arange(a[0], b[0] + 1), indexing="ij"
    )
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)
    return ijk, volume.index_to_physical(ijk)


def l5_density(
    volume: Volume,
    center,
    *,
    threshold: float,
    mask: Volume | None = None,
    options: CorridorOptions | None = None,
    name: str = "L5_body_center",
) -> L5Result:
    """Mean HU of trabecular bone in L5 (seed 000: a volume inside the cortical borders).

    Without ``mask``: a cylinder along the patient's z axis centred on ``center``. Its
    radius is the distance to the nearest cortex (first sample >= the cortex level along 16
    axial rays; cortex level = max(``threshold``, median HU within 5 mm of the centre +
    ``l5_cortex_contrast_hu``)) minus ``l5_cortex_margin_mm``, clamped to [``l5_min_radius_mm``,
    ``l5_max_radius_mm``]; its half-height likewise from rays up and down, capped at
    ``l5_max_half_height_mm``. Where the cortex is not found (thin cortex below the
    threshold), the caps keep the ROI inside an adult L5 body (~50 x 35 x 27 mm).
    With ``mask`` (a vertebral-body mask): the mask eroded by ``l5_cortex_margin_mm``.
    """
    opts = options or CorridorOptions()
    c = np.asarray(center, dtype=float)
    volume.require_inside(c[None], [name], what="landmark")
    if mask is not None:
        m = mask.mask_on(volume, name="L5 mask")
        dist = ndimage.distance_transform_edt(m, sampling=volume.spacing[::-1])
        roi = dist > opts.l5_cortex_margin_mm
        if not roi.any():
            raise AnalysisError(
                f"L5 mask: nothing is left after removing {opts.l5_cortex_margin_mm} mm of cortex; "
                "supply a vertebral-body mask, not a thin shell."
            )
        values = volume.array[roi].astype(float)
        mean = float(values.mean())
        return L5Result(
            mean,
            float(roi.sum() * volume.voxel_volume_mm3 / 1000.0),
            _group(mean),
            int(roi.sum()),
            {"kind": "mask", "cortex_margin_mm": opts.l5_cortex_margin_mm},
        )
    sampler = _Sampler(volume)
    r = np.arange(0.5, 30.0, 0.5)
    ang = np.arange(16) * (np.pi / 8)
    dirs = np.stack([np.cos(ang), np.sin(ang), np.zeros_like(ang)], axis=1)
    vert = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])

    # Cortex: clearly denser than the trabecular bone at the centre (thin 3 mm cortex
    # may peak below a scan-wide threshold; a low threshold lies inside trabecular bone).
    core = sampler(c + _BALL_OFFSETS)
    level = max(threshold, float(np.nanmedian(core)) + opts.l5_cortex_contrast_hu)

    def first_cortex(ds):
        hu = sampler(c + r[None, :, None] * ds[:, None, :])
        hit = (hu >= level) | ~np.isfinite(hu)
        return np.where(hit.any(axis=1), r[np.argmax(hit, axis=1)], np.inf)

    radius = float(
        np.clip(
            first_cortex(dirs).min() - opts.l5_cortex_margin_mm, opts.l5_min_radius_mm, opts.l5_max_radius_mm
        )
    )
    half = float(
        np.clip(first_cortex(vert).min() - opts.l5_cortex_margin_mm, 1.0, opts.l5_max_half_height_mm)
    )
    ext = np.array([radius, radius, half])
    ijk, pts = _voxels_in_box(volume, c - ext, c + ext)
    d = pts - c
    inside = (d[:, 0] ** 2 + d[:, 1] ** 2 <= radius**2) & (np.abs(d[:, 2]) <= half)
    if not inside.any():
        raise AnalysisError(f"L5 ROI around {name} holds no voxel; is the image very coarse?")
    sel = ijk[inside]
    values = volume.array[sel[:, 2], sel[:, 1], sel[:, 0]].astype(float)
    mean = float(values.mean())
    return L5Result(
        mean,
        float(inside.sum() * volume.voxel_volume_mm3 / 1000.0),
        _group(mean),
        int(inside.sum()),
        {
            "kind": "cylinder",
            "center_lps": c.tolist(),
            "radius_mm": radius,
            "half_height_mm": half,
            "cortex_level_hu": level,
        },
    )


# ----------------------------------------------------------------------------- z-scores
def z_scores(values: dict[str, float]) -> dict[str, dict[str, float]]:
    """z-scores of measures (keys of :data:`REFERENCE_COHORT` rows) against every group."""
    return {
        group: {
            k: (float(v) - mean) / sd for k, v in values.items() if k in table for _, mean, sd in [table[k]]
        }
        for group, table in REFERENCE_COHORT.items()
    }


# ----------------------------------------------------------------------------- result
@dataclass(frozen=True)
class CorridorResult:
    """Everything the corridor analysis measures (LPS mm, HU, ml).

    ``s1``/``s2`` are :class:`ProbeResult`; ``s1_geometry``/``s2_geometry`` the corridor
    construction; ``l5`` the L5 density; ``z_scores`` group -> measure -> z.
    """

    bone_threshold_hu: float
    threshold_source: str
    s1_geometry: S1Geometry
    s2_geometry: S2Geometry
    s1: ProbeResult
    s2: ProbeResult
    l5: L5Result
    z_scores: dict
    options: CorridorOptions = field(default_factory=CorridorOptions)

    def measures(self) -> dict[str, float]:
        """Flat measures keyed as in :data:`REFERENCE_COHORT`."""
        out = {"L5": self.l5.mean_hu}
        for key, probe in (("S1", self.s1), ("S2", self.s2)):
            for region in REGIONS:
                out[f"{key}_{region}"] = probe.region_means[region]
        return out

    def to_dict(self) -> dict:
        """The ``summary.json`` content (keys of issue 3) plus geometry details."""
        out = {
            "bone_threshold_hu": self.bone_threshold_hu,
            "bone_threshold_source": self.threshold_source,
            "l5": self.l5.to_dict(),
            "z_scores": self.z_scores,
        }
        for key, probe, geom in (("S1", self.s1, self.s1_geometry), ("S2", self.s2, self.s2_geometry)):
            d = probe.to_dict()
            d["z_scores"] = {
                g: {r: z[f"{key}_{r}"] for r in REGIONS if f"{key}_{r}" in z}
                for g, z in self.z_scores.items()
            }
            d["geometry"] = geom.to_dict()
            out[key] = d
        out["S2"]["ventral_shift_mm"] = self.s2_geometry.ventral_shift_mm
        out["S2"]["ventral_moved"] = self.s2_geometry.moved
        return out

    def profiles_frame(self):
        """pandas DataFrame: ``corridor``, ``percent`` (0.5 ... 99.5), ``mean_hu``."""
        import pandas as pd

        return pd.concat(
            [
                pd.DataFrame({"corridor": p.corridor, "percent": p.percent, "mean_hu": p.profile_hu})
                for p in (self.s1, self.s2)
            ],
            ignore_index=True,
        )


def _validate(volume: Volume, landmarks) -> Landmarks:
    if not isinstance(landmarks, Landmarks):
        landmarks = Landmarks.from_dict(landmarks)
    landmarks.validate(required_labels("corridors"), volume=volume)
    return landmarks


#: Probe order of CLINICAL.md section 2: S1 = E_L -> C1 -> E_R, S2 = E_L -> E_R (0 % = left).
S1_SIDES = ("L", "R")


def _s1_leg_spec(g: S1Geometry, side: str):
    """The S1 leg of ``side`` in probe order: E_L -> C1, then C1 -> E_R."""
    if side == "L":
        return (f"S1_{side}", g.entry["L"], g.c1)
    return (f"S1_{side}", g.c1, g.entry["R"])


def _s2_legs_spec(g: S2Geometry):
    return [("S2", g.entry["L"], g.entry["R"])]


def analyze_corridors(
    volume: Volume,
    landmarks,
    *,
    bone_threshold: float | None = None,
    l5_mask: Volume | None = None,
    options: CorridorOptions | None = None,
    screw_diameters: tuple[float, ...] | None = None,
    progress: ProgressCallback | None = None,
) -> CorridorResult:
    """S1 and S2 corridors, cylinder probes, L5 density and z-scores (seed 000).

    Parameters
    ----------
    volume : Volume
        CT in HU.
    landmarks : Landmarks or mapping label -> (3,) LPS mm
        The ``corridors`` labels of the landmark schema (CLINICAL.md section 1).
    bone_threshold : float, optional
        HU; default computed per scan by :func:`compute_bone_threshold`.
    l5_mask : Volume, optional
        L5 vertebral-body mask (else an ROI around ``L5_body_center``).
    options : CorridorOptions, optional
    screw_diameters : tuple of float, optional
        Overrides ``options.screw_diameters_mm``.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled`.

    Raises
    ------
    LandmarkError, OutsideImageError
        Missing, duplicated, misplaced or out-of-image landmarks (named).
    AnalysisError
        A corridor never leaves bone, or meets none.
    """
    opts = options or CorridorOptions()
    if screw_diameters is not None:
        opts = replace(opts, screw_diameters_mm=tuple(float(d) for d in screw_diameters))
    report(progress, 0.0, "corridors: checking landmarks")
    lm = _validate(volume, landmarks)
    source = "user"
    if bone_threshold is None:
        report(progress, 0.05, "corridors: bone threshold")
        bone_threshold = compute_bone_threshold(volume, lm, options=opts)
        source = "computed (seed 000: mean of profile maxima and minima)"
    threshold = float(bone_threshold)
    report(progress, 0.15, "corridors: S1 and S2 geometry")
    sampler = _Sampler(volume)
    s1g = S1Geometry(
        _c1(lm),
        {s: _k(lm, s) for s in ("L", "R")},
        {s: _s1_leg_geometry(volume, lm, s, threshold, opts, sampler)[1] for s in ("L", "R")},
    )
    s2g = s2_geometry(volume, lm, threshold=threshold, options=opts)
    report(progress, 0.35, "corridors: sampling the probes")
    legs = _sample_legs(
        sampler,
        [*(_s1_leg_spec(s1g, s) for s in S1_SIDES), *_s2_legs_spec(s2g)],
        threshold,
        opts,
    )
    s1 = _probe("S1", legs[:2], opts)
    s2 = _probe("S2", legs[2:], opts)
    report(progress, 0.85, "corridors: L5 density")
    l5 = l5_density(volume, lm["L5_body_center"], threshold=threshold, mask=l5_mask, options=opts)
    result = _finish(threshold, source, s1g, s2g, s1, s2, l5, opts)
    report(progress, 1.0, "corridors: done")
    return result


def _finish(threshold, source, s1g, s2g, s1, s2, l5, opts) -> CorridorResult:
    values = {"L5": l5.mean_hu}
    for key, probe in (("S1", s1), ("S2", s2)):
        for region in REGIONS:
            values[f"{key}_{region}"] = probe.region_means[region]
    return CorridorResult(threshold, source, s1g, s2g, s1, s2, l5, z_scores(values), opts)


def update_corridors(
    result: CorridorResult,
    volume: Volume,
    landmarks,
    *,
    moved: str | tuple[str, ...] | None = None,
    l5_mask: Volume | None = None,
) -> CorridorResult:
    """Re-sample only what the moved landmark(s) change, keeping the bone threshold.

    For interactive use (a landmark dragged in Slicer): moving ``SI_joint_ventral_sup_L``
    re-samples only the left S1 leg; an S2 label only the S2 probe; ``L5_body_center`` only
    the L5 ROI (see :data:`LANDMARK_DEPENDENTS`). ``moved=None`` re-samples everything.
    """
    opts = result.options
    lm = _validate(volume, landmarks)
    labels = (moved,) if isinstance(moved, str) else tuple(moved or LANDMARK_DEPENDENTS)
    parts = {p for lab in labels for p in LANDMARK_DEPENDENTS.get(lab, ())}
    threshold = result.bone_threshold_hu
    sampler = _Sampler(volume)
    s1g, s2g, s1, s2, l5 = result.s1_geometry, result.s2_geometry, result.s1, result.s2, result.l5
    s1_sides = [s for s in S1_SIDES if f"S1_{s}" in parts]
    if s1_sides:
        entries = dict(s1g.entry)
        for s in s1_sides:
            entries[s] = _s1_leg_geometry(volume, lm, s, threshold, opts, sampler)[1]
        s1g = S1Geometry(_c1(lm), {s: _k(lm, s) for s in ("L", "R")}, entries)
        specs = [_s1_leg_spec(s1g, s) for s in s1_sides]
        new = dict(zip(s1_sides, _sample_legs(sampler, specs, threshold, opts)))
        old = dict(zip(S1_SIDES, s1.legs))
        s1 = _probe("S1", [new.get(s, old[s]) for s in S1_SIDES], opts)
    if "S2" in parts:
        s2g = s2_geometry(volume, lm, threshold=threshold, options=opts)
        s2 = _probe("S2", _sample_legs(sampler, _s2_legs_spec(s2g), threshold, opts), opts)
    if "L5" in parts:
        l5 = l5_density(volume, lm["L5_body_center"], threshold=threshold, mask=l5_mask, options=opts)
    return _finish(threshold, result.threshold_source, s1g, s2g, s1, s2, l5, opts)
