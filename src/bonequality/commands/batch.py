"""``bonequality batch``: run analyses over a manifest of cases on Dask, resumably."""

from __future__ import annotations

from pathlib import Path

from ..errors import BoneQualityError

NAME = "batch"
HELP = "run analyses over a manifest CSV of cases on Dask (resumable); writes cohort.csv and report.html"


def _column_help() -> str:
    try:
        from ..batch.manifest import INPUT_COLUMNS
    except BoneQualityError:  # a broken third-party analysis: `bonequality batch` reports it
        return "ct and the analyses' inputs"
    return ", ".join(c for c in INPUT_COLUMNS if c != "ct")


def add_arguments(parser) -> None:
    parser.add_argument(
        "manifest",
        help="CSV with one row per case: case_id, ct, the analyses' inputs ("
        + _column_help()
        + ") and any metadata columns (age, sex, fracture, group); paths relative to the CSV",
    )
    parser.add_argument(
        "--analyses",
        default="",
        help="comma-separated: corridors, sacroplasty, focal-defect, cement and any installed under the "
        "'bonequality.analyses' entry points (default: all of them; a row's 'analyses' cell narrows "
        "it, separated by ';')",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="output folder DIR, holding no input (a rerun with the same manifest skips finished cases)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh: replace the results of an earlier run in DIR, whole (a folder holding files "
        "bonequality did not write is never replaced)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local Dask worker processes, at most one per CPU core (default: one per core, "
        "memory permitting)",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        help="address of a running Dask scheduler: host:port or tcp://host:port (also tls://, ws://)",
    )
    parser.add_argument("--no-report", action="store_true", help="do not write report.html")


def run(args, progress=None) -> dict:
    from ..batch import ANALYSES, check_manifest, get_analyses, read_manifest, run_batch
    from ..batch.cluster import check_scheduler, check_workers
    from ..batch.runner import check_batch_dir

    if args.scheduler:
        check_scheduler(args.scheduler)
    else:
        check_workers(args.workers)
    analyses = get_analyses(args.analyses or list(ANALYSES))
    manifest = read_manifest(args.manifest, required_columns=("ct",))
    check_manifest(manifest, analyses)
    check_batch_dir(args.out, manifest, overwrite=args.overwrite)
    options = {"progress": progress, "write_report": not args.no_report, "overwrite": args.overwrite}
    if args.scheduler:
        # Connect first: an unreachable scheduler must fail before anything is written.
        from ..batch.cluster import dask_client

        with dask_client(scheduler=args.scheduler) as client:
            result = run_batch(manifest, analyses, args.out, client=client, **options)
    else:
        result = run_batch(manifest, analyses, args.out, workers=args.workers, **options)
    summary = result.to_dict()
    summary["failures"] = [f"{f['case_id']}: {f['error']}" for f in result.failures]
    return summary


def demo(out_dir: Path, progress=None) -> list:
    """A 12-case phantom cohort through ``bonequality batch`` on 2 workers; the cohort report."""
    import dataclasses
    import time

    import pandas as pd

    from ..batch import ANALYSES, get_analyses, read_manifest, run_batch
    from ..batch.cohort import write_phantom_cohort
    from ..batch.report import cohort_sections
    from ..outputs import atomic_replace_dir
    from ..progress import scaled
    from ..report import DemoSection

    manifest = read_manifest(
        write_phantom_cohort(out_dir / "batch-cohort", 12, progress=scaled(progress, 0, 0.3))
    )
    t0 = time.perf_counter()
    result = run_batch(
        manifest,
        get_analyses(list(ANALYSES)),
        out_dir / "batch",
        workers=2,
        progress=scaled(progress, 0.3, 0.9),
        write_report=False,
    )
    seconds = time.perf_counter() - t0
    cohort = pd.read_csv(result.cohort_csv, dtype={"case_id": str})
    profiles_csv = out_dir / "batch" / "profiles.csv"
    profiles = pd.read_csv(profiles_csv) if profiles_csv.is_file() else None
    with atomic_replace_dir(out_dir / "batch" / "report") as stage:
        sections = cohort_sections(cohort, profiles, stage)
    intro = DemoSection(
        "Cohort study: bonequality batch",
        f"`bonequality phantom-cohort --n 12` wrote 12 varied phantoms (pelvises with age-like density, "
        f"focal-defect vertebrae with a fracture status, cemented vertebrae with trimmed cement); "
        f"`bonequality batch` ran {', '.join(result.analyses)} on a 2-worker Dask LocalCluster in "
        f"{seconds:.1f} s ({result.done} done, {result.failed} failed). Files: batch/cohort.csv, "
        "batch/profiles.csv, batch/cases/<case_id>/. The sections below are the cohort report "
        "(on 12 synthetic cases the statistics only show the form of the seed papers' tables).",
    )
    return [intro] + [
        dataclasses.replace(s, title=f"Cohort: {s.title}", images=tuple(f"batch/{i}" for i in s.images))
        for s in sections
    ]
