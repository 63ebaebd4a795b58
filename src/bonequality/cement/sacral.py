"""Cement in a sacrum after sacroplasty (seeds 001, 002): per ala and leakage per location."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..imaging.body import as_mask
from ..imaging.grid import bbox_slices, crop, voxel_points
from ..imaging.morphology import fill_holes, fill_voids
from ..progress import ProgressCallback, report
from ..volume import Volume
from .detect import detect_cement
from .options import SACRAL_LEAK_LOCATIONS, CementOptions
from .result import SacroplastyResult

__all__ = ["analyze_sacroplasty"]


def _regions(pts_c: np.ndarray, xmid: float, halfwidth: float, vv: float) -> dict[str, float]:
    """Cement ml left of, within and right of ``halfwidth`` about the midline (LPS +x = left)."""
    dx = pts_c[:, 0] - xmid
    return {
        "left_ala": float(np.sum(dx > halfwidth)) * vv / 1000,
        "body": float(np.sum(np.abs(dx) <= halfwidth)) * vv / 1000,
        "right_ala": float(np.sum(dx < -halfwidth)) * vv / 1000,
    }


def _anterior(pl: np.ndarray, pts_s: np.ndarray, cell: float) -> np.ndarray:
    """Whether each leak point lies anterior to the sacrum in its (x, z) column (``cell`` mm raster)."""
    x0, z0 = pts_s[:, 0].min() - cell, pts_s[:, 2].min() - cell
    si = ((pts_s[:, 0] - x0) // cell).astype(int)
    sk = ((pts_s[:, 2] - z0) // cell).astype(int)
    front = np.full((si.max() + 2, sk.max() + 2), np.inf)
    np.minimum.at(front, (si, sk), pts_s[:, 1])
    li = np.clip(((pl[:, 0] - x0) // cell).astype(int), 0, front.shape[0] - 1)
    lk = np.clip(((pl[:, 2] - z0) // cell).astype(int), 0, front.shape[1] - 1)
    return pl[:, 1] < front[li, lk]


def _leak_volumes(sub: Volume, sac, leak, pts_s, xmid: float, options: CementOptions) -> dict[str, float]:
    """Leak ml per :data:`SACRAL_LEAK_LOCATIONS` (see :func:`analyze_sacroplasty`)."""
    spacing = float(np.min(sub.spacing))
    iters = max(1, round(5.0 / spacing))
    hull = ndimage.binary_closing(
        sac, structure=ndimage.generate_binary_structure(3, 1), iterations=iters, border_value=0
    )
    hull = fill_voids(hull | sac, sub)
    pl = voxel_points(sub, leak)
    k, j, i = np.nonzero(leak)
    enclosed = hull[k, j, i]
    by_loc = dict.fromkeys(SACRAL_LEAK_LOCATIONS, 0.0)
    if len(pl):
        anterior = _anterior(pl, pts_s, max(1.0, spacing))
        midline = np.abs(pl[:, 0] - xmid) <= options.sacral_canal_halfwidth_mm
        labels = np.where(enclosed & midline, 0, np.where(enclosed, 1, np.where(anterior, 2, 3)))
        for n, name in enumerate(SACRAL_LEAK_LOCATIONS):
            by_loc[name] = float(np.sum(labels == n)) * sub.voxel_volume_mm3 / 1000
    return by_loc


def analyze_sacroplasty(
    volume: Volume,
    sacrum_mask,
    *,
    options: CementOptions | None = None,
    progress: ProgressCallback | None = None,
) -> SacroplastyResult:
    """Cement per sacral region and leakage per location after sacroplasty (seeds 001, 002).

    Regions split the sacrum by LPS x about its midline (middle of its left-right extent):
    ``left_ala`` (x > midline + ``sacral_body_halfwidth_mm``), ``body``, ``right_ala``.
    Leakage (cement outside the sacrum within ``leak_search_mm`` of its bounding box):
    ``canal`` / ``foramina`` when enclosed by the sacrum (inside its closing, 5 mm ball,
    within / beyond ``sacral_canal_halfwidth_mm`` of the midline), ``presacral`` when
    anterior to the sacrum in the same (x, z) column, else ``other``.

    Parameters
    ----------
    volume : Volume
        CT in HU.
    sacrum_mask : Volume or bool ndarray on the CT grid
    options : CementOptions, optional
        Default ``CementOptions()``.
    progress : callable(fraction, message), optional
    """
    options = CementOptions() if options is None else options
    sacrum = as_mask(sacrum_mask, volume, "sacrum mask", kind="sacrum_mask")
    report(progress, 0.05, "sacrum: cement")
    margin = np.ceil(options.leak_search_mm / volume.spacing).astype(int)[::-1]
    sl = bbox_slices(sacrum, margin)
    sub = crop(volume, sl)
    sac = fill_holes(sacrum[sl])
    cement = detect_cement(sub, options=options)
    vv = volume.voxel_volume_mm3
    pts_s = voxel_points(sub, sac)
    xmid = 0.5 * (pts_s[:, 0].min() + pts_s[:, 0].max())
    inside = cement & sac
    cement_ml = _regions(voxel_points(sub, inside), xmid, options.sacral_body_halfwidth_mm, vv)
    report(progress, 0.5, "sacrum: leakage")
    leak = cement & ~sac
    by_loc = _leak_volumes(sub, sac, leak, pts_s, xmid, options)
    full_c = np.zeros(volume.array.shape, dtype=bool)
    full_l = np.zeros(volume.array.shape, dtype=bool)
    full_c[sl] = inside
    full_l[sl] = leak
    report(progress, 1.0, "sacrum: done")
    return SacroplastyResult(
        sacrum_ml=float(sac.sum()) * vv / 1000,
        cement_ml=cement_ml,
        leakage_ml=float(leak.sum()) * vv / 1000,
        leakage_by_location=by_loc,
        cement_mask=full_c,
        leakage_mask=full_l,
    )
