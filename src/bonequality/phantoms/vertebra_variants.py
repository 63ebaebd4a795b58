"""Lumbar vertebrae of varied shape, with or without cement, with analytic truth (seed 003).

The cemented-vertebra phantom (:mod:`.cemented`) has one geometry. These variants vary
what the automatic posterior cut and the cement-versus-cortex rule have to cope with:

* **Body**: elliptic, ``(x/a)^2 + (y/b)^2 <= 1``, or kidney-shaped with a concave
  posterior wall ``y <= b s - k s^4`` (``s = sqrt(1 - (x/a)^2)``, anterior half elliptic);
  area ``pi a b - 16 a k / 15``, height ``2 h``: VBV is closed-form.
* **Pedicles**: bars of width ``pedicle_width_mm`` centred ``pedicle_x_mm`` from the
  midline where they join the posterior wall, turned ``pedicle_angle_deg`` outwards as
  they run back, over ``pedicle_z_mm``.
* **Laminae** (``lamina``): ``"pedicles"`` - bars from the pedicle ends to the midline over
  ``lamina_z_mm`` (by default overlapping the pedicles by only 2 mm, so, as in a real
  vertebra, hardly any axial slice shows a closed ring; the projection along the axis
  does); ``"wall"`` - an elliptic ring around the canal joining the posterior wall itself
  (as in :mod:`.cemented`). A spinous process and two transverse processes complete it.
* **Cortex** (``cortex_hu``): walls and endplates (1.5 mm) and the whole posterior
  elements take HU from ``cortex_hu`` with a smooth texture over its whole range; (1200,
  1800) is the dense cortex of young bone and sharp kernels, inside the cement range.
* **Neighbours**: 8 mm discs above and below, then the neighbours' endplates (same cortex)
  and trabecular bone.
* **Cement** (``cemented``): two vertical elliptic cylinders inside the body, at least 3 mm
  from its walls, and three ellipsoidal leaks - paravertebral (3 mm lateral to the body),
  in the cranial disc (1 mm above the endplate) and in the spinal canal (2 mm or more from
  its walls); HU 2400 at the centre falling to 1600 at the edge.
* **Tilt** (``tilt_deg``): the whole vertebra turned about the patient's left-right axis,
  as L5 or L1 in a lordotic spine.

Everything is an analytic function of LPS position; the truth does not depend on the grid.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from . import Phantom, evaluate_on_grid, rotation_matrix

__all__ = ["VertebraSpec", "make_vertebra_variant"]

DISC_MM = 8.0
CORTEX_MM = 1.5
HU = {"air": -1000.0, "soft": 40.0, "disc": 90.0, "trabecular": 260.0, "core": 2400.0, "edge": 1600.0}


@dataclass(frozen=True)
class VertebraSpec:
    """Geometry and densities of one variant (lengths mm, angles degrees, HU).

    Attributes
    ----------
    a, b : float
        Body semi-axes (left-right, antero-posterior).
    kidney_mm : float
        Depth ``k`` of the posterior concavity (0 = elliptic); at most ``b``.
    half_height : float
    pedicle_width_mm, pedicle_x_mm, pedicle_angle_deg, pedicle_length_mm : float
    pedicle_z_mm, lamina_z_mm : (float, float)
        Height ranges (body centre at 0).
    lamina : str
        ``"pedicles"`` or ``"wall"``.
    cortex_hu : (float, float)
        Range of the cortex and posterior-element HU.
    cemented : bool
    tilt_deg : float
        Rotation of the whole vertebra about LPS x.
    """

    a: float = 22.0
    b: float = 16.0
    kidney_mm: float = 0.0
    half_height: float = 13.5
    pedicle_width_mm: float = 9.0
    pedicle_x_mm: float = 11.5
    pedicle_angle_deg: float = 10.0
    pedicle_length_mm: float = 11.0
    pedicle_z_mm: tuple[float, float] = (-1.0, 11.0)
    lamina_z_mm: tuple[float, float] = (-12.0, 1.0)
    lamina: str = "pedicles"
    cortex_hu: tuple[float, float] = (800.0, 1100.0)
    cemented: bool = True
    tilt_deg: float = 0.0


def _s(x, a):
    return np.sqrt(np.clip(1.0 - (x / a) ** 2, 0.0, None))


def _posterior_wall(x, spec: VertebraSpec, shrink: float = 0.0):
    """LPS y (local) of the posterior wall at ``x``; -inf beyond the body's width."""
    a, b = spec.a - shrink, spec.b - shrink
    s = _s(x, a)
    return np.where(np.abs(x) <= a, b * s - spec.kidney_mm * s**4, -np.inf)


def _footprint(x, y, spec: VertebraSpec, shrink: float = 0.0):
    a, b = spec.a - shrink, spec.b - shrink
    return (np.abs(x) <= a) & (y >= -b * _s(x, a)) & (y <= _posterior_wall(x, spec, shrink))


def _segment(x, y, p, q, half: float):
    """Points within ``half`` of the segment p-q (2-D)."""
    d = np.subtract(q, p)
    t = np.clip(((x - p[0]) * d[0] + (y - p[1]) * d[1]) / float(d @ d), 0.0, 1.0)
    return (x - p[0] - t * d[0]) ** 2 + (y - p[1] - t * d[1]) ** 2 <= half * half


def _pedicle_ends(spec: VertebraSpec):
    """For each side: start (inside the body) and end of the pedicle's axis, and its direction."""
    out = []
    t = math.radians(spec.pedicle_angle_deg)
    for side in (-1.0, 1.0):
        x0 = side * spec.pedicle_x_mm
        y0 = float(_posterior_wall(np.array(x0), spec)) - 4.0
        d = np.array([side * math.sin(t), math.cos(t)])
        out.append((np.array([x0, y0]), np.array([x0, y0]) + (spec.pedicle_length_mm + 4.0) * d))
    return out


def _lamina_apex(spec: VertebraSpec) -> np.ndarray:
    ends = _pedicle_ends(spec)
    return np.array([0.0, max(e[1][1] for e in ends) + 7.0])


def _wall_canal(spec: VertebraSpec) -> tuple[tuple[float, float], tuple[float, float]]:
    """``lamina="wall"``: centre and semi-axes of the canal, whose front the posterior wall cuts."""
    rx, ry = spec.pedicle_x_mm - spec.pedicle_width_mm / 2, 7.5
    return (0.0, float(_posterior_wall(np.array(0.0), spec)) + ry - 1.0), (rx, ry)


def _y_range(spec: VertebraSpec) -> tuple[float, float]:
    """Local y range of the anatomy (anterior wall to the spinous process's tip, with margins)."""
    return -spec.b - 6.0, float(_lamina_apex(spec)[1]) + 20.0


def _posterior(x, y, z, spec: VertebraSpec):
    """The posterior elements (pedicles or ring, laminae, spinous and transverse processes)."""
    out = np.zeros(x.shape, dtype=bool)
    (p1, e1), (p2, e2) = _pedicle_ends(spec)
    apex = _lamina_apex(spec)
    pz = (z >= spec.pedicle_z_mm[0]) & (z <= spec.pedicle_z_mm[1])
    lz = (z >= spec.lamina_z_mm[0]) & (z <= spec.lamina_z_mm[1])
    if spec.lamina == "wall":
        (_, cy), (rx, ry) = _wall_canal(spec)
        ring = (x / (rx + spec.pedicle_width_mm)) ** 2 + ((y - cy) / (ry + 4.5)) ** 2 <= 1.0
        out |= ring & ~((x / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0) & pz
    else:
        half = spec.pedicle_width_mm / 2
        out |= (_segment(x, y, p1, e1, half) | _segment(x, y, p2, e2, half)) & pz
        out |= (_segment(x, y, e1, apex, 3.0) | _segment(x, y, e2, apex, 3.0)) & lz
    sz = (z >= spec.lamina_z_mm[0] - 3.0) & (z <= spec.lamina_z_mm[1])
    out |= _segment(x, y, apex, apex + np.array([0.0, 16.0]), 3.0) & sz
    for e, side in ((e1, -1.0), (e2, 1.0)):
        tz = (z >= spec.pedicle_z_mm[0] + 2.0) & (z <= spec.pedicle_z_mm[1] - 3.0)
        out |= _segment(x, y, e, e + np.array([side * 12.0, 2.0]), 3.0) & tz
    return out & ~(_footprint(x, y, spec) & (np.abs(z) <= spec.half_height))


def _blobs(spec: VertebraSpec) -> dict:
    a, b, h = spec.a, spec.b, spec.half_height
    return {
        "L": {"center": (0.42 * a, -0.15 * b), "semi": (0.22 * a, 0.36 * b), "z": (-0.7 * h, 0.7 * h)},
        "M": {"center": (-0.15 * a, -0.5 * b), "semi": (0.22 * a, 0.2 * b), "z": (-0.6 * h, 0.65 * h)},
    }


def _leaks(spec: VertebraSpec) -> dict:
    a, b, h = spec.a, spec.b, spec.half_height
    (_, e1), (_, e2) = _pedicle_ends(spec)
    wall = float(_posterior_wall(np.array(0.0), spec))
    inner_x = spec.pedicle_x_mm - spec.pedicle_width_mm / 2
    canal_y = wall + 0.5 * (min(e1[1], e2[1]) - wall)
    if spec.lamina == "wall":
        canal_y = _wall_canal(spec)[0][1] + 1.0
    canal_z = 0.5 * (max(spec.pedicle_z_mm[0], spec.lamina_z_mm[0]) + min(spec.pedicle_z_mm[1], h))
    return {
        "paravertebral": {"center": (-(a + 8.0), -0.2 * b, 1.0), "semi": (5.0, 6.0, 7.0)},
        "cranial_disc": {"center": (0.2 * a, -0.3 * b, h + 3.5), "semi": (6.0, 5.0, 2.5)},
        "canal_foramen": {"center": (0.0, canal_y, canal_z), "semi": (min(3.0, inner_x - 2.0), 2.5, 5.0)},
    }


def _cement_q(p, spec: VertebraSpec):
    q = np.full(p.shape[0], np.inf)
    for blob in _blobs(spec).values():
        (cx, cy), (sa, sb), (z0, z1) = blob["center"], blob["semi"], blob["z"]
        qb = ((p[:, 0] - cx) / sa) ** 2 + ((p[:, 1] - cy) / sb) ** 2
        q = np.minimum(q, np.where((p[:, 2] >= z0) & (p[:, 2] <= z1), qb, np.inf))
    for leak in _leaks(spec).values():
        c, s = np.asarray(leak["center"]), np.asarray(leak["semi"])
        q = np.minimum(q, (((p - c) / s) ** 2).sum(axis=1))
    return q


def _local(points, spec: VertebraSpec) -> np.ndarray:
    """LPS points -> the vertebra's own coordinates (body centre at 0, untilted)."""
    return np.asarray(points, dtype=float) @ rotation_matrix((1.0, 0.0, 0.0), spec.tilt_deg)


def _hu(points, spec: VertebraSpec) -> np.ndarray:
    p = _local(points, spec)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    h, lo, hi = spec.half_height, spec.cortex_hu[0], spec.cortex_hu[1]
    cortex = 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.sin(1.1 * x) * np.sin(1.3 * y + 0.4) * np.sin(
        0.9 * z + 0.2
    )
    out = np.full(p.shape[0], HU["air"], dtype=np.float32)
    y0, y1 = _y_range(spec)
    out[(x / (spec.a + 17.0)) ** 2 + ((y - 0.5 * (y0 + y1)) / (0.5 * (y1 - y0) + 2.0)) ** 2 <= 1.0] = HU[
        "soft"
    ]
    foot = _footprint(x, y, spec)
    out[foot & (np.abs(z) > h) & (np.abs(z) <= h + DISC_MM)] = HU["disc"]
    neighbour = foot & (np.abs(z) > h + DISC_MM)
    out[neighbour] = HU["trabecular"]
    rim = neighbour & (np.abs(z) <= h + DISC_MM + CORTEX_MM)
    out[rim] = cortex[rim]
    post = _posterior(x, y, z, spec)
    out[post] = cortex[post]
    body = foot & (np.abs(z) <= h)
    out[body] = (HU["trabecular"] + 40.0 * np.sin(1.7 * x) * np.sin(1.9 * y))[body]
    shell = body & ((np.abs(z) > h - CORTEX_MM) | ~_footprint(x, y, spec, shrink=CORTEX_MM))
    out[shell] = cortex[shell]
    if spec.cemented:
        q = _cement_q(p, spec)
        cement = q <= 1.0
        out[cement] = (HU["core"] - (HU["core"] - HU["edge"]) * q)[cement]
    return out


def _truth(spec: VertebraSpec) -> dict:
    a, b, h = spec.a, spec.b, spec.half_height
    vbv = (math.pi * a * b - 16.0 * a * spec.kidney_mm / 15.0) * 2.0 * h
    blobs = {
        k: math.pi * v["semi"][0] * v["semi"][1] * (v["z"][1] - v["z"][0]) for k, v in _blobs(spec).items()
    }
    leaks = {k: 4.0 / 3.0 * math.pi * float(np.prod(v["semi"])) for k, v in _leaks(spec).items()}
    cdv = sum(blobs.values()) if spec.cemented else 0.0
    by_loc = {k: (leaks[k] / 1000 if spec.cemented else 0.0) for k in leaks}
    return {
        "method": "analytic: closed-form areas and volumes of disjoint shapes (no voxel counting)",
        "spec": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(spec).items()},
        "vbv_ml": vbv / 1000,
        "cdv_ml": cdv / 1000,
        "vf_percent": 100.0 * cdv / vbv,
        "leakage_ml": sum(by_loc.values()),
        "leakage_by_location": {**by_loc, "caudal_disc": 0.0},
        "cortex_hu": list(spec.cortex_hu),
        "leaks": {k: {"center": list(v["center"]), "semi": list(v["semi"])} for k, v in _leaks(spec).items()},
    }


def make_vertebra_variant(
    spec: VertebraSpec | None = None, *, spacing=(0.7, 0.7, 0.7), direction=None
) -> Phantom:
    """One vertebra variant on a grid, with its analytic truth.

    Parameters
    ----------
    spec : VertebraSpec, optional
        Default ``VertebraSpec()`` (elliptic, cemented, ordinary cortex).
    spacing : (3,) float, mm
        Voxel size along the grid's i, j, k axes.
    direction : (3, 3) float, optional
        Grid axes in LPS (columns); identity by default.

    Returns
    -------
    Phantom
        ``masks``: ``"body"`` and ``"vertebra"`` (body and posterior elements, as
        TotalSegmentator labels a vertebra; no leaks). ``truth``: VBV, CDV, leakage per
        location and the spec.
    """
    spec = VertebraSpec() if spec is None else spec
    top = spec.half_height + DISC_MM + 4.0
    y0, y1 = _y_range(spec)
    t = math.radians(abs(spec.tilt_deg))
    extent = (2 * spec.a + 40.0, (y1 - y0) + 2 * top * math.sin(t), 2 * top + (y1 - y0) * math.sin(t))
    volume = evaluate_on_grid(
        lambda p: _hu(p, spec),
        center=rotation_matrix((1.0, 0.0, 0.0), spec.tilt_deg) @ np.array([0.0, 0.5 * (y0 + y1), 0.0]),
        extent_mm=extent,
        spacing=spacing,
        direction=direction,
    )
    nk, nj, ni = volume.array.shape
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    p = _local(volume.index_to_physical(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)), spec)
    body = (_footprint(p[:, 0], p[:, 1], spec) & (np.abs(p[:, 2]) <= spec.half_height)).reshape(nk, nj, ni)
    vertebra = body | _posterior(p[:, 0], p[:, 1], p[:, 2], spec).reshape(nk, nj, ni)
    return Phantom("vertebra-variant", volume, _truth(spec), None, {"body": body, "vertebra": vertebra})
