"""Seed 004's reference values (L1, 205 patients; CLINICAL.md section 4, step 8) and z-scores."""

from __future__ import annotations

from dataclasses import dataclass

from .constants import MAP_UNITS

__all__ = ["REFERENCE", "ReferenceValue", "reference_rows", "z_scores"]


@dataclass(frozen=True)
class ReferenceValue:
    """One row of seed 004's reference table (L1; mean ± SD)."""

    key: str
    label: str
    unit: str
    fracture_mean: float
    fracture_sd: float
    control_mean: float
    control_sd: float
    bmd_scaled: bool = True  # depends on the BMD scale (False: intercept width, scale-free)


#: Seed 004 reference values: 91 vertebral compression fracture cases vs 114 controls.
REFERENCE: tuple[ReferenceValue, ...] = (
    ReferenceValue(
        "focal_bmc_loss_mm", "focal BMC loss", MAP_UNITS["focal_bmc_loss"], 1.03, 0.13, 0.93, 0.11
    ),
    ReferenceValue("focal_bmd_loss", "focal BMD loss", MAP_UNITS["focal_bmd_loss"], 0.45, 0.03, 0.42, 0.03),
    ReferenceValue(
        "intercept_width_mm",
        "intercept width",
        MAP_UNITS["intercept_width"],
        1.95,
        0.18,
        1.87,
        0.18,
        bmd_scaled=False,
    ),
    ReferenceValue("bmd_mg_cm3", "BMD", "mg/cm³", 78.0, 40.0, 124.0, 71.0),
)


def z_scores(values: dict) -> dict:
    """z-scores of ``values`` (keys of :data:`REFERENCE`) against seed 004's fracture and control groups."""
    out = {}
    for ref in REFERENCE:
        if ref.key in values:
            v = float(values[ref.key])
            out[ref.key] = {
                "vs_fracture": (v - ref.fracture_mean) / ref.fracture_sd,
                "vs_control": (v - ref.control_mean) / ref.control_sd,
            }
    return out


def reference_rows(values: dict, z: dict, calibrated: bool) -> tuple[dict, ...]:
    """Seed 004's group values beside ours; ``comparable`` is False for BMD-scaled values
    of an uncalibrated (HU-equivalent) run, whose z-scores are only indicative."""
    return tuple(
        {
            "comparable": calibrated or not ref.bmd_scaled,
            "measure": ref.label,
            "key": ref.key,
            "unit": ref.unit,
            "value": float(values[ref.key]),
            "fracture_mean": ref.fracture_mean,
            "fracture_sd": ref.fracture_sd,
            "control_mean": ref.control_mean,
            "control_sd": ref.control_sd,
            "z_vs_fracture": z[ref.key]["vs_fracture"],
            "z_vs_control": z[ref.key]["vs_control"],
        }
        for ref in REFERENCE
    )
