"""``bonequality phantom-cohort``: a synthetic cohort of varied phantoms with a manifest."""

from __future__ import annotations

from ..validation import check_integer

#: ``--n``: 1 to this many cases (a 40-case cohort takes minutes).
MAX_CASES = 1000
#: ``--seed``: numpy's seed range for one integer, 0 to 2**32 - 1.
SEED_RANGE = (0, 2**32 - 1)

NAME = "phantom-cohort"
OUTPUT_FOLDER = True
HELP = "write N varied pelvis and vertebra phantoms and DIR/manifest.csv for `bonequality batch`"


def add_arguments(parser) -> None:
    parser.add_argument("--n", type=int, required=True, help=f"number of cases, 1 to {MAX_CASES}")
    parser.add_argument("--out", required=True, help="output folder (manifest.csv and images/)")
    parser.add_argument(
        "--seed", type=int, default=0, help=f"random seed of the variation, 0 to {SEED_RANGE[1]} (default 0)"
    )


def run(args, progress=None) -> dict:
    from ..batch.cohort import CohortOptions, write_phantom_cohort

    check_integer(args.n, name="--n", lo=1, hi=MAX_CASES)
    check_integer(args.seed, name="--seed", lo=SEED_RANGE[0], hi=SEED_RANGE[1])
    manifest = write_phantom_cohort(
        args.out, args.n, options=CohortOptions(seed=args.seed), progress=progress, overwrite=args.overwrite
    )
    return {"manifest": str(manifest), "cases": args.n}
