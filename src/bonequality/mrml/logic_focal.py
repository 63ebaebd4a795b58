"""FocalDefect's logic without Qt: nodes -> :func:`bonequality.focal_defect.analyze_focal_defect` -> nodes.

One user action is one library call; result nodes are written only after it succeeds.
Result roles on the parameter node:

``focal.focal_bmc_loss``, ``focal.focal_bmd_loss``, ``focal.intercept_width``
    The three maps (0.3 mm analysis grid) as scalar volumes with the thermal colour
    table (more loss = hotter), transparent outside the ROI.
``focal.table``
    ROI summaries with seed 004's fracture and control group values and z-scores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InputFileError
from ..focal_defect import Calibration, FocalDefectInputs, FocalDefectResult
from ..focal_defect import run as run_focal_analysis
from .colors import color_display
from .logic_cement import body_source_from_nodes
from .results import ResultNodes
from .tables import dataframe_to_table_node
from .volumes import node_to_volume, volume_to_node

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CALIBRATIONS", "MAPS", "focal_table", "run_focal_defect", "write_focal_results"]

#: Map attribute -> (display name, unit, colour window maximum).
MAPS = {
    "focal_bmc_loss": ("focal BMC loss", "mm", 3.0),
    "focal_bmd_loss": ("focal BMD loss", "fraction", 1.0),
    "intercept_width": ("intercept width", "mm", 3.0),
}

#: The GUI's calibration choices.
CALIBRATIONS = ("uncalibrated", "slope/intercept")


def focal_table(result: FocalDefectResult) -> pd.DataFrame:
    """ROI summary rows: value, void-only value and seed 004's group values with z-scores.

    The z-scores of BMD-scaled values of an uncalibrated run (HU-equivalent, not mg/cm³)
    are left empty: the library marks them not comparable with seed 004's groups.
    """
    import pandas as pd

    s = result.summary
    rows = [
        {"Measure": "ROI volume", "Value": s.roi_volume_ml, "Unit": "ml"},
        {"Measure": "Void fraction", "Value": s.void_fraction, "Unit": "fraction"},
        {"Measure": "Mean BMD", "Value": s.bmd_mg_cm3, "Unit": s.bmd_units},
        {"Measure": "Focal BMC loss (void voxels)", "Value": s.focal_bmc_loss_mm_void, "Unit": "mm"},
        {"Measure": "Focal BMD loss (void voxels)", "Value": s.focal_bmd_loss_void, "Unit": "fraction"},
        {"Measure": "Intercept width (void voxels)", "Value": s.intercept_width_mm_void, "Unit": "mm"},
    ]
    for ref in s.reference:
        rows.append(
            {
                "Measure": ref["measure"],
                "Value": ref["value"],
                "Unit": s.bmd_units if ref["unit"] == "mg/cm³" and not ref["comparable"] else ref["unit"],
                "Fracture group": f"{ref['fracture_mean']:g} ± {ref['fracture_sd']:g}",
                "Control group": f"{ref['control_mean']:g} ± {ref['control_sd']:g}",
                "z vs fracture": ref["z_vs_fracture"] if ref["comparable"] else float("nan"),
                "z vs control": ref["z_vs_control"] if ref["comparable"] else float("nan"),
            }
        )
    df = pd.DataFrame(rows)
    for col in ("Fracture group", "Control group"):
        df[col] = df[col].fillna("") if col in df else ""
    for col in ("z vs fracture", "z vs control"):
        df[col] = df[col].astype(float) if col in df else float("nan")
    return df[
        ["Measure", "Value", "Unit", "Fracture group", "Control group", "z vs fracture", "z vs control"]
    ]


def run_focal_defect(
    volume_node,
    *,
    results: ResultNodes,
    mask_node=None,
    mask_segment: str = "",
    mask_label: int = 0,
    seed_node=None,
    body_source: str | None = None,
    calibration: str = "uncalibrated",
    slope: float = 1.0,
    intercept: float = 0.0,
    star: str = "2d",
    progress=None,
) -> FocalDefectResult:
    """Run the focal-defect analysis (seed 004) on nodes and write its result nodes.

    Parameters
    ----------
    volume_node : vtkMRMLScalarVolumeNode
        CT in HU.
    mask_node : segmentation or label map node, optional
        Vertebral-body mask (``mask_segment`` name, blank = all; ``mask_label``, 0 = nonzero).
    seed_node : markups node, optional
        Used when no mask is given: its first point, inside the cancellous bone.
    body_source : {"body mask", "vertebra mask", "seed point"}, optional
        As in CementVolume (:data:`bonequality.mrml.logic_cement.BODY_SOURCES`); default:
        "body mask" when ``mask_node`` is given, else "seed point".
    calibration : {"uncalibrated", "slope/intercept"}
        With ``slope`` (mg/cm³ per HU) and ``intercept`` (mg/cm³).
    star : {"2d", "3d"}
    progress : callable(fraction, message), optional
        May raise :class:`~bonequality.errors.OperationCancelled`.
    """
    volume = node_to_volume(volume_node)
    if body_source is None:
        if mask_node is None and seed_node is None:
            raise InputFileError(
                "vertebral body: choose a mask (segmentation or label map) or place a seed point."
            )
        body_source = "body mask" if mask_node is not None else "seed point"
    body = body_source_from_nodes(volume, body_source, mask_node, mask_segment, mask_label, seed_node)
    if calibration not in CALIBRATIONS:
        raise InputFileError(f"calibration '{calibration}': choose one of {', '.join(CALIBRATIONS)}.")
    cal = Calibration.from_slope_intercept(slope, intercept) if calibration == "slope/intercept" else None
    inputs = FocalDefectInputs(volume, body, calibration=cal, star=star, name=volume_node.GetName())
    result = run_focal_analysis(inputs, progress=progress)
    write_focal_results(result, volume_node.GetName(), results)
    return result


def write_focal_results(result: FocalDefectResult, name: str, results: ResultNodes) -> None:
    """Write (or update) the map volumes and the summary table."""
    scene = results.scene
    for attr, (label, _unit, vmax) in MAPS.items():
        role = f"focal.{attr}"
        node = volume_to_node(getattr(result, attr), results.get(role), name=f"{name} {label}", scene=scene)
        color_display(node, window_min=0.0, window_max=vmax, threshold_below=1e-6)
        results.keep(role, node)
    table = dataframe_to_table_node(
        focal_table(result), results.get("focal.table"), name=f"{name} focal defect", scene=scene
    )
    results.keep("focal.table", table)
