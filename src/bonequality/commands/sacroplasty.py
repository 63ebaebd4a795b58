"""``bonequality sacroplasty``: needle targets, trajectories and depths (seed 001).

Writes ``DIR/summary.json`` (:meth:`SacroplastyPlan.to_dict`) and ``DIR/report.png``:
the midsagittal view with lines A and B and the target (seed 001 Fig. 1A) and, per
side, the sagittal-oblique reformat along the SI joint centred on the target with the
three trajectories (seed 001 Fig. 1C).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..landmarks import read_mrk_json
from ..outputs import atomic_output_dir, write_json
from ..progress import report
from ..report import DemoSection, figure
from ..sacroplasty import (
    CORNERS,
    REFERENCE,
    TRAJECTORIES,
    SacroplastyPlan,
    plan_sacroplasty,
    reformat_along_joint,
    reformat_midsagittal,
)
from ..volume import Volume
from .args import bone_threshold_hu

NAME = "sacroplasty"
HELP = "plan sacroplasty needles (seed 001): target, 3 trajectories, distance to the anterior cortex"

#: Trajectory key -> drawing colour.
COLOURS = {"disc_parallel": "#ff7f0e", "axial": "#2ca02c", "long_axis": "#d62728"}


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


def _draw_reformat(ax, ref, title: str) -> None:
    ax.imshow(
        ref.image,
        cmap="gray",
        vmin=-200,
        vmax=1000,
        origin="lower",
        extent=ref.extent_mm(),
        interpolation="bilinear",
    )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("mm (anterior →)", fontsize=8)
    ax.set_ylabel("mm (superior ↑)", fontsize=8)
    ax.tick_params(labelsize=7)


def _segment(ax, ref, a, b, **kw) -> None:
    (ua, va), (ub, vb) = ref.to_mm(np.array([a, b]))
    ax.plot([ua, ub], [va, vb], **kw)


def plot_plan(volume: Volume, plan: SacroplastyPlan, landmarks, *, size_mm: float = 120.0):
    """The report figure: midsagittal view (lines A, B, target) and one joint-parallel reformat per side."""
    fig = figure(figsize=(16, 6.2), layout="constrained")
    axes = fig.subplots(1, 3)
    t = plan.target_midsagittal_lps
    mid = reformat_midsagittal(volume, t, size_mm=size_mm)
    _draw_reformat(axes[0], mid, f"midsagittal: lines A, B and target T (skew gap {plan.skew_gap_mm:.1f} mm)")
    _draw_lines_ab(axes[0], mid, plan, landmarks)
    for ax, side in zip(axes[1:], ("right", "left")):
        res = plan.sides[side]
        ref = reformat_along_joint(volume, res.target_lps, res.joint_direction, size_mm=size_mm)
        status = "in bone" if res.target_in_bone else "OUTSIDE BONE (breach)"
        _draw_reformat(ax, ref, f"{side}: along the SI joint through T_{side[0].upper()} ({status})")
        _draw_lines_ab(ax, ref, plan, landmarks, projected=True)
        for spec in TRAJECTORIES:
            tr = res.trajectories[spec.key]
            colour = COLOURS[spec.key]
            start = tr.entry_skin_lps if tr.entry_skin_lps is not None else res.target_lps
            end = tr.anterior_cortex_lps if tr.anterior_cortex_lps is not None else res.target_lps
            d = tr.distance_to_anterior_cortex_mm
            label = f"{spec.title}: {d:.1f} mm ({tr.category})"
            _segment(ax, ref, start, res.target_lps, color=colour, lw=1.2, label=label)
            _segment(ax, ref, res.target_lps, end, color=colour, lw=3.0)
            for p, marker in ((tr.entry_bone_lps, "o"), (tr.anterior_cortex_lps, "s")):
                if p is not None:
                    u, v = ref.to_mm(p)
                    ax.plot(u, v, marker, color=colour, ms=4, mfc="none")
        u, v = ref.to_mm(res.target_lps)
        ax.plot(u, v, "*", color="yellow", ms=14, mec="k")
        ax.legend(fontsize=7, loc="lower left", framealpha=0.8)
        ax.set_xlim(*ref.extent_mm()[:2])
        ax.set_ylim(*ref.extent_mm()[2:])
    if plan.warnings:
        fig.suptitle(
            "WARNING: "
            + plan.warnings[0][:150]
            + (f"  (+{len(plan.warnings) - 1} more)" if len(plan.warnings) > 1 else ""),
            color="red",
            fontsize=9,
        )
    else:
        fig.suptitle(
            f"Sacroplasty plan (seed 001); bone threshold {plan.bone_threshold_hu:.0f} HU "
            f"({plan.threshold_source}); o = dorsal bone entry, □ = anterior cortex",
            fontsize=10,
        )
    return fig


def _draw_lines_ab(ax, ref, plan, landmarks, *, projected: bool = False) -> None:
    suffix = " (projected)" if projected else ""
    lm = {c: np.asarray(landmarks[c], dtype=float) for c in CORNERS}
    _segment(ax, ref, lm["S1_corner_PS"], lm["S1_corner_AI"], color="cyan", ls="--", lw=1, label="A" + suffix)
    _segment(
        ax, ref, lm["S1_corner_AS"], lm["S1_corner_PI"], color="magenta", ls="--", lw=1, label="B" + suffix
    )
    uv = ref.to_mm(np.array(list(lm.values())))
    ax.plot(uv[:, 0], uv[:, 1], "+", color="cyan", ms=8)
    u, v = ref.to_mm(plan.target_midsagittal_lps)
    ax.plot(u, v, "x", color="yellow", ms=9)
    if not projected:
        ax.legend(fontsize=7, loc="lower left", framealpha=0.8)


def write_outputs(out_dir: Path, volume: Volume, plan: SacroplastyPlan, landmarks) -> None:
    """``summary.json`` and ``report.png`` into ``out_dir`` (already a staging folder)."""
    write_json(out_dir / "summary.json", plan.to_dict())
    fig = plot_plan(volume, plan, landmarks)
    fig.savefig(out_dir / "report.png", dpi=110)


def run(args, progress=None) -> dict:
    report(progress, 0.0, "reading CT")
    volume = Volume.read(args.ct, name=f"CT {args.ct}")
    volume.require_ct(f"CT {args.ct}")
    landmarks = read_mrk_json(args.landmarks)
    report(progress, 0.4, "planning needles")
    plan = plan_sacroplasty(volume, landmarks, bone_threshold=args.bone_threshold)
    report(progress, 0.6, "writing report")
    with atomic_output_dir(args.out) as stage:
        write_outputs(stage, volume, plan, landmarks)
    report(progress, 1.0, "done")
    return {
        "out": str(args.out),
        "distances_mm": {
            side: {k: round(t.distance_to_anterior_cortex_mm, 1) for k, t in res.trajectories.items()}
            for side, res in plan.sides.items()
        },
        "warnings": list(plan.warnings),
    }


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
        plan = plan_sacroplasty(phantom.volume, phantom.landmarks)
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
