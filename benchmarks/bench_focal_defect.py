"""Benchmark: focal-defect maps on a 40 x 40 x 25 mm ROI at 0.3 mm (about 1.5 M voxels).

Prints the seconds of :func:`bonequality.focal_defect.analyze_focal_defect` (whole call:
ROI erosion, resampling, smoothing, 15 star-line orientations, summaries), its peak
memory, the per-voxel star-line baseline of ``focal_baseline.py`` measured in the same
run on a random subsample of ROI voxels and extrapolated to the whole ROI (running it on
every voxel would take most of an hour), and the ratio. The machine is shared with other
jobs, so absolute timings are pessimistic.

Run: ``.venv/bin/python benchmarks/bench_focal_defect.py [--baseline-voxels N]``
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bonequality.focal_defect import PAPER_MINUTES_PER_VERTEBRA, analyze_focal_defect, prepare_focal_defect
from bonequality.phantoms.vertebra import make_vertebra


def _baseline_module():
    path = Path(__file__).with_name("focal_baseline.py")
    spec = importlib.util.spec_from_file_location("focal_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def benchmark_input():
    """A 0.3 mm phantom with a box mask of 52 x 52 x 37 mm: 40 x 40 x 25 mm after the 6 mm erosion."""
    ph = make_vertebra(spacing=(0.3, 0.3, 0.3), body_semi_axes_mm=(34.0, 34.0), body_height_mm=41.0)
    vol = ph.volume
    nk, nj, ni = vol.array.shape
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    pts = vol.index_to_physical(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)).reshape(nk, nj, ni, 3)
    half = np.array([26.0, 26.0, 18.5])
    mask = np.all(np.abs(pts) <= half, axis=-1)
    return vol, mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-voxels", type=int, default=300, help="voxels timed for the baseline")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    vol, mask = benchmark_input()
    analyze_focal_defect(vol, mask=mask)  # warm-up (imports, caches)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = analyze_focal_defect(vol, mask=mask)
        times.append(time.perf_counter() - t0)
    fast = min(times)
    n_roi = res.summary.roi_voxels
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    analyze_focal_defect(vol, mask=mask)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    prep = prepare_focal_defect(vol, mask=mask)
    vox = np.argwhere(prep.roi.array)
    sel = vox[np.random.default_rng(0).choice(len(vox), args.baseline_voxels, replace=False)]
    base = _baseline_module()
    t0 = time.perf_counter()
    base.baseline_maps(prep.bmd.array, prep.roi.array, voxels=sel)
    per_voxel = (time.perf_counter() - t0) / len(sel)
    baseline = per_voxel * n_roi

    print(f"ROI: {n_roi} voxels ({res.summary.roi_volume_ml:.1f} ml) at 0.3 mm, 15 orientations")
    print(
        f"fast (analyze_focal_defect, whole call): {fast:.2f} s (best of {args.repeats}: "
        f"{', '.join(f'{t:.2f}' for t in times)})"
    )
    print(
        f"peak traced memory (tracemalloc, numpy arrays): {peak / 2**20:.0f} MiB; "
        f"process max RSS: {rss_before:.0f} MiB"
    )
    print(
        f"baseline (per-voxel star-lines): {per_voxel * 1e3:.2f} ms/voxel on {len(sel)} voxels, "
        f"extrapolated to {n_roi} voxels: {baseline:.0f} s"
    )
    print(f"ratio baseline / fast: {baseline / fast:.0f} x")
    print(
        f"paper's program: {PAPER_MINUTES_PER_VERTEBRA * 60:.0f} s per vertebra; ratio "
        f"{PAPER_MINUTES_PER_VERTEBRA * 60 / fast:.0f} x"
    )


if __name__ == "__main__":
    main()
