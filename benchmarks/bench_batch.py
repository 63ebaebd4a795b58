"""Batch throughput: cases/minute with 1 and 2 Dask workers, and the batch layer's overhead.

Writes a phantom cohort (``bonequality phantom-cohort``), then in the same run:

0. **the layer alone**: in this (warm) process, every case's analyses called directly vs
   through :func:`~bonequality.batch.case.run_case` (staging folder, summary.json,
   atomic publish): the batch layer's own per-case cost, without Dask;
1. **direct**: every case's analyses called in a plain loop in a fresh Python process
   (no Dask, no staging, no cohort files) with the environment a 1-worker cluster gives
   its worker (``distributed.nanny.pre-spawn-environ`` with ``OMP_NUM_THREADS`` etc. set
   to the worker's share of the cores, as :func:`bonequality.batch.cluster.dask_client`
   does): the like-for-like baseline;
2. **batch, 1 worker**: ``run_batch`` on a 1-worker LocalCluster (cluster start included);
3. **batch, 2 workers**: the same with 2 workers;
4. **batch on a running cluster**: ``run_batch`` on a 1-worker cluster that is already up
   and warm, against the direct calls in one warm process: the batch layer's per-case
   overhead, without the fixed costs of a run (cluster start, a new worker's imports).

Each is run ``--repeat`` times, interleaved, and the fastest run counts (the machine is
shared: other processes load the CPU, so absolute timings are pessimistic and the
2-worker speed-up is limited by the free cores; the load average is printed).
Overhead = (batch with 1 worker - direct loop) / direct loop; the target is < 10 %. It is
also shown without the LocalCluster's start-up (measured separately), and, immune to the
load drifting between runs, within each batch run: its wall time against the time the
worker spent inside the analyses (``analysis_seconds`` of each case's summary.json).

The fixed cost of a run (LocalCluster start and close, a few seconds) dominates when the
cases are tiny; ``--pelvis-spacing 1.0`` makes the pelvis cases heavier, closer to real CTs.

Usage: ``.venv/bin/python benchmarks/bench_batch.py [--n 40] [--repeat 3] [--pelvis-spacing 1.5] [--report]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def direct_loop(manifest_path: Path, scratch: Path) -> float:
    """Run every case's analyses in a loop in this (fresh) process; returns seconds.

    The imports are timed too: a Dask worker is a fresh process that imports the same.
    """
    t0 = time.perf_counter()
    from bonequality.batch import CaseInputs, get_analyses, read_manifest
    from bonequality.batch.analysis import case_analyses

    manifest = read_manifest(manifest_path)
    analyses = get_analyses("corridors,sacroplasty,focal-defect,cement")
    for case in manifest.cases:
        inputs = CaseInputs(case)
        for a in case_analyses(case, analyses):
            d = scratch / case.case_id / a.name
            d.mkdir(parents=True)
            a.func(inputs, d)
    return time.perf_counter() - t0


def layer_in_process(manifest, analyses, scratch: Path) -> tuple[float, float]:
    """Seconds of the direct calls and of ``run_case`` (staging, summary, publish) in this process."""
    from bonequality.batch import CaseInputs, run_case
    from bonequality.batch.analysis import case_analyses

    t0 = time.perf_counter()
    for case in manifest.cases:
        inputs = CaseInputs(case)
        for a in case_analyses(case, analyses):
            d = scratch / "direct" / case.case_id / a.name
            d.mkdir(parents=True)
            a.func(inputs, d)
    t1 = time.perf_counter()
    for case in manifest.cases:
        run_case(case, analyses, scratch / "run_case")
    return t1 - t0, time.perf_counter() - t1


def direct_in_subprocess(manifest_path: Path, scratch: Path, env: dict) -> float:
    res = subprocess.run(
        [sys.executable, __file__, "--direct", str(manifest_path), "--scratch", str(scratch)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(res.stdout.strip().splitlines()[-1])


def concurrent_direct(manifest_path: Path, scratch: Path, env: dict) -> float:
    """Seconds for two direct loops (one thread each) running at the same time.

    With the single direct loop's time this gives the throughput ratio the machine can
    give this workload with two processes, whatever the scheduler: the ceiling of the
    2-worker / 1-worker ratio.
    """
    cmd = [sys.executable, __file__, "--direct", str(manifest_path), "--scratch"]
    procs = [
        subprocess.Popen(
            [*cmd, str(scratch / str(i))], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    return max(float(p.communicate()[0].strip().splitlines()[-1]) for p in procs)


def cluster_start_stop(workers: int) -> tuple[float, float]:
    """Seconds to start a LocalCluster (until a first task returns) and to close it."""
    from bonequality.batch.cluster import dask_client

    t0 = time.perf_counter()
    cm = dask_client(workers=workers)
    client = cm.__enter__()
    client.submit(sum, [1, 2]).result()
    t1 = time.perf_counter()
    cm.__exit__(None, None, None)
    return t1 - t0, time.perf_counter() - t1


def batch(manifest, analyses, out: Path, workers: int, report: bool) -> tuple[float, float]:
    """Wall seconds of ``run_batch`` and the seconds spent inside the analyses (from the workers)."""
    import json

    from bonequality.batch import run_batch

    t0 = time.perf_counter()
    result = run_batch(manifest, analyses, out, workers=workers, write_report=report)
    wall = time.perf_counter() - t0
    if result.done != len(manifest) or result.failed:
        raise SystemExit(f"batch failed: {result.failures}")
    inside = sum(
        sum(json.loads((out / "cases" / c.case_id / "summary.json").read_text())["analysis_seconds"].values())
        for c in manifest.cases
    )
    return wall, inside


def batch_on_running_cluster(manifest, analyses, scratch: Path, repeat: int) -> float:
    """Best wall seconds of ``run_batch`` on a 1-worker cluster that is already up and warm.

    This is the batch layer's cost per case (Dask dispatch, staging, summaries, cohort
    files) without the per-run fixed costs (cluster start, the new worker's imports).
    """
    from bonequality.batch import run_batch
    from bonequality.batch.cluster import dask_client

    with dask_client(workers=1) as client:
        run_batch(manifest, analyses, scratch / "warmup", client=client, write_report=False)
        times = []
        for r in range(repeat):
            t0 = time.perf_counter()
            run_batch(manifest, analyses, scratch / f"run{r}", client=client, write_report=False)
            times.append(time.perf_counter() - t0)
    return min(times)


def measure(args, tmp: Path) -> dict:
    """Every timing of the module docstring, on a fresh phantom cohort in ``tmp``."""
    from bonequality.batch import get_analyses, read_manifest
    from bonequality.batch.cluster import THREAD_VARIABLES, worker_environment
    from bonequality.batch.cohort import CohortOptions, write_phantom_cohort

    worker_env = worker_environment(1)  # exactly what a 1-worker cluster gives its worker
    t0 = time.perf_counter()
    opts = CohortOptions(pelvis_spacing=(args.pelvis_spacing,) * 3)
    manifest_path = write_phantom_cohort(tmp / "cohort", args.n, options=opts)
    print(f"phantom cohort: {args.n} cases written in {time.perf_counter() - t0:.1f} s")
    manifest = read_manifest(manifest_path)
    analyses = get_analyses("corridors,sacroplasty,focal-defect,cement")
    runs: dict[str, list[float]] = {"direct loop": [], "batch, 1 worker": [], "batch, 2 workers": []}
    starts = []
    in_run = []  # (wall - time inside the analyses) / time inside, same run, 1 worker
    for r in range(args.repeat):
        runs["direct loop"].append(direct_in_subprocess(manifest_path, tmp / f"direct{r}", worker_env))
        starts.append(sum(cluster_start_stop(1)))
        wall, inside = batch(manifest, analyses, tmp / f"b1-{r}", 1, args.report)
        runs["batch, 1 worker"].append(wall)
        in_run.append((wall - inside) / inside * 100)
        runs["batch, 2 workers"].append(batch(manifest, analyses, tmp / f"b2-{r}", 2, args.report)[0])
    one_thread = {**worker_env, **dict.fromkeys(THREAD_VARIABLES, "1")}
    t_one = min(direct_in_subprocess(manifest_path, tmp / f"one{r}", one_thread) for r in range(args.repeat))
    t_two = min(concurrent_direct(manifest_path, tmp / f"two{r}", one_thread) for r in range(args.repeat))
    layer_in_process(manifest, analyses, tmp / "warm")  # imports and file caches
    layer = [layer_in_process(manifest, analyses, tmp / f"layer{r}") for r in range(args.repeat)]
    return {
        "n": len(manifest),
        "runs": runs,
        "in_run": in_run,
        "capacity": 2 * t_one / t_two,
        "t_start1": min(starts),
        "t_calls": min(x[0] for x in layer),
        "t_run_case": min(x[1] for x in layer),
        "t_steady": batch_on_running_cluster(manifest, analyses, tmp / "steady", args.repeat),
    }


def show(m: dict, repeat: int) -> None:
    n, runs, in_run = m["n"], m["runs"], m["in_run"]
    t_calls, t_run_case, t_steady, t_start1 = m["t_calls"], m["t_run_case"], m["t_steady"], m["t_start1"]
    best = {k: min(v) for k, v in runs.items()}
    t_direct, t1, t2 = best["direct loop"], best["batch, 1 worker"], best["batch, 2 workers"]
    print(f"{n} cases, best of {repeat}; cpu cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    for k, v in best.items():
        print(
            f"{k:>18}: {v:6.1f} s  {n / v * 60:7.1f} cases/min   (all runs: "
            f"{', '.join(f'{x:.1f}' for x in runs[k])} s)"
        )
    print(f"2 workers / 1 worker throughput ratio: {t1 / t2:.2f}")
    print(
        f"   ceiling on this machine now: 2 concurrent direct loops (1 thread each) vs 1: "
        f"{m['capacity']:.2f} (2.0 on two free cores)"
    )
    print(f"LocalCluster(1 worker) start + close: {t_start1:.1f} s (fixed per run)")
    over = (t1 - t_direct) / t_direct * 100
    over_run = (t1 - t_start1 - t_direct) / t_direct * 100
    per_case_ms = (t1 - t_start1 - t_direct) / n * 1000
    print(f"direct loop: {t_direct / n * 1000:.0f} ms per case")
    print(
        f"batch layer per case (run_case: staging, summary, atomic publish) vs the direct calls, "
        f"warm, in one process: {(t_run_case - t_calls) / t_calls * 100:+.1f} % "
        f"({t_calls:.1f} s vs {t_run_case:.1f} s)"
    )
    print(
        f"batch on a running, warm 1-worker cluster vs the direct calls in one warm process: "
        f"{(t_steady - t_calls) / t_calls * 100:+.1f} % ({t_calls:.1f} s vs {t_steady:.1f} s): "
        "the per-case overhead of the batch layer (target < 10 %)"
    )
    print(
        f"whole run incl. per-run fixed costs (cluster start, the new worker's imports), 1 worker vs "
        f"a fresh direct loop: {over:+.1f} %"
    )
    print(f"   without the cluster start + close: {over_run:+.1f} % ({per_case_ms:+.0f} ms per case)")
    print(
        "batch time outside the analyses / time inside them, within each 1-worker run: "
        f"{', '.join(f'{x:+.1f}' for x in in_run)} % (best {min(in_run):+.1f} %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="cases (default 40)")
    parser.add_argument(
        "--pelvis-spacing", type=float, default=1.5, help="pelvis voxel size, mm (finer: heavier cases)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts (default 3)")
    parser.add_argument("--report", action="store_true", help="include report.html in the batch timings")
    parser.add_argument("--direct", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.direct:
        print(direct_loop(args.direct, args.scratch))
        return
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        show(measure(args, Path(tmp)), args.repeat)


if __name__ == "__main__":
    main()
