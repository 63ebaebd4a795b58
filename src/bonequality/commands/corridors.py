"""``bonequality corridors``: S1/S2 screw corridors, cylinder probes and L5 density (seed 000).

Writes ``DIR/summary.json`` (:meth:`CorridorResult.to_dict` and the input file names),
``DIR/profiles.csv`` (``corridor``, ``percent`` 0.5 ... 99.5, ``mean_hu``) and
``DIR/report.png`` (:mod:`bonequality.corridors.report`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..corridors import REGIONS, CorridorInputs, CorridorOptions, CorridorResult
from ..corridors import run as run_corridors
from ..landmarks import read_mrk_json
from ..progress import report, scaled
from ..report import DemoSection
from ..validation import SCREW_DIAMETER_RANGE_MM
from ..volume import Volume
from . import output_dir
from .args import bone_threshold_hu

NAME = "corridors"
OUTPUT_FOLDER = True
HELP = "S1/S2 screw corridors (seed 000): 10 mm cylinder probes, region means, L5 density, z-scores"


def add_arguments(parser) -> None:
    parser.add_argument("ct", help="CT image (NRRD, NIfTI, MHA or DICOM folder), HU")
    parser.add_argument("--landmarks", required=True, help="Slicer .mrk.json with the corridor landmarks")
    parser.add_argument("--out", required=True, help="output folder: summary.json, profiles.csv, report.png")
    parser.add_argument(
        "--bone-threshold",
        type=bone_threshold_hu,
        default=None,
        help="bone threshold in HU (default: computed per scan)",
    )
    parser.add_argument(
        "--screw-diameter",
        type=float,
        action="append",
        default=None,
        help="screw diameter (mm, above {:g} to {:g}) to check for fit; repeat for several, at most 10 "
        "(default 6.5, 7.3 and 8)".format(*SCREW_DIAMETER_RANGE_MM),
    )


def summary(result: CorridorResult, out) -> dict:
    """The figures the CLI prints: threshold, L5 and per probe the length and region means."""
    d = result.to_dict()
    return {
        "out": str(out),
        "bone_threshold_hu": round(result.bone_threshold_hu, 1),
        "l5": {k: d["l5"][k] for k in ("mean_hu", "roi_volume_ml", "group")},
        **{
            key: {k: d[key][k] for k in ("length_mm", "corridor_mean_hu", "body_mean_hu", "alae_mean_hu")}
            for key in ("S1", "S2")
        },
    }


def run(args, progress=None) -> dict:
    diameters = tuple(args.screw_diameter) if args.screw_diameter else None
    if diameters:
        CorridorOptions(screw_diameters_mm=diameters)  # the library's check, before any file is read
    report(progress, 0.0, "reading CT")
    name = f"CT {args.ct}"
    inputs = CorridorInputs(
        Volume.read(args.ct, name=name),
        read_mrk_json(args.landmarks),
        bone_threshold=args.bone_threshold,
        screw_diameters=diameters,
        name=name,
        sources={"ct": str(args.ct), "landmarks": str(args.landmarks)},
    )
    result = run_corridors(inputs, progress=scaled(progress, 0.2, 0.7))
    report(progress, 0.75, "writing report")
    with output_dir(args, NAME) as stage:
        result.write(stage, inputs)
    report(progress, 1.0, "done")
    return summary(result, args.out)


def demo(out_dir: Path, progress=None) -> list[DemoSection]:
    """Run on the normal and osteoporotic pelvis phantoms (written to ``out_dir/phantoms``)."""
    from ..phantoms import make_phantom, write_phantom

    out_dir = Path(out_dir)
    sections = []
    for n, osteo in enumerate((False, True)):
        report(progress, n / 2, "corridors demo: phantom")
        phantom = make_phantom("pelvis", osteoporotic=osteo)
        stem = "pelvis_osteoporotic" if osteo else "pelvis"
        write_phantom(phantom, out_dir / "phantoms" / f"{stem}.nrrd")
        inputs = CorridorInputs(phantom.volume, phantom.landmarks, name=f"{stem} phantom")
        result = run_corridors(inputs)
        sub = out_dir / f"corridors_{stem}"
        sub.mkdir(parents=True, exist_ok=True)
        result.write(sub, inputs)
        truth = phantom.truth
        table = {"bone threshold (HU)": f"{result.bone_threshold_hu:.0f} ({result.threshold_source})"}
        table["L5 mean HU (truth)"] = (
            f"{result.l5.mean_hu:.1f} ({truth['l5']['trabecular_mean_hu']:.0f}), {result.l5.group}"
        )
        for key, probe in (("S1", result.s1), ("S2", result.s2)):
            exp = truth[key.lower()]["expected_region_means"]
            for region in REGIONS:
                table[f"{key} {region} HU (truth)"] = (
                    f"{probe.region_means[region]:.1f} ({exp[f'{region}_mean_hu']:.1f}); "
                    f"z vs L5 > 100: {result.z_scores['L5 > 100 HU'][f'{key}_{region}']:+.2f}, "
                    f"vs L5 <= 100: {result.z_scores['L5 <= 100 HU'][f'{key}_{region}']:+.2f}"
                )
            err = max(
                np.linalg.norm(probe.entry_left - truth[key.lower()]["entry_L"]),
                np.linalg.norm(probe.entry_right - truth[key.lower()]["entry_R"]),
            )
            table[f"{key} entry point error (mm)"] = f"{err:.2f}"
            table[f"{key} screw fit"] = ", ".join(
                f"{d:g} mm {'yes' if ok else 'no'}" for d, ok in probe.screw_fit.items()
            )
        sections.append(
            DemoSection(
                title="Sacral screw corridors and bone density"
                + (" (osteoporotic pelvis)" if osteo else " (pelvis phantom)"),
                text="S1 corridors from the outer iliac cortex to the S1 body centre and the transsacral S2 "
                "corridor (circumcentres, 7 mm ventral rule), sampled with 10 mm cylinder probes in 0.25 mm "
                "segments (seed 000). Profiles against % of probe length with the seed 000 cohort means; "
                "straightened thermal images below. Truth from the phantom's analytic HU function.",
                table=table,
                images=(f"corridors_{stem}/report.png",),
            )
        )
    return sections
