"""The focal-defect files: the three maps as NRRD and report.png (seed 004, Figures 2 and 7).

``result`` below is a :class:`~bonequality.focal_defect.result.FocalDefectResult` (not
imported here: :mod:`.result` imports this module).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..colors import thermal_cmap
from ..report import figure
from ..volume import Volume
from .constants import FOCAL_MAPS, MAP_UNITS

__all__ = ["PANELS", "write_maps", "write_report_png"]

#: Report panels: (title, result attribute or "bmd", summary key of the ROI mean, unit).
PANELS = (
    ("BMD", "bmd", "bmd_mg_cm3", ""),
    ("focal BMC loss", "focal_bmc_loss", "focal_bmc_loss_mm", MAP_UNITS["focal_bmc_loss"]),
    ("focal BMD loss", "focal_bmd_loss", "focal_bmd_loss", MAP_UNITS["focal_bmd_loss"]),
    ("intercept width", "intercept_width", "intercept_width_mm", MAP_UNITS["intercept_width"]),
)


def write_maps(result, folder: Path) -> None:
    """The three maps as NRRD, their quantity, unit and calibration in the header."""
    units = result.summary.bmd_units
    for m in FOCAL_MAPS:
        img = getattr(result, m.attr).to_sitk()
        img.SetMetaData("BoneQuality_quantity", m.quantity)
        img.SetMetaData("BoneQuality_unit", m.unit)
        img.SetMetaData("BoneQuality_bmd_scale", units)
        img.SetMetaData("BoneQuality_method", "seed 004 focal BMC loss, 15 axial star-lines, CLINICAL.md s.4")
        sitk.WriteImage(img, str(Path(folder) / m.file), True)


def _plane(center, axes, half, step):
    """LPS points (rows, cols, 3) of the plane through ``center`` spanned by unit ``axes`` (rows, cols)."""
    r = np.arange(-half[0], half[0] + step / 2, step)
    c = np.arange(-half[1], half[1] + step / 2, step)
    rr, cc = np.meshgrid(r, c, indexing="ij")
    return center + rr[..., None] * axes[0] + cc[..., None] * axes[1]


def _views(result) -> tuple:
    """(name, centre, plane axes, half sizes, imshow extent, axis labels) of the two views.

    The axial slice passes through the ROI centre, the sagittal one through the voxel with
    the highest focal BMC loss, so the largest defect is in view.
    """
    roi = result.roi
    kk, jj, ii = np.nonzero(roi.array)
    pts = roi.index_to_physical(np.stack([ii, jj, kk], 1))
    center = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    bmc = result.focal_bmc_loss.array[kk, jj, ii]
    sag_center = center.copy()
    sag_center[0] = pts[int(np.argmax(bmc)), 0]
    half = 0.5 * (pts.max(axis=0) - pts.min(axis=0)) + 10.0
    return (
        # Radiological axial view: patient right on the left (x increasing), anterior up.
        (
            f"axial, z = {center[2]:.1f} mm",
            center,
            np.array([[0, 1.0, 0], [1.0, 0, 0]]),
            (half[1], half[0]),
            (center[0] - half[0], center[0] + half[0], center[1] + half[1], center[1] - half[1]),
            ("x (mm, R → L)", "y (mm, A → P)"),
        ),
        # Sagittal view: anterior left, superior up.
        (
            f"sagittal, x = {sag_center[0]:.1f} mm",
            sag_center,
            np.array([[0, 0, -1.0], [0, 1.0, 0]]),
            (half[2], half[1]),
            (center[1] - half[1], center[1] + half[1], center[2] - half[2], center[2] + half[2]),
            ("y (mm, A → P)", "z (mm, I → S)"),
        ),
    )


def _ranges(maps: dict, roi: np.ndarray) -> dict:
    """Colour range per panel: 1-99th percentile of BMD in the ROI; 0 to the 99th of a map."""
    out = {}
    for _, attr, _, _ in PANELS:
        vals = maps[attr].array[roi]
        hi = float(np.percentile(vals, 99)) if vals.size else 1.0
        out[attr] = (float(np.percentile(vals, 1)) if attr == "bmd" else 0.0, hi if hi > 0 else 1.0)
    return out


def _draw_row(fig, row: int, view, ct: Volume, result, maps: dict, ranges: dict) -> None:
    """The CT with the ROI outline, then one thermal overlay per panel, in row ``row`` of 2."""
    s, roi = result.summary, result.roi
    vname, vcenter, axes, hw, extent, labels = view
    plane = _plane(vcenter, axes, hw, 0.3)
    ct_img = ct.sample(plane, order=1, fill=-1000.0)
    in_roi = roi.sample(plane, order=0, fill=0) > 0.5
    ax = fig.add_subplot(2, 5, row * 5 + 1)
    ax.imshow(ct_img, cmap="gray", vmin=-200, vmax=1000, extent=extent)
    ax.contour(
        in_roi.astype(float), levels=[0.5], colors="orange", linewidths=0.8, extent=extent, origin="upper"
    )
    ax.set_title(f"CT, {vname}\nROI outline (orange)", fontsize=9)
    _label_axes(ax, labels)
    cmap = thermal_cmap()
    for col, (title, attr, key, unit) in enumerate(PANELS):
        ax = fig.add_subplot(2, 5, row * 5 + col + 2)
        ax.imshow(ct_img, cmap="gray", vmin=-200, vmax=1000, extent=extent)
        vals = maps[attr].sample(plane, order=0, fill=np.nan)
        vals = np.where(in_roi, vals, np.nan)
        lo, hi = ranges[attr]
        im = ax.imshow(vals, cmap=cmap, vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        bar_unit = ("mg/cm³" if s.calibrated else "HU-equivalent") if attr == "bmd" else unit
        bar.set_label(bar_unit, fontsize=8)
        bar.ax.tick_params(labelsize=7)
        # A long unit (fraction of 1200 mg/cm3) is on the colour bar only.
        shown = unit if len(unit) <= 8 else ""
        ax.set_title(f"{title}\nROI mean {getattr(s, key):.3g} {shown}".rstrip(), fontsize=9)
        _label_axes(ax, labels)


def write_report_png(path: Path, ct: Volume, result) -> None:
    """Axial and sagittal CT slices with the maps as thermal overlays (seed 004, Figures 2 and 7).

    Deterministic: the figure states the results, not the run time.
    """
    s = result.summary
    maps = {"bmd": result.bmd, **{a: getattr(result, a) for _, a, _, _ in PANELS if a != "bmd"}}
    ranges = _ranges(maps, result.roi.array)
    fig = figure(figsize=(17, 6.6), dpi=110)
    calib = "calibrated BMD (mg/cm³ HA)" if s.calibrated else "UNCALIBRATED: HU-equivalent values"
    fig.suptitle(
        f"Focal defect (seed 004): focal BMC loss {s.focal_bmc_loss_mm:.3f} mm, focal BMD loss "
        f"{s.focal_bmd_loss:.3f}, intercept width {s.intercept_width_mm:.3f} mm  |  "
        f"ROI {s.roi_volume_ml:.1f} ml, {s.n_orientations} orientations  |  {calib}",
        fontsize=10,
    )
    for row, view in enumerate(_views(result)):
        _draw_row(fig, row, view, ct, result, maps, ranges)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(path)


def _label_axes(ax, labels) -> None:
    ax.tick_params(labelsize=7)
    ax.set_xlabel(labels[0], fontsize=8)
    ax.set_ylabel(labels[1], fontsize=8)
