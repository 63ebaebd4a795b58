"""One focal-defect run (CLINICAL.md section 4): :func:`run` and the keyword wrapper."""

from __future__ import annotations

import time

import numpy as np

from ..progress import ProgressCallback, report
from ..volume import Volume
from .constants import GRID_MM
from .inputs import FocalDefectInputs, body_source
from .prepare import PreparedInput, prepare
from .reference import reference_rows, z_scores
from .result import FocalDefectResult, FocalDefectSummary
from .star import star_directions, star_line_maps

__all__ = ["analyze_focal_defect", "run"]


def _mean(a: np.ndarray, where: np.ndarray) -> float:
    return float(a[where].mean()) if where.any() else 0.0


def _summary(inputs: FocalDefectInputs, prep: PreparedInput, maps, n_dirs: int, t0: float):
    """Step 7: ROI means of the maps, void-only means, z-scores and the reference rows."""
    width, bmd_loss, bmc_loss = maps
    roi = prep.roi.array
    voids = roi & (width > 0)
    values = {
        "focal_bmc_loss_mm": _mean(bmc_loss, roi),
        "focal_bmd_loss": _mean(bmd_loss, roi),
        "intercept_width_mm": _mean(width, roi),
        "bmd_mg_cm3": _mean(prep.bmd.array, roi),
    }
    z = z_scores(values)
    cal = prep.calibration
    n_roi = int(roi.sum())
    return FocalDefectSummary(
        focal_bmc_loss_mm=values["focal_bmc_loss_mm"],
        focal_bmd_loss=values["focal_bmd_loss"],
        intercept_width_mm=values["intercept_width_mm"],
        focal_bmc_loss_mm_void=_mean(bmc_loss, voids),
        focal_bmd_loss_void=_mean(bmd_loss, voids),
        intercept_width_mm_void=_mean(width, voids),
        void_fraction=int(voids.sum()) / max(1, n_roi),
        bmd_mg_cm3=values["bmd_mg_cm3"],
        calibrated=cal.calibrated,
        bmd_units=cal.units,
        calibration=cal.to_dict(),
        roi_volume_ml=float(n_roi * GRID_MM**3 / 1000),
        roi_voxels=n_roi,
        z_scores=z,
        star=inputs.star,
        n_orientations=n_dirs,
        grid_mm=GRID_MM,
        seconds=time.perf_counter() - t0,
        warnings=prep.warnings,
        reference=reference_rows(values, z, cal.calibrated),
    )


def run(inputs: FocalDefectInputs, *, progress: ProgressCallback | None = None) -> FocalDefectResult:
    """Focal BMC loss, focal BMD loss and intercept-width maps of a vertebral body (seed 004).

    Parameters
    ----------
    inputs : FocalDefectInputs
        Validated CT, vertebral-body source, calibration and star.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled` (checked between orientations).

    Returns
    -------
    FocalDefectResult
    """
    t0 = time.perf_counter()
    report(progress, 0.0, "focal defect: preparing ROI")
    prep = prepare(inputs)
    report(progress, 0.15, "focal defect: star-lines")
    dirs = star_directions(inputs.star, angles_deg=inputs.angles_deg)

    def sub(fraction: float, message: str) -> None:
        report(progress, 0.15 + 0.8 * fraction, message)

    maps = star_line_maps(
        prep.bmd.array, prep.roi.array, step_mm=GRID_MM, directions=dirs, progress=sub if progress else None
    )
    summary = _summary(inputs, prep, maps, len(dirs), t0)
    report(progress, 1.0, "focal defect: done")
    width, bmd_loss, bmc_loss = maps
    g = prep.roi
    return FocalDefectResult(
        g.with_array(bmc_loss), g.with_array(bmd_loss), g.with_array(width), prep.roi, prep.bmd, summary
    )


def analyze_focal_defect(
    volume: Volume,
    *,
    mask=None,
    seed=None,
    vertebra_mask=None,
    calibration=None,
    star: str = "2d",
    angles_deg=None,
    progress: ProgressCallback | None = None,
    name: str = "CT",
) -> FocalDefectResult:
    """Focal BMC loss, focal BMD loss and intercept-width maps of a vertebral body (seed 004).

    Builds :class:`FocalDefectInputs` and calls :func:`run`.

    Parameters
    ----------
    volume : Volume
        CT in HU, any spacing and direction (LPS).
    mask : Volume or bool ndarray, optional
        Vertebral-body mask, taken as given; or give ``vertebra_mask`` or ``seed``.
    seed : (3,) float, mm, LPS, optional
        A point in the body; bone (226-3071 HU) is grown from it and cut at the spinal canal.
    vertebra_mask : Volume or bool ndarray, optional
        Whole-vertebra mask (e.g. TotalSegmentator); the posterior elements are cut off
        at the spinal canal's anterior wall.
    calibration : Calibration or (slope, intercept), optional
        HU -> mg/cm³ HA. None: values are HU-equivalent and labelled uncalibrated.
    star : {"2d", "3d"}
        The paper's 15 axial orientations (default) or the 3-D star of :func:`star_directions`.
    angles_deg : sequence of float, optional
        Replace the axial orientations (degrees from the LPS x axis), e.g. one angle for tests.
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled` (checked between orientations).
    name : str
        How the CT is called in messages.

    Returns
    -------
    FocalDefectResult
    """
    inputs = FocalDefectInputs(
        volume,
        body_source(mask=mask, vertebra_mask=vertebra_mask, seed=seed),
        calibration=calibration,
        star=star,
        angles_deg=angles_deg,
        name=name,
    )
    return run(inputs, progress=progress)
