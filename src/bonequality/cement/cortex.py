"""Cement or bone? The evidence rule behind ``leak_rule="cement"`` (the default).

Mimics users remove by hand "the portion of the bone cement model that leaked outside the
vertebral body" (seed 003); what the 1000 HU cement threshold also catches there - dense
cortex of the posterior elements and of the neighbours' endplates, above 1000 HU in young
bone and with sharp kernels - they never count. This module decides it from the image,
after the threshold and the cortical-bone check of
:func:`~bonequality.cement.detect.detect_cement` (opening to ``min_cement_thickness_mm``,
components whose 90th-percentile HU is under ``cement_peak_hu`` dropped):

1. **This scan's cortical level**: the 99th-percentile HU of the bone's cortical shell -
   the outer ``cortical_shell_mm`` of the vertebra (the whole-vertebra mask when given,
   else the body and the bone connected to it), leaving out the components that may be
   cement by their place (deep in the body, or outside it, under 2 ml, not in the
   vertebra mask nor attached to other bone) and 2 mm around them. The **cement level**
   is that plus ``cortex_margin_hu``, at least ``cement_peak_hu``. PMMA with barium or
   zirconia is 2000-3000+ HU; cortical bone stays below about 1800-2000 HU.
2. **Denser than this scan's cortex**: voxels at or above the cement level in compact
   clusters (opened with a 0.75 mm ball, at least 0.02 ml) are cement cores. The cement is
   what the threshold keeps within 2.5 mm (or 1.5 voxels) of a core, grown through
   threshold voxels only: the core's partial-volumed edge, wherever it lies - inside the
   body, through the wall, along the needle track, in a disc - but not the cortex it may
   touch beyond that (``touching_bone``).
3. A dense component with no core (its HU within this scan's cortical range) is **bone**
   when it is part of the bone: mostly (half its voxels) in the body's outer
   ``cortical_shell_mm`` (an endplate or wall: ``body_shell``), mostly deeper in the body
   (sclerotic bone - cement there would be denser than the cortex: ``sclerotic``), or
   outside the body and touching it, in the whole-vertebra mask, attached to other bone
   (the bone-range region it belongs to outside the body is 0.5 ml beyond it: a
   neighbour's endplate) or itself 2 ml or more (solid dense posterior elements):
   ``bone_outside``.
4. What is neither - a dense blob outside the body, isolated in soft tissue, the canal or
   a disc - is cement: a leak, even if thin and partial-volumed below the cortex's level.
5. **No leak without cement in the body**: when the body holds no cement, nothing outside
   it is counted as leakage (it cannot have leaked from this body; a warning gives the
   volume set aside, ``no_cement_in_body``).

``leak_rule="threshold"`` skips this module: every candidate counts, Mimics' raw number
(the cortical-bone check still applies unless switched off). Without ``cement_peak_hu``
(the cortical check off) nothing is set aside either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..imaging.morphology import ball
from ..volume import Volume
from .options import CementOptions

__all__ = ["CortexDecision", "separate_cortex", "surely_cement"]

#: Bone-range region a dense component must be attached to, beyond itself, to be bone (ml).
ATTACHED_ML = 0.5
#: A dense component outside the body this large (ml) is bone (solid dense posterior elements).
BONE_MIN_ML = 2.0
#: Intra-body cement candidates and this margin (mm) around them stay out of the cortical level.
CEMENT_EXCLUSION_MM = 2.0
#: Cement cores (at or above the cement level) are opened with a ball of this radius (mm) and
#: must hold this volume (ml); the cement is what the threshold keeps within GROW_MM (or 1.5
#: voxels) of them: its partial-volumed edge, not the cortex it may touch.
CORE_RADIUS_MM = 0.75
#: Cement above any cortical bone (HU): what a body grown from a seed never enters.
SURE_HU = 1900.0
CORE_MIN_ML = 0.02
GROW_MM = 2.5


@dataclass(frozen=True, eq=False)
class CortexDecision:
    """What :func:`separate_cortex` kept as cement and why it set the rest aside.

    Attributes
    ----------
    cement : bool ndarray
        Cement voxels (on the box's grid).
    cortex_hu : float or None
        This scan's cortical level (99th percentile HU of the cortical shell).
    cement_level_hu : float or None
        The 90th-percentile HU from which a component is cement whatever its place.
    rejected_ml : dict
        Volume (ml) set aside per reason: ``body_shell``, ``sclerotic``, ``bone_outside``,
        ``no_cement_in_body``.
    """

    cement: np.ndarray
    cortex_hu: float | None = None
    cement_level_hu: float | None = None
    rejected_ml: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "cortex_hu": self.cortex_hu,
            "cement_level_hu": self.cement_level_hu,
            "rejected_ml": dict(self.rejected_ml),
        }


def _depth(mask: np.ndarray, vol: Volume) -> np.ndarray:
    """Distance (mm) of each voxel of ``mask`` to the nearest voxel outside it (0 outside)."""
    return ndimage.distance_transform_edt(mask, sampling=vol.spacing[::-1])


def _cortical_level(vol: Volume, bone: np.ndarray, keep_out: np.ndarray, shell_mm: float) -> float | None:
    """99th-percentile HU of the outer ``shell_mm`` of ``bone``, without ``keep_out``."""
    shell = bone & (_depth(bone, vol) <= max(shell_mm, float(np.max(vol.spacing)))) & ~keep_out
    if shell.sum() < 20:
        return None
    return float(np.percentile(vol.array[shell], 99))


def _bone_region(vol: Volume, body: np.ndarray, vertebra: np.ndarray | None, lo: float) -> np.ndarray:
    """The vertebra: the whole-vertebra mask and the body, else the bone connected to the body."""
    if vertebra is not None:
        return vertebra | body
    lab, _ = ndimage.label((vol.array >= lo) | body)
    ids = np.unique(lab[body])
    return np.isin(lab, ids[ids > 0])


def _attached(lab, out_lab, out_sizes, body, box, label: int, voxel_ml: float) -> bool:
    """Whether the bone-range region outside the body that holds component ``label`` (in
    its bounding ``box``) extends :data:`ATTACHED_ML` beyond it."""
    sel = (lab[box] == label) & ~body[box]
    ids = np.unique(out_lab[box][sel])
    ids = ids[ids > 0]
    return bool(len(ids)) and float(out_sizes[ids].sum() - sel.sum()) * voxel_ml >= ATTACHED_ML


def _stats(vol: Volume, lab: np.ndarray, n: int, body: np.ndarray, shell_mm: float) -> dict:
    """Per component: voxels, fraction inside the body and in its outer shell, 90th-pct HU, box."""
    idx = np.arange(1, n + 1)
    interior = body & (_depth(body, vol) > shell_mm)
    size = ndimage.sum_labels(np.ones(lab.shape, dtype=bool), lab, idx)
    inside = ndimage.sum_labels(body, lab, idx) / size
    deep = ndimage.sum_labels(interior, lab, idx) / size
    touch = ndimage.sum_labels(ndimage.binary_dilation(body) & ~body, lab, idx) > 0
    boxes = ndimage.find_objects(lab)
    p90 = np.array([np.percentile(vol.array[box][lab[box] == k], 90) for k, box in zip(idx, boxes)])
    return {
        "size": size,
        "inside": inside,
        "deep": deep,
        "shell": inside - deep,
        "touch": touch,
        "p90": p90,
        "boxes": boxes,
    }


def _level(vol, lab, cement_like, body, vertebra, options) -> tuple[float | None, float | None]:
    """This scan's cortical level and the cement level above it (None: cortical check off).

    ``cement_like`` (component ids) - the components deep in the body or outside it away
    from other bone - and 2 mm around them stay out of the cortical level.
    """
    like = np.isin(lab, cement_like)
    keep_out = _depth(~like, vol) <= CEMENT_EXCLUSION_MM if like.any() else like
    bone = _bone_region(vol, body, vertebra, options.bone_hu[0])
    cortex = _cortical_level(vol, bone, keep_out, options.cortical_shell_mm)
    if options.cement_peak_hu is None:
        return None, cortex
    return max(
        options.cement_peak_hu, (-np.inf if cortex is None else cortex) + options.cortex_margin_hu
    ), cortex


def _cores(vol: Volume, candidates: np.ndarray, level: float, options: CementOptions) -> np.ndarray:
    """Candidate voxels at or above the cement level, in compact clusters of at least 0.02 ml."""
    core = candidates & (vol.array >= level)
    element = ball(vol.spacing, CORE_RADIUS_MM)
    if element.size > 1 and core.any():
        core = ndimage.binary_opening(core, structure=element)
    lab, n = ndimage.label(core, structure=np.ones((3, 3, 3)))
    sizes = np.bincount(lab.ravel(), minlength=n + 1) * vol.voxel_volume_mm3 / 1000
    big = sizes >= max(options.min_component_ml, CORE_MIN_ML)
    big[0] = False
    return big[lab]


def _grow(vol: Volume, cores: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Candidate voxels within GROW_MM (or 1.5 voxels) of ``cores``, through candidates only."""
    if not cores.any():
        return cores
    steps = max(1, math.ceil(max(GROW_MM / float(np.min(vol.spacing)), 1.5)))
    near = ndimage.binary_dilation(cores, structure=np.ones((3, 3, 3)), iterations=steps, mask=candidates)
    return near & (_depth(~cores, vol) <= max(GROW_MM, 1.5 * float(np.max(vol.spacing))))


def surely_cement(vol: Volume, candidates: np.ndarray, *, options: CementOptions) -> np.ndarray:
    """Cement whatever the body: cores at or above :data:`SURE_HU` (and ``cement_peak_hu``)
    with their edge (:func:`_grow`). A body grown from a seed must not enter it; dense cortex
    below that level may be grown through (it is the body's wall)."""
    level = max(SURE_HU, options.cement_peak_hu or -np.inf)
    return _grow(vol, _cores(vol, candidates, level, options), candidates)


def _bone_reason(m: int, stats: dict, bony) -> str | None:
    """Why component ``m`` (HU within the cortical range) is bone, or None (it is cement)."""
    if stats["inside"][m] >= 0.5:
        return "body_shell" if stats["shell"][m] >= 0.5 else "sclerotic"
    if bony[m] or stats["touch"][m]:
        return "bone_outside"
    return None


def separate_cortex(
    vol: Volume,
    candidates: np.ndarray,
    body: np.ndarray,
    *,
    options: CementOptions,
    vertebra: np.ndarray | None = None,
) -> CortexDecision:
    """Keep the cement among ``candidates``, set cortical and sclerotic bone aside (module docstring).

    Parameters
    ----------
    vol : Volume
        The CT box around the body (HU).
    candidates : bool ndarray
        :func:`~bonequality.cement.detect.detect_cement` of ``vol``.
    body : bool ndarray
        The vertebral body in the box.
    options : CementOptions
        ``cement_peak_hu``, ``cortex_margin_hu``, ``cortical_shell_mm``, ``bone_hu``.
    vertebra : bool ndarray, optional
        The whole-vertebra mask in the box, when it was given.
    """
    voxel_ml = vol.voxel_volume_mm3 / 1000
    reasons = dict.fromkeys(
        ("body_shell", "sclerotic", "bone_outside", "touching_bone", "no_cement_in_body"), 0.0
    )
    lab, n = ndimage.label(candidates, structure=np.ones((3, 3, 3)))
    if n == 0:
        return CortexDecision(candidates.copy(), rejected_ml=reasons)
    stats = _stats(vol, lab, n, body, options.cortical_shell_mm)
    out_lab, out_n = ndimage.label((vol.array >= options.bone_hu[0]) & ~body)
    out_sizes = np.bincount(out_lab.ravel(), minlength=out_n + 1)
    out_sizes[0] = 0
    in_vert = np.zeros(n)
    if vertebra is not None:
        in_vert = ndimage.sum_labels(ndimage.binary_dilation(vertebra) & ~body, lab, np.arange(1, n + 1))
        in_vert = in_vert / stats["size"]

    def attached(m: int) -> bool:
        return _attached(lab, out_lab, out_sizes, body, stats["boxes"][m], m + 1, voxel_ml)

    size_ml = stats["size"] * voxel_ml
    outside = stats["inside"] < 0.5
    bony = outside & ((in_vert >= 0.5) | (size_ml >= BONE_MIN_ML) | np.array([attached(m) for m in range(n)]))
    cement_like = 1 + np.flatnonzero((stats["deep"] >= 0.5) | (outside & ~bony))
    level, cortex = _level(vol, lab, cement_like, body, vertebra, options)
    if level is None:
        return CortexDecision(candidates.copy(), cortex, None, reasons)
    cores = _cores(vol, candidates, level, options)
    near = _grow(vol, cores, candidates)
    with_core = np.zeros(n + 1, dtype=bool)
    with_core[np.unique(lab[cores])] = True
    with_core[0] = False
    cement = near & with_core[lab]
    reasons["touching_bone"] = float((candidates & with_core[lab] & ~near).sum()) * voxel_ml
    for m in np.flatnonzero(~with_core[1:]):
        reason = _bone_reason(m, stats, bony)
        box = stats["boxes"][m]
        if reason is None:
            cement[box] |= lab[box] == m + 1
        else:
            reasons[reason] += float(stats["size"][m]) * voxel_ml
    if cement.any() and not (cement & body).any():
        reasons["no_cement_in_body"] = float(cement.sum()) * voxel_ml
        cement = np.zeros_like(cement)
    return CortexDecision(cement, cortex, level, reasons)
