"""The spinal canal of a bone or whole-vertebra mask, found in 3-D along the body's axis.

Used by :mod:`bonequality.imaging.body` to cut the posterior elements off a whole-vertebra
mask, and by the cement analysis to say which leaks lie in the canal or foramina.

A single axial slice of a 3 mm scan often cuts the ring of pedicles and laminae open, and
on a tilted vertebra (L5, L1 in a lordotic spine) the ring is oblique to the slices. The
canal is therefore found as the hole that the mask's **projection along the vertebra's
axis** shows: the pedicles, laminae and the body's posterior wall close a ring around it
in projection even where no slice does. The axis is the direction, within
:data:`MAX_TILT_DEG` of the patient's cranio-caudal (LPS z) axis, along which that hole
is largest (a coarse-to-fine search); the lateral axis is patient left (LPS x) made
orthogonal to it. On that frame :func:`posterior_cut` cuts the posterior elements off at
the body's own posterior wall, bridged across each pedicle and lamina junction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from .morphology import fill_holes

__all__ = [
    "MAX_TILT_DEG",
    "BodyFrame",
    "CanalInfo",
    "CanalSearch",
    "PosteriorCut",
    "canal_search",
    "find_canal",
    "posterior_cut",
]

#: Largest tilt (degrees) of the vertebra's axis from LPS z that the search considers.
MAX_TILT_DEG = 45.0
#: Smallest hole (mm^2, in projection) taken for a canal; a lumbar canal has 150-300 mm^2.
MIN_CANAL_AREA_MM2 = 20.0
#: (step, half-range) of the sagittal and coronal tilt search, coarse to fine (degrees).
_SEARCH = ((7.5, MAX_TILT_DEG, 10.0, 30.0), (2.5, 5.0, 2.5, 5.0), (1.0, 1.5, 1.0, 1.5))


@dataclass(frozen=True, eq=False)
class BodyFrame:
    """A grid of isotropic voxels along a vertebra's own axes.

    Attributes
    ----------
    rotation : (3, 3) float
        Columns: the frame's x' (patient left), y' (posterior) and z' (the body's axis,
        cranial) in LPS.
    origin : (3,) float, mm, LPS
        Centre of voxel ``[0, 0, 0]``.
    spacing : float, mm
    shape : (nz, ny, nx) int
        Arrays on the frame are indexed ``[z', y', x']``.
    """

    rotation: np.ndarray
    origin: np.ndarray
    spacing: float
    shape: tuple[int, int, int]

    @classmethod
    def around(cls, points: np.ndarray, rotation: np.ndarray, spacing: float, margin: float) -> BodyFrame:
        """The frame whose grid holds ``points`` (LPS, (N, 3)) with ``margin`` mm around them."""
        local = points @ rotation
        lo = local.min(axis=0) - margin
        n = np.ceil((local.max(axis=0) + margin - lo) / spacing).astype(int) + 1
        return cls(rotation, rotation @ lo, float(spacing), (int(n[2]), int(n[1]), int(n[0])))

    def to_index(self, points) -> np.ndarray:
        """LPS points (N, 3) -> continuous frame indices (N, 3) in ``(x', y', z')`` order."""
        return ((np.asarray(points, dtype=float) - self.origin) @ self.rotation) / self.spacing

    def to_lps(self, index) -> np.ndarray:
        """Frame indices ``(x', y', z')`` (N, 3) -> LPS points (N, 3)."""
        return self.origin + (np.asarray(index, dtype=float) * self.spacing) @ self.rotation.T

    def resample(self, image: sitk.Image) -> np.ndarray:
        """A mask (SimpleITK, any grid) on this frame, nearest neighbour, ``[z', y', x']``."""
        ref = sitk.Image([self.shape[2], self.shape[1], self.shape[0]], sitk.sitkUInt8)
        ref.SetSpacing([self.spacing] * 3)
        ref.SetOrigin(self.origin.tolist())
        ref.SetDirection(self.rotation.ravel().tolist())
        out = sitk.Resample(image, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
        return sitk.GetArrayFromImage(out).astype(bool)


@dataclass(frozen=True)
class CanalInfo:
    """The spinal canal found as the hole of the vertebra's projection along its axis (LPS).

    The plane ``y = cut_y0_mm + cut_slope * z`` (LPS mm) runs along the canal's anterior
    wall (the body's posterior wall at the midline): leaks behind it, near the canal, are
    canal/foramen leaks. ``axis`` is the vertebra's axis (LPS unit vector).
    """

    found: bool
    cut_y0_mm: float = math.nan
    cut_slope: float = 0.0
    center_x_mm: float = math.nan
    half_width_mm: float = math.nan
    posterior_y_mm: float = math.nan
    volume_ml: float = 0.0
    area_mm2: float = 0.0
    axis: tuple[float, float, float] | None = None
    points: np.ndarray | None = field(default=None, repr=False, compare=False)
    frame: BodyFrame | None = field(default=None, repr=False, compare=False)
    hole: np.ndarray | None = field(default=None, repr=False, compare=False)
    z_range: tuple[float, float] = (0.0, -1.0)

    def cut_y(self, z) -> np.ndarray:
        """LPS y (mm) of the canal's anterior-wall plane at LPS heights ``z``."""
        return self.cut_y0_mm + self.cut_slope * np.asarray(z, dtype=float)

    def contains(self, points) -> np.ndarray:
        """Whether LPS points (N, 3) lie in the canal (its hole, over the vertebra's height)."""
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        if not self.found or self.frame is None or self.hole is None:
            return np.zeros(len(pts), dtype=bool)
        idx = np.round(self.frame.to_index(pts)).astype(int)
        ny, nx = self.hole.shape
        ok = (idx[:, 0] >= 0) & (idx[:, 0] < nx) & (idx[:, 1] >= 0) & (idx[:, 1] < ny)
        ok &= (idx[:, 2] >= self.z_range[0]) & (idx[:, 2] <= self.z_range[1])
        out = np.zeros(len(pts), dtype=bool)
        out[ok] = self.hole[idx[ok, 1], idx[ok, 0]]
        return out

    def to_dict(self) -> dict:
        return {
            "found": self.found,
            "cut_y0_mm": None if not self.found else self.cut_y0_mm,
            "cut_slope": self.cut_slope,
            "center_x_mm": None if not self.found else self.center_x_mm,
            "half_width_mm": None if not self.found else self.half_width_mm,
            "volume_ml": self.volume_ml,
            "area_mm2": self.area_mm2,
            "axis": None if self.axis is None else [round(float(v), 4) for v in self.axis],
            "method": "hole of the projection along the vertebra's axis",
        }


@dataclass(frozen=True, eq=False)
class CanalSearch:
    """What :func:`canal_search` found, for the posterior cut (:mod:`bonequality.imaging.body`).

    Attributes
    ----------
    info : CanalInfo
    grid : bool ndarray ``[z', y', x']``
        The mask on ``info.frame`` (3-D cavities filled).
    front_y, center_y, back_y : float
        Frame y' index of the canal's anterior edge (its central columns), of its centroid
        and of its posterior edge.
    """

    info: CanalInfo
    grid: np.ndarray | None = None
    front_y: float = math.nan
    center_y: float = math.nan
    back_y: float = math.nan


def axis_rotation(axis) -> np.ndarray:
    """Frame rotation (columns x', y', z') with z' = ``axis`` and x' = LPS x made orthogonal."""
    z = np.asarray(axis, dtype=float)
    z = z / np.linalg.norm(z)
    x = np.array([1.0, 0.0, 0.0]) - z[0] * z
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _tilted_axis(sagittal_deg: float, coronal_deg: float) -> np.ndarray:
    """LPS z tilted by ``sagittal_deg`` about LPS x, then by ``coronal_deg`` about LPS y."""
    s, c = math.radians(sagittal_deg), math.radians(coronal_deg)
    z = np.array([0.0, -math.sin(s), math.cos(s)])  # about x
    return np.array([z[0] * math.cos(c) + z[2] * math.sin(c), z[1], -z[0] * math.sin(c) + z[2] * math.cos(c)])


def _canal_hole(projection: np.ndarray, ws: float, max_width_mm: float, exclude) -> np.ndarray | None:
    """The canal among the holes of a 2-D projection ``[y', x']`` (None if there is none).

    Candidates are holes of at least :data:`MIN_CANAL_AREA_MM2` and 10 % of the largest,
    at most ``max_width_mm`` wide (x') and not holding ``exclude`` (an (x', y') index, the
    seed); a hollow body is such a hole too but lies anterior to the canal, so the most
    posterior candidate is the canal.
    """
    holes = fill_holes(projection[None], slice_axis=0)[0] & ~projection
    lab, n = ndimage.label(holes)
    if n == 0:
        return None
    sizes = np.bincount(lab.ravel(), minlength=n + 1).astype(float)
    sizes[0] = 0
    ok = (sizes * ws * ws >= MIN_CANAL_AREA_MM2) & (sizes >= 0.1 * sizes.max())
    if exclude is not None:
        ex = np.round(exclude).astype(int)
        if 0 <= ex[1] < lab.shape[0] and 0 <= ex[0] < lab.shape[1]:
            ok[lab[ex[1], ex[0]]] = False
    for label, box in enumerate(ndimage.find_objects(lab), start=1):
        if box is not None and ok[label]:
            ok[label] = (box[1].stop - box[1].start) * ws <= max_width_mm
    ok[0] = False
    if not ok.any():
        return None
    ys = np.nonzero(lab)[0]
    mean_y = np.bincount(lab[lab > 0], weights=ys, minlength=n + 1) / np.maximum(sizes, 1)
    return lab == int(np.argmax(np.where(ok, mean_y, -np.inf)))


def _project(image, points, axis, ws, max_width_mm, exclude_point):
    """Frame, filled grid and canal hole (or None) of the mask projected along ``axis``."""
    rot = axis_rotation(axis)
    frame = BodyFrame.around(points, rot, ws, margin=2 * ws)
    grid = fill_holes(frame.resample(image))
    exclude = None if exclude_point is None else frame.to_index(np.asarray(exclude_point)[None])[0]
    hole = _canal_hole(grid.any(axis=0), ws, max_width_mm, exclude)
    return frame, grid, hole


def _best_axis(image, points, ws, max_width_mm, exclude_point, levels) -> tuple[np.ndarray, float]:
    """The axis (within :data:`MAX_TILT_DEG` of LPS z) along which the canal hole is largest.

    The first, widest level runs on a grid of at least 2 mm, the finer ones at ``ws``.
    """
    best, best_area, centre, found = (0.0, 0.0), 0.0, (0.0, 0.0), 0.0
    for level, (step_s, half_s, step_c, half_c) in enumerate(_SEARCH[:levels]):
        spacing = max(ws, 2.0) if level == 0 else ws
        if level == 1:
            found, best_area = best_area, 0.0  # the finer grid's areas are not comparable
        tried = {}
        for s in np.arange(-half_s, half_s + 1e-9, step_s) + centre[0]:
            for c in np.arange(-half_c, half_c + 1e-9, step_c) + centre[1]:
                axis = _tilted_axis(s, c)
                if math.degrees(math.acos(min(1.0, axis[2]))) > MAX_TILT_DEG + 1e-6:
                    continue
                hole = _project(image, points, axis, spacing, max_width_mm, exclude_point)[2]
                tried[(s, c)] = 0.0 if hole is None else float(hole.sum()) * spacing * spacing
        key = max(tried, key=lambda k: (tried[k], -abs(k[0]) - abs(k[1])))
        if tried[key] > best_area:
            best, best_area = key, tried[key]
        if best_area == 0.0:
            break
        centre = best
    return _tilted_axis(*best), best_area or found


def _wall_plane(frame: BodyFrame, grid: np.ndarray, hole: np.ndarray, rows) -> tuple[float, float, float]:
    """LPS plane ``y = y0 + slope z`` along the canal's anterior wall, and that wall's y' index.

    In each row (z') and each column of the central half of the canal's width, the wall is
    the first mask voxel anterior to the hole; its median over rows and columns is the wall
    (robust to the stray voxels of a resampled oblique mask). Along the axis the wall is a
    line of the frame, so the plane holds it.
    """
    hy, hx = np.nonzero(hole)
    xc, half = 0.5 * (hx.min() + hx.max()), 0.5 * (hx.max() - hx.min() + 1)
    central = np.abs(hx - xc) <= max(0.5, half / 2)
    front = np.full(hole.shape[1], np.iinfo(np.int64).max)
    np.minimum.at(front, hx[central], hy[central])
    walls = []
    for c in np.unique(hx[central]):
        col = grid[rows, : front[c], c]
        has = col.any(axis=1)
        last = front[c] - 1 - np.argmax(col[:, ::-1], axis=1)
        walls.append(np.where(has, last + 0.5, np.nan))
    walls = np.array(walls)
    wall = float(np.nanmedian(walls)) if np.isfinite(walls).any() else float(np.median(front[central])) - 0.5
    p = frame.to_lps(np.array([[xc, wall, 0.5 * (rows[0] + rows[-1])]]))[0]
    rot = frame.rotation
    slope = float(rot[1, 2] / rot[2, 2])
    return float(p[1] - slope * p[2]), slope, wall


def canal_search(
    vol,
    mask: np.ndarray,
    *,
    working_spacing_mm: float = 0.5,
    max_canal_width_mm: float = 32.0,
    z_window: tuple[float, float] | None = None,
    exclude_point=None,
    quick: bool = False,
) -> CanalSearch:
    """Find the spinal canal of a bone or vertebra mask in 3-D (module docstring).

    Parameters
    ----------
    vol : Volume
        Grid of ``mask`` (any spacing and direction).
    mask : bool ndarray
        Bone or whole-vertebra mask.
    working_spacing_mm : float
        Spacing of the frame grid (at least half the finest image spacing).
    max_canal_width_mm : float
        Holes wider (x') than this are not taken for the canal.
    z_window : (float, float), optional
        Only mask voxels in this LPS z range (mm) are projected (seed mode: one vertebra).
    exclude_point : (3,) float, mm, LPS, optional
        A point inside the vertebral body (the seed): the hole holding it is not the canal.
    quick : bool
        Only the coarse search (a yes/no answer: does the mask enclose a canal?).
    """
    mask = np.asarray(mask, dtype=bool)
    if z_window is not None:
        k, j, i = np.nonzero(mask)
        z = vol.index_to_physical(np.stack([i, j, k], axis=-1).astype(float))[:, 2]
        keep = (z >= z_window[0]) & (z <= z_window[1])
        if keep.sum() >= 10:
            mask = np.zeros_like(mask)
            mask[k[keep], j[keep], i[keep]] = True
    if mask.sum() < 10:
        return CanalSearch(CanalInfo(found=False))
    image = vol.with_array(mask.astype(np.uint8)).to_sitk()
    # The frames are sized on the corners of the mask's index box (a few points, not all).
    kk, jj, ii = (np.array([a.min(), a.max()], dtype=float) for a in np.nonzero(mask))
    box = vol.index_to_physical(np.array([[a, b, c] for a in ii for b in jj for c in kk]))
    coarse = max(1.0, float(np.min(vol.spacing)) / 2, working_spacing_mm)
    if quick:
        coarse = max(coarse, 2.0)
    axis, area = _best_axis(image, box, coarse, max_canal_width_mm, exclude_point, 1 if quick else 3)
    if area == 0.0:
        return CanalSearch(CanalInfo(found=False))
    fine = coarse if quick else max(working_spacing_mm, float(np.min(vol.spacing)) / 2)
    for ws in (fine, coarse, max(coarse, 2.0)):  # a hole seen coarsely only: use that grid
        frame, grid, hole = _project(image, box, axis, ws, max_canal_width_mm, exclude_point)
        if hole is not None:
            break
    else:
        return CanalSearch(CanalInfo(found=False))
    rows = np.flatnonzero(grid.any(axis=(1, 2)))
    return _search_result(frame, grid, hole, rows, axis)


def _search_result(frame: BodyFrame, grid, hole, rows, axis) -> CanalSearch:
    ws = frame.spacing
    y0, slope, front = _wall_plane(frame, grid, hole, rows)
    hy, hx = np.nonzero(hole)
    z_mid = 0.5 * (rows[0] + rows[-1])
    mid = frame.to_lps(np.stack([hx, hy, np.full(len(hx), z_mid)], axis=1))
    edge = hole & ~ndimage.binary_erosion(hole)
    ey, ex = np.nonzero(edge)
    zz = np.repeat(rows, len(ex))
    pts = frame.to_lps(np.stack([np.tile(ex, len(rows)), np.tile(ey, len(rows)), zz], axis=1))
    inside = hole[None] & ~grid[rows]
    info = CanalInfo(
        found=True,
        cut_y0_mm=y0,
        cut_slope=slope,
        center_x_mm=float(np.median(mid[:, 0])),
        half_width_mm=float(0.5 * (np.percentile(mid[:, 0], 99) - np.percentile(mid[:, 0], 1)) + ws / 2),
        posterior_y_mm=float(np.percentile(mid[:, 1], 99) + ws / 2),
        volume_ml=float(inside.sum()) * ws**3 / 1000,
        area_mm2=float(hole.sum()) * ws * ws,
        axis=tuple(float(v) for v in axis),
        points=pts,
        frame=frame,
        hole=hole,
        z_range=(float(rows[0]), float(rows[-1])),
    )
    return CanalSearch(info, grid, front_y=front, center_y=float(hy.mean()), back_y=float(hy.max()))


def find_canal(vol, mask: np.ndarray, **options) -> CanalInfo:
    """The spinal canal of a bone or vertebra mask: :func:`canal_search`'s ``info``.

    Takes the keyword options of :func:`canal_search`.
    """
    return canal_search(vol, mask, **options).info


# ----------------------------------------------------------------------------- the posterior cut
#: Radii (mm) of the per-slice opening that breaks the pedicles, tried in turn.
_OPENING_RADII_MM = (3.0, 4.0, 5.0, 6.5, 8.0, 10.0, 12.5, 15.0)
_BEHIND_MM = 3.0  # how far a body's core may reach behind the canal's anterior edge ...
_REACH_FRACTION = 0.005  # ... but for this fraction of it (caps of the opening at the junctions)
_FAR = 1.0e6  # z' sampling of the distance transforms: every slice on its own
_SLOPE_MM = 3.0  # the free wall's slope beside a junction is fitted over this width
_MARGIN_MM = 1.0  # ... starting this far from it
_WIDE_MM = 12.0  # at least this disc rounds the body where a pedicle hides one side of a gap
_RUN_MM = 2.0  # a junction: the mask runs on this far behind the core, into posterior elements


@dataclass(frozen=True, eq=False)
class PosteriorCut:
    """The body cut from a whole-vertebra (or bone) mask (on its grid), and how it was found:
    the radius (mm) of the per-slice opening that separated it from the posterior elements,
    the LPS z ranges (mm) of the body-sized cores (two or more: two vertebrae) and the
    fraction of its posterior-wall columns where pedicles or laminae join it."""

    body: np.ndarray
    opening_mm: float
    bodies: list
    junction_fraction: float


def _open_slices(grid: np.ndarray, ws: float, radius: float) -> np.ndarray:
    """Opening of each z' slice of ``grid`` with a disc of ``radius`` mm (distance transforms)."""
    core = ndimage.distance_transform_edt(grid, sampling=(_FAR, ws, ws)) > radius
    if not core.any():
        return core
    return ndimage.distance_transform_edt(~core, sampling=(_FAR, ws, ws)) <= radius


def _body_core(search: CanalSearch, exclude) -> tuple[np.ndarray, float, list] | None:
    """The body's core: the component of the opened mask anterior to the canal.

    The smallest opening radius whose body component reaches no further than
    :data:`_BEHIND_MM` (or 30 % of the canal's depth) behind the canal's anterior edge, but
    for :data:`_REACH_FRACTION` of it (the pedicles are broken), is used. ``exclude`` (the
    seed's frame index) picks the component. Returns the core, the radius and
    :func:`_bodies`.
    """
    grid, ws = search.grid, search.info.frame.spacing
    # A body reaches at most a few mm behind the canal's anterior edge (a concave posterior
    # wall); pedicles, transverse processes and laminae reach well beyond.
    depth = search.back_y - search.front_y
    behind = math.ceil(search.front_y + max(_BEHIND_MM / ws, 0.3 * depth))
    for radius in (r for r in _OPENING_RADII_MM if r >= 2 * ws):
        lab, n = ndimage.label(_open_slices(grid, ws, radius))
        if n == 0:
            return None
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        sizes[0] = 0
        ys = np.nonzero(lab)[1]
        mean_y = np.bincount(lab[lab > 0], weights=ys, minlength=n + 1) / np.maximum(sizes, 1)
        anterior = (mean_y < search.front_y) & (sizes > 0)
        if not anterior.any():
            continue
        best = int(np.argmax(np.where(anterior, sizes, -1)))
        if exclude is not None:
            e = np.clip(np.round(exclude).astype(int)[::-1], 0, np.array(lab.shape) - 1)
            if lab[tuple(e)] > 0 and anterior[lab[tuple(e)]]:
                best = int(lab[tuple(e)])
        core = lab == best
        if core[:, behind:, :].sum() > _REACH_FRACTION * sizes[best]:
            continue  # still joined to pedicles or processes beside or behind the canal
        return core, radius, _bodies(search, lab, sizes, anterior, best)
    return None


def _bodies(search: CanalSearch, lab, sizes, anterior, best) -> list:
    """LPS z ranges (at the canal's front) of the chosen core and of other vertebral bodies.

    Another core counts when it holds 30 % of the chosen core's volume and spans 8 mm along
    the axis, and the mask leaves a gap (no voxel anterior to the canal: a disc) between
    it and the chosen core; the cores of one hollow, low-density body are joined by its shell.
    """
    ws, frame = search.info.frame.spacing, search.info.frame
    front = search.grid[:, : max(1, int(search.front_y - 1.0 / ws)), :].any(axis=(1, 2))
    boxes = ndimage.find_objects(lab)
    (z0, z1), out = (boxes[best - 1][0].start, boxes[best - 1][0].stop), [best]
    for b in np.flatnonzero(anterior & (sizes >= 0.3 * sizes[best])):
        lo, hi = boxes[b - 1][0].start, boxes[b - 1][0].stop
        gap = np.arange(min(z1, hi), max(z0, lo))
        if b != best and (hi - lo) * ws >= 8.0 and len(gap) and not front[gap].all():
            out.append(b)
    x, y = 0.5 * frame.shape[2], search.front_y
    return [
        tuple(
            float(frame.to_lps([[x, y, z]])[0][2]) for z in (boxes[b - 1][0].start, boxes[b - 1][0].stop - 1)
        )
        for b in out
    ]


def _side(last: np.ndarray, cols: np.ndarray, near: np.ndarray) -> tuple[float, float, float]:
    """Anchor (median column and wall of ``near``) and slope (least squares over ``cols``)."""
    slope = float(np.polyfit(cols, last[cols], 1)[0])
    return float(np.median(near)), float(np.median(last[near])), float(np.clip(slope, -2.0, 2.0))


def _bridge(row: dict, n_fit: int) -> None:
    """Fill one row's junction gaps of ``row["wall"]`` (in place) from the free wall beside them.

    Each side of a gap gives an anchor (the three free columns next to it, their wall at the
    last voxel's centre in ``last``, medians; ``last`` is a median over three rows: a
    resampled mask's edge wanders by up to half a voxel, and no layer of pedicle must
    stay) and the wall's slope there (least squares over ``n_fit`` free columns). The wall
    across the gap is the lower of the two tangent lines (exact for a flat wall meeting a
    curved one, ~w^2/8R high on an arc of radius R), never below the chord between the
    anchors, nor beyond the core's own extent ``cap``. A gap with less than three free
    columns on a side (a pedicle that reaches the body's lateral wall) follows the extent
    ``round`` of the body opened with a wider disc, whose cap on a junction of width w is
    only ~w^2/8R high.
    """
    wall, last, cap = row["wall"], row["last"], row["cap"]
    known = np.flatnonzero(np.isfinite(wall))
    lab, n = ndimage.label(row["junction"])
    for g in range(1, n + 1):
        cols = np.flatnonzero(lab == g)
        left, right = known[known < cols[0]], known[known > cols[-1]]
        left, right = left[left > cols[0] - 1 - n_fit], right[right < cols[-1] + 1 + n_fit]
        if len(left) >= 3 and len(right) >= 3:
            xl, yl, sl = _side(last, left, left[-3:])
            xr, yr, sr = _side(last, right, right[:3])
            chord = np.interp(cols, [xl, xr], [yl, yr])
            fill = np.maximum(chord, np.minimum(yl + sl * (cols - xl), yr + sr * (cols - xr)))
        else:
            fill = row["round"][cols]
        wall[cols] = np.fmin(fill, cap[cols])


def _wall_surface(grid, core, pe, ws: float, wide) -> tuple[np.ndarray, float]:
    """Posterior-wall surface ``W[z', x']`` (y' index) of the body, and the junction fraction.

    In each column of the core, the wall is where the mask run that holds the core ends
    posteriorly. Where that run enters the posterior elements (a pedicle or lamina joins
    the body there), the wall is interpolated across the junction along x' from the
    columns beside it. A column without core in a row (a partial slice near an endplate)
    takes the wall of the nearest row where it has core; a column never in the core gets
    -inf (cut).
    """
    nz, ny, nx = grid.shape
    has = core.any(axis=1)
    yb = ny - 1 - np.argmax(core[:, ::-1, :], axis=1)
    nxt = np.where(grid, ny, np.arange(ny)[None, :, None])
    nxt = np.minimum.accumulate(nxt[:, ::-1, :], axis=1)[:, ::-1, :]
    zz, xx = np.meshgrid(np.arange(nz), np.arange(nx), indexing="ij")
    y_end = nxt[zz, np.minimum(yb + 1, ny - 1), xx] - 1
    cs = np.cumsum(pe, axis=1)
    # A pedicle or lamina runs on behind the core into the posterior elements. Beside it
    # the mask may stop short (its base curving round the canal): those columns belong to
    # the junction too. The rim a rough (resampled) outline loses to the opening touches
    # the posterior elements as well, but is thin and not next to a long run.
    touch = has & (cs[zz, y_end, xx] - cs[zz, yb, xx] > 0)
    lab, n = ndimage.label(touch, structure=np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]]))
    long = np.zeros(n + 1, dtype=bool)
    long[np.unique(lab[touch & ((y_end - yb) * ws >= _RUN_MM)])] = True
    long[0] = False
    junction = long[lab]
    # The pedicle's base may end inside the core (the opening keeps a cap there): the free
    # wall is taken at least _MARGIN_MM beside every junction.
    junction = has & ndimage.binary_dilation(
        junction, structure=np.ones((1, 3), bool), iterations=max(1, round(_MARGIN_MM / ws))
    )
    wall = np.where(has & ~junction, y_end + 0.5, np.nan)
    last = ndimage.median_filter(np.where(has, y_end, 0).astype(float), size=(3, 1), mode="nearest")
    rounded = np.where(wide.any(axis=1), ny - 1 - np.argmax(wide[:, ::-1, :], axis=1) + 0.5, np.nan)
    n_fit = max(3, round(_SLOPE_MM / ws))
    for z in np.flatnonzero(junction.any(axis=1)):
        row = {"wall": wall[z], "last": last[z], "cap": yb[z] + 0.5, "junction": junction[z]}
        _bridge({**row, "round": rounded[z]}, n_fit)
    if not has.all():
        dist, (iz, ix) = ndimage.distance_transform_edt(~has, sampling=(1.0, _FAR), return_indices=True)
        wall = np.where(dist < _FAR / 2, wall[iz, ix], -np.inf)
    cols = has.sum()
    return wall, float(junction.sum() / cols) if cols else 0.0


def posterior_cut(vol, mask: np.ndarray, search: CanalSearch, *, exclude_point=None) -> PosteriorCut | None:
    """Cut the posterior elements off ``mask`` at the body's own posterior wall.

    1. Each slice across the body's axis is opened with a disc (the smallest radius of
       :data:`_OPENING_RADII_MM` that breaks the pedicles): the component anterior to the
       canal is the body's core.
    2. What the opening removed and is connected to the laminae (behind the canal's
       centre) is the posterior elements; what it removed elsewhere (rounded corners)
       stays.
    3. The posterior wall (:func:`_wall_surface`) follows the mask where the wall is free
       and is interpolated across each pedicle or lamina junction, so no pedicle base stays.
    4. The mask's voxels (on its own grid) anterior to that wall are the body.

    Returns None when no body core separates from the posterior elements.
    """
    frame, grid = search.info.frame, search.grid
    exclude = None if exclude_point is None else frame.to_index(np.asarray(exclude_point)[None])[0]
    found = _body_core(search, exclude)
    if found is None:
        return None
    core, radius, bodies = found
    lab, _ = ndimage.label(grid & ~core, structure=np.ones((3, 3, 3)))
    behind = np.unique(lab[:, math.ceil(search.center_y) :, :])
    pe = np.isin(lab, behind[behind > 0])
    wide = _open_slices(grid, frame.spacing, max(2.0 * radius, _WIDE_MM)) & core
    wall, junctions = _wall_surface(grid, core, pe, frame.spacing, wide)
    k, j, i = np.nonzero(mask)
    idx = frame.to_index(vol.index_to_physical(np.stack([i, j, k], axis=-1).astype(float)))
    ix, iz = np.round(idx[:, 0]).astype(int), np.round(idx[:, 2]).astype(int)
    inside = (ix >= 0) & (ix < grid.shape[2]) & (iz >= 0) & (iz < grid.shape[0])
    keep = np.zeros(len(ix), dtype=bool)
    keep[inside] = idx[inside, 1] <= wall[iz[inside], ix[inside]]
    body = np.zeros_like(mask, dtype=bool)
    body[k[keep], j[keep], i[keep]] = True
    return PosteriorCut(body, radius, bodies, junctions)
