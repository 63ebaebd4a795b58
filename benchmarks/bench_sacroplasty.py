"""Sacroplasty planner speed: the envelope build, and re-planning after a landmark moves (< 50 ms).

On the pelvis phantom at 0.8 mm (about 11.6 M voxels):

* **envelope build** (once per CT and threshold, :func:`bonequality.imaging.envelope.cortical_envelope`
  in the box around the landmarks): cortex, rolling ball, back to the CT grid;
* **re-plan** after one S1 corner moves, as the SacralBoneAnalysis module does while a
  landmark is dragged: :meth:`SacroplastyPlanner.plan` with
  ``envelope_tolerance=LIVE_ENVELOPE_TOLERANCE`` (all six trajectories, both targets, the
  breach and left-right checks, warnings and the per-scan threshold; the envelope is kept),
  and with a user threshold;
* a naive baseline measured in the same run: per-step Python marching along each of the six
  rays, one interpolated sample per call (no vectorisation), from the target forward to the
  anterior cortex and back to the skin.

Other helpers load the CPU while this runs, so absolute timings are pessimistic.

Run: ``.venv/bin/python benchmarks/bench_sacroplasty.py``
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from bonequality.phantoms.pelvis import make_pelvis
from bonequality.sacroplasty import SacroplastyPlanner
from bonequality.sacroplasty.planner import LIVE_ENVELOPE_TOLERANCE


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


def _replan_times(planner, lm, n: int = 30, **kw) -> tuple[list[float], set[int]]:
    ps = lm["S1_corner_PS"]
    times, envelopes = [], set()
    for k in range(n):
        moved = lm.replaced("S1_corner_PS", ps + np.array([0.0, 0.1 * (k % 5), 0.1 * (k % 3)]))
        t0 = time.perf_counter()
        planner.plan(moved, **kw)
        times.append(time.perf_counter() - t0)
        envelopes.add(id(planner._shell))
    return times, envelopes


def main() -> None:
    t0 = time.perf_counter()
    phantom = make_pelvis()
    print(f"pelvis phantom {phantom.volume.array.shape} voxels built in {time.perf_counter() - t0:.1f} s")
    lm = phantom.landmarks
    t0 = time.perf_counter()
    planner = SacroplastyPlanner(phantom.volume)
    print(f"planner set-up (float32 copy, once per CT): {1000 * (time.perf_counter() - t0):.0f} ms")
    builds = []
    for _ in range(3):
        t0 = time.perf_counter()
        plan = SacroplastyPlanner(phantom.volume).plan(lm)
        builds.append(time.perf_counter() - t0)
    planner.plan(lm)
    shell = planner._shell
    print(
        f"first plan (envelope build included): median {1000 * statistics.median(builds):.0f} ms; envelope "
        f"build {1000 * shell.build_seconds:.0f} ms on {shell.mask.array.shape} voxels "
        f"(threshold {shell.threshold_hu:.0f} HU, ball {shell.closing_mm:.0f} mm)"
    )
    times, envelopes = _replan_times(planner, lm, envelope_tolerance=LIVE_ENVELOPE_TOLERANCE)
    fixed = SacroplastyPlanner(phantom.volume, bone_threshold=plan.bone_threshold_hu)
    fixed.plan(lm)
    times_fixed, _ = _replan_times(fixed, lm)
    t0 = time.perf_counter()
    naive_march(planner, plan, plan.bone_threshold_hu)
    naive = time.perf_counter() - t0
    med, med_fixed = statistics.median(times), statistics.median(times_fixed)
    print(
        f"re-plan after a landmark move, per-scan threshold (live): median {1000 * med:.1f} ms, "
        f"max {1000 * max(times):.1f} ms, envelopes built {len(envelopes - {id(shell)})}"
    )
    print(f"re-plan, user threshold:                                 median {1000 * med_fixed:.1f} ms")
    print(f"naive per-step Python marching (6 rays, same run): {1000 * naive:.0f} ms")
    print(f"speed-up vs naive: {naive / med:.0f}x;  target < 50 ms: {'PASS' if med < 0.05 else 'FAIL'}")


if __name__ == "__main__":
    main()
