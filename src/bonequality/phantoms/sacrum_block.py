"""Block sacrum phantom: a box of cancellous bone in a 2 mm cortical shell, for sacroplasty.

The sacroplasty planner's "inside the sacrum" is the region the cortical shell encloses,
whatever the HU inside it (:mod:`bonequality.imaging.envelope`). This phantom has the
simplest such anatomy with analytic answers: the cancellous bone is dense
(``cancellous_hu = 250``) or fatty (``-30``, like a fatty ala; seed 000 reports alar
means near 0 HU and below), both below the per-scan bone threshold (about 400 HU here),
so only the shell says where the bone is.

Layout (LPS mm; x = patient left, y = posterior, z = superior), every edge a linear HU
ramp :data:`EDGE_MM` wide centred on the surface (the iso-surface half-way between the
two HU levels is the exact surface on any grid):

* air (-1000 HU) outside a soft-tissue (40 HU) body box :data:`BODY`; the skin behind
  the block is the plane y = 95;
* the bone box :data:`BLOCK`: x in [-60, 60], y in [0, 75], z in [-50, 50]. Its outer
  surface is the cortex's outer surface; the anterior cortex is the face y = 0 and the
  dorsal cortex the face y = 75. The shell is :data:`CORTEX_MM` (2 mm) of
  ``cortex_hu`` (800 HU) on every face; inside it, ``cancellous_hu``.

Landmarks (:func:`block_landmarks`) for a target ``depth_mm`` behind the anterior cortex
(``T = (0, depth, 0)``, side targets ``(±31, depth, 0)``):

* S1 corners PS ``(0, d + 12, 20)``, AS ``(0, d - 12, 8)``, PI ``(0, d + 12, -8)``, AI
  ``(0, d - 12, -20)``: lines A and B cross at ``T``; the disc-parallel needle dips
  ``dz/dy = 0.5`` (anterior-inferior);
* S3 ``(0, d + 32, -20)``: the long-axis needle climbs ``dz/dy = -0.625``;
* SI joints at 20 degrees from the AP direction (ventral ``(±48, d - 5, 12)``, dorsal 25 mm
  behind along the joint): every needle of a side drifts ``tan 20°`` laterally per mm
  anterior; ``S1_foramen_sup_X`` at ``x = ±14``, so ``T_X = (±31, d, 0)``.

For depths up to 60 mm every needle leaves the block through the anterior face, at
``t = depth / -d_y`` along the unit needle direction ``d`` (:func:`anterior_face_distance`).
With ``breach_mm`` the side targets are placed (``sacroplasty_target_X``) that far in
front of the anterior face (positive) or behind the dorsal one (negative): their breach
depth is ``|breach_mm|``.
"""

from __future__ import annotations

import numpy as np

from ..landmarks import Landmarks
from . import Phantom, evaluate_on_grid

__all__ = [
    "BLOCK",
    "BODY",
    "CORTEX_MM",
    "EDGE_MM",
    "anterior_face_distance",
    "block_hu",
    "block_landmarks",
    "make_sacrum_block",
]

#: Width (mm) of the linear HU ramp across every surface.
EDGE_MM = 1.0
#: Cortical shell thickness (mm).
CORTEX_MM = 2.0
#: Bone box (outer cortex surface), ``(lo, hi)`` LPS mm.
BLOCK = ((-60.0, 0.0, -50.0), (60.0, 75.0, 50.0))
#: Soft-tissue body box, ``(lo, hi)`` LPS mm.
BODY = ((-75.0, -20.0, -62.0), (75.0, 95.0, 62.0))
#: HU of soft tissue and air.
SOFT_TISSUE_HU, AIR_HU = 40.0, -1000.0
#: Needle geometry of :func:`block_landmarks` (module docstring).
JOINT_DEG = 20.0
TARGET_X = 31.0


def _box_sdf(p: np.ndarray, lo, hi, inset: float = 0.0) -> np.ndarray:
    """Signed distance (mm, negative inside) to the box ``[lo, hi]`` shrunk by ``inset``."""
    lo = np.asarray(lo, dtype=float) + inset
    hi = np.asarray(hi, dtype=float) - inset
    return np.max(np.maximum(lo - p, p - hi), axis=1)


def _paint(hu: np.ndarray, sdf: np.ndarray, value: float) -> None:
    hu += np.clip(0.5 - sdf / EDGE_MM, 0.0, 1.0) * (value - hu)


def block_hu(points, *, cancellous_hu: float = 250.0, cortex_hu: float = 800.0) -> np.ndarray:
    """The phantom's HU at LPS points ``(N, 3)`` (module docstring)."""
    p = np.asarray(points, dtype=float).reshape(-1, 3)
    out = np.full(p.shape[0], AIR_HU)
    _paint(out, _box_sdf(p, *BODY), SOFT_TISSUE_HU)
    _paint(out, _box_sdf(p, *BLOCK), cortex_hu)
    _paint(out, _box_sdf(p, *BLOCK, inset=CORTEX_MM), cancellous_hu)
    return out.astype(np.float32)


def block_landmarks(depth_mm: float = 30.0, *, breach_mm: float | None = None) -> Landmarks:
    """The sacroplasty landmarks for a target ``depth_mm`` behind the anterior cortex (module docstring).

    ``breach_mm``: place both side targets that far in front of the anterior face
    (positive) or behind the dorsal face (negative) instead.
    """
    d = float(depth_mm)
    phi = np.deg2rad(JOINT_DEG)
    pts = {
        "S1_corner_PS": (0.0, d + 12, 20.0),
        "S1_corner_AS": (0.0, d - 12, 8.0),
        "S1_corner_PI": (0.0, d + 12, -8.0),
        "S1_corner_AI": (0.0, d - 12, -20.0),
        "S3_body_center": (0.0, d + 32, -20.0),
    }
    for s, sign in (("L", 1.0), ("R", -1.0)):
        ventral = np.array([sign * 48.0, d - 5, 12.0])
        pts[f"SI_joint_ventral_sup_{s}"] = tuple(ventral)
        pts[f"SI_joint_dorsal_{s}"] = tuple(
            ventral - 25.0 * np.array([sign * np.sin(phi), -np.cos(phi), 0.0])
        )
        pts[f"S1_foramen_sup_{s}"] = (sign * 14.0, d + 10, 12.0)
        if breach_mm is not None:
            y = -breach_mm if breach_mm > 0 else BLOCK[1][1] - breach_mm
            pts[f"sacroplasty_target_{s}"] = (sign * TARGET_X, y, 0.0)
    return Landmarks(list(pts.items()), source=f"sacrum block phantom, depth {d:g} mm")


def anterior_face_distance(target, direction) -> float:
    """Distance (mm) from ``target`` along the unit ``direction`` to the anterior face y = 0."""
    return float(target[1] / -direction[1])


def make_sacrum_block(
    *,
    cancellous_hu: float = 250.0,
    cortex_hu: float = 800.0,
    depth_mm: float = 30.0,
    spacing=(1.0, 1.0, 1.0),
    direction=None,
) -> Phantom:
    """Generate the block sacrum phantom (module docstring).

    Parameters
    ----------
    cancellous_hu, cortex_hu : float, HU
        Inside the shell (250: dense; -30: fatty) and the 2 mm shell.
    depth_mm : float, mm
        Target depth behind the anterior cortex of the landmarks (:func:`block_landmarks`).
    spacing : (3,) float, mm
        Voxel size along the grid's i, j, k axes.
    direction : (3, 3) float, optional
        Grid axes (columns) in LPS; the anatomy stays fixed in LPS.
    """
    lo, hi = (np.asarray(b, dtype=float) for b in BODY)
    volume = evaluate_on_grid(
        lambda p: block_hu(p, cancellous_hu=cancellous_hu, cortex_hu=cortex_hu),
        center=(lo + hi) / 2,
        extent_mm=hi - lo + 8.0,
        spacing=spacing,
        direction=direction,
    )
    truth = {
        "hu": {
            "air": AIR_HU,
            "soft_tissue": SOFT_TISSUE_HU,
            "cortex": cortex_hu,
            "cancellous": cancellous_hu,
        },
        "block_lps": [list(BLOCK[0]), list(BLOCK[1])],
        "cortex_mm": CORTEX_MM,
        "anterior_cortex_y_mm": BLOCK[0][1],
        "dorsal_cortex_y_mm": BLOCK[1][1],
        "target_depth_mm": float(depth_mm),
        "note": "every needle from a side target at depth <= 60 mm leaves through the anterior face y = 0, "
        "at t = depth / -d_y along its unit direction d",
    }
    name = "sacrum-block-fatty" if cancellous_hu < 0 else "sacrum-block"
    return Phantom(name, volume, truth, block_landmarks(depth_mm))
