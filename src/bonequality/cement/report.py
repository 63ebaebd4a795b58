"""The cement analysis's files: ``summary.json``, ``segments.seg.nrrd`` and ``report.png``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..outputs import write_json
from ..report import figure
from ..segmentation import write_segmentation
from ..volume import Volume

if TYPE_CHECKING:
    from .inputs import CementInputs
    from .result import CementResult

__all__ = ["write_report_png", "write_result"]

#: Overlay colours (RGB) of the cement and leakage masks.
OVERLAYS = (("cement", (0.2, 0.6, 1.0)), ("leak", (1.0, 0.15, 0.15)))


def _plane(vol: Volume, center, u, v, half_u: float, half_v: float, step: float, order: int):
    """Sample ``vol`` on the LPS plane ``center + a u + b v``; rows follow ``v``, columns ``u``."""
    a = np.arange(-half_u, half_u + step / 2, step)
    b = np.arange(-half_v, half_v + step / 2, step)
    pts = center[None, None] + b[:, None, None] * v[None, None] + a[None, :, None] * u[None, None]
    return vol.sample(pts, order=order, fill=-1000 if order else 0), (a, b)


def _views(volume: Volume, result: CementResult) -> tuple[list, float]:
    """The coronal, sagittal and axial views (title, centre, u, v, axis labels) and their half-size (mm)."""
    body_pts = volume.index_to_physical(np.argwhere(result.body_mask)[:, ::-1])
    c = 0.5 * (body_pts.min(axis=0) + body_pts.max(axis=0))
    if result.cement_mask.any():  # coronal and sagittal planes through the cement's centre
        cement_c = volume.index_to_physical(np.argwhere(result.cement_mask)[:, ::-1]).mean(axis=0)
        c = np.array([cement_c[0], cement_c[1], c[2]])
    score = result.distribution_score
    if score is not None and score.best_axial_z_mm is not None:
        z_axial = score.best_axial_z_mm
    else:
        z_axial = float(c[2])
    half = float(np.max(body_pts.max(axis=0) - body_pts.min(axis=0))) / 2 + 20.0
    ex, ey, ez = np.eye(3)
    centre = np.array([c[0], c[1], c[2]])
    views = [
        ("coronal (patient R on the left)", centre, ex, ez, "x (L) mm", "z (cranial) mm"),
        ("sagittal (anterior on the left)", centre, ey, ez, "y (P) mm", "z (cranial) mm"),
        (
            f"axial z = {z_axial:.1f} mm (anterior up)",
            np.array([c[0], c[1], z_axial]),
            ex,
            ey,
            "x (L) mm",
            "y (P) mm",
        ),
    ]
    return views, half


def _zone_lines(ax, score, n: int) -> None:
    """The score's zone boundaries (green dashed) on view ``n`` (0 coronal, 1 sagittal, 2 axial)."""
    kw = {"color": "lime", "linestyle": "--", "linewidth": 0.9}
    if n == 0:
        for x in score.x_edges_mm[1:3]:
            ax.axvline(x, **kw)
    if n in (0, 1):
        for z in score.z_edges_mm[1:3]:
            ax.axhline(z, **kw)
    if n == 2:
        ax.axvline(score.axial_center_mm[0], **kw)
        ax.axhline(score.axial_center_mm[1], **kw)


def _draw_view(ax, volume: Volume, seg: dict, view, n: int, half: float, step: float, score) -> None:
    title, centre, u, v, xl, yl = view
    ct, (a, b) = _plane(volume, centre, u, v, half, half, step, 1)
    pu, pv = float(centre @ u), float(centre @ v)
    extent = (pu + a[0], pu + a[-1], pv + b[0], pv + b[-1])
    origin = "upper" if n == 2 else "lower"
    if n == 2:
        extent = (pu + a[0], pu + a[-1], pv + b[-1], pv + b[0])
    ax.imshow(ct, cmap="gray", vmin=-250, vmax=1500, extent=extent, origin=origin)
    masks = {k: _plane(m, centre, u, v, half, half, step, 0)[0] > 0.5 for k, m in seg.items()}
    for key, rgb in OVERLAYS:
        overlay = np.zeros((*masks[key].shape, 4))
        overlay[masks[key]] = (*rgb, 0.6)
        ax.imshow(overlay, extent=extent, origin=origin)
    ax.contour(pu + a, pv + b, masks["body"].astype(float), [0.5], colors="yellow", linewidths=1.0)
    if score is not None:
        _zone_lines(ax, score, n)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)


def _subtitle(result: CementResult) -> str:
    s = result.distribution_score
    sub = (
        f"VBV {result.vbv_ml:.2f} ml, CDV {result.cdv_ml:.2f} ml, VF {result.vf_percent:.1f} % "
        f"({'>=' if result.predicted_extensive else '<'} {result.options.vf_cutoff_percent} %), "
        f"leakage {result.leakage_ml:.2f} ml"
    )
    if s is not None:
        sub += f"; score {s.coronal}+{s.sagittal}+{s.axial} = {s.total} (group {s.group})"
    return sub


def write_report_png(path, volume: Volume, result: CementResult) -> None:
    """Cement (blue) and leakage (red) over CT planes through the body, score zones dashed."""
    views, half = _views(volume, result)
    step = max(0.5, float(np.min(volume.spacing)) / 2)
    seg = {
        "body": volume.with_array(result.body_mask.astype(np.uint8)),
        "cement": volume.with_array(result.cement_mask.astype(np.uint8)),
        "leak": volume.with_array(result.leakage_mask.astype(np.uint8)),
    }
    fig = figure(figsize=(15, 5.6))
    for n, view in enumerate(views):
        _draw_view(fig.add_subplot(1, 3, n + 1), volume, seg, view, n, half, step, result.distribution_score)
    fig.suptitle(
        "Cement (blue), leakage (red), vertebral body (yellow), score zones (green dashed)\n"
        + _subtitle(result),
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def write_result(result: CementResult, out_dir: Path, inputs: CementInputs) -> None:
    """``summary.json``, ``segments.seg.nrrd`` and ``report.png`` into the existing folder ``out_dir``.

    ``summary.json`` is :meth:`CementResult.summary` (``to_dict()`` with ``seconds``, plus
    ``"inputs"`` when the file names are known); ``segments.seg.nrrd`` holds the segments
    ``VertebralBody``, ``Cement`` and ``Leakage`` on the CT grid (loads in Slicer).
    """
    out_dir = Path(out_dir)
    write_json(out_dir / "summary.json", result.summary(inputs))
    write_segmentation(
        out_dir / "segments.seg.nrrd",
        {"VertebralBody": result.body_mask, "Cement": result.cement_mask, "Leakage": result.leakage_mask},
        inputs.ct,
    )
    write_report_png(out_dir / "report.png", inputs.ct, result)
