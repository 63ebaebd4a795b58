"""``bonequality sacroplasty``: needle targets, trajectories and depths (seed 001).

Writes ``DIR/summary.json`` (:meth:`SacroplastyPlan.to_dict` and the input file names)
and ``DIR/report.png`` (:mod:`bonequality.sacroplasty.report`). With ``--sacrum-mask`` (a
label map, NIfTI or Slicer ``.seg.nrrd``; ``--label`` or ``--segment`` selects the sacrum)
the mask is what is inside the sacrum; otherwise the cortical shell of the CT is.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import OptionError
from ..landmarks import read_mrk_json
from ..progress import report, scaled
from ..report import DemoSection
from ..sacroplasty import REFERENCE, SacroplastyInputs, SacroplastyPlan, plot_plan
from ..sacroplasty import run as run_sacroplasty
from ..segmentation import read_mask
from ..volume import Volume
from . import output_dir
from .args import bone_threshold_hu

NAME = "sacroplasty"
OUTPUT_FOLDER = True
HELP = "plan sacroplasty needles (seed 001): target, 3 trajectories, distance to the anterior cortex"


def add_arguments(parser) -> None:
    parser.add_argument("ct", help="CT image (NRRD, NIfTI, MHA or DICOM folder), HU")
    parser.add_argument("--landmarks", required=True, help="Slicer .mrk.json with the sacroplasty landmarks")
    parser.add_argument("--out", required=True, help="output folder: summary.json and report.png")
    parser.add_argument(
        "--bone-threshold",
        type=bone_threshold_hu,
        default=None,
        help="bone threshold in HU (default: per scan)",
    )
    parser.add_argument(
        "--sacrum-mask",
        help="sacrum segmentation (label map, NIfTI or .seg.nrrd, e.g. TotalSegmentator's sacrum): "
        "it decides what is inside the sacrum instead of the CT's cortical shell",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--label", type=int, help="label value of the sacrum in a label-map --sacrum-mask")
    which.add_argument("--segment", help="segment name of the sacrum in a .seg.nrrd --sacrum-mask")


def summary(plan: SacroplastyPlan, out) -> dict:
    """The figures the CLI prints: distances to the anterior cortex per side and trajectory, warnings."""
    return {
        "out": str(out),
        "distances_mm": {
            side: {k: round(t.distance_to_anterior_cortex_mm, 1) for k, t in res.trajectories.items()}
            for side, res in plan.sides.items()
        },
        "envelope": plan.envelope.get("envelope_name"),
        "warnings": list(plan.warnings),
    }


def inputs_from_args(args) -> SacroplastyInputs:
    """The command's arguments as validated :class:`SacroplastyInputs` (files read here)."""
    if (args.label is not None or args.segment is not None) and not args.sacrum_mask:
        raise OptionError("--label and --segment select the sacrum in --sacrum-mask; give --sacrum-mask too")
    name = f"CT {args.ct}"
    sources = {"ct": str(args.ct), "landmarks": str(args.landmarks)}
    mask, mask_name = None, "sacrum mask"
    if args.sacrum_mask:
        what = f"--sacrum-mask {args.sacrum_mask}"
        mask = read_mask(args.sacrum_mask, label=args.label, segment=args.segment, name=what)
        mask_name = f"sacrum mask {Path(args.sacrum_mask).name}"
        sources["sacrum_mask"] = str(args.sacrum_mask)
    return SacroplastyInputs(
        Volume.read(args.ct, name=name),
        read_mrk_json(args.landmarks),
        bone_threshold=args.bone_threshold,
        name=name,
        sources=sources,
        sacrum_mask=mask,
        sacrum_mask_name=mask_name,
    )


def run(args, progress=None) -> dict:
    report(progress, 0.0, "reading CT")
    inputs = inputs_from_args(args)
    plan = run_sacroplasty(inputs, progress=scaled(progress, 0.4, 0.6))
    report(progress, 0.6, "writing report")
    with output_dir(args, NAME) as stage:
        plan.write(stage, inputs)
    report(progress, 1.0, "done")
    return summary(plan, args.out)


def demo(out_dir: Path, progress=None) -> list[DemoSection]:
    """Plan on the pelvis phantom and its osteoporotic variant; pictures into ``out_dir``.

    The phantoms have a 30 degree sacral slope (``sacral_tilt_deg``), as real pelves do
    (35-45 degrees); with the upright phantom the disc-parallel and axial needles coincide.
    """
    from ..phantoms import make_phantom

    tilt = 30.0
    sections = []
    for n, osteo in enumerate((False, True)):
        report(progress, n / 2, "sacroplasty demo: phantom")
        phantom = make_phantom("pelvis", osteoporotic=osteo, sacral_tilt_deg=tilt, spacing=(1.0, 1.0, 1.0))
        stem = "pelvis_osteoporotic" if osteo else "pelvis"
        inputs = SacroplastyInputs(phantom.volume, phantom.landmarks, name=f"{stem} phantom")
        plan = run_sacroplasty(inputs)
        name = "sacroplasty_osteoporotic.png" if osteo else "sacroplasty.png"
        plot_plan(phantom.volume, plan, phantom.landmarks).savefig(Path(out_dir) / name, dpi=90)
        table = {
            f"{side} {k} (seed 001: {REFERENCE[k]['mean_mm']} ± {REFERENCE[k]['sd_mm']} mm)": (
                f"{t.distance_to_anterior_cortex_mm:.1f} mm, {t.category}, depth {t.needle_depth_mm:.0f} mm"
            )
            for side, res in plan.sides.items()
            for k, t in res.trajectories.items()
        }
        table["bone threshold (HU)"] = f"{plan.bone_threshold_hu:.0f} ({plan.threshold_source})"
        table["warnings"] = "; ".join(plan.warnings) or "none"
        sections.append(
            DemoSection(
                title="Sacroplasty needle planning"
                + (" (osteoporotic pelvis)" if osteo else " (pelvis phantom)"),
                text=f"Pelvis phantom with a {tilt:.0f} degree sacral slope. Target T at the crossing of "
                "lines A and B between the S1 corners (seed 001 Fig. 1); per side the ala target and three "
                "trajectories turned parallel to the SI joint, with the distance from the target to the "
                "outer anterior sacral cortex.",
                table=table,
                images=(name,),
            )
        )
    return sections
