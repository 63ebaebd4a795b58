"""Cement voxels: the cement threshold plus the cortical-bone check (CLINICAL.md section 5)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..imaging.morphology import ball
from ..volume import Volume
from .options import CementOptions

__all__ = ["detect_cement"]


def detect_cement(vol: Volume, *, options: CementOptions | None = None) -> np.ndarray:
    """Cement voxels of ``vol`` (HU): threshold plus the cortical-bone check.

    1. Candidates: ``cement_hu`` (1000-3000 HU).
    2. Morphological opening with a ball of diameter ``min_cement_thickness_mm`` (physical
       mm, so anisotropic and oblique grids behave alike): dense bone thinner than that
       (cortical shells, endplates) is removed.
    3. Components (26-connected) whose 90th-percentile HU is below ``cement_peak_hu``
       (dense cortex, 1000-1400 HU, rather than contrast-loaded PMMA) or whose volume is
       below ``min_component_ml`` are dropped.
    4. The surviving components regain the candidate voxels one voxel (6-neighbourhood)
       around them, which digital opening loses on curved surfaces.

    On anisotropic grids steps 1-3 run on an isotropic resampling at the finest spacing
    (same direction), and the surviving cores are mapped back (nearest neighbour).

    Returns
    -------
    bool ndarray
        On ``vol``'s grid.
    """
    options = CementOptions() if options is None else options
    lo, hi = options.cement_hu
    cand = (vol.array >= lo) & (vol.array <= hi)
    if not cand.any():
        return cand
    work = vol
    if options.min_cement_thickness_mm > 0 and np.ptp(vol.spacing) > 1e-6:
        # A ball of 1 mm radius has no extent along 1.6 mm slices, so on anisotropic grids
        # (worst when also oblique) the opening would keep thin cortex: open on an
        # isotropic resampling at the finest spacing (same direction), then map back.
        work = vol.resample_isotropic(float(np.min(vol.spacing)), order=1)
    core = _cement_cores(work, options)
    if work is not vol:
        core = work.with_array(core.astype(np.uint8)).resample_like(vol, order=0).array.astype(bool)
    return cand & ndimage.binary_dilation(core, structure=ndimage.generate_binary_structure(3, 1))


def _cement_cores(vol: Volume, options: CementOptions) -> np.ndarray:
    """Steps 1-3 of :func:`detect_cement` on ``vol``: opened candidates in dense components."""
    lo, hi = options.cement_hu
    core = (vol.array >= lo) & (vol.array <= hi)
    if options.min_cement_thickness_mm > 0:
        element = ball(vol.spacing, options.min_cement_thickness_mm / 2)
        if element.size > 1:
            core = ndimage.binary_opening(core, structure=element)
    if not core.any():
        return core
    lab, n = ndimage.label(core, structure=np.ones((3, 3, 3)))
    keep = np.ones(n + 1, dtype=bool)
    keep[0] = False
    if options.min_component_ml > 0:
        sizes = np.bincount(lab.ravel(), minlength=n + 1) * vol.voxel_volume_mm3 / 1000
        keep &= sizes >= options.min_component_ml
    if options.cement_peak_hu is not None:
        for label, box in enumerate(ndimage.find_objects(lab), start=1):
            if keep[label] and box is not None:
                values = vol.array[box][lab[box] == label]
                keep[label] = float(np.percentile(values, 90)) >= options.cement_peak_hu
    return keep[lab]
