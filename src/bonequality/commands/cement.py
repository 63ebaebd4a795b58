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
from ..outputs import atomic_output_dir
from ..progress import report, scaled
from ..report import DemoSection
from ..segmentation import read_mask
from ..volume import Volume
from .args import point_lps, positive_float, two_floats

NAME = "cement"
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
    parser.add_argument("--screw-diameter", type=positive_float, default=7.0, help="mm (default 7)")
    parser.add_argument("--bone-hu", type=two_floats, default=(226.0, 3071.0), help="lo,hi (226,3071)")
    parser.add_argument("--cement-hu", type=two_floats, default=(1000.0, 3000.0), help="lo,hi (1000,3000)")
    parser.add_argument(
        "--min-zone-fraction",
        type=float,
        default=0.05,
        help="cement fraction of a score zone needed for it to count (0.05)",
    )
    parser.add_argument(
        "--closing-mm", type=float, default=0.0, help="gap-repair closing radius before void filling (0)"
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
    name = f"CT {args.ct}"
    volume = Volume.read(args.ct, name=name)
    options = CementOptions(
        bone_hu=tuple(args.bone_hu),
        cement_hu=tuple(args.cement_hu),
        min_zone_fraction=args.min_zone_fraction,
        closing_mm=args.closing_mm,
        screw_diameter_mm=args.screw_diameter,
        leak_rule=args.leak_rule,
    )
    body, sources = _body_source(args)
    sources = {"ct": str(args.ct), **sources}
    sacrum = None
    if args.sacrum_mask:
        sacrum = read_mask(
            args.sacrum_mask, label=args.sacrum_label, segment=None, name=f"--sacrum-mask {args.sacrum_mask}"
        )
        sources["sacrum_mask"] = str(args.sacrum_mask)
    screws = ()
    if args.screws:
        screws = read_screws(args.screws, diameter_mm=args.screw_diameter)
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
    with atomic_output_dir(args.out) as stage:
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
