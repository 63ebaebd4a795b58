"""Re-planning speed of the sacroplasty planner after a landmark moves (issue 4: < 50 ms).

Times :meth:`SacroplastyPlanner.plan` (all six trajectories, both targets, warnings and
the per-scan threshold) on the pelvis phantom at 0.8 mm (about 11.6 M voxels) while one
S1 corner moves, against a naive baseline measured in the same run: per-step Python
marching along each of the six rays, one interpolated sample per call (no vectorisation),
from the target forward to the anterior cortex and back to the skin. Other helpers load
the CPU while this runs, so absolute timings are pessimistic.

Run: ``.venv/bin/python benchmarks/bench_sacroplasty.py``
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from bonequality.phantoms.pelvis import make_pelvis
from bonequality.sacroplasty import SacroplastyPlanner


def naive_march(planner, plan, threshold: float, step: float = 0.25) -> list[float]:
    """Per-step Python loop: forward to the cortex exit, backward to the skin, per ray."""
    vol = planner.volume
    out = []
    for res in plan.sides.values():
        for tr in res.trajectories.values():
            t, seen_bone, below = 0.0, False, 0.0
            while True:  # forward: exit after 5 mm sustained below threshold
                hu = float(vol.sample(res.target_lps + t * tr.direction))
                if hu >= threshold:
                    seen_bone, below = True, 0.0
                elif seen_bone:
                    below += step
                    if below >= 5.0:
                        break
                t += step
            exit_t = t - below
            t, air = 0.0, 0.0
            while True:  # backward: skin after 5 mm of air or the image edge
                hu = float(vol.sample(res.target_lps - t * tr.direction))
                if not np.isfinite(hu) or hu < -500:
                    air += step
                    if air >= 5.0 or not np.isfinite(hu):
                        break
                else:
                    air = 0.0
                t += step
            out.append(exit_t)
    return out


def main() -> None:
    t0 = time.perf_counter()
    phantom = make_pelvis()
    print(f"pelvis phantom {phantom.volume.array.shape} voxels built in {time.perf_counter() - t0:.1f} s")
    lm = phantom.landmarks
    t0 = time.perf_counter()
    planner = SacroplastyPlanner(phantom.volume)
    print(f"planner set-up (float32 copy, once per CT): {1000 * (time.perf_counter() - t0):.0f} ms")
    plan = planner.plan(lm)
    ps = lm["S1_corner_PS"]
    times = []
    for k in range(30):
        moved = lm.replaced("S1_corner_PS", ps + np.array([0.0, 0.1 * (k % 5), 0.1 * (k % 3)]))
        t0 = time.perf_counter()
        plan = planner.plan(moved)
        times.append(time.perf_counter() - t0)
    fixed = SacroplastyPlanner(phantom.volume, bone_threshold=plan.bone_threshold_hu)
    times_fixed = []
    for _ in range(30):
        t0 = time.perf_counter()
        fixed.plan(lm)
        times_fixed.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    naive_march(planner, plan, plan.bone_threshold_hu)
    naive = time.perf_counter() - t0
    med, med_fixed = statistics.median(times), statistics.median(times_fixed)
    print(
        f"re-plan after a landmark move, per-scan threshold: median {1000 * med:.1f} ms, "
        f"max {1000 * max(times):.1f} ms"
    )
    print(f"re-plan, user threshold:                          median {1000 * med_fixed:.1f} ms")
    print(f"naive per-step Python marching (6 rays, same run): {1000 * naive:.0f} ms")
    print(f"speed-up vs naive: {naive / med:.0f}x;  target < 50 ms: {'PASS' if med < 0.05 else 'FAIL'}")


if __name__ == "__main__":
    main()
