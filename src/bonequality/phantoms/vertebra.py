"""Lumbar vertebral body phantom with a trabecular texture of known void size (seed 004).

The body is an elliptic cylinder (40 x 30 mm in the axial plane, 25 mm tall) with a
cortical shell and endplates, inside soft tissue and air, with three calibration rods of
known hydroxyapatite density behind it. Its cancellous bone is a square lattice of
vertical tubular voids (the marrow spaces between vertical trabecular plates):

* background: voids of diameter 1.5 mm on a 2.5 mm lattice;
* a focal defect: a vertical cylinder of radius 5.5 mm where the voids are 3.0 mm wide on
  a 4.0 mm lattice, i.e. larger voids and more mineral lost (seed 004, Figure 7).

Void edges are blurred with a Gaussian of ``edge_sigma_mm`` (a CT point-spread function),
so the texture is band-limited and every grid (isotropic, anisotropic, oblique) samples the
same anatomy. The texture does not vary along z, so thick slices do not alias it.
Everything is an analytic function of LPS position (see :func:`vertebra_hu`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc

from . import Phantom, evaluate_on_grid

__all__ = ["VERTEBRA", "make_vertebra", "vertebra_hu"]

#: Geometry (LPS mm) and HU values of the default phantom.
VERTEBRA: dict = {
    "center_lps": (0.0, 0.0, 0.0),
    "body_semi_axes_mm": (20.0, 15.0),  # x (left-right), y (anterior-posterior)
    "body_height_mm": 25.0,
    "cortex_mm": 1.2,
    "cortex_hu": 900.0,
    "bone_matrix_hu": 600.0,
    "marrow_hu": 20.0,
    "soft_tissue_hu": 40.0,
    "air_hu": -1000.0,
    "soft_tissue_semi_axes_mm": (38.0, 36.0),
    "background_voids": {"diameter_mm": 1.5, "period_mm": 2.5},
    "defect_voids": {"diameter_mm": 3.0, "period_mm": 4.0},
    "defect_center_xy_mm": (7.0, 1.0),
    "defect_radius_mm": 5.5,
    "edge_sigma_mm": 0.5,
    # Calibration rods (vertical cylinders behind the body): density mg/cm^3 HA -> HU.
    "insert_densities_mg_cm3": (0.0, 100.0, 200.0),
    "insert_centers_xy_mm": ((-15.0, 28.0), (0.0, 28.0), (15.0, 28.0)),
    "insert_radius_mm": 4.0,
    "hu_per_mg_cm3": 1.25,
    "hu_at_zero_density": 20.0,
}


def _smooth_inside(signed_dist: np.ndarray, sigma: float) -> np.ndarray:
    """Blurred indicator of ``signed_dist < 0`` (1 inside, 0 outside, Gaussian edge)."""
    return 0.5 * erfc(signed_dist / (np.sqrt(2.0) * sigma))


def _void_lattice(x: np.ndarray, y: np.ndarray, diameter: float, period: float, sigma: float) -> np.ndarray:
    """Void fraction (0-1) of a square lattice of round vertical voids centred on multiples of ``period``."""
    dx = x - period * np.round(x / period)
    dy = y - period * np.round(y / period)
    return _smooth_inside(np.hypot(dx, dy) - diameter / 2, sigma)


def vertebra_hu(points, *, spec: dict | None = None) -> np.ndarray:
    """The phantom's HU at LPS points.

    Parameters
    ----------
    points : (N, 3) float, mm, LPS
    spec : dict, optional
        Overrides of :data:`VERTEBRA` keys (e.g. ``body_semi_axes_mm``).

    Returns
    -------
    (N,) float HU
    """
    s = {**VERTEBRA, **(spec or {})}
    p = np.asarray(points, dtype=float) - np.asarray(s["center_lps"])
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    sig = s["edge_sigma_mm"]
    a, b = s["body_semi_axes_mm"]
    half_h = s["body_height_mm"] / 2
    # Approximate signed distance to the elliptic cylinder's wall and to the endplates.
    r_ell = np.hypot(x / a, y / b)
    d_wall = (r_ell - 1.0) * min(a, b)
    d_end = np.abs(z) - half_h
    d_body = np.maximum(d_wall, d_end)
    inside_body = _smooth_inside(d_body, sig)
    inside_cancellous = _smooth_inside(d_body + s["cortex_mm"], sig)

    bg = s["background_voids"]
    df = s["defect_voids"]
    voids_bg = _void_lattice(x, y, bg["diameter_mm"], bg["period_mm"], sig)
    voids_df = _void_lattice(x, y, df["diameter_mm"], df["period_mm"], sig)
    cx, cy = s["defect_center_xy_mm"]
    in_defect = _smooth_inside(np.hypot(x - cx, y - cy) - s["defect_radius_mm"], sig)
    voids = voids_bg * (1 - in_defect) + voids_df * in_defect
    cancellous = s["bone_matrix_hu"] * (1 - voids) + s["marrow_hu"] * voids
    bone = s["cortex_hu"] * (1 - inside_cancellous) + cancellous * inside_cancellous

    ta, tb = s["soft_tissue_semi_axes_mm"]
    in_tissue = _smooth_inside((np.hypot(x / ta, y / tb) - 1.0) * min(ta, tb), sig)
    background = s["air_hu"] * (1 - in_tissue) + s["soft_tissue_hu"] * in_tissue
    for dens, (ix, iy) in zip(s["insert_densities_mg_cm3"], s["insert_centers_xy_mm"]):
        in_rod = _smooth_inside(np.hypot(x - ix, y - iy) - s["insert_radius_mm"], sig) * in_tissue
        rod_hu = s["hu_at_zero_density"] + s["hu_per_mg_cm3"] * dens
        background = background * (1 - in_rod) + rod_hu * in_rod
    return background * (1 - inside_body) + bone * inside_body


def _body_mask(points: np.ndarray, s: dict) -> np.ndarray:
    p = np.asarray(points, dtype=float) - np.asarray(s["center_lps"])
    a, b = s["body_semi_axes_mm"]
    return (np.hypot(p[:, 0] / a, p[:, 1] / b) <= 1.0) & (np.abs(p[:, 2]) <= s["body_height_mm"] / 2)


def _area_fraction(diameter: float, period: float) -> float:
    return float(np.pi * diameter**2 / 4 / period**2)


def _vertebra_truth(s: dict, noise_hu: float) -> dict:
    """The analytic ground truth of a vertebra phantom built from spec ``s``."""
    a, b = s["body_semi_axes_mm"]
    bg, df = s["background_voids"], s["defect_voids"]
    erode = 6.0
    return {
        "center_lps": list(s["center_lps"]),
        "body_semi_axes_mm": [a, b],
        "body_height_mm": s["body_height_mm"],
        "cortex_mm": s["cortex_mm"],
        "hu": {k: s[k] for k in ("cortex_hu", "bone_matrix_hu", "marrow_hu", "soft_tissue_hu", "air_hu")},
        "edge_sigma_mm": s["edge_sigma_mm"],
        "background_voids": {**bg, "area_fraction": _area_fraction(bg["diameter_mm"], bg["period_mm"])},
        "defect_voids": {**df, "area_fraction": _area_fraction(df["diameter_mm"], df["period_mm"])},
        "defect_region": {
            "kind": "vertical cylinder (LPS z axis)",
            "center_xy_mm": list(s["defect_center_xy_mm"]),
            "radius_mm": s["defect_radius_mm"],
        },
        "roi_after_6mm_erosion": {
            "semi_axes_mm": [a - erode, b - erode],
            "height_mm": s["body_height_mm"] - 2 * erode,
            "volume_ml": float(np.pi * (a - erode) * (b - erode) * (s["body_height_mm"] - 2 * erode) / 1000),
        },
        "calibration_inserts": [
            {
                "density_mg_cm3": d,
                "center_lps": [cx, cy, s["center_lps"][2]],
                "radius_mm": s["insert_radius_mm"],
                "hu": s["hu_at_zero_density"] + s["hu_per_mg_cm3"] * d,
            }
            for d, (cx, cy) in zip(s["insert_densities_mg_cm3"], s["insert_centers_xy_mm"])
        ],
        "calibration": {
            "slope": 1.0 / s["hu_per_mg_cm3"],
            "intercept": -s["hu_at_zero_density"] / s["hu_per_mg_cm3"],
            "note": "BMD (mg/cm^3 HA) = slope * HU + intercept",
        },
        "noise_hu": noise_hu,
        "expected": {
            "focal_defect": "focal BMC loss and intercept width are higher inside the defect region "
            "(3.0 mm voids) than in the background texture (1.5 mm voids)",
            "intercept_width_background_mm": "about the 1.5 mm void diameter (chords of round voids "
            "along 15 orientations, half-maximum edges)",
            "intercept_width_defect_mm": "about the 3.0 mm void diameter",
        },
    }


def make_vertebra(
    *,
    spacing=(0.5, 0.5, 0.5),
    direction=None,
    seed: int = 0,
    noise_hu: float = 0.0,
    body_semi_axes_mm=None,
    body_height_mm: float | None = None,
) -> Phantom:
    """Generate the vertebral-body phantom.

    Parameters
    ----------
    spacing : (3,) float, mm
        Voxel size along the grid axes (default 0.5 mm isotropic: fine enough for the
        1.5 mm voids, small enough that the demo stays fast).
    direction : (3, 3) float, optional
        Grid direction matrix (columns = i, j, k axes in LPS); identity by default.
    seed : int
        Seed of the optional Gaussian noise.
    noise_hu : float
        Standard deviation of added white noise in HU (0 = none, the default).
    body_semi_axes_mm : (2,) float, optional
        Override of the body's semi-axes (x, y), e.g. for larger benchmark ROIs.
    body_height_mm : float, optional
        Override of the body's height.

    Returns
    -------
    Phantom
        ``masks["body"]`` is the vertebral body (cortex included) at the voxel centres;
        ``truth`` holds the geometry, void sizes, the defect region, the calibration
        and the expected focal-defect behaviour.
    """
    overrides = {}
    if body_semi_axes_mm is not None:
        overrides["body_semi_axes_mm"] = tuple(float(v) for v in body_semi_axes_mm)
    if body_height_mm is not None:
        overrides["body_height_mm"] = float(body_height_mm)
    s = {**VERTEBRA, **overrides}
    a, b = s["body_semi_axes_mm"]
    ta, tb = max(s["soft_tissue_semi_axes_mm"][0], a + 8), max(s["soft_tissue_semi_axes_mm"][1], b + 8)
    s["soft_tissue_semi_axes_mm"] = (ta, tb)
    extent = (2 * ta + 6, 2 * tb + 6, s["body_height_mm"] + 10)

    def hu(points):
        return vertebra_hu(points, spec=s)

    volume = evaluate_on_grid(
        hu, center=s["center_lps"], extent_mm=extent, spacing=spacing, direction=direction, dtype=np.float32
    )
    arr = volume.array
    if noise_hu > 0:
        arr = arr + np.random.default_rng(seed).normal(0.0, noise_hu, arr.shape).astype(np.float32)
    volume = volume.with_array(np.round(arr).astype(np.int16))
    nk, nj, ni = volume.array.shape
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    pts = volume.index_to_physical(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1))
    body = _body_mask(pts, s).reshape(volume.array.shape)

    truth = _vertebra_truth(s, noise_hu)
    return Phantom("vertebra", volume, truth, None, {"body": body})
