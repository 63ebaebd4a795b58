"""``bonequality phantom``: write a synthetic phantom with its landmarks and ground truth."""

from __future__ import annotations

from ..errors import OptionError
from ..phantoms import ANISOTROPIC_SPACING, GENERATORS, make_phantom, oblique_direction, write_phantom
from ..validation import check_number

#: Range of ``--sacral-tilt`` (degrees; real sacral slopes are 35-45).
SACRAL_TILT_RANGE_DEG = (-60.0, 60.0)
#: Phantoms written with a landmarks file (``--ras`` applies to them only).
WITH_LANDMARKS = ("pelvis", "sacrum-block")

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
        help="pelvis: sacral slope in degrees, -60 to 60 (rigid tilt about the left-right axis; "
        "default 0 = upright)",
    )
    parser.add_argument(
        "--oblique", action="store_true", help="write on an oblique grid (tilted direction matrix)"
    )
    parser.add_argument(
        "--anisotropic", action="store_true", help=f"write with spacing {ANISOTROPIC_SPACING} mm"
    )
    parser.add_argument(
        "--ras",
        action="store_true",
        help="pelvis, sacrum-block: write the landmarks file in RAS instead of LPS",
    )


def check_arguments(args) -> None:
    """Refuse options that do not apply to the phantom ``args.kind`` or are out of range."""
    for flag, value in (("--osteoporotic", args.osteoporotic), ("--sacral-tilt", args.sacral_tilt)):
        if value not in (None, False) and args.kind != "pelvis":
            raise OptionError(f"{flag} applies to the pelvis phantom only, not to {args.kind}")
    if args.ras and args.kind not in WITH_LANDMARKS:
        raise OptionError(
            f"--ras sets the coordinate system of the landmarks file; the {args.kind} phantom has none "
            f"(only {', '.join(WITH_LANDMARKS)})"
        )
    if args.sacral_tilt is not None:
        lo, hi = SACRAL_TILT_RANGE_DEG
        check_number(args.sacral_tilt, name="--sacral-tilt", lo=lo, hi=hi, unit="degrees")
    if not str(args.out).lower().endswith((".nrrd", ".nii.gz", ".nii", ".mha")):
        raise OptionError(f"--out {args.out}: use an image file ending in .nrrd, .nii.gz, .nii or .mha")


def run(args, progress=None) -> dict:
    check_arguments(args)
    options = {}
    if args.kind == "pelvis":
        options["osteoporotic"] = args.osteoporotic
        if args.sacral_tilt is not None:
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
