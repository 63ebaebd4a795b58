"""Cylinder probes: the 10 mm disk lattice, sampled legs, free radius and profiles (seed 000).

Sampling (this package's reading of seed 000's "sub-voxel sampling"): along each probe
leg, segments of 0.25 mm (the leg length divided into ``round(L / 0.25)`` equal
segments); a segment's value is the weighted mean of the trilinearly interpolated HU at
the centres of a fixed square lattice of 0.5 mm cells covering the 10 mm disk
perpendicular to the axis at the segment centre, each weighted by the area of its cell
inside the disk (partial-area weights). The pattern is point-symmetric, so the mean of a
field that is linear in position is its value on the axis, exactly. Profiles are 1 %
bins of the probe length; region means pool the segments of :data:`REGIONS`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import AnalysisError
from ..geometry import unit
from ..volume import Volume
from .options import REGIONS, CorridorOptions

__all__ = [
    "Leg",
    "ProbeResult",
    "disk_lattice",
    "free_radius",
    "perp_frame",
    "probe_result",
    "sample_legs",
    "sample_probe",
]


@functools.lru_cache(maxsize=8)
def disk_lattice(radius: float, step: float) -> tuple[np.ndarray, np.ndarray]:
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


def perp_frame(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) perpendicular to ``w``: ``u`` dorsal (+y) in the axial plane, ``v = w x u``."""
    u = np.cross([0.0, 0.0, 1.0], w)
    if np.linalg.norm(u) < 1e-6:  # axis along z: fall back to the y axis
        u = np.array([0.0, 1.0, 0.0]) - w[1] * w
    u = unit(u)
    if u[1] < 0:
        u = -u
    return u, np.cross(w, u)


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
    u, v = perp_frame(w)
    n = max(1, round(length / opts.segment_mm))
    t = (np.arange(n) + 0.5) * (length / n)
    centres = a + t[:, None] * w
    disk, weights = disk_lattice(opts.probe_diameter_mm / 2.0, opts.disk_step_mm)
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


def sample_legs(volume: Volume, specs, threshold, opts) -> list[Leg]:
    """Sample several legs with ONE interpolation call. ``specs``: [(name, start, end)]."""
    all_parts, metas, sizes = [], [], []
    for _, a, b in specs:
        parts, meta = _leg_points(a, b, opts)
        all_parts += parts
        metas.append(meta)
        sizes.append([q.shape[0] for q in parts])
    values = volume.sample(np.concatenate(all_parts))
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
        Straight pieces in probe order, from the patient's left entry (0 %) to the right.
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


def probe_result(corridor: str, legs: list[Leg], opts: CorridorOptions) -> ProbeResult:
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
    """Sample a cylinder probe along a polyline (LPS mm; 0 % at the first vertex).

    ``vertices`` (m >= 2, 3): e.g. ``[E_L, C1, E_R]`` for S1 or ``[E_L, E_R]`` for S2. Each
    straight piece is a :class:`Leg`; percentages run over the total length. ``threshold``
    (HU) is used for the free-radius (screw-fit) check.
    """
    opts = options or CorridorOptions()
    v = np.asarray(vertices, dtype=float).reshape(-1, 3)
    if v.shape[0] < 2:
        raise AnalysisError(f"{corridor}: a probe needs at least two points, got {v.shape[0]}")
    specs = [(f"{corridor}_{i}", v[i], v[i + 1]) for i in range(v.shape[0] - 1)]
    return probe_result(corridor, sample_legs(volume, specs, float(threshold), opts), opts)
