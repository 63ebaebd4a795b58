"""A lumbar vertebra after vertebroplasty, with cement of known volume and known leaks.

Seed 003 (VF % after percutaneous vertebroplasty) measures the vertebral body volume
(VBV, bone 226-3071 HU, posterior elements removed, voids filled), the cement inside it
(CDV, 1000-3000 HU), leakage outside it, and a 0-10 distribution score. This phantom
makes every one of those quantities known analytically.

Anatomy (LPS mm, origin at the body centre; x = patient left, y = posterior, z = cranial):

* **Body**: the elliptic footprint ``(x/22)^2 + (y/16)^2 <= 1`` cut flat at ``y <= 12``
  (the posterior wall, which is also the canal's anterior wall), from z = -14.4 to 14.4.
  Trabecular bone 300 HU with a +-50 HU texture; endplates (1.5 mm) 800 HU; the side and
  posterior walls (1.5 mm) are *dense* cortex at 1200 HU, i.e. inside the cement range, so
  an analysis without a cortical-bone check would report them as cement.
* **Posterior elements** (650 HU): pedicles and laminae as an elliptic ring around the
  spinal canal behind the body (z -7..9), a spinous process and two transverse processes.
* **Spinal canal** (20 HU): ellipse centre (0, 18), semi-axes 9 x 8 mm, cut at y >= 12.
* **Discs** (90 HU) 8 mm thick above and below, then the neighbours' bodies (800 HU
  endplates, 300 HU trabecular bone).
* Soft tissue (40 HU) in an elliptic torso, air (-1000 HU) outside.
* **Cement** (1600-2400 HU), two vertical elliptic cylinders fully inside the trabecular
  bone: ``L`` in the patient-left third straddling the antero-posterior midline, ``M`` in
  the middle third, anterior only. Designed score: coronal 2 (left + middle thirds),
  sagittal 3, axial 3 (left-anterior, left-posterior, right-anterior) = 8, group B.
* **Leaks**: a paravertebral ellipsoid right of the body, an ellipsoid in the cranial disc,
  and an ellipsoid in the spinal canal.

All truth volumes are analytic (closed-form areas and volumes of disjoint shapes, each
fully inside its compartment); the tests check that voxel counts agree.
"""

from __future__ import annotations

import math

import numpy as np

from . import Phantom, evaluate_on_grid

__all__ = ["BODY", "CEMENT_BLOBS", "LEAKS", "make_cemented_vertebra"]

#: Vertebral body: footprint semi-axes (mm), flat posterior wall, half height, cortex.
BODY = {"a": 22.0, "b": 16.0, "y_post": 12.0, "half_height": 14.4, "cortex": 1.5}
DISC_HEIGHT = 8.0
#: Spinal canal: ellipse centre y, semi-axes, cut by the body's posterior wall.
CANAL = {"yc": 18.0, "a": 9.0, "b": 8.0}
#: Cement inside the body: vertical elliptic cylinders (centre x, y; semi-axes; z range).
CEMENT_BLOBS = {
    "L": {"center": (12.5, -2.0), "semi": (5.0, 7.5), "z": (-11.0, 11.0)},
    "M": {"center": (0.0, -8.5), "semi": (5.0, 4.5), "z": (-10.0, 10.0)},
}
#: Leaks: ellipsoids (centre LPS, semi-axes) and the location the analysis should report.
LEAKS = {
    "paravertebral": {"center": (-30.0, -4.0, 2.0), "semi": (5.0, 6.0, 8.0)},
    "cranial_disc": {"center": (5.0, -5.0, 18.0), "semi": (7.0, 6.0, 2.6)},
    "canal_foramen": {"center": (1.0, 19.0, -3.0), "semi": (4.0, 3.5, 7.0)},
}
HU = {
    "air": -1000.0,
    "soft": 40.0,
    "csf": 20.0,
    "disc": 90.0,
    "trabecular": 300.0,
    "endplate": 800.0,
    "wall": 1200.0,
    "posterior": 650.0,
    "cement_edge": 1600.0,
    "cement_core": 2400.0,
}


def _footprint(x, y, shrink=0.0):
    a, b = BODY["a"] - shrink, BODY["b"] - shrink
    return ((x / a) ** 2 + (y / b) ** 2 <= 1.0) & (y <= BODY["y_post"] - shrink)


def _canal(x, y):
    return ((x / CANAL["a"]) ** 2 + ((y - CANAL["yc"]) / CANAL["b"]) ** 2 <= 1.0) & (y >= BODY["y_post"])


def _posterior(x, y, z):
    ring = (x / 17.0) ** 2 + ((y - 19.0) / 16.0) ** 2 <= 1.0
    ring &= (y >= BODY["y_post"]) & (z >= -7.0) & (z <= 9.0) & ~_canal(x, y)
    spinous = (np.abs(x) <= 3.0) & (y >= 30.0) & (y <= 55.0) & (z >= -9.0) & (z <= 5.0)
    transverse = (np.abs(x) >= 12.0) & (np.abs(x) <= 40.0) & (y >= 20.0) & (y <= 27.0)
    transverse &= (z >= -3.0) & (z <= 5.0)
    return (ring | spinous | transverse) & ~(_footprint(x, y) & (np.abs(z) <= BODY["half_height"]))


def _body(x, y, z):
    return _footprint(x, y) & (np.abs(z) <= BODY["half_height"])


def _ellipsoid_q(p, center, semi):
    return sum(((p[:, i] - center[i]) / semi[i]) ** 2 for i in range(3))


def _cement_q(p):
    """Normalised radius^2 of the nearest cement shape (< 1 inside); one array for all shapes."""
    q = np.full(p.shape[0], np.inf)
    for blob in CEMENT_BLOBS.values():
        (cx, cy), (sa, sb), (z0, z1) = blob["center"], blob["semi"], blob["z"]
        qb = ((p[:, 0] - cx) / sa) ** 2 + ((p[:, 1] - cy) / sb) ** 2
        qb = np.where((p[:, 2] >= z0) & (p[:, 2] <= z1), qb, np.inf)
        q = np.minimum(q, qb)
    for leak in LEAKS.values():
        q = np.minimum(q, _ellipsoid_q(p, leak["center"], leak["semi"]))
    return q


def _hu(p: np.ndarray) -> np.ndarray:
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    out = np.full(p.shape[0], HU["air"], dtype=np.float32)
    torso = (x / 58.0) ** 2 + ((y - 15.0) / 50.0) ** 2 <= 1.0
    out[torso] = HU["soft"]
    out[_canal(x, y)] = HU["csf"]
    h, c = BODY["half_height"], BODY["cortex"]
    foot = _footprint(x, y)
    disc = foot & (np.abs(z) > h) & (np.abs(z) <= h + DISC_HEIGHT)
    out[disc] = HU["disc"]
    neighbour = foot & (np.abs(z) > h + DISC_HEIGHT)
    out[neighbour] = HU["trabecular"]
    out[neighbour & (np.abs(z) <= h + DISC_HEIGHT + c)] = HU["endplate"]
    out[_posterior(x, y, z)] = HU["posterior"]
    body = foot & (np.abs(z) <= h)
    texture = 50.0 * np.sin(x * 1.3) * np.sin(y * 1.1) * np.sin(z * 0.9)
    out[body] = (HU["trabecular"] + texture)[body]
    out[body & (np.abs(z) > h - c)] = HU["endplate"]
    out[body & (np.abs(z) <= h - c) & ~_footprint(x, y, shrink=c)] = HU["wall"]
    q = _cement_q(p)
    cement = q <= 1.0
    out[cement] = (HU["cement_core"] - (HU["cement_core"] - HU["cement_edge"]) * q)[cement]
    return out


def _ellipse_area_below(a: float, b: float, y_cut: float) -> float:
    """Area of the ellipse (x/a)^2 + (y/b)^2 <= 1 with y <= y_cut (closed form)."""
    d = y_cut / b
    segment = math.acos(d) - d * math.sqrt(1.0 - d * d)  # unit-circle segment above d
    return a * b * (math.pi - segment)


def _truth() -> dict:
    a, b, h = BODY["a"], BODY["b"], BODY["half_height"]
    area = _ellipse_area_below(a, b, BODY["y_post"])
    vbv = area * 2 * h
    blobs = {
        k: math.pi * v["semi"][0] * v["semi"][1] * (v["z"][1] - v["z"][0]) for k, v in CEMENT_BLOBS.items()
    }
    cdv = sum(blobs.values())
    leaks = {k: 4.0 / 3.0 * math.pi * float(np.prod(v["semi"])) for k, v in LEAKS.items()}
    # Side split at the body's left-right midline x = 0: L lies wholly left, M is symmetric.
    left = (blobs["L"] + blobs["M"] / 2) / cdv
    return {
        "method": "analytic: closed-form areas/volumes of disjoint shapes (no voxel counting)",
        "vbv_ml": vbv / 1000,
        "cdv_ml": cdv / 1000,
        "vf_percent": 100 * cdv / vbv,
        "cement_blobs_ml": {k: v / 1000 for k, v in blobs.items()},
        "leakage_ml": sum(leaks.values()) / 1000,
        "leakage_by_location": {
            "paravertebral": leaks["paravertebral"] / 1000,
            "canal_foramen": leaks["canal_foramen"] / 1000,
            "cranial_disc": leaks["cranial_disc"] / 1000,
            "caudal_disc": 0.0,
        },
        "nearest_leak_to_canal_mm": 0.0,
        "distribution_score": {
            "coronal": 2,
            "sagittal": 3,
            "axial": 3,
            "total": 8,
            "group": "B",
            "zones": {
                "coronal": {"right": False, "middle": True, "left": True},
                "sagittal": {"caudal": True, "middle": True, "cranial": True},
                "axial": {
                    "left_anterior": True,
                    "left_posterior": True,
                    "right_anterior": True,
                    "right_posterior": False,
                },
            },
        },
        "side_fraction": {"left": left, "right": 1.0 - left},
        "body_center_lps": [0.0, 0.0, 0.0],
        "canal_anterior_wall_y_mm": BODY["y_post"],
        "cement_hu": [HU["cement_edge"], HU["cement_core"]],
        "dense_cortex_hu": HU["wall"],
    }


def make_cemented_vertebra(*, spacing=(0.5, 0.5, 0.5), direction=None) -> Phantom:
    """A vertebra after vertebroplasty in soft tissue and air, with analytic truth.

    Parameters
    ----------
    spacing : (3,) float, mm
        Voxel size along the grid's i, j, k axes.
    direction : (3, 3) float, optional
        Grid axes in LPS (columns); identity by default. The anatomy is fixed in LPS, so
        every grid shares the same truth.

    Returns
    -------
    Phantom
        ``masks``: ``"body"`` (vertebral body) and ``"vertebra"`` (body plus posterior
        elements, as TotalSegmentator labels a vertebra; the cement inside the body is part
        of it, the leaks are not). ``truth``: VBV, CDV, leak volumes per location, VF %,
        designed distribution score and side fractions (see the module docstring).
    """
    volume = evaluate_on_grid(
        _hu, center=(0.0, 16.0, 0.0), extent_mm=(88.0, 84.0, 76.0), spacing=spacing, direction=direction
    )
    nk, nj, ni = volume.array.shape
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    p = volume.index_to_physical(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1))
    body = _body(p[:, 0], p[:, 1], p[:, 2]).reshape(volume.array.shape)
    vertebra = body | _posterior(p[:, 0], p[:, 1], p[:, 2]).reshape(volume.array.shape)
    return Phantom(
        name="cemented-vertebra",
        volume=volume,
        truth=_truth(),
        landmarks=None,
        masks={"body": body, "vertebra": vertebra},
    )
