"""The one vertebral-body source: a body mask, a whole-vertebra mask, or a seed point.

CLINICAL.md section 5 ("Vertebral body"), shared by CementVolume and FocalDefect:

* **body mask** - taken as given (largest component, internal voids filled); one that
  encloses a spinal canal holds the posterior elements: a warning says so, and with
  ``BodyOptions.cut_body_mask`` they are cut off as for a whole-vertebra mask;
* **whole-vertebra mask** (TotalSegmentator, Slicer's segment editor) - the canal is found
  in 3-D along the vertebra's axis and the posterior elements are cut off at the body's
  own posterior wall, across every pedicle and lamina junction
  (:func:`bonequality.imaging.canal.posterior_cut`); where no canal is enclosed the
  message says so and asks for a body mask or a seed point;
* **seed point** - bone (``bone_hu``, Mimics' 226-3071 HU) is grown from the seed within
  ``seed_radius_mm``, gaps are optionally closed, voids filled, and the result is cut at
  the posterior wall like a vertebra mask.

A mask is refused when it holds several labels, lies less than 95 % within the CT
(:meth:`~bonequality.volume.Volume.mask_on`), has an implausible volume (vertebral body
5-120 ml, whole vertebra 8-180 ml: :data:`bonequality.masks.PLAUSIBLE_ML`), does not
follow this CT's bone (a mask of another scan: :data:`ALIGNMENT_RATIOS`) or holds two
vertebral bodies under one label; a loosely fitting mask gives a warning. The body made
from a mask must be 5-120 ml too. Each heavy step is checked against the memory
budget first (:func:`bonequality.memory.check_fits`). Every source then keeps its
largest component, is optionally closed by ``closing_mm`` and has its 3-D cavities and
axial holes filled.
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
from ..masks import check_mask_volume, require_one_label
from ..memory import check_fits
from ..volume import MIN_MASK_INSIDE, Volume
from .canal import MAX_TILT_DEG, CanalInfo, CanalSearch, canal_search, posterior_cut
from .grid import bbox_slices, crop, voxel_points
from .morphology import closing, fill_voids, largest_component

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
        Canal search (:func:`~bonequality.imaging.canal.canal_search`).
    margin_mm : float
        The body's working box extends this far beyond it (leak search, canal search).
    cut_body_mask : bool
        A body mask that encloses a spinal canal (it holds the posterior elements) has
        them cut off like a whole-vertebra mask (with a warning); False: only the warning.
    """

    bone_hu: tuple[float, float] = (226.0, 3071.0)
    seed_radius_mm: float = 45.0
    seed_snap_mm: float = 3.0
    closing_mm: float = 0.0
    max_canal_width_mm: float = 32.0
    working_spacing_mm: float = 0.5
    margin_mm: float = 15.0
    cut_body_mask: bool = False


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
    warnings : tuple of str
        What looked wrong with the source although a body was made (also logged).
    """

    mask: np.ndarray
    canal: CanalInfo
    source: str
    slices: tuple[slice, ...]
    warnings: tuple[str, ...] = ()


def as_mask(
    mask, volume: Volume, name: str, *, kind: str | None = None, min_inside: float = MIN_MASK_INSIDE
) -> np.ndarray:
    """A mask given as a Volume (any grid) or an array on the CT grid -> bool array on the CT grid.

    Parameters
    ----------
    kind : str, optional
        ``"body_mask"``, ``"vertebra_mask"`` or ``"sacrum_mask"``: the mask's volume on the
        CT grid must be plausible for that structure (:data:`bonequality.masks.PLAUSIBLE_ML`).
    min_inside : float
        Share of a Volume mask on another grid that must lie within the CT
        (:meth:`~bonequality.volume.Volume.mask_on`; 0: checked by the caller).

    Raises
    ------
    MaskError, GeometryMismatchError
        Empty, several labels, less than 95 % within the CT, not on the CT grid, or (with
        ``kind``) an implausible volume.
    """
    if isinstance(mask, Volume):
        arr = mask.mask_on(volume, name=name, min_inside=min_inside)
    else:
        arr = np.asarray(mask)
        if arr.shape != volume.array.shape:
            raise GeometryMismatchError(
                f"{name}: array of shape {arr.shape} is not on the CT grid {volume.array.shape}; "
                "pass a Volume (it is resampled) or a mask made on this CT."
            )
        require_one_label(arr, volume.voxel_volume_mm3, name)
        arr = arr != 0
        if not arr.any():
            raise MaskError(f"{name} is empty (no nonzero voxels); segment the structure first.")
    if kind is not None:
        check_mask_volume(arr, volume.voxel_volume_mm3, kind, name)
    return arr


#: Peak bytes per voxel of the canal search's working grid: the mask's box grown by
#: :data:`CANAL_MARGIN_MM` on each side, at the working spacing (measured: about 40 for
#: TotalSegmentator's L5 resampled to 1 mm, 341 MB for 8.9 million voxels at 0.5 mm).
CANAL_BYTES_PER_VOXEL = 64
CANAL_MARGIN_MM = 15.0


def _search(sub: Volume, mask: np.ndarray, options: BodyOptions, **kw) -> CanalSearch:
    if not kw.get("quick") and mask.any():
        sl = bbox_slices(mask)
        extent = np.array([s.stop - s.start for s in sl[::-1]]) * sub.spacing + 2 * CANAL_MARGIN_MM
        ws = max(options.working_spacing_mm, float(np.min(sub.spacing)) / 2)
        check_fits(
            float(np.prod(extent / ws)) * CANAL_BYTES_PER_VOXEL,
            f"the spinal-canal search on a {' x '.join(f'{e:.0f}' for e in extent)} mm box at {ws:g} mm",
            fix="give a mask of one vertebra (or a body mask, or a seed point)",
        )
    return canal_search(
        sub,
        mask,
        working_spacing_mm=options.working_spacing_mm,
        max_canal_width_mm=options.max_canal_width_mm,
        **kw,
    )


def _bodies_message(name: str, bodies: list) -> str:
    where = " and ".join(f"LPS z {lo:.0f} to {hi:.0f} mm" for lo, hi in bodies)
    return (
        f"{name} holds {len(bodies)} vertebral bodies under one label ({where}); give one vertebra "
        "per mask (choose its label with --label or its segment with --segment)."
    )


def _from_vertebra(sub: Volume, vert: np.ndarray, options: BodyOptions, name: str):
    """The body cut from a whole-vertebra mask at its posterior wall (:func:`posterior_cut`)."""
    search = _search(sub, vert, options)
    if not search.info.found:
        raise AnalysisError(
            f"{name}: no spinal canal enclosed by the posterior elements was found, so the "
            "posterior elements cannot be cut off automatically: the mask's projection along any "
            f"axis within {MAX_TILT_DEG:.0f} degrees of the patient's head-feet axis shows no closed "
            "ring of pedicles and laminae behind the body (is it a body-only mask, or are the "
            "laminae missing?). Give a vertebral body mask (--body-mask) or a seed point (--seed) instead."
        )
    cut = posterior_cut(sub, vert, search)
    if cut is None or not cut.body.any():
        raise AnalysisError(
            f"{name}: the vertebral body could not be separated from the posterior elements (no "
            "compact body anterior to the spinal canal); is it a vertebra? Give a vertebral body "
            "mask (--body-mask) or a seed point (--seed) instead."
        )
    if len(cut.bodies) > 1:
        raise MaskError(_bodies_message(name, cut.bodies))
    return cut.body, search.info


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


#: Peak bytes per voxel of the seed's box while bone is grown (float64 distances and their
#: terms, the bone, filled and labelled masks).
SEED_BYTES_PER_VOXEL = 3 * 8 + 4 + 4


def _grow_from_seed(volume: Volume, seed, options: BodyOptions, exclude):
    """Seed mode: the bone component at the seed, cut at the canal; on the full grid."""
    volume.require_inside(seed[None], ["seed"], what="seed point")
    sl = _seed_box(volume, seed, options.seed_radius_mm)
    n_box = float(np.prod([s.stop - s.start for s in sl]))
    check_fits(
        n_box * SEED_BYTES_PER_VOXEL,
        f"growing bone within {options.seed_radius_mm:g} mm of the seed ({n_box:.0f} voxels)",
        fix="use a smaller seed radius",
    )
    sub = crop(volume, sl)
    lo, hi = options.bone_hu
    dist = _seed_distance(volume, seed, sl, sub.array.shape)
    bone = (sub.array >= lo) & (sub.array <= hi) & (dist <= options.seed_radius_mm)
    if exclude is not None:
        bone &= ~exclude(sub)
    # Mimics-like gap repair and void filling: a low-density body is only a (broken)
    # cortical shell at 226 HU.
    if options.closing_mm > 0:
        bone = closing(bone, sub.spacing, options.closing_mm, what="the bone around the seed") & (
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
    search = _search(sub, comp & bone, options, z_window=(seed[2] - 25.0, seed[2] + 25.0), exclude_point=seed)
    cut = posterior_cut(sub, comp, search, exclude_point=seed) if search.info.found else None
    if cut is not None and cut.body.any():
        lab2, _ = ndimage.label(cut.body)
        near2 = near & cut.body
        comp = lab2 == lab2[near2][np.argmin(dist[near2])] if near2.any() else largest_component(cut.body)
    full = np.zeros(volume.array.shape, dtype=bool)
    full[sl] = comp
    return full, search.info


def _canal_beside_body(sub: Volume, body: np.ndarray, options: BodyOptions) -> CanalInfo:
    """For a given body mask: the canal in the bone connected to it (for leak locations)."""
    lo, hi = options.bone_hu
    bone = ((sub.array >= lo) & (sub.array <= hi)) | body
    lab, _ = ndimage.label(bone)
    ids = np.unique(lab[body])
    pts = voxel_points(sub, body)
    window = (float(pts[:, 2].min()) - 5.0, float(pts[:, 2].max()) + 5.0)
    return _search(
        sub, np.isin(lab, ids[ids > 0]), options, z_window=window, exclude_point=pts.mean(axis=0)
    ).info


#: Bone-alignment check of a mask that is not mostly bone (under half its voxels): the
#: share of bone inside it against the share in the :data:`ALIGNMENT_RIM_MM` around it,
#: each plus 0.02; below the first ratio the mask is refused as one of another scan, below
#: the second it is used with a warning. A whole-vertebra mask of this CT holds 5-10 times
#: more bone than its rim even at 3 mm; one shifted by 6 mm 0.9-1.6 times, by 20 mm 1.8.
#: A body mask may be drawn inside a larger bone region, so it is judged more leniently.
ALIGNMENT_RATIOS = {"vertebra_mask": (2.0, 3.0), "body_mask": (1.2, 2.0)}
ALIGNMENT_RIM_MM = 4.0


#: Peak bytes per voxel of a Euclidean distance transform (float64 distances, the int32
#: feature transform of three axes, the inverted input).
EDT_BYTES_PER_VOXEL = 8 + 12 + 2


def _alignment(sub: Volume, mask: np.ndarray, lo: float, name: str) -> tuple[float, float]:
    """Share of voxels of at least ``lo`` HU in ``mask`` and in the rim around it."""
    check_fits(mask.size * EDT_BYTES_PER_VOXEL, f"the bone-alignment check of {name}")
    rim = ndimage.distance_transform_edt(~mask, sampling=sub.spacing[::-1])
    rim = (rim > 0) & (rim <= ALIGNMENT_RIM_MM)
    bone = sub.array >= lo
    return float(bone[mask].mean()), float(bone[rim].mean()) if rim.any() else 0.0


def _check_mask(sub: Volume, mask: np.ndarray, source: BodySource, options: BodyOptions) -> list:
    """Refuse a mask that does not lie on this CT's bone; warnings for doubtful ones."""
    name, lo = source.label, options.bone_hu[0]
    inside, rim = _alignment(sub, mask, lo, name)
    ratio = (inside + 0.02) / (rim + 0.02)
    said = (
        f"{100 * inside:.0f} % of its voxels are bone (at least {lo:.0f} HU) against "
        f"{100 * rim:.0f} % of the {ALIGNMENT_RIM_MM:.0f} mm around it"
    )
    refuse, warn = ALIGNMENT_RATIOS[source.kind]
    if inside < 0.02 or (ratio < refuse and inside < 0.5):
        raise GeometryMismatchError(
            f"{name} does not follow the bone of this CT: {said}, while a mask made on this CT holds "
            "far more bone than its surroundings. Is it a mask of another scan (or shifted)? Use a "
            "mask made on this CT, or register it to this CT first."
        )
    warnings = []
    if ratio < warn and inside < 0.5:
        warnings.append(
            f"{name} follows the bone of this CT only loosely ({said}); check that it was made on it."
        )
    if source.kind == "body_mask":  # two bodies are two components (a disc between them)
        lab, n = ndimage.label(mask)
        sizes = np.bincount(lab.ravel())[1:]
        order = np.argsort(-sizes)
        if n > 1 and sizes[order[1]] >= 0.3 * sizes[order[0]]:
            zs = [voxel_points(sub, lab == b + 1)[:, 2] for b in order[:2]]
            raise MaskError(_bodies_message(name, sorted((float(z.min()), float(z.max())) for z in zs)))
    return warnings


def _body_mask_cut(sub: Volume, body: np.ndarray, options: BodyOptions, name: str):
    """A body mask that encloses a spinal canal holds the posterior elements: warn (and cut)."""
    quick = _search(sub, body, options, quick=True)
    if not quick.info.found:
        return body, None, []
    said = (
        f"{name} encloses a spinal canal ({quick.info.area_mm2:.0f} mm2 in projection along the "
        "vertebra's axis), so it holds the posterior elements, not only the vertebral body"
    )
    if not options.cut_body_mask:
        advice = "the body includes them; give it as a whole-vertebra mask (--vertebra-mask) to cut them"
        return body, None, [f"{said}; {advice}."]
    cut, canal = _from_vertebra(sub, body, options, name)
    return cut, canal, [f"{said}; they were cut off as for a whole-vertebra mask (--vertebra-mask)."]


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
        An empty mask, one that does not overlap the CT or does not follow its bone (a mask
        of another scan), or one that holds two vertebral bodies.
    AnalysisError
        A whole-vertebra mask without an enclosed canal, or whose body does not separate.
    LandmarkError
        A seed that is not in bone.
    """
    margin = np.ceil(options.margin_mm / volume.spacing).astype(int)[::-1]
    canal, warnings = CanalInfo(found=False), []
    if source.kind == "seed":
        full, canal = _grow_from_seed(volume, source.seed, options, exclude)
    else:
        # A mask of another scan is told as such first; then it must lie within the CT
        # (else its volume on the CT grid is cut short) and have a plausible volume.
        full = as_mask(source.mask, volume, source.label, min_inside=0.0)
        rim = bbox_slices(full, np.ceil((ALIGNMENT_RIM_MM + 1) / volume.spacing).astype(int)[::-1])
        warnings += _check_mask(crop(volume, rim), full[rim], source, options)
        if isinstance(source.mask, Volume) and not source.mask.same_grid(volume):
            source.mask.require_within(volume, name=source.label)
        check_mask_volume(full, volume.voxel_volume_mm3, source.kind, source.label)
    sl = bbox_slices(full, margin)
    sub = crop(volume, sl)
    body = full[sl]
    if source.kind == "vertebra_mask":
        body, canal = _from_vertebra(sub, body, options, source.label)
    elif source.kind == "body_mask":
        body, cut_canal, said = _body_mask_cut(sub, body, options, source.label)
        warnings += said
        if cut_canal is not None:
            canal = cut_canal
        elif find_canal_beside:
            canal = _canal_beside_body(sub, body, options)
    for w in warnings:
        log.warning(w)
    body = largest_component(body)
    if options.closing_mm > 0:
        body = closing(body, sub.spacing, options.closing_mm, what=source.label)
    body = fill_voids(body, sub)
    _require_plausible_body(body, volume, source)
    out = np.zeros(volume.array.shape, dtype=bool)
    out[sl] = body
    log.info("vertebral body from %s: %.1f ml", source.kind, body.sum() * volume.voxel_volume_mm3 / 1000)
    return VertebralBody(out, canal, source.kind, sl, tuple(warnings))


def _require_plausible_body(body: np.ndarray, volume: Volume, source: BodySource) -> None:
    """The body made from a mask must have a vertebral body's volume (5-120 ml).

    A body grown from a seed is not checked: on a coarse scan (3 mm) the grown body can
    be a partial one, which the analyses report as such.
    """
    if source.kind != "seed":
        check_mask_volume(
            body, volume.voxel_volume_mm3, "body_mask", f"the vertebral body made from {source.label}"
        )
