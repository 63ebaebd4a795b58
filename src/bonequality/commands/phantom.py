"""``bonequality phantom``: write a synthetic phantom with its landmarks and ground truth."""

from __future__ import annotations

from ..errors import InputFileError
from ..phantoms import ANISOTROPIC_SPACING, GENERATORS, make_phantom, oblique_direction, write_phantom

NAME = "phantom"
HELP = "write a synthetic phantom: the image, <stem>.mrk.json (landmarks) and <stem>.truth.json"


def add_arguments(parser) -> None:
    parser.add_argument("kind", choices=sorted(GENERATORS), help="which phantom")
    parser.add_argument("--out", required=True, help="image file to write (.nrrd, .nii.gz, .mha)")
    parser.add_argument(
        "--osteoporotic", action="store_true", help="pelvis: the osteoporotic variant (L5 <= 100 HU)"
    )
    parser.add_argument(
        "--sacral-tilt",
        type=float,
        default=None,
        metavar="DEG",
        help="pelvis: sacral slope in degrees (rigid tilt about the left-right axis; default 0 = upright)",
    )
    parser.add_argument(
        "--oblique", action="store_true", help="write on an oblique grid (tilted direction matrix)"
    )
    parser.add_argument(
        "--anisotropic", action="store_true", help=f"write with spacing {ANISOTROPIC_SPACING} mm"
    )
    parser.add_argument("--ras", action="store_true", help="write the landmarks file in RAS instead of LPS")


def run(args, progress=None) -> dict:
    for flag, value in (("--osteoporotic", args.osteoporotic), ("--sacral-tilt", args.sacral_tilt)):
        if value not in (None, False) and args.kind != "pelvis":
            raise InputFileError(f"{flag} applies to the pelvis phantom only")
    if not str(args.out).lower().endswith((".nrrd", ".nii.gz", ".nii", ".mha")):
        raise InputFileError(f"--out {args.out}: use an image file ending in .nrrd, .nii.gz, .nii or .mha")
    options = {}
    if args.kind == "pelvis":
        options["osteoporotic"] = args.osteoporotic
        if args.sacral_tilt is not None:
            if not -60.0 <= args.sacral_tilt <= 60.0:
                raise InputFileError(
                    f"--sacral-tilt {args.sacral_tilt}: use an angle between -60 and 60 degrees"
                )
            options["sacral_tilt_deg"] = args.sacral_tilt
    if args.oblique:
        options["direction"] = oblique_direction()
    if args.anisotropic:
        options["spacing"] = ANISOTROPIC_SPACING
    if progress:
        progress(0.1, f"phantom {args.kind}")
    phantom = make_phantom(args.kind, **options)
    paths = write_phantom(phantom, args.out, coordinate_system="RAS" if args.ras else "LPS")
    return {k: str(v) for k, v in paths.items()}
