"""``bonequality cement``: vertebroplasty / sacroplasty cement volumetry (seeds 003 and 002).

Writes ``DIR/summary.json`` (VBV, CDV, VF %, leakage per location, distribution score,
side fractions, the leak rule and what it set aside as bone, warnings, seconds),
``DIR/segments.seg.nrrd`` (segments VertebralBody, Cement, Leakage; loads in Slicer) and
``DIR/report.png`` (cement over coronal, sagittal and axial CT planes in patient axes,
with the score zones drawn). Warnings (a doubtful mask, posterior elements in a body
mask, cement-like voxels set aside) go to the log and ``summary.json``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from ..cement import LEAK_RULES, BodySource, CementInputs, CementOptions, read_screws
from ..cement import run as run_cement
from ..cement.options import OPTION_RANGES
from ..errors import OptionError
from ..progress import report, scaled
from ..report import DemoSection
from ..segmentation import read_mask
from ..validation import HU_RANGE
from ..volume import Volume
from . import output_dir
from .args import point_lps, two_floats

NAME = "cement"
OUTPUT_FOLDER = True
HELP = "cement volumetry after vertebroplasty: VBV, CDV, VF %, leakage, distribution score (seed 003)"


def add_arguments(parser) -> None:
    parser.add_argument("ct", help="post-operative CT (NRRD, NIfTI, MHA or DICOM folder)")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--body-mask", help="vertebral body mask (label map or .seg.nrrd)")
    src.add_argument(
        "--vertebra-mask", help="whole-vertebra mask; the posterior elements are cut off automatically"
    )
    src.add_argument(
        "--seed",
        type=point_lps,
        help="x,y,z (LPS mm) of a point in the vertebral body; write --seed=-5,-3,2 for negative values",
    )
    parser.add_argument("--label", type=int, help="label value of the vertebra/body in a label map")
    parser.add_argument("--segment", help="segment name in a .seg.nrrd mask")
    parser.add_argument("--sacrum-mask", help="sacrum mask: adds cement per ala and sacral leakage")
    parser.add_argument("--sacrum-label", type=int, help="label value of the sacrum in a label map")
    parser.add_argument("--screws", help=".mrk.json with screws as lines (or entry/tip point pairs)")
    parser.add_argument(
        "--screw-diameter",
        type=float,
        default=None,
        help=f"diameter of the --screws that do not state one, {_range('screw_diameter_mm')} (default 7)",
    )
    hu = f"{HU_RANGE[0]:g} to {HU_RANGE[1]:g} HU"
    parser.add_argument(
        "--bone-hu", type=two_floats, default=(226.0, 3071.0), help=f"lo,hi within {hu} (226,3071)"
    )
    parser.add_argument(
        "--cement-hu", type=two_floats, default=(1000.0, 3000.0), help=f"lo,hi within {hu} (1000,3000)"
    )
    parser.add_argument(
        "--min-zone-fraction",
        type=float,
        default=0.05,
        help=f"cement fraction of a score zone needed for it to count, {_range('min_zone_fraction')} (0.05)",
    )
    parser.add_argument(
        "--closing-mm",
        type=float,
        default=0.0,
        help=f"gap-repair closing radius before void filling, {_range('closing_mm')} (0)",
    )
    parser.add_argument(
        "--leak-rule",
        choices=LEAK_RULES,
        default="cement",
        help="cement (default): dense voxels count as cement only when their HU exceeds this scan's own "
        "cortex or they are not part of the bone (cortex of the posterior elements, endplates and "
        "sclerotic bone are set aside); threshold: every voxel the 1000-3000 HU threshold and the "
        "cortical-bone check keep counts, as Mimics' raw number",
    )
    parser.add_argument("--out", required=True, help="output folder")


def _range(option: str) -> str:
    """``"0-10 mm"`` / ``"above 0 to 20 mm"``: an option's range as :class:`CementOptions` checks it."""
    lo, hi, lo_inclusive, unit = OPTION_RANGES[option]
    return f"{'above ' if not lo_inclusive else ''}{lo:g} to {hi:g}{' ' + unit if unit else ''}"


def check_applicable(args) -> None:
    """Refuse options that would be silently ignored (:class:`~bonequality.errors.OptionError`)."""
    if (args.label is not None or args.segment is not None) and not (args.body_mask or args.vertebra_mask):
        raise OptionError(
            "--label and --segment select part of --body-mask or --vertebra-mask; they do not apply to "
            "--seed: give --body-mask or --vertebra-mask too"
        )
    if args.sacrum_label is not None and not args.sacrum_mask:
        raise OptionError("--sacrum-label selects the sacrum in --sacrum-mask; give --sacrum-mask too")
    if args.screw_diameter is not None and not args.screws:
        raise OptionError("--screw-diameter applies to the screws of --screws; give --screws too")


def _body_source(args) -> tuple[BodySource, dict]:
    """The vertebral-body source of ``--body-mask`` / ``--vertebra-mask`` / ``--seed`` and its file."""
    for flag, key, make in (
        ("--body-mask", "body_mask", BodySource.body_mask),
        ("--vertebra-mask", "vertebra_mask", BodySource.vertebra_mask),
    ):
        path = getattr(args, key)
        if path:
            name = f"{flag} {path}"
            mask = read_mask(path, label=args.label, segment=args.segment, name=name)
            return make(mask, name=name), {key: str(path)}
    return BodySource.seed_point(args.seed), {}


def inputs_from_args(args) -> CementInputs:
    """Read the files named by ``args`` into validated :class:`CementInputs`."""
    check_applicable(args)
    options = CementOptions(
        bone_hu=tuple(args.bone_hu),
        cement_hu=tuple(args.cement_hu),
        min_zone_fraction=args.min_zone_fraction,
        closing_mm=args.closing_mm,
        leak_rule=args.leak_rule,
        **({} if args.screw_diameter is None else {"screw_diameter_mm": args.screw_diameter}),
    )
    name = f"CT {args.ct}"
    volume = Volume.read(args.ct, name=name)
    body, sources = _body_source(args)
    sources = {"ct": str(args.ct), **sources}
    sacrum = None
    if args.sacrum_mask:
        sacrum = read_mask(
            args.sacrum_mask,
            label=args.sacrum_label,
            name=f"--sacrum-mask {args.sacrum_mask}",
            label_option="--sacrum-label",
        )
        sources["sacrum_mask"] = str(args.sacrum_mask)
    screws = ()
    if args.screws:
        screws = read_screws(args.screws, diameter_mm=options.screw_diameter_mm)
        sources["screws"] = str(args.screws)
    return CementInputs(
        volume, body, sacrum_mask=sacrum, screws=screws, options=options, name=name, sources=sources
    )


def run(args, progress=None) -> dict:
    t0 = time.perf_counter()
    report(progress, 0.0, "reading CT")
    inputs = inputs_from_args(args)
    result = run_cement(inputs, progress=scaled(progress, 0.05, 0.8))
    # "seconds" in summary.json: reading the inputs and the analysis, as before.
    result = replace(result, seconds=time.perf_counter() - t0)
    with output_dir(args, NAME) as stage:
        report(progress, 0.85, "writing outputs")
        result.write(stage, inputs)
    report(progress, 1.0, "done")
    return result.summary(inputs)


def demo(out_dir: Path, progress=None) -> list[DemoSection]:
    """Run the analysis on the cemented-vertebra phantom (vertebra mask, automatic posterior cut)."""
    from ..phantoms.cemented import make_cemented_vertebra

    report(progress, 0.0, "cemented phantom")
    phantom = make_cemented_vertebra()
    inputs = CementInputs(
        phantom.volume, BodySource.vertebra_mask(phantom.masks["vertebra"]), name="cemented phantom"
    )
    result = run_cement(inputs, progress=scaled(progress, 0.3, 0.8))
    seconds = result.seconds
    sub = Path(out_dir) / "cement"
    sub.mkdir(parents=True, exist_ok=True)
    result.write(sub, inputs)
    truth = phantom.truth
    rows = {
        "VBV ml (truth / measured)": f"{truth['vbv_ml']:.3f} / {result.vbv_ml:.3f}",
        "CDV ml": f"{truth['cdv_ml']:.3f} / {result.cdv_ml:.3f}",
        "VF %": f"{truth['vf_percent']:.2f} / {result.vf_percent:.2f}",
        "leakage ml": f"{truth['leakage_ml']:.3f} / {result.leakage_ml:.3f}",
    }
    for loc, v in truth["leakage_by_location"].items():
        rows[f"  {loc} ml"] = f"{v:.3f} / {result.leakage_by_location[loc]:.3f}"
    s = result.distribution_score
    rows["score (designed / measured)"] = (
        f"{truth['distribution_score']['total']} / {s.total} (group {s.group})"
    )
    rows["left fraction"] = f"{truth['side_fraction']['left']:.3f} / {result.side_fraction['left']:.3f}"
    rows["seconds (0.5 mm grid)"] = f"{seconds:.2f}"
    report(progress, 1.0, "cement done")
    return [
        DemoSection(
            title="CementVolume: vertebroplasty phantom (seed 003)",
            text=(
                "A vertebra with dense (1200 HU) cortical walls, two cement cylinders and three leaks "
                "(paravertebral, cranial disc, spinal canal). The body is cut from the whole-vertebra mask "
                "at its own posterior wall (the spinal canal is found in 3-D along the vertebra's axis); "
                "dense cortex is told from cement by the cortical-bone check and the cement leak rule. "
                "Truth is analytic."
            ),
            table=rows,
            images=("cement/report.png",),
        )
    ]
