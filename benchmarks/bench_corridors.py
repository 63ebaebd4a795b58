"""Benchmark the corridor analysis (seed 000) on the 0.8 mm pelvis phantom.

Prints, each with its target and a ratio against a straightforward baseline measured in
the same run (a per-segment Python loop that samples one 10 mm disk at a time through
``Volume.sample`` on a float copy of the CT):

1. one corridor re-sampled after a landmark move (``update_corridors``; target < 50 ms);
2. the whole analysis: bone threshold, S1, S2, L5 (``analyze_corridors``; target < 0.5 s);
3. the interpolation under both: :func:`bonequality.interpolation.trilinear` against
   ``scipy.ndimage.map_coordinates(order=1)`` on the points of both S1 legs.

Other helpers share this 2-core machine, so absolute timings are pessimistic; medians of
several runs are reported.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from bonequality.corridors import analyze_corridors, update_corridors
from bonequality.corridors.probes import disk_lattice, perp_frame
from bonequality.imaging import threshold
from bonequality.phantoms.pelvis import make_pelvis


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def baseline_leg(volume_f, a, b, *, segment_mm=0.25, radius=5.0, step=0.5) -> np.ndarray:
    """Per-segment loop doing the library's work one segment at a time: the 10 mm disk
    mean, the thermal-image column (61 points) and, every 1 mm, the free-radius rays
    (16 x 21 points), each through its own ``Volume.sample`` call."""
    axis = b - a
    length = float(np.linalg.norm(axis))
    w = axis / length
    u, v = perp_frame(w)
    disk, weights = disk_lattice(radius, step)
    offs = np.arange(-15.0, 15.01, 0.5)
    ang = np.arange(16) * (2 * np.pi / 16)
    dirs = np.cos(ang)[:, None] * u + np.sin(ang)[:, None] * v
    radii = np.arange(0.0, 10.01, 0.5)
    n = max(1, round(length / segment_mm))
    every = max(1, round(1.0 / (length / n)))
    out = np.empty(n)
    for i in range(n):
        c = a + (i + 0.5) * (length / n) * w
        pts = c + disk[:, :1] * u + disk[:, 1:] * v
        out[i] = float(np.sum(volume_f.sample(pts) * weights))
        volume_f.sample(c + offs[:, None] * u)
        if i % every == every // 2:
            volume_f.sample(c + radii[None, :, None] * dirs[:, None, :])
    return out


def main() -> None:
    t0 = time.perf_counter()
    ph = make_pelvis()
    took = time.perf_counter() - t0
    print(f"pelvis phantom 0.8 mm: {ph.volume.array.shape[::-1]} voxels, generated in {took:.2f} s")
    vol, lm = ph.volume, ph.landmarks
    volume_f = vol.with_array(vol.array.astype(np.float32))

    # --- 1. one corridor after a landmark move
    result = analyze_corridors(vol, lm)
    moves = [
        lm.replaced("SI_joint_ventral_sup_L", lm["SI_joint_ventral_sup_L"] + [0.0, 0.2 * k, 0.0])
        for k in range(10)
    ]
    it = iter(moves * 3)
    t_update = _median_time(
        lambda: update_corridors(result, vol, next(it), moved="SI_joint_ventral_sup_L"), 10
    )
    leg = result.s1.legs[1]
    t_base_leg = _median_time(lambda: baseline_leg(volume_f, leg.start, leg.end), 3)
    print(
        f"one corridor (S1 left, {leg.length_mm:.0f} mm, {leg.segments_hu.size} segments) after a move: "
        f"{t_update * 1000:.1f} ms (target < 50 ms: {'OK' if t_update < 0.05 else 'MISSED'}); "
        f"baseline per-segment loop {t_base_leg * 1000:.0f} ms; "
        f"speed-up x{t_base_leg / t_update:.0f}"
    )

    # --- 2. the whole analysis (threshold cache cleared every run)
    def full():
        threshold._CACHE.clear()
        analyze_corridors(vol, lm)

    t_full = _median_time(full, 5)

    def base_full():
        for lg in (*result.s1.legs, *result.s2.legs):
            baseline_leg(volume_f, lg.start, lg.end)

    t_base_full = _median_time(base_full, 1)
    print(
        f"whole analysis (threshold, S1, S2, L5; probes, thermal images, free radius), 0.8 mm pelvis: "
        f"{t_full:.3f} s (target < 0.5 s: {'OK' if t_full < 0.5 else 'MISSED'}); "
        f"baseline per-segment loop (S1 + S2 probes only) {t_base_full:.2f} s; "
        f"speed-up x{t_base_full / t_full:.0f}"
    )
    # the baseline and the library sample the same thing
    np.testing.assert_allclose(baseline_leg(volume_f, leg.start, leg.end), leg.segments_hu, atol=1e-3)
    print("check: baseline and vectorised segment means agree within 1e-3 HU")

    # --- 3. the interpolation: numpy trilinear against scipy's order-1 spline
    from scipy import ndimage

    from bonequality.corridors.options import CorridorOptions
    from bonequality.corridors.probes import _leg_points
    from bonequality.interpolation import trilinear

    pts = np.concatenate(
        [np.concatenate(_leg_points(lg.start, lg.end, CorridorOptions())[0]) for lg in result.s1.legs]
    )
    coords = vol.physical_to_index(pts)[:, ::-1].T.copy()
    t_tri = _median_time(lambda: trilinear(vol.array, coords), 10)
    t_scipy = _median_time(
        lambda: ndimage.map_coordinates(vol.array, coords, order=1, mode="nearest", output=np.float64), 10
    )
    scipy_hu = ndimage.map_coordinates(vol.array, coords, order=1, mode="nearest", output=np.float64)
    same = float(np.max(np.abs(trilinear(vol.array, coords) - scipy_hu)))
    print(
        f"interpolation of both S1 legs ({pts.shape[0]} points): trilinear {t_tri * 1000:.1f} ms, "
        f"scipy map_coordinates {t_scipy * 1000:.1f} ms; speed-up x{t_scipy / t_tri:.1f}; "
        f"largest difference {same:.1e} HU"
    )


if __name__ == "__main__":
    main()
