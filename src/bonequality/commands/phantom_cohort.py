"""``bonequality phantom-cohort``: a synthetic cohort of varied phantoms with a manifest."""

from __future__ import annotations

NAME = "phantom-cohort"
HELP = "write N varied pelvis and vertebra phantoms and DIR/manifest.csv for `bonequality batch`"


def add_arguments(parser) -> None:
    parser.add_argument("--n", type=int, required=True, help="number of cases")
    parser.add_argument("--out", required=True, help="output folder (manifest.csv and images/)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the variation (default 0)")


def run(args, progress=None) -> dict:
    from ..batch.cohort import CohortOptions, write_phantom_cohort

    manifest = write_phantom_cohort(
        args.out, args.n, options=CohortOptions(seed=args.seed), progress=progress
    )
    return {"manifest": str(manifest), "cases": args.n}
