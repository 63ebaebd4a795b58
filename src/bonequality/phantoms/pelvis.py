"""Pelvis phantom: L5, sacrum (S1-S3), alae with alar voids, foramina, SI joints, ilia.

The phantom is an analytic HU function of LPS position (:func:`pelvis_hu`) built from
simple primitives (elliptic cylinders, ellipsoids, boxes, half-spaces) painted in order
over air and a soft-tissue body envelope. Every primitive edge is a linear ramp of
width :data:`EDGE_MM` across its (approximate) signed distance, a stand-in for the
partial-volume blur of a CT: the iso-surface half-way between the two HU levels is the
primitive's exact surface, so an interpolated threshold crossing lands on it whatever
the grid spacing or direction. Away from edges (> ``EDGE_MM / 2``) every value is exact.

Layout (LPS mm; x = patient left, y = posterior, z = superior), symmetric in x:

* S1 body: elliptic cylinder centre (0, -2), semi-axes 24 x 16, z in [-16, 16], with a
  1.5 mm cortical shell and a denser posterosuperior part (y > 4 and z > 6; seed 000:
  "bone was denser in the posterior and upper parts of the S1 body").
* S2 body z in [-46, -24], S3 body z in [-68, -52], L5 body z in [24, 52] (disc between).
* Sacrum: the region medial to each SI joint plane, behind a V-shaped anterior face,
  with a cortical shell; alar trabecular bone with an alar void (ellipsoid) at S1 and S2;
  S1 and S2 neural foramina (cylinders along y); sacral canal.
* SI joint: 2 mm soft-tissue gap between the sacrum and each ilium along a plane
  through (+-68, 0) whose normal is turned 20 degrees posteriorly from lateral.
* Ilium: a 30 mm thick box beyond the joint with a 2.5 mm cortical shell; its outer
  face is a plane, so the corridor entry points are analytic (line-plane intersection).

Sacral slope (``sacral_tilt_deg``). The layout above is the *anatomical frame*: an upright
sacrum whose S1 endplate is horizontal. A real S1 endplate is inclined 35-45 degrees to
the axial plane (sacral slope), which is what makes the three sacroplasty trajectories of
seed 001 differ. With ``sacral_tilt_deg = a`` the whole phantom (bone, soft-tissue
envelope, landmarks, truth) is rotated rigidly by ``a`` about the patient's left-right
(x) axis through :data:`TILT_PIVOT` (the S1 body centre, also the centre of the four S1
corners): ``p_LPS = R (p_anatomical - pivot) + pivot`` with ``R =``
:func:`tilt_rotation` ``(a)``. A positive ``a`` tilts the top of the sacrum anteriorly
and inferiorly (the S1 endplate normal becomes ``(0, -sin a, cos a)``: it faces
antero-superiorly, ``S1_corner_AS`` lies below ``S1_corner_PS``). :func:`pelvis_hu`
evaluates the upright function at ``R^T (p - pivot) + pivot``; truth entries that describe
axis-aligned shapes (the L5 trabecular core) stay in the anatomical frame and say so, and
the truth's ``"frame"`` holds ``R`` and the pivot. ``a = 0`` (the default) is the upright
phantom, bit for bit.

The truth (``Phantom.truth``) holds the HU of every primitive, the landmarks, the L5
trabecular core and mean, the S1/S2 corridor geometry of CLINICAL.md section 2 computed
analytically (C1, K_X, M_X, entry points at the outer iliac cortex, S2 ventral clearance)
and the expected probe profiles' region means, integrated from the analytic function
(not from the image). Seed 000 (Thiesen et al.) describes the anatomy modelled here.
"""

from __future__ import annotations

import logging

import numpy as np

from ..geometry import Line, circle_through, unit
from ..landmarks import Landmarks
from . import Phantom, evaluate_on_grid, rotation_matrix

log = logging.getLogger(__name__)

__all__ = [
    "EDGE_MM",
    "HU_NORMAL",
    "HU_OSTEOPOROTIC",
    "TILT_PIVOT",
    "make_pelvis",
    "pelvis_hu",
    "pelvis_landmarks",
    "tilt_rotation",
]

#: Width (mm) of the linear HU ramp across every primitive surface.
EDGE_MM = 1.0

#: HU of each material, normal bone (L5 trabecular 180 HU: the "> 100 HU" group).
HU_NORMAL: dict[str, float] = {
    "air": -1000.0,
    "soft_tissue": 40.0,
    "disc": 90.0,
    "canal": 20.0,
    "foramen": 20.0,
    "ilium_cortex": 1100.0,
    "ilium_trabecular": 160.0,
    "sacrum_cortex": 700.0,
    "alar_trabecular": 110.0,
    "alar_void": 0.0,
    "body_cortex": 500.0,
    "S1_trabecular": 230.0,
    "S1_posterosuperior": 320.0,
    "S2_trabecular": 160.0,
    "S3_trabecular": 140.0,
    "L5_cortex": 600.0,
    "L5_trabecular": 180.0,
}

#: HU of each material in the osteoporotic variant (L5 trabecular 75 HU: "<= 100 HU").
HU_OSTEOPOROTIC: dict[str, float] = {
    **HU_NORMAL,
    "ilium_cortex": 900.0,
    "ilium_trabecular": 60.0,
    "sacrum_cortex": 500.0,
    "alar_trabecular": 20.0,
    "alar_void": -60.0,
    "body_cortex": 350.0,
    "S1_trabecular": 125.0,
    "S1_posterosuperior": 175.0,
    "S2_trabecular": 65.0,
    "S3_trabecular": 55.0,
    "L5_cortex": 400.0,
    "L5_trabecular": 75.0,
}

# ---------------------------------------------------------------- geometry (mm, LPS)
_PHI = np.deg2rad(20.0)  # SI joint normal turned posteriorly from lateral
_N = np.array([np.cos(_PHI), np.sin(_PHI)])  # joint normal (x, y), left side
_T = np.array([-np.sin(_PHI), np.cos(_PHI)])  # along the joint, posterior-medial
_JOINT_X = 68.0  # joint plane passes through (+-68, 0)
_GAP = 2.0  # SI joint gap
_ILIUM_THICK = 30.0
_ILIUM_T = (-25.0, 50.0)  # extent along the joint, from the joint's point at y = 0
_ILIUM_Z = (-60.0, 45.0)
_ILIUM_CORTEX = 2.5
_SACRUM_CORTEX = 1.5
_BODY_CORTEX = 1.5
_L5_CORTEX = 2.0
_ANT_FACE = (-18.0, 0.2, 20.0)  # y_a(|x|) = -18 + 0.2 * max(|x| - 20, 0)
_POST_FACE = 26.0
_SACRUM_TOP, _SACRUM_BOTTOM = 18.0, -70.0
_LOWER_NARROW = (-50.0, 35.0)  # below z = -50 the sacrum is |x| <= 35
_ENVELOPE = ((0.0, 8.0), (122.0, 76.0))  # centre (x, y), semi-axes (x, y)
_GRID_CENTER = (0.0, 8.0, -9.0)
_GRID_EXTENT = (256.0, 166.0, 140.0)
_BONE_BOX = ((-112.0, -32.0, -74.0), (112.0, 66.0, 56.0))

#: (name, centre x, centre y, semi-axis x, semi-axis y, z0, z1) of the vertebral bodies.
_BODIES = (
    ("L5", 0.0, -2.0, 25.0, 18.0, 24.0, 52.0),
    ("S1", 0.0, -2.0, 24.0, 16.0, -16.0, 16.0),
    ("S2", 0.0, 0.0, 19.0, 14.0, -46.0, -24.0),
    ("S3", 0.0, 4.0, 14.0, 11.0, -68.0, -52.0),
)
_DISC = (0.0, -2.0, 24.0, 17.0, 16.0, 24.0)
_CANAL = (0.0, 19.0, 9.0, 4.0)
#: (centre |x|, centre z, radius) of the foramina, cylinders along y.
_FORAMINA = {"S1": (25.0, -21.0, 5.0), "S2": (23.0, -50.0, 4.0)}
#: (centre |x|, y, z), (radii x, y, z) of the alar voids.
_VOIDS = (((42.0, 0.0, -4.0), (12.0, 8.0, 11.0)), ((40.0, 0.0, -36.0), (10.0, 7.0, 7.0)))


#: Pivot (LPS mm) of the sacral tilt: the S1 body centre, which is also the centre of the four
#: S1 corners (so the sacroplasty target T does not move with the tilt).
TILT_PIVOT = np.array([0.0, -2.0, 0.0])
TILT_PIVOT.setflags(write=False)


def tilt_rotation(sacral_tilt_deg: float) -> np.ndarray:
    """Rotation matrix ``R`` (anatomical -> LPS) of the sacral tilt: ``sacral_tilt_deg`` about +x.

    A positive angle turns superior (``+z``) towards anterior (``-y``): ``R @ (0, 0, 1) =
    (0, -sin a, cos a)``, so the top of the sacrum tilts anteriorly-inferiorly (sacral slope).
    """
    return rotation_matrix((1.0, 0.0, 0.0), sacral_tilt_deg)


def _to_lps(points, sacral_tilt_deg: float) -> np.ndarray:
    """Anatomical-frame points (..., 3) to LPS (unchanged, same object, when the tilt is 0)."""
    if not sacral_tilt_deg:
        return points
    p = np.asarray(points, dtype=float)
    return (p - TILT_PIVOT) @ tilt_rotation(sacral_tilt_deg).T + TILT_PIVOT


def _to_anatomical(points, sacral_tilt_deg: float) -> np.ndarray:
    """LPS points (..., 3) to the anatomical (upright) frame: ``R^T (p - pivot) + pivot``."""
    if not sacral_tilt_deg:
        return points
    p = np.asarray(points, dtype=float)
    return (p - TILT_PIVOT) @ tilt_rotation(sacral_tilt_deg) + TILT_PIVOT


def _ramp(sdf: np.ndarray) -> np.ndarray:
    """Fraction inside (0-1) from a signed distance (mm, negative inside)."""
    return np.clip(0.5 - sdf / EDGE_MM, 0.0, 1.0)


def _paint(hu: np.ndarray, sdf: np.ndarray, value: float) -> None:
    s = _ramp(sdf)
    hu += s * (value - hu)


def _ratio(k0, k1, at_centre):
    """``k0 / k1`` of the ellipse distance bound, with its limit at the centre."""
    return np.where(k1 > 1e-9, k0 / np.maximum(k1, 1e-9), at_centre)


def _ellipse_sdf(x, y, cx, cy, ax, ay):
    """Approximate signed distance to an ellipse (exact zero set; iq's bound k0 (k0 - 1) / k1)."""
    px, py = (x - cx) / ax, (y - cy) / ay
    k0 = np.sqrt(px * px + py * py)
    k1 = np.sqrt((px / ax) ** 2 + (py / ay) ** 2)
    return (k0 - 1.0) * _ratio(k0, k1, min(ax, ay))


def _ellipsoid_sdf(x, y, z, c, r):
    px, py, pz = (x - c[0]) / r[0], (y - c[1]) / r[1], (z - c[2]) / r[2]
    k0 = np.sqrt(px * px + py * py + pz * pz)
    k1 = np.sqrt((px / r[0]) ** 2 + (py / r[1]) ** 2 + (pz / r[2]) ** 2)
    return (k0 - 1.0) * _ratio(k0, k1, min(r))


def _slab_sdf(v, lo, hi):
    return np.maximum(lo - v, v - hi)


def _body_sdf(x, y, z, body, offset=0.0):
    _, cx, cy, ax, ay, z0, z1 = body
    return np.maximum(_ellipse_sdf(x, y, cx, cy, ax, ay), _slab_sdf(z, z0, z1)) + offset


def _joint_coords(xa, y):
    """(n, t): distance beyond the SI joint plane (lateral +) and position along it."""
    n = (xa - _JOINT_X) * _N[0] + y * _N[1]
    t = (xa - _JOINT_X) * _T[0] + y * _T[1]
    return n, t


def _sacrum_sdf(xa, y, z, offset=0.0):
    n, _ = _joint_coords(xa, y)
    y0, slope, x0 = _ANT_FACE
    ant1 = y0 - y
    ant2 = (y0 + slope * (xa - x0) - y) / np.hypot(1.0, slope)
    common = np.maximum.reduce([n, ant1, ant2, y - _POST_FACE, _slab_sdf(z, _SACRUM_BOTTOM, _SACRUM_TOP)])
    lower = np.minimum(_LOWER_NARROW[0] - z, xa - _LOWER_NARROW[1])
    return np.maximum(common, lower) + offset


def _ilium_sdf(xa, y, z, offset=0.0):
    n, t = _joint_coords(xa, y)
    return (
        np.maximum.reduce(
            [_slab_sdf(n, _GAP, _GAP + _ILIUM_THICK), _slab_sdf(t, *_ILIUM_T), _slab_sdf(z, *_ILIUM_Z)]
        )
        + offset
    )


def _bone_hu(x, y, z, hu_table, out):
    xa = np.abs(x)
    # Ilia: cortical shell, trabecular interior.
    _paint(out, _ilium_sdf(xa, y, z), hu_table["ilium_cortex"])
    _paint(out, _ilium_sdf(xa, y, z, _ILIUM_CORTEX), hu_table["ilium_trabecular"])
    # Sacrum: cortical shell, alar trabecular bone, alar voids.
    _paint(out, _sacrum_sdf(xa, y, z), hu_table["sacrum_cortex"])
    inner = _sacrum_sdf(xa, y, z, _SACRUM_CORTEX)
    _paint(out, inner, hu_table["alar_trabecular"])
    for c, r in _VOIDS:
        _paint(out, np.maximum(_ellipsoid_sdf(xa, y, z, c, r), inner), hu_table["alar_void"])
    # Vertebral bodies: cortical shell and trabecular core; L5-S1 disc.
    for body in _BODIES:
        name = body[0]
        cortex = hu_table["L5_cortex"] if name == "L5" else hu_table["body_cortex"]
        thick = _L5_CORTEX if name == "L5" else _BODY_CORTEX
        _paint(out, _body_sdf(x, y, z, body), cortex)
        _paint(out, _body_sdf(x, y, z, body, thick), hu_table[f"{name}_trabecular"])
    _paint(out, _body_sdf(x, y, z, ("disc", *_DISC)), hu_table["disc"])
    s1 = _BODIES[1]
    ps = np.maximum.reduce([_body_sdf(x, y, z, s1, _BODY_CORTEX), 4.0 - y, 6.0 - z])
    _paint(out, ps, hu_table["S1_posterosuperior"])
    # Neural foramina (cylinders along y through the sacrum) and the sacral canal.
    for fx, fz, fr in _FORAMINA.values():
        cyl = np.maximum(np.hypot(xa - fx, z - fz) - fr, _slab_sdf(y, -30.0, 32.0))
        _paint(out, cyl, hu_table["foramen"])
    cx, cy, ax, ay = _CANAL
    canal = np.maximum(_ellipse_sdf(x, y, cx, cy, ax, ay), _slab_sdf(z, _SACRUM_BOTTOM + 4, _SACRUM_TOP + 1))
    _paint(out, canal, hu_table["canal"])


def pelvis_hu(points, *, osteoporotic: bool = False, sacral_tilt_deg: float = 0.0) -> np.ndarray:
    """The phantom's HU at LPS points.

    Parameters
    ----------
    points : (N, 3) float, mm, LPS
    osteoporotic : bool
        Use :data:`HU_OSTEOPOROTIC` instead of :data:`HU_NORMAL`.
    sacral_tilt_deg : float, degrees
        Rigid tilt of the whole phantom about the x axis through :data:`TILT_PIVOT` (see the
        module docstring): the upright function evaluated at ``R^T (p - pivot) + pivot``.

    Returns
    -------
    (N,) float32 ndarray, HU
    """
    table = HU_OSTEOPOROTIC if osteoporotic else HU_NORMAL
    if sacral_tilt_deg:
        points = _to_anatomical(np.asarray(points, dtype=float).reshape(-1, 3), sacral_tilt_deg)
    p = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    (ex, ey), (sx, sy) = _ENVELOPE
    out = np.full(p.shape[0], table["air"], dtype=np.float32)
    env = _ellipse_sdf(x, y, ex, ey, sx, sy)
    _paint(out, env, table["soft_tissue"])
    lo, hi = _BONE_BOX
    sel = np.flatnonzero(np.all((p >= np.float32(lo)) & (p <= np.float32(hi)), axis=1))
    if sel.size:
        sub = out[sel]
        _bone_hu(x[sel], y[sel], z[sel], table, sub)
        out[sel] = sub
    return out


def pelvis_landmarks(*, sacral_tilt_deg: float = 0.0) -> dict[str, np.ndarray]:
    """Every non-optional landmark of the schema at its phantom position (LPS mm).

    Placed in the anatomical (upright) frame and mapped to LPS with the sacral tilt.
    """
    y0, slope, x0 = _ANT_FACE

    # SI joint at y: x = 68 - y tan(phi) on the plane n = 0.
    def joint_x(y):
        return _JOINT_X - y * np.tan(_PHI)

    ant_y_at = lambda xa: y0 + slope * max(xa - x0, 0.0)  # noqa: E731
    # Ventral border of the SI joint: where the joint plane meets the anterior face (solve).
    yv = y0
    for _ in range(50):
        yv = ant_y_at(joint_x(yv))
    pts: dict[str, np.ndarray] = {"S1_body_top": np.array([0.0, -2.0, 16.0])}
    for s, sign in (("L", 1.0), ("R", -1.0)):
        fx1, fz1, fr1 = _FORAMINA["S1"]
        fx2, fz2, fr2 = _FORAMINA["S2"]
        pts[f"S1_foramen_sup_{s}"] = np.array([sign * fx1, 4.0, fz1 + fr1])
        pts[f"SI_joint_ventral_sup_{s}"] = np.array([sign * joint_x(yv), yv, 16.0])
        pts[f"S1_foramen_inf_{s}"] = np.array([sign * fx1, 4.0, fz1 - fr1])
        pts[f"S2_foramen_sup_{s}"] = np.array([sign * fx2, 4.0, fz2 + fr2])
        pts[f"S2_body_ventral_{s}"] = np.array([sign * 24.0, ant_y_at(24.0), -36.0])
        pts[f"SI_joint_dorsal_{s}"] = np.array([sign * joint_x(20.0), 20.0, 16.0])
    pts["S2_body_ventral_mid"] = np.array([0.0, y0, -36.0])
    pts["L5_body_center"] = np.array([0.0, -2.0, 38.0])
    # First sacral segment on the midsagittal plane: S1 body from z=-16 to 16, y=-18 to 14,
    # corners 1 mm inside the cortex.
    pts["S1_corner_PS"] = np.array([0.0, 13.0, 15.0])
    pts["S1_corner_AS"] = np.array([0.0, -17.0, 15.0])
    pts["S1_corner_PI"] = np.array([0.0, 13.0, -15.0])
    pts["S1_corner_AI"] = np.array([0.0, -17.0, -15.0])
    pts["S3_body_center"] = np.array([0.0, 4.0, -60.0])
    return {k: _to_lps(v, sacral_tilt_deg) for k, v in pts.items()}


def _outer_iliac_exit(start: np.ndarray, direction: np.ndarray, sacral_tilt_deg: float = 0.0) -> np.ndarray:
    """Where the ray from ``start`` crosses the outer face of the ilium (n = gap + thickness).

    ``start`` and ``direction`` are LPS; the plane is intersected in the anatomical frame
    (start mapped with ``R^T (p - pivot) + pivot``, direction with ``R^T``) and mapped back.
    """
    if sacral_tilt_deg:
        r = tilt_rotation(sacral_tilt_deg)
        p = _outer_iliac_exit(_to_anatomical(start, sacral_tilt_deg), r.T @ direction)
        return _to_lps(p, sacral_tilt_deg)
    sign = np.sign(direction[0])
    n0 = (sign * start[0] - _JOINT_X) * _N[0] + start[1] * _N[1]
    dn = sign * direction[0] * _N[0] + direction[1] * _N[1]
    return start + ((_GAP + _ILIUM_THICK - n0) / dn) * direction


#: Sub-sample disk pattern used to integrate the truth probes (0.25 mm square lattice).
def _dense_disk(radius: float = 5.0, step: float = 0.25) -> np.ndarray:
    g = np.arange(-radius + step / 2, radius, step)
    u, v = np.meshgrid(g, g)
    keep = u**2 + v**2 <= radius**2
    return np.stack([u[keep], v[keep]], axis=1)


def _probe_profile(a, b, hu_fn, *, radius=5.0, segment=0.25) -> np.ndarray:
    """Segment means (HU) of a cylinder probe from ``a`` to ``b`` from the analytic function."""
    axis = b - a
    length = float(np.linalg.norm(axis))
    w = axis / length
    u = unit(np.cross(w, [0.0, 0.0, 1.0]) if abs(w[2]) < 0.9 else np.cross(w, [0.0, 1.0, 0.0]))
    v = np.cross(w, u)
    n = max(1, round(length / segment))
    t = (np.arange(n) + 0.5) * length / n
    disk = _dense_disk(radius, 0.5)
    pts = a + t[:, None, None] * w + disk[None, :, 0, None] * u + disk[None, :, 1, None] * v
    return hu_fn(pts.reshape(-1, 3)).reshape(n, -1).mean(axis=1)


def _region_means(profile: np.ndarray) -> dict[str, float]:
    pct = (np.arange(profile.size) + 0.5) / profile.size * 100.0
    body = (pct >= 40) & (pct < 60)
    alae = ((pct >= 20) & (pct < 40)) | ((pct >= 60) & (pct < 80))
    return {
        "corridor_mean_hu": float(profile.mean()),
        "body_mean_hu": float(profile[body].mean()),
        "alae_mean_hu": float(profile[alae].mean()),
    }


def _corridor_truth(pts: dict[str, np.ndarray], hu_fn, tilt: float) -> tuple[dict, dict]:
    """Analytic S1 and S2 corridor truth (entries, lengths, expected region means)."""
    c1 = (pts["S1_body_top"] + pts["S1_foramen_sup_L"] + pts["S1_foramen_sup_R"]) / 3.0
    s1 = {"C1": c1}
    for s in ("L", "R"):
        k = (pts[f"SI_joint_ventral_sup_{s}"] + pts[f"S1_foramen_sup_{s}"]) / 2.0
        d = unit(k - c1)
        s1[f"K_{s}"] = k
        s1[f"direction_{s}"] = d
        s1[f"entry_{s}"] = _outer_iliac_exit(c1, d, tilt)
    s1["length_mm"] = float(np.linalg.norm(s1["entry_L"] - c1) + np.linalg.norm(s1["entry_R"] - c1))
    prof_l = _probe_profile(s1["entry_R"], c1, hu_fn)
    prof_r = _probe_profile(c1, s1["entry_L"], hu_fn)
    s1["expected_region_means"] = _region_means(np.concatenate([prof_l, prof_r]))

    s2: dict = {}
    for s in ("L", "R"):
        circle = circle_through(
            pts[f"S1_foramen_inf_{s}"], pts[f"S2_foramen_sup_{s}"], pts[f"S2_body_ventral_{s}"]
        )
        s2[f"M_{s}"] = circle.center
        s2[f"circle_radius_{s}"] = circle.radius
    axis = Line.through(s2["M_R"], s2["M_L"])
    clearance = float(axis.distance(pts["S2_body_ventral_mid"]))
    s2["ventral_clearance_mm"] = clearance
    s2["ventral_shift_mm"] = 0.0 if clearance >= 7.0 else None
    mid = (s2["M_L"] + s2["M_R"]) / 2.0
    s2["entry_L"] = _outer_iliac_exit(mid, axis.direction, tilt)
    s2["entry_R"] = _outer_iliac_exit(mid, -axis.direction, tilt)
    s2["length_mm"] = float(np.linalg.norm(s2["entry_L"] - s2["entry_R"]))
    s2["expected_region_means"] = _region_means(_probe_profile(s2["entry_R"], s2["entry_L"], hu_fn))

    return s1, s2


def _truth(osteoporotic: bool, pts: dict[str, np.ndarray], sacral_tilt_deg: float = 0.0) -> dict:
    """Analytic truth; ``pts`` are the LPS landmarks of the same tilt."""
    table = HU_OSTEOPOROTIC if osteoporotic else HU_NORMAL
    tilt = sacral_tilt_deg

    def hu_fn(p):
        return pelvis_hu(p, osteoporotic=osteoporotic, sacral_tilt_deg=tilt).astype(float)

    s1, s2 = _corridor_truth(pts, hu_fn, tilt)

    l5 = _BODIES[0]
    rot = tilt_rotation(tilt)
    l5_truth = {
        "center": pts["L5_body_center"],
        "trabecular_mean_hu": table["L5_trabecular"],
        "group": "L5 <= 100 HU" if table["L5_trabecular"] <= 100 else "L5 > 100 HU",
        # An elliptic cylinder, axis-aligned in the anatomical frame (see "frame"); its axis in
        # LPS is the third column of the rotation.
        "trabecular_core": {
            "frame": "anatomical",
            "center_xy": [l5[1], l5[2]],
            "semi_axes_xy_mm": [l5[3] - _L5_CORTEX, l5[4] - _L5_CORTEX],
            "z_range_mm": [l5[5] + _L5_CORTEX, l5[6] - _L5_CORTEX],
            "axis_lps": rot[:, 2],
        },
    }
    known_points_anatomical = {
        "S1_trabecular": [0.0, -2.0, 0.0],
        "S1_posterosuperior": [0.0, 10.0, 12.0],
        "S2_trabecular": [0.0, 0.0, -35.0],
        "S3_trabecular": [0.0, 4.0, -60.0],
        "L5_trabecular": [0.0, -2.0, 38.0],
        "disc": [0.0, -2.0, 20.0],
        "alar_void": [42.0, 0.0, -4.0],
        "alar_trabecular": [60.0, 10.0, 8.0],
        "ilium_trabecular": [85.0, 10.0, 0.0],
        "ilium_cortex": [68 + (_GAP + _ILIUM_THICK - 1.25) / np.cos(_PHI), 0.0, 0.0],
        "foramen": [25.0, 0.0, -21.0],
        "canal": [0.0, 19.0, 0.0],
        "soft_tissue": [115.0, 8.0, 0.0],
        "air": [125.0, 80.0, 0.0],
    }
    known_points = {k: _to_lps(np.asarray(v, dtype=float), tilt) for k, v in known_points_anatomical.items()}
    return {
        "osteoporotic": osteoporotic,
        "edge_ramp_mm": EDGE_MM,
        "frame": {
            "sacral_tilt_deg": float(tilt),
            "pivot_lps": TILT_PIVOT.copy(),
            "rotation_lps_from_anatomical": rot,
            "note": "LPS = R (anatomical - pivot) + pivot; the anatomical frame is the upright phantom "
            "(S1 endplate horizontal). Everything ending in _lps, the landmarks, C1/K/M and the entries "
            "are LPS; l5.trabecular_core (frame 'anatomical') is in the anatomical frame.",
        },
        "hu": dict(table),
        "known_points_lps": known_points,
        "landmarks_lps": pts,
        "l5": l5_truth,
        "s1": s1,
        "s2": s2,
        "note": "entry points: where the corridor line crosses the outer iliac cortex plane (the HU ramp's "
        "midpoint); expected region means: the analytic HU averaged over 10 mm disks (0.5 mm lattice) in "
        "0.25 mm segments along the truth probes (S1: E_R -> C1 -> E_L, S2: E_R -> E_L).",
    }


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _grid_box(sacral_tilt_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre and LPS extent (mm) of the field of view: the upright one, or the axis-aligned box
    around the tilted upright box (so the same anatomy, skin and air stay inside)."""
    centre, extent = np.array(_GRID_CENTER), np.array(_GRID_EXTENT)
    if not sacral_tilt_deg:
        return centre, extent
    rot = tilt_rotation(sacral_tilt_deg)
    return _to_lps(centre, sacral_tilt_deg), np.abs(rot) @ extent


def make_pelvis(
    *,
    osteoporotic: bool = False,
    sacral_tilt_deg: float = 0.0,
    spacing=(0.8, 0.8, 0.8),
    direction=None,
) -> Phantom:
    """Generate the pelvis phantom (see the module docstring for its anatomy).

    Parameters
    ----------
    osteoporotic : bool
        The osteoporotic variant (L5 trabecular 75 HU, lower sacral and iliac densities).
    sacral_tilt_deg : float, degrees
        Sacral slope: rigid rotation of the whole phantom about the patient's left-right axis
        through :data:`TILT_PIVOT`, top of the sacrum anterior-inferior for positive values
        (real pelves: about 35-45). 0 = the upright phantom. The field of view grows to hold
        the tilted one.
    spacing : (3,) float, mm
        Voxel size along the grid's i, j, k axes.
    direction : (3, 3) float, optional
        Grid axes (columns) in LPS; the anatomy stays fixed in LPS.

    Returns
    -------
    Phantom
        ``volume`` (int16 HU), ``landmarks`` (every non-optional schema label), ``truth``
        (JSON-able dict; see the module docstring).
    """
    centre, extent = _grid_box(sacral_tilt_deg)
    volume = evaluate_on_grid(
        lambda p: pelvis_hu(p, osteoporotic=osteoporotic, sacral_tilt_deg=sacral_tilt_deg),
        center=centre,
        extent_mm=extent,
        spacing=spacing,
        direction=direction,
    )
    pts = pelvis_landmarks(sacral_tilt_deg=sacral_tilt_deg)
    truth = _jsonable(_truth(osteoporotic, pts, sacral_tilt_deg))
    name = "pelvis-osteoporotic" if osteoporotic else "pelvis"
    return Phantom(name, volume, truth, Landmarks(pts.items(), source=f"{name} phantom"))
