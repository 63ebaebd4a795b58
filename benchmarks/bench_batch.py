"""Batch throughput: cases/minute with 1 and 2 Dask workers, and the batch layer's overhead.

Writes a phantom cohort (``bonequality phantom-cohort``), then in the same run:

1. **direct**: every case's analyses called in a plain loop in a fresh Python process
   (no Dask, no staging, no cohort files) with the environment a 1-worker cluster gives
   its worker (``distributed.nanny.pre-spawn-environ`` with ``OMP_NUM_THREADS`` etc. set
   to the worker's share of the cores, as :func:`bonequality.batch.runner.dask_client`
   does): the like-for-like baseline;
2. **batch, 1 worker**: ``run_batch`` on a 1-worker LocalCluster (cluster start included);
3. **batch, 2 workers**: the same with 2 workers.

Each is run ``--repeat`` times, interleaved, and the fastest run counts (the machine is
shared: other processes load the CPU, so absolute timings are pessimistic and the
2-worker speed-up is limited by the free cores; the load average is printed).
Overhead = (batch with 1 worker - direct loop) / direct loop; the target is < 10 %. It is
also shown without the LocalCluster's start-up (measured separately).

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
    from bonequality.batch import get_analyses, read_manifest
    from bonequality.batch.registry import CaseInputs, case_analyses

    manifest = read_manifest(manifest_path)
    analyses = get_analyses("corridors,sacroplasty,focal-defect,cement")
    for case in manifest.cases:
        inputs = CaseInputs(case)
        for a in case_analyses(case, analyses):
            d = scratch / case.case_id / a.name
            d.mkdir(parents=True)
            a.func(inputs, d)
    return time.perf_counter() - t0


def direct_in_subprocess(manifest_path: Path, scratch: Path, env: dict) -> float:
    res = subprocess.run(
        [sys.executable, __file__, "--direct", str(manifest_path), "--scratch", str(scratch)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(res.stdout.strip().splitlines()[-1])


def _spin() -> float:
    t0 = time.perf_counter()
    x = 0
    for i in range(5_000_000):
        x += i
    return time.perf_counter() - t0


def machine_parallel_capacity() -> float:
    """Throughput of 2 concurrent CPU-bound processes over 1 (2.0 on 2 idle cores)."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(2) as pool:
        one = pool.apply(_spin)
        t0 = time.perf_counter()
        pool.map(_spin_wait, [0, 1])
        two = time.perf_counter() - t0
    return 2 * one / two


def _spin_wait(_) -> float:
    return _spin()


def cluster_start_stop(workers: int) -> tuple[float, float]:
    """Seconds to start a LocalCluster (until a first task returns) and to close it."""
    from bonequality.batch.runner import dask_client

    t0 = time.perf_counter()
    cm = dask_client(workers=workers)
    client = cm.__enter__()
    client.submit(sum, [1, 2]).result()
    t1 = time.perf_counter()
    cm.__exit__(None, None, None)
    return t1 - t0, time.perf_counter() - t1


def batch(manifest, analyses, out: Path, workers: int, report: bool) -> float:
    from bonequality.batch import run_batch

    t0 = time.perf_counter()
    result = run_batch(manifest, analyses, out, workers=workers, write_report=report)
    if result.done != len(manifest) or result.failed:
        raise SystemExit(f"batch failed: {result.failures}")
    return time.perf_counter() - t0


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

    import dask
    import distributed  # noqa: F401  (loads the distributed.* config)

    from bonequality.batch import get_analyses, read_manifest
    from bonequality.batch.cohort import CohortOptions, write_phantom_cohort

    worker_env = {k: str(v) for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()}
    threads = str(os.cpu_count() or 1)  # a single worker's share: every core
    worker_env.update(dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), threads))
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        opts = CohortOptions(pelvis_spacing=(args.pelvis_spacing,) * 3)
        manifest_path = write_phantom_cohort(tmp / "cohort", args.n, options=opts)
        print(f"phantom cohort: {args.n} cases written in {time.perf_counter() - t0:.1f} s")
        manifest = read_manifest(manifest_path)
        analyses = get_analyses("corridors,sacroplasty,focal-defect,cement")
        n = len(manifest)

        runs: dict[str, list[float]] = {"direct loop": [], "batch, 1 worker": [], "batch, 2 workers": []}
        starts = []
        for r in range(args.repeat):
            runs["direct loop"].append(direct_in_subprocess(manifest_path, tmp / f"direct{r}", worker_env))
            starts.append(sum(cluster_start_stop(1)))
            runs["batch, 1 worker"].append(batch(manifest, analyses, tmp / f"b1-{r}", 1, args.report))
            runs["batch, 2 workers"].append(batch(manifest, analyses, tmp / f"b2-{r}", 2, args.report))
        capacity = machine_parallel_capacity()
        best = {k: min(v) for k, v in runs.items()}
        t_direct, t1, t2, t_start1 = (
            best["direct loop"],
            best["batch, 1 worker"],
            best["batch, 2 workers"],
            min(starts),
        )

        print(
            f"{n} cases, best of {args.repeat}; cpu cores: {os.cpu_count()}, load average: "
            f"{os.getloadavg()[0]:.1f}"
        )
        for k, v in best.items():
            print(
                f"{k:>18}: {v:6.1f} s  {n / v * 60:7.1f} cases/min   (all runs: "
                f"{', '.join(f'{x:.1f}' for x in runs[k])} s)"
            )
        print(f"2 workers / 1 worker throughput ratio: {t1 / t2:.2f}")
        print(f"   (2 spinning processes / 1 on this machine right now: {capacity:.2f}; 2.0 when idle)")
        print(f"LocalCluster(1 worker) start + close: {t_start1:.1f} s (fixed per run)")
        over = (t1 - t_direct) / t_direct * 100
        over_run = (t1 - t_start1 - t_direct) / t_direct * 100
        per_case_ms = (t1 - t_start1 - t_direct) / n * 1000
        print(f"direct loop: {t_direct / n * 1000:.0f} ms per case")
        print(f"batch overhead over the direct loop (1 worker): {over:+.1f} % (target < 10 %)")
        print(f"   without the cluster start + close: {over_run:+.1f} % ({per_case_ms:+.0f} ms per case)")


if __name__ == "__main__":
    main()
