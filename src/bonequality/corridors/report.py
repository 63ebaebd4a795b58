"""The corridor report: ``summary.json``, ``profiles.csv`` and ``report.png`` (seed 000).

``report.png`` shows the S1 and S2 profiles against % of the probe length with the seed
000 cohort means as reference lines (like seed 000 Figure 6), axial views with the
probes, and the straightened thermal images of both probes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..colors import THERMAL_RANGE_HU, thermal_cmap
from ..outputs import write_json
from ..report import figure
from ..volume import Volume
from .options import REFERENCE_COHORT, REGIONS
from .probes import ProbeResult

if TYPE_CHECKING:
    from .inputs import CorridorInputs
    from .result import CorridorResult

__all__ = ["GROUP_COLOURS", "THERMAL_RANGE_HU", "plot_result", "report_title", "write_result"]

#: Reference group -> drawing colour (seed 000 Figure 6: red = L5 > 100 HU, blue = L5 <= 100 HU).
GROUP_COLOURS = {"L5 > 100 HU": "#d62728", "L5 <= 100 HU": "#1f77b4"}


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


def report_title(inputs: CorridorInputs) -> str:
    """The figure title: the CT's file name when known (``sources["ct"]``), else ``inputs.name``."""
    ct = inputs.sources.get("ct")
    return Path(ct).name if ct else inputs.name


def write_result(result: CorridorResult, out_dir: Path, inputs: CorridorInputs) -> None:
    """``summary.json``, ``profiles.csv`` and ``report.png`` into the existing folder ``out_dir``.

    ``summary.json`` is :meth:`CorridorResult.to_dict` plus ``"inputs"`` (the file names of
    ``inputs.sources``) when known; ``profiles.csv`` has ``corridor``, ``percent`` (0.5 ...
    99.5) and ``mean_hu``.
    """
    out_dir = Path(out_dir)
    summary = result.to_dict()
    if inputs.sources:
        summary["inputs"] = dict(inputs.sources)
    write_json(out_dir / "summary.json", summary)
    result.profiles_frame().to_csv(out_dir / "profiles.csv", index=False, float_format="%.3f")
    plot_result(inputs.ct, result, title=report_title(inputs)).savefig(out_dir / "report.png", dpi=90)
