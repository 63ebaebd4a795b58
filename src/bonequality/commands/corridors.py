"""``bonequality corridors``: S1/S2 screw corridors, cylinder probes and L5 density (seed 000).

Writes ``DIR/summary.json`` (:meth:`CorridorResult.to_dict`), ``DIR/profiles.csv``
(``corridor``, ``percent`` 0.5 ... 99.5, ``mean_hu``) and ``DIR/report.png``: the S1 and
S2 profiles against % of the probe length with the seed 000 cohort means as reference
lines (like seed 000 Figure 6), axial views with the probes, and the straightened
thermal images of both probes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..colors import thermal_cmap
from ..corridors import REFERENCE_COHORT, REGIONS, CorridorResult, ProbeResult, analyze_corridors
from ..landmarks import read_mrk_json
from ..outputs import atomic_output_dir, write_json
from ..progress import report, scaled
from ..report import DemoSection, figure
from ..volume import Volume
from .args import bone_threshold_hu, positive_float

NAME = "corridors"
HELP = "S1/S2 screw corridors (seed 000): 10 mm cylinder probes, region means, L5 density, z-scores"

#: Reference group -> drawing colour (seed 000 Figure 6: red = L5 > 100 HU, blue = L5 <= 100 HU).
GROUP_COLOURS = {"L5 > 100 HU": "#d62728", "L5 <= 100 HU": "#1f77b4"}
#: HU range of the thermal colour scale.
THERMAL_RANGE_HU = (-100.0, 700.0)


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
        type=positive_float,
        action="append",
        default=None,
        help="screw diameter (mm) to check for fit; repeat for several (default 6.5, 7.3 and 8)",
    )


def _profile_axes(ax, probe: ProbeResult, key: str) -> None:
    ax.plot(probe.segment_percent, probe.segments_hu, color="0.75", lw=0.6, label="0.25 mm segments")
    ax.plot(probe.percent, probe.profile_hu, "k.-", ms=3, lw=1, label="this scan (1 % bins)")
    for group, colour in GROUP_COLOURS.items():
        ref = REFERENCE_COHORT[group]
        for region, ranges in REGIONS.items():
            mean = ref[f"{key}_{region}"][1]
            for lo, hi in ranges:
                ax.hlines(
                    mean,
                    lo,
                    hi,
                    colors=colour,
                    linestyles="--" if region == "corridor" else "-",
                    lw=1.0 if region == "corridor" else 2.0,
                    label=f"{group} cohort {region}" if lo == ranges[0][0] else None,
                )
    for x in (20, 40, 60, 80):
        ax.axvline(x, color="0.85", lw=0.8, zorder=0)
    rm = probe.region_means
    ax.set_title(
        f"{key} probe ({probe.length_mm:.0f} mm): corridor {rm['corridor']:.0f}, body {rm['body']:.0f}, "
        f"alae {rm['alae']:.0f} HU",
        fontsize=9,
    )
    ax.set_xlabel("% of probe length (0 = left entry, 100 = right entry)", fontsize=8)
    ax.set_ylabel("HU (10 mm disk mean)", fontsize=8)
    ax.set_xlim(0, 100)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper center", ncol=4, bbox_to_anchor=(0.5, -0.2), frameon=False)


def _thermal_axes(fig, ax, probe: ProbeResult, key: str) -> None:
    img, offs = probe.thermal_image()
    im = ax.imshow(
        img,
        cmap=thermal_cmap(),
        vmin=THERMAL_RANGE_HU[0],
        vmax=THERMAL_RANGE_HU[1],
        origin="lower",
        aspect="auto",
        extent=(0, 100, offs[0], offs[-1]),
        interpolation="nearest",
    )
    r = 5.0
    ax.axhline(r, color="w", lw=0.6, ls=":")
    ax.axhline(-r, color="w", lw=0.6, ls=":")
    ax.set_title(f"{key}: straightened thermal image (axial plane through the axis)", fontsize=9)
    ax.set_xlabel("% of probe length", fontsize=8)
    ax.set_ylabel("mm (dorsal ↑)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=ax, label="HU", shrink=0.9)


def _axial_axes(ax, volume: Volume, result: CorridorResult, key: str) -> None:
    probe = result.s1 if key == "S1" else result.s2
    verts = [leg.start for leg in probe.legs] + [probe.legs[-1].end]
    verts = np.array(verts)
    z = float(verts[:, 2].mean())
    centre = verts.mean(axis=0)
    half = max(80.0, 0.5 * float(np.ptp(verts[:, 0])) + 30.0)
    xs = np.arange(centre[0] - half, centre[0] + half, 0.75)
    ys = np.arange(centre[1] - 0.6 * half, centre[1] + 0.6 * half, 0.75)
    x, y = np.meshgrid(xs, ys)
    img = volume.sample(np.stack([x, y, np.full_like(x, z)], axis=-1))
    # Radiological convention: patient right on the image left (LPS x grows to the right).
    ax.imshow(img, cmap="gray", vmin=-200, vmax=1000, origin="upper", extent=(xs[0], xs[-1], ys[-1], ys[0]))
    ax.plot(verts[:, 0], verts[:, 1], "-", color="#ffcc00", lw=1)
    for v in verts:
        ax.plot(v[0], v[1], "o", mfc="none", color="#ffcc00", ms=5)
    ax.set_title(f"{key}: axial slice at z = {z:.0f} mm (probe projected)", fontsize=9)
    ax.set_xlabel("x (mm, patient left →)", fontsize=8)
    ax.set_ylabel("y (mm, posterior ↓)", fontsize=8)
    ax.tick_params(labelsize=7)


def plot_result(volume: Volume, result: CorridorResult, *, title: str = ""):
    """The report figure: profiles (seed 000 Fig. 6 style), axial views and thermal images."""
    fig = figure(figsize=(15, 13), layout="constrained")
    axes = fig.subplots(3, 2)
    for col, key in enumerate(("S1", "S2")):
        probe = result.s1 if key == "S1" else result.s2
        _profile_axes(axes[0, col], probe, key)
        _axial_axes(axes[1, col], volume, result, key)
        _thermal_axes(fig, axes[2, col], probe, key)
    l5 = result.l5
    s2 = result.s2_geometry
    fig.suptitle(
        (title + "\n" if title else "")
        + f"bone threshold {result.bone_threshold_hu:.0f} HU ({result.threshold_source}); "
        f"L5 {l5.mean_hu:.0f} HU "
        f"({l5.group}, ROI {l5.roi_volume_ml:.1f} ml); S2 ventral shift {s2.ventral_shift_mm:.1f} mm",
        fontsize=10,
    )
    return fig


def write_outputs(out_dir: Path, volume: Volume, result: CorridorResult, *, title: str = "") -> None:
    """``summary.json``, ``profiles.csv`` and ``report.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    write_json(out_dir / "summary.json", result.to_dict())
    result.profiles_frame().to_csv(out_dir / "profiles.csv", index=False, float_format="%.3f")
    plot_result(volume, result, title=title).savefig(out_dir / "report.png", dpi=90)


def run(args, progress=None) -> dict:
    report(progress, 0.0, "reading CT")
    volume = Volume.read(args.ct, name=f"CT {args.ct}")
    volume.require_ct(f"CT {args.ct}")
    landmarks = read_mrk_json(args.landmarks)
    result = analyze_corridors(
        volume,
        landmarks,
        bone_threshold=args.bone_threshold,
        screw_diameters=tuple(args.screw_diameter) if args.screw_diameter else None,
        progress=scaled(progress, 0.2, 0.7),
    )
    report(progress, 0.75, "writing report")
    with atomic_output_dir(args.out) as stage:
        write_outputs(stage, volume, result, title=f"{Path(args.ct).name}")
    report(progress, 1.0, "done")
    d = result.to_dict()
    return {
        "out": str(args.out),
        "bone_threshold_hu": round(result.bone_threshold_hu, 1),
        "l5": {k: d["l5"][k] for k in ("mean_hu", "roi_volume_ml", "group")},
        **{
            key: {k: d[key][k] for k in ("length_mm", "corridor_mean_hu", "body_mean_hu", "alae_mean_hu")}
            for key in ("S1", "S2")
        },
    }


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
        result = analyze_corridors(phantom.volume, phantom.landmarks)
        sub = out_dir / f"corridors_{stem}"
        sub.mkdir(parents=True, exist_ok=True)
        write_outputs(sub, phantom.volume, result, title=f"{stem} phantom")
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
