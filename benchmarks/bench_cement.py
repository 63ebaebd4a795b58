"""Seconds per vertebra for cement volumetry at 0.5 mm, against a SimpleITK-only baseline.

Run: ``.venv/bin/python benchmarks/bench_cement.py``. Target: < 2 s per vertebra.

The baseline does the same core job from the same body mask with plain SimpleITK filters
as one would write it first: fill holes in the body (BinaryFillhole), threshold cement,
open it with a ball kernel (BinaryMorphologicalOpening), drop small components
(ConnectedComponent + RelabelComponent), then CDV, leakage and the three zone tallies
with numpy over the whole image. It has no posterior cut, no canal, no leak locations and
no peak-HU check, so it does less work than the library; the ratio is baseline / library
(> 1 means the library is faster). Other helpers load the CPU, so absolute timings are
pessimistic; both are measured in the same run, so the ratio is fair.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import SimpleITK as sitk

from bonequality.cement import analyze_cement
from bonequality.phantoms.cemented import make_cemented_vertebra


def baseline(volume, body_mask: np.ndarray) -> dict:
    ref = volume.to_sitk()
    body = sitk.GetImageFromArray(body_mask.astype(np.uint8))
    body.CopyInformation(ref)
    body = sitk.BinaryFillhole(body)
    cement = sitk.BinaryThreshold(ref, 1000, 3000, 1, 0)
    radius = [max(1, int(1.0 / s)) for s in volume.spacing]
    cement = sitk.BinaryMorphologicalOpening(cement, radius, sitk.sitkBall)
    cc = sitk.RelabelComponent(
        sitk.ConnectedComponent(cement), minimumObjectSize=int(10 / volume.voxel_volume_mm3)
    )
    c = sitk.GetArrayFromImage(cc) > 0
    b = sitk.GetArrayFromImage(body) > 0
    vv = volume.voxel_volume_mm3 / 1000
    k, j, i = np.nonzero(b)
    pts = volume.index_to_physical(np.stack([i, j, k], axis=1))
    inside = c[k, j, i]
    zones = {}
    for axis, name in ((0, "coronal"), (2, "sagittal")):
        edges = np.linspace(pts[:, axis].min(), pts[:, axis].max(), 4)
        zone = np.clip(np.searchsorted(edges[1:3], pts[:, axis], side="right"), 0, 2)
        zones[name] = [inside[zone == z].mean() for z in range(3)]
    return {
        "vbv_ml": b.sum() * vv,
        "cdv_ml": (c & b).sum() * vv,
        "leak_ml": (c & ~b).sum() * vv,
        "zones": zones,
    }


def _time(fn, repeats: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    phantom = make_cemented_vertebra(spacing=(0.5, 0.5, 0.5))
    v = phantom.volume
    print(f"cemented phantom at 0.5 mm: grid {v.shape_ijk} = {v.array.size / 1e6:.1f} M voxels")
    t_base, base = _time(lambda: baseline(v, phantom.masks["body"]))
    t_body, res = _time(lambda: analyze_cement(v, body_mask=phantom.masks["body"]))
    t_vert, _ = _time(lambda: analyze_cement(v, vertebra_mask=phantom.masks["vertebra"]))
    t_seed, _ = _time(lambda: analyze_cement(v, seed=(-5.0, -3.0, 2.0)))
    truth = phantom.truth
    print(f"baseline (SimpleITK only, body mask) : {t_base:6.2f} s  CDV {base['cdv_ml']:.3f} ml")
    print(
        f"library, body mask                   : {t_body:6.2f} s  CDV {res.cdv_ml:.3f} ml "
        f"(truth {truth['cdv_ml']:.3f})"
    )
    print(f"library, vertebra mask (auto cut)    : {t_vert:6.2f} s")
    print(f"library, seed point                  : {t_seed:6.2f} s")
    print(f"ratio baseline / library (body mask) : {t_base / t_body:6.2f}x")
    worst = max(t_body, t_vert, t_seed)
    print(f"slowest mode {worst:.2f} s per vertebra: {'meets' if worst < 2.0 else 'MISSES'} the < 2 s target")


if __name__ == "__main__":
    main()
