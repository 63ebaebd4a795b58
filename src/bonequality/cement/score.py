"""Seed 003's numbers from the body and its cement: VF % and the 0-10 distribution score."""

from __future__ import annotations

import math

import numpy as np

from ..validation import check_number
from .result import DistributionScore

__all__ = ["distribution_score", "side_fraction", "vf_percent"]

#: Axial quadrant names, indexed by ``2 * left + posterior``.
QUADRANTS = ("right_anterior", "right_posterior", "left_anterior", "left_posterior")


def vf_percent(cdv_ml: float, vbv_ml: float) -> float:
    """VF % = CDV / VBV x 100 (seed 003): the one VF % rule.

    Parameters
    ----------
    cdv_ml : float, ml
        Cement inside the vertebral body (cement outside it is leakage, not CDV).
    vbv_ml : float, ml
        Vertebral body volume.

    Returns
    -------
    float
        VF in percent; NaN for an empty body.

    Raises
    ------
    OptionError
        A volume that is negative or not finite.
    """
    cdv = check_number(cdv_ml, name="CDV", lo=0.0, unit="ml")
    vbv = check_number(vbv_ml, name="VBV", lo=0.0, unit="ml")
    return 100.0 * cdv / vbv if vbv > 0 else math.nan


def side_fraction(body_points: np.ndarray, cement_points: np.ndarray) -> dict:
    """Fraction of the cement left and right of the body's mid-x (LPS +x = patient left)."""
    if not len(cement_points):
        return {"left": None, "right": None}
    xmid = 0.5 * (body_points[:, 0].min() + body_points[:, 0].max())
    left = float(np.mean(cement_points[:, 0] > xmid))
    return {"left": left, "right": 1.0 - left}


def _thirds(b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges of three equal thirds of the body's extent ``b`` and the cement fraction in each."""
    edges = np.linspace(b.min(), b.max(), 4)
    nb = np.bincount(np.clip(np.searchsorted(edges[1:3], b, side="right"), 0, 2), minlength=3)
    nc = np.bincount(np.clip(np.searchsorted(edges[1:3], c, side="right"), 0, 2), minlength=3)
    return edges, nc / np.maximum(nb, 1)


def _slab_centres(bx, by, sb, nslab: int) -> tuple[np.ndarray, np.ndarray]:
    """Per axial slab, LPS x and y of the middle of the body's cross-section extent."""
    stats = {}
    for name, fn, init in (
        ("xmin", np.minimum, np.inf),
        ("xmax", np.maximum, -np.inf),
        ("ymin", np.minimum, np.inf),
        ("ymax", np.maximum, -np.inf),
    ):
        arr = np.full(nslab, init)
        fn.at(arr, sb, bx if name[0] == "x" else by)
        stats[name] = arr
    filled = np.isfinite(stats["xmin"])  # slabs holding body voxels
    xm = np.where(filled, 0.5 * (np.where(filled, stats["xmin"], 0) + np.where(filled, stats["xmax"], 0)), 0)
    ym = np.where(filled, 0.5 * (np.where(filled, stats["ymin"], 0) + np.where(filled, stats["ymax"], 0)), 0)
    return xm, ym


def _quadrant_counts(body_points, cement_points, slab_mm: float):
    """Body and cement voxel counts per (slab, quadrant), the quadrant centres and the first slab's z."""
    bx, by, bz = body_points.T
    z0 = bz.min()
    nslab = int((bz.max() - z0) // slab_mm) + 1
    sb = np.minimum(((bz - z0) // slab_mm).astype(int), nslab - 1)
    xm, ym = _slab_centres(bx, by, sb, nslab)
    # quadrant: 2 * left (x > xm, LPS +x is patient left) + posterior (y > ym)
    qb = sb * 4 + 2 * (bx > xm[sb]) + (by > ym[sb])
    nb = np.bincount(qb, minlength=4 * nslab).reshape(nslab, 4)
    if len(cement_points):
        cx, cy, cz = cement_points.T
        sc = np.clip(((cz - z0) // slab_mm).astype(int), 0, nslab - 1)
        qc = sc * 4 + 2 * (cx > xm[sc]) + (cy > ym[sc])
        nc = np.bincount(qc, minlength=4 * nslab).reshape(nslab, 4)
    else:
        nc = np.zeros_like(nb)
    return nb, nc, (xm, ym), z0


def distribution_score(
    body_points: np.ndarray,
    cement_points: np.ndarray,
    *,
    slab_mm: float = 1.0,
    min_zone_fraction: float = 0.05,
    extensive_min_score: int = 8,
) -> DistributionScore:
    """Seed 003's distribution score from LPS voxel positions of the body and its cement.

    Coronal thirds (LPS x, 0-3) + sagittal thirds (LPS z, 0-3) + the four quadrants of the
    best axial slab (0-4), split through the middle of the slab's body cross-section; the
    best slab has the most counted quadrants, then the most cement.

    Parameters
    ----------
    body_points, cement_points : (N, 3), (M, 3) float, mm, LPS
        Centres of the body's voxels and of the cement voxels inside the body (one grid,
        so counts are volumes).
    slab_mm : float
        Axial slab thickness for the best-slice quadrant score.
    min_zone_fraction : float
        Cement fraction of a zone's body voxels needed for the zone to count.
    extensive_min_score : int
        Total from which the case is group B (extensive).
    """
    cx, cz = (cement_points[:, 0], cement_points[:, 2]) if len(cement_points) else (np.empty(0),) * 2
    x_edges, fx = _thirds(body_points[:, 0], cx)
    z_edges, fz = _thirds(body_points[:, 2], cz)
    least = max(min_zone_fraction, 1e-12)
    coronal = int(np.sum(fx >= least))
    sagittal = int(np.sum(fz >= least))
    nb, nc, (xm, ym), z0 = _quadrant_counts(body_points, cement_points, slab_mm)
    fq = nc / np.maximum(nb, 1)
    per_slab = ((fq >= least) & (nb > 0)).sum(axis=1)
    best = int(np.lexsort((nc.sum(axis=1), per_slab))[-1])
    axial = int(per_slab[best])
    total = coronal + sagittal + axial
    zones = {
        "coronal": dict(zip(("right", "middle", "left"), (float(v) for v in fx))),
        "sagittal": dict(zip(("caudal", "middle", "cranial"), (float(v) for v in fz))),
        "axial": dict(zip(QUADRANTS, (float(v) for v in fq[best]))),
    }
    return DistributionScore(
        coronal=coronal,
        sagittal=sagittal,
        axial=axial,
        total=total,
        group="B" if total >= extensive_min_score else "A",
        zones=zones,
        x_edges_mm=tuple(float(v) for v in x_edges),
        z_edges_mm=tuple(float(v) for v in z_edges),
        axial_center_mm=(float(xm[best]), float(ym[best])),
        best_axial_z_mm=float(z0 + (best + 0.5) * slab_mm) if len(cz) else None,
        min_zone_fraction=min_zone_fraction,
    )
