"""The focal-defect result: maps, ROI summaries (CLINICAL.md section 4, step 7) and its files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..outputs import write_json
from ..volume import Volume
from .inputs import FocalDefectInputs
from .report import write_maps, write_report_png

__all__ = ["FocalDefectResult", "FocalDefectSummary", "provenance"]


@dataclass(frozen=True)
class FocalDefectSummary:
    """ROI summaries of the focal-defect maps (seed 004 section 2.3.3, "average value").

    Lengths in mm; losses as fractions of 1200 mg/cm³; BMD in ``bmd_units``.
    ``*_void`` are the means over void voxels only (in a void along at least one line).
    """

    focal_bmc_loss_mm: float
    focal_bmd_loss: float
    intercept_width_mm: float
    focal_bmc_loss_mm_void: float
    focal_bmd_loss_void: float
    intercept_width_mm_void: float
    void_fraction: float
    bmd_mg_cm3: float
    calibrated: bool
    bmd_units: str
    calibration: dict
    roi_volume_ml: float
    roi_voxels: int
    z_scores: dict
    star: str
    n_orientations: int
    grid_mm: float
    seconds: float
    warnings: tuple[str, ...] = ()
    reference: tuple[dict, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        out["warnings"] = list(self.warnings)
        out["reference"] = list(self.reference)
        return out


def provenance(inputs: FocalDefectInputs) -> dict:
    """summary.json's ``inputs``: the files as given, the seed point and the body source kind."""
    out: dict = {"ct": None, "mask": None}
    out.update({k: None if v is None else str(v) for k, v in inputs.sources.items()})
    seed = inputs.body.seed
    out["seed_lps"] = None if seed is None else [float(v) for v in seed]
    out["body_source"] = inputs.body.kind
    return out


@dataclass(frozen=True, eq=False)
class FocalDefectResult:
    """Maps and summary of :func:`~bonequality.focal_defect.analysis.run`.

    Attributes
    ----------
    focal_bmc_loss, focal_bmd_loss, intercept_width : Volume
        float32 maps on the 0.3 mm patient-aligned analysis grid (units:
        :data:`~bonequality.focal_defect.constants.FOCAL_MAPS`); 0 outside the ROI.
    roi : Volume
        Boolean ROI (vertebral body eroded by 6 mm) on the same grid.
    bmd : Volume
        The calibrated (or HU-equivalent), resampled and smoothed image the maps come from.
    summary : FocalDefectSummary
    """

    focal_bmc_loss: Volume
    focal_bmd_loss: Volume
    intercept_width: Volume
    roi: Volume
    bmd: Volume
    summary: FocalDefectSummary

    def to_dict(self) -> dict:
        return self.summary.to_dict()

    def figures(self) -> dict[str, float | str | bool]:
        """The flat per-case figures of ``cohort.csv`` (ROI means, void-only means, calibration)."""
        s = self.summary
        return {
            "bmc_loss_mm": s.focal_bmc_loss_mm,
            "bmd_loss": s.focal_bmd_loss,
            "incpt_width_mm": s.intercept_width_mm,
            "bmd": s.bmd_mg_cm3,
            "bmc_loss_mm_void": s.focal_bmc_loss_mm_void,
            "bmd_loss_void": s.focal_bmd_loss_void,
            "incpt_width_mm_void": s.intercept_width_mm_void,
            "void_fraction": s.void_fraction,
            "roi_volume_ml": s.roi_volume_ml,
            "calibrated": bool(s.calibrated),
            "bmd_units": s.bmd_units,
        }

    def write(self, out_dir: Path, inputs: FocalDefectInputs) -> None:
        """``summary.json`` (with the inputs' provenance), the three NRRD maps and ``report.png``.

        ``out_dir`` must exist (a staging folder of
        :func:`~bonequality.outputs.atomic_output_dir`).
        """
        out_dir = Path(out_dir)
        write_json(out_dir / "summary.json", {**self.to_dict(), "inputs": provenance(inputs)})
        write_maps(self, out_dir)
        write_report_png(out_dir / "report.png", inputs.ct, self)
