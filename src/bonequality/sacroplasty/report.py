"""The report figure and the output files of a sacroplasty plan (``summary.json``, ``report.png``).

The figure: the midsagittal view with lines A and B and the target (seed 001 Fig. 1A)
and, per side, the sagittal-oblique reformat along the SI joint centred on the target
with the three trajectories (seed 001 Fig. 1C). Every view shows the outline of the
envelope that decided what is inside the sacrum (the cortical shell or the sacrum mask)
and, for a target outside it, the nearest envelope point. matplotlib is imported only
when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..outputs import write_json
from ..report import figure
from .options import CORNERS, TRAJECTORIES
from .reformat import Reformat, reformat_along_joint, reformat_midsagittal

__all__ = ["COLOURS", "REPORT_DPI", "plot_plan", "write_plan"]

#: Trajectory key -> drawing colour.
COLOURS = {"disc_parallel": "#ff7f0e", "axial": "#2ca02c", "long_axis": "#d62728"}
#: Resolution of ``report.png``.
REPORT_DPI = 110
#: Colour of the envelope's outline.
ENVELOPE_COLOUR = "#7CFC00"


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


def _draw_envelope(ax, ref: Reformat, envelope) -> None:
    """The envelope's outline (its 0.5 level) on the reformat's plane."""
    if envelope is None:
        return
    nv, nu = ref.image.shape
    g = np.arange(max(nu, nv)) * ref.spacing
    pts = ref.origin + g[None, :nu, None] * ref.u + g[:nv, None, None] * ref.v
    inside = envelope.sample(pts)
    if inside.min() < 0.5 < inside.max():
        ax.contour(g[:nu], g[:nv], inside, levels=[0.5], colors=ENVELOPE_COLOUR, linewidths=0.9)
        ax.plot([], [], color=ENVELOPE_COLOUR, lw=0.9, label=f"envelope: {envelope.name}")


def _segment(ax, ref, a, b, **kw) -> None:
    (ua, va), (ub, vb) = ref.to_mm(np.array([a, b]))
    ax.plot([ua, ub], [va, vb], **kw)


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


def _draw_side(ax, volume, plan, landmarks, side: str, size_mm: float) -> None:
    """One side's joint-parallel reformat with its three trajectories, entries and cortex points."""
    res = plan.sides[side]
    ref = reformat_along_joint(volume, res.target_lps, res.joint_direction, size_mm=size_mm)
    status = "in bone" if res.target_in_bone else f"OUTSIDE, breach {res.breach_depth_mm:.1f} mm"
    _draw_reformat(ax, ref, f"{side}: along the SI joint through T_{side[0].upper()} ({status})")
    _draw_envelope(ax, ref, plan.envelope_region)
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
    if res.breach_point_lps is not None:
        _segment(ax, ref, res.target_lps, res.breach_point_lps, color="red", lw=2.0, label="breach depth")
        u, v = ref.to_mm(res.breach_point_lps)
        ax.plot(u, v, "x", color="red", ms=8)
    u, v = ref.to_mm(res.target_lps)
    ax.plot(u, v, "*", color="yellow", ms=14, mec="k")
    ax.legend(fontsize=7, loc="lower left", framealpha=0.8)
    ax.set_xlim(*ref.extent_mm()[:2])
    ax.set_ylim(*ref.extent_mm()[2:])


def plot_plan(volume, plan, landmarks, *, size_mm: float = 120.0):
    """The report figure: midsagittal view (lines A, B, target) and one joint-parallel reformat per side.

    Parameters
    ----------
    volume : Volume
        The CT the plan was made on.
    plan : SacroplastyPlan
    landmarks : mapping label -> (3,) LPS mm
        With the four S1 corners.
    size_mm : float
        Side length of each reformat.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = figure(figsize=(16, 6.2), layout="constrained")
    axes = fig.subplots(1, 3)
    mid = reformat_midsagittal(volume, plan.target_midsagittal_lps, size_mm=size_mm)
    _draw_reformat(axes[0], mid, f"midsagittal: lines A, B and target T (skew gap {plan.skew_gap_mm:.1f} mm)")
    _draw_envelope(axes[0], mid, plan.envelope_region)
    _draw_lines_ab(axes[0], mid, plan, landmarks)
    for ax, side in zip(axes[1:], ("right", "left")):
        _draw_side(ax, volume, plan, landmarks, side, size_mm)
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
            f"({plan.threshold_source}); inside the sacrum: {plan.envelope.get('envelope_name', '?')}; "
            "o = dorsal bone entry, □ = anterior cortex",
            fontsize=10,
        )
    return fig


def write_plan(out_dir: Path, plan, inputs) -> None:
    """``summary.json`` and ``report.png`` of ``plan`` (a SacroplastyPlan) into the existing ``out_dir``.

    ``summary.json`` is :meth:`SacroplastyPlan.to_dict` plus ``"inputs"`` (the
    :class:`SacroplastyInputs` ``sources``) when there are any.
    """
    out_dir = Path(out_dir)
    summary = plan.to_dict()
    if inputs.sources:
        summary["inputs"] = dict(inputs.sources)
    write_json(out_dir / "summary.json", summary)
    fig = plot_plan(inputs.ct, plan, inputs.landmarks)
    fig.savefig(out_dir / "report.png", dpi=REPORT_DPI)
