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
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bonequality.focal_defect import PAPER_MINUTES_PER_VERTEBRA, analyze_focal_defect, prepare_focal_defect
from bonequality.phantoms.vertebra import make_vertebra
from bonequality.volume import Volume


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


def _peak_rss_mib() -> float:
    """High-water resident memory of this process (VmHWM; unlike ru_maxrss it resets at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(ct_path: str, mask_path: str, repeats: int) -> None:
    """Time the library in a fresh process so that its peak RSS is the analysis's own."""
    vol = Volume.read(ct_path)
    mask = Volume.read(mask_path)
    analyze_focal_defect(vol, mask=mask)  # warm-up (imports, caches)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        res = analyze_focal_defect(vol, mask=mask)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    rss = _peak_rss_mib()
    tracemalloc.start()
    analyze_focal_defect(vol, mask=mask)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    s = res.summary
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "rss_mib": rss,
                "traced_mib": peak / 2**20,
                "roi_voxels": s.roi_voxels,
                "roi_ml": s.roi_volume_ml,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-voxels", type=int, default=300, help="voxels timed for the baseline")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=2, metavar=("CT", "MASK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child, args.repeats)
        return

    vol, mask = benchmark_input()
    with tempfile.TemporaryDirectory() as tmp:
        ct_path, mask_path = Path(tmp) / "ct.nrrd", Path(tmp) / "mask.nrrd"
        vol.write(ct_path)
        vol.with_array(mask.astype(np.uint8)).write(mask_path)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(ct_path),
                str(mask_path),
                "--repeats",
                str(args.repeats),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    fast_run = json.loads(out.stdout.strip().splitlines()[-1])
    fast = min(fast_run["wall"])
    n_roi = fast_run["roi_voxels"]

    prep = prepare_focal_defect(vol, mask=mask)
    vox = np.argwhere(prep.roi.array)
    sel = vox[np.random.default_rng(0).choice(len(vox), args.baseline_voxels, replace=False)]
    base = _baseline_module()
    t0 = time.perf_counter()
    base.baseline_maps(prep.bmd.array, prep.roi.array, voxels=sel)
    per_voxel = (time.perf_counter() - t0) / len(sel)
    baseline = per_voxel * n_roi
    load = os.getloadavg()[0]

    print(f"ROI: {n_roi} voxels ({fast_run['roi_ml']:.1f} ml) at 0.3 mm, 15 axial orientations, 2 threads")
    print("fast, analyze_focal_defect whole call (erosion, resampling, smoothing, star-lines, summaries):")
    print(
        f"  wall {fast:.2f} s best, {np.median(fast_run['wall']):.2f} s median "
        f"(runs: {', '.join(f'{t:.2f}' for t in fast_run['wall'])}); "
        f"CPU {min(fast_run['cpu']):.2f} s; machine load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"  peak memory: resident high-water mark of the analysing process {fast_run['rss_mib']:.0f} MiB "
        f"(imports and the loaded CT included); numpy peak (tracemalloc) {fast_run['traced_mib']:.0f} MiB"
    )
    print(
        f"baseline (per-voxel star-lines, benchmarks/focal_baseline.py): {per_voxel * 1e3:.2f} ms/voxel "
        f"measured on {len(sel)} random ROI voxels, EXTRAPOLATED to {n_roi} voxels: {baseline:.0f} s"
    )
    print(f"ratio baseline / fast: {baseline / fast:.0f} x")
    print(
        f"paper's program: {PAPER_MINUTES_PER_VERTEBRA * 60:.0f} s per vertebra; ratio "
        f"{PAPER_MINUTES_PER_VERTEBRA * 60 / fast:.0f} x"
    )
    print("(timings are pessimistic: other jobs share this machine)")


if __name__ == "__main__":
    main()
