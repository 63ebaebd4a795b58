"""The one vertebral-body source: a body mask, a whole-vertebra mask, or a seed point.

CLINICAL.md section 5 ("Vertebral body"), shared by CementVolume and FocalDefect:

* **body mask** - taken as given (largest component, internal voids filled);
* **whole-vertebra mask** (TotalSegmentator, Slicer's segment editor) - the posterior
  elements are cut off at the plane through the spinal canal's anterior wall
  (:func:`bonequality.imaging.canal.find_canal`);
* **seed point** - bone (``bone_hu``, Mimics' 226-3071 HU) is grown from the seed within
  ``seed_radius_mm``, gaps are optionally closed, voids filled, and the result is cut at
  the canal like a vertebra mask.

Every source then keeps its largest component, is optionally closed by ``closing_mm``
and has its 3-D cavities and axial holes filled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import (
    AnalysisError,
    GeometryMismatchError,
    LandmarkError,
    MaskError,
    OptionError,
    SeedNotInBoneError,
)
from ..volume import Volume
from .canal import CanalInfo, find_canal
from .grid import bbox_slices, crop, voxel_points
from .morphology import ball, fill_voids, largest_component

log = logging.getLogger(__name__)

__all__ = ["BODY_KINDS", "BodyOptions", "BodySource", "VertebralBody", "as_mask", "vertebral_body"]

#: Source kind -> how it is called in messages.
BODY_KINDS = {"body_mask": "body mask", "vertebra_mask": "vertebra mask", "seed": "seed point"}


@dataclass(frozen=True)
class BodyOptions:
    """How a vertebral body is made from its source (lengths mm, HU after rescale).

    Attributes
    ----------
    bone_hu : (float, float)
        Bone range grown from a seed (Mimics default 226-3071 HU).
    seed_radius_mm, seed_snap_mm : float
        Bone is grown within this radius of the seed; the nearest bone may be this far away.
    closing_mm : float
        Radius of a closing that repairs gaps in a thin cortical shell (0 = off).
    max_canal_width_mm, working_spacing_mm : float
        Canal search (:func:`~bonequality.imaging.canal.find_canal`).
    margin_mm : float
        The body's working box extends this far beyond it (leak search, canal search).
    """

    bone_hu: tuple[float, float] = (226.0, 3071.0)
    seed_radius_mm: float = 45.0
    seed_snap_mm: float = 3.0
    closing_mm: float = 0.0
    max_canal_width_mm: float = 32.0
    working_spacing_mm: float = 0.5
    margin_mm: float = 15.0


@dataclass(frozen=True, eq=False)
class BodySource:
    """Where the vertebral body comes from: exactly one of a mask or a seed point.

    Use :meth:`body_mask`, :meth:`vertebra_mask` or :meth:`seed_point`.
    """

    kind: str
    mask: Volume | np.ndarray | None = None
    seed: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in BODY_KINDS:
            raise OptionError(f"vertebral body source '{self.kind}': choose one of {', '.join(BODY_KINDS)}")
        if (self.kind == "seed") != (self.seed is not None) or (self.kind != "seed") == (self.mask is None):
            raise OptionError(
                f"{self.label}: give exactly one of a body mask, a vertebra mask or a seed point"
            )
        if self.seed is not None:
            seed = np.asarray(self.seed, dtype=float).reshape(-1)
            if seed.shape != (3,) or not np.all(np.isfinite(seed)):
                raise LandmarkError(f"{self.label}: give three finite LPS coordinates x,y,z in mm", ["seed"])
            object.__setattr__(self, "seed", seed)

    @property
    def label(self) -> str:
        return self.name or BODY_KINDS.get(self.kind, self.kind)

    @classmethod
    def body_mask(cls, mask, *, name: str = "body mask") -> BodySource:
        return cls("body_mask", mask=mask, name=name)

    @classmethod
    def vertebra_mask(cls, mask, *, name: str = "vertebra mask") -> BodySource:
        return cls("vertebra_mask", mask=mask, name=name)

    @classmethod
    def seed_point(cls, point, *, name: str = "seed point") -> BodySource:
        return cls("seed", seed=point, name=name)


@dataclass(frozen=True, eq=False)
class VertebralBody:
    """A vertebral body on the CT grid, with the canal found beside it.

    Attributes
    ----------
    mask : bool ndarray
        On the full CT grid.
    canal : CanalInfo
    source : str
        ``"body_mask"``, ``"vertebra_mask"`` or ``"seed"``.
    slices : tuple of slice
        ``[k, j, i]`` box of the body grown by ``margin_mm`` (the working box).
    """

    mask: np.ndarray
    canal: CanalInfo
    source: str
    slices: tuple[slice, ...]


def as_mask(mask, volume: Volume, name: str) -> np.ndarray:
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


def _cut_at_canal(sub: Volume, mask: np.ndarray, canal: CanalInfo) -> np.ndarray:
    """The voxels of ``mask`` anterior to the canal's cut plane."""
    pts = voxel_points(sub, mask)
    keep = pts[:, 1] < canal.cut_y(pts[:, 2])
    body = np.zeros_like(mask)
    k, j, i = np.nonzero(mask)
    body[k[keep], j[keep], i[keep]] = True
    return body


def _canal(sub: Volume, mask: np.ndarray, options: BodyOptions, **kw) -> CanalInfo:
    return find_canal(
        sub,
        mask,
        working_spacing_mm=options.working_spacing_mm,
        max_canal_width_mm=options.max_canal_width_mm,
        **kw,
    )


def _from_vertebra(sub: Volume, vert: np.ndarray, options: BodyOptions, name: str):
    canal = _canal(sub, vert, options)
    if not canal.found:
        raise AnalysisError(
            f"{name}: no spinal canal enclosed by the posterior elements was found, so the "
            "posterior elements cannot be cut off automatically; give a vertebral body mask instead."
        )
    body = _cut_at_canal(sub, vert, canal)
    if not body.any():
        raise AnalysisError(f"{name}: nothing is left anterior to the spinal canal; is it a vertebra?")
    return body, canal


def _seed_box(volume: Volume, seed: np.ndarray, radius: float) -> tuple[slice, ...]:
    centre = np.round(volume.physical_to_index(seed)).astype(int)
    half = np.ceil(radius / volume.spacing).astype(int)
    return tuple(
        slice(max(0, int(centre[a] - half[a])), min(volume.shape_ijk[a], int(centre[a] + half[a] + 1)))
        for a in (2, 1, 0)
    )


def _seed_distance(volume: Volume, seed: np.ndarray, sl, shape) -> np.ndarray:
    """Distance (mm) of each voxel of the box ``sl`` to the seed (orthonormal direction)."""
    c = volume.physical_to_index(seed) - np.array([sl[2].start, sl[1].start, sl[0].start])
    kk, jj, ii = np.ogrid[: shape[0], : shape[1], : shape[2]]
    sp = volume.spacing
    return np.sqrt(((ii - c[0]) * sp[0]) ** 2 + ((jj - c[1]) * sp[1]) ** 2 + ((kk - c[2]) * sp[2]) ** 2)


def _grow_from_seed(volume: Volume, seed, options: BodyOptions, exclude):
    """Seed mode: the bone component at the seed, cut at the canal; on the full grid."""
    volume.require_inside(seed[None], ["seed"], what="seed point")
    sl = _seed_box(volume, seed, options.seed_radius_mm)
    sub = crop(volume, sl)
    lo, hi = options.bone_hu
    dist = _seed_distance(volume, seed, sl, sub.array.shape)
    bone = (sub.array >= lo) & (sub.array <= hi) & (dist <= options.seed_radius_mm)
    if exclude is not None:
        bone &= ~exclude(sub)
    # Mimics-like gap repair and void filling: a low-density body is only a (broken)
    # cortical shell at 226 HU.
    if options.closing_mm > 0:
        b = ball(sub.spacing, options.closing_mm)
        if b.size > 1:
            bone = ndimage.binary_closing(bone, structure=b, border_value=0) & (
                dist <= options.seed_radius_mm
            )
    solid = fill_voids(bone, sub)
    near = solid & (dist <= options.seed_snap_mm)
    if not near.any():
        hu = float(volume.sample(seed[None], order=0)[0])
        raise SeedNotInBoneError(
            f"seed point {np.round(seed, 1).tolist()} (LPS mm) is not in bone: {hu:.0f} HU there and no "
            f"voxel within {options.seed_snap_mm} mm in {lo:.0f}-{hi:.0f} HU or enclosed by such bone. "
            "Place the seed inside the vertebral body.",
            ["seed"],
        )
    lab, _ = ndimage.label(solid)
    comp = lab == lab[near][np.argmin(dist[near])]
    canal = _canal(sub, comp & bone, options, z_window=(seed[2] - 15.0, seed[2] + 15.0), exclude_point=seed)
    if canal.found:
        cut = _cut_at_canal(sub, comp, canal)
        lab2, _ = ndimage.label(cut)
        near2 = near & cut
        comp = lab2 == lab2[near2][np.argmin(dist[near2])] if near2.any() else largest_component(cut)
    full = np.zeros(volume.array.shape, dtype=bool)
    full[sl] = comp
    return full, canal


def _canal_beside_body(sub: Volume, body: np.ndarray, options: BodyOptions) -> CanalInfo:
    """For a given body mask: the canal in the bone connected to it (for leak locations)."""
    lo, hi = options.bone_hu
    bone = ((sub.array >= lo) & (sub.array <= hi)) | body
    lab, _ = ndimage.label(bone)
    ids = np.unique(lab[body])
    centre = voxel_points(sub, body).mean(axis=0)
    return _canal(sub, np.isin(lab, ids[ids > 0]), options, exclude_point=centre)


def vertebral_body(
    volume: Volume,
    source: BodySource,
    *,
    options: BodyOptions = BodyOptions(),
    exclude: Callable[[Volume], np.ndarray] | None = None,
    find_canal_beside: bool = True,
) -> VertebralBody:
    """The vertebral body of ``volume`` from ``source`` (module docstring).

    Parameters
    ----------
    volume : Volume
        CT in HU.
    source : BodySource
    options : BodyOptions
    exclude : callable(Volume) -> bool ndarray, optional
        Seed mode: voxels of a sub-volume the growth must not enter (detected cement, so
        a leak touching an endplate does not join the body).
    find_canal_beside : bool
        For a body mask, also find the canal in the bone around it (leak locations).

    Raises
    ------
    MaskError, GeometryMismatchError
        An empty mask, or one that does not overlap the CT.
    AnalysisError
        A whole-vertebra mask without an enclosed canal.
    LandmarkError
        A seed that is not in bone.
    """
    margin = np.ceil(options.margin_mm / volume.spacing).astype(int)[::-1]
    canal = CanalInfo(found=False)
    if source.kind == "seed":
        full, canal = _grow_from_seed(volume, source.seed, options, exclude)
    else:
        full = as_mask(source.mask, volume, source.label)
    sl = bbox_slices(full, margin)
    sub = crop(volume, sl)
    body = full[sl]
    if source.kind == "vertebra_mask":
        body, canal = _from_vertebra(sub, body, options, source.label)
    elif source.kind == "body_mask" and find_canal_beside:
        canal = _canal_beside_body(sub, body, options)
    body = largest_component(body)
    if options.closing_mm > 0:
        b = ball(sub.spacing, options.closing_mm)
        if b.size > 1:
            body = ndimage.binary_closing(body, structure=b, border_value=0)
    body = fill_voids(body, sub)
    out = np.zeros(volume.array.shape, dtype=bool)
    out[sl] = body
    log.info("vertebral body from %s: %.1f ml", source.kind, body.sum() * volume.voxel_volume_mm3 / 1000)
    return VertebralBody(out, canal, source.kind, sl)
