"""The built-in batch analyses: adapters from a manifest row to the analysis libraries.

Each adapter reads the row's inputs through :class:`~bonequality.batch.registry.CaseInputs`
(one read of the CT per case, shared by the analyses), calls one analysis library, writes
the library's full JSON result into its ``case_dir`` and returns the flat summary figures
that ``cohort.csv`` and the cohort report (:data:`bonequality.batch.report.COLUMNS`) use.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..outputs import write_json
from .registry import Analysis, CaseInputs, register_analysis

__all__ = ["cement_figures", "corridors_figures", "focal_defect_figures", "sacroplasty_figures"]


def _num(v) -> float:
    return math.nan if v is None else float(v)


def corridors_figures(inputs: CaseInputs, case_dir: Path) -> dict:
    """Seed 000 corridors: L5 HU and the S1/S2 corridor, body and alae means.

    Columns ``corridors_L5_hu``, ``corridors_S1_corridor_hu``, ... (the names the cohort
    report uses), probe lengths, minimum free radius, screw fit per diameter, the S2
    dorsal shift and the bone threshold. Writes ``summary.json`` (the full result) and
    ``profiles.csv`` (``probe``, ``percent`` 0.5-99.5 from the patient's left entry,
    ``hu``), which the runner gathers into ``DIR/profiles.csv``.
    """
    from ..corridors import analyze_corridors

    r = analyze_corridors(
        inputs.ct(),
        inputs.landmarks(),
        bone_threshold=inputs.value("bone_threshold"),
        l5_mask=inputs.mask("l5_mask") if inputs.has("l5_mask") else None,
    )
    write_json(case_dir / "summary.json", r.to_dict())
    prof = r.profiles_frame().rename(columns={"corridor": "probe", "mean_hu": "hu"})
    prof.to_csv(case_dir / "profiles.csv", index=False)
    out: dict[str, object] = {
        "L5_hu": r.l5.mean_hu,
        "L5_roi_ml": r.l5.roi_volume_ml,
        "L5_group": r.l5.group,
        "bone_threshold_hu": r.bone_threshold_hu,
    }
    for key, probe in (("S1", r.s1), ("S2", r.s2)):
        out[f"{key}_corridor_hu"] = probe.region_means["corridor"]
        out[f"{key}_body_hu"] = probe.region_means["body"]
        out[f"{key}_alae_hu"] = probe.region_means["alae"]
        out[f"{key}_length_mm"] = probe.length_mm
        out[f"{key}_min_free_radius_mm"] = probe.min_free_radius_mm
        for d, ok in probe.screw_fit.items():
            out[f"{key}_fits_{d:g}mm"] = bool(ok)
    out["S2_dorsal_shift_mm"] = float(r.s2_geometry.ventral_shift_mm)
    out["S2_moved"] = bool(r.s2_geometry.moved)
    return out


def sacroplasty_figures(inputs: CaseInputs, case_dir: Path) -> dict:
    """Seed 001 needle plan: per side and trajectory, distance to the anterior cortex and depth.

    Columns ``sacroplasty_<side>_<trajectory>_{distance_mm,depth_mm,category}``,
    ``sacroplasty_<side>_target_in_bone``, the bone threshold, the skew gap, whether the
    left-right line stays in bone and the number of warnings. ``plan.json`` holds the plan.
    """
    from ..sacroplasty import plan_sacroplasty

    plan = plan_sacroplasty(inputs.ct(), inputs.landmarks(), bone_threshold=inputs.value("bone_threshold"))
    write_json(case_dir / "plan.json", plan.to_dict())
    out: dict[str, object] = {
        "bone_threshold_hu": float(plan.bone_threshold_hu),
        "skew_gap_mm": float(plan.skew_gap_mm),
        "lr_line_in_bone": bool(plan.lr_line_in_bone),
        "n_warnings": len(plan.warnings),
    }
    for side, res in plan.sides.items():
        out[f"{side}_target_in_bone"] = bool(res.target_in_bone)
        for key, t in res.trajectories.items():
            out[f"{side}_{key}_distance_mm"] = float(t.distance_to_anterior_cortex_mm)
            out[f"{side}_{key}_depth_mm"] = float(t.needle_depth_mm)
            out[f"{side}_{key}_category"] = t.category
    return out


def focal_defect_figures(inputs: CaseInputs, case_dir: Path) -> dict:
    """Seed 004 focal BMC loss: ROI means of the focal maps and the ROI's BMD.

    The body comes from ``mask`` (or ``body_mask``), else from ``seed``; the calibration
    from ``calibration_slope`` and ``calibration_intercept`` (else uncalibrated,
    HU-equivalent: column ``calibrated`` says which). ``summary.json`` holds the result.
    """
    from ..focal_defect import analyze_focal_defect

    mask = None
    for col in ("mask", "body_mask"):
        if inputs.has(col):
            mask = inputs.mask(col)
            break
    calibration = None
    if inputs.has("calibration_slope") or inputs.has("calibration_intercept"):
        calibration = (inputs.value("calibration_slope", 1.0), inputs.value("calibration_intercept", 0.0))
    result = analyze_focal_defect(
        inputs.ct(),
        mask=mask,
        seed=None if mask is not None else inputs.value("seed"),
        calibration=calibration,
        name=inputs.case.where("ct"),
    )
    s = result.summary
    write_json(case_dir / "summary.json", s.to_dict())
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


def cement_figures(inputs: CaseInputs, case_dir: Path) -> dict:
    """Seed 003 volumetry: VBV, CDV, VF %, leakage and the 0-10 distribution score.

    The body comes from the first of ``body_mask``, ``vertebra_mask`` (posterior
    elements cut automatically), ``mask`` (a body mask) or ``seed``. ``result.json``
    holds the full result.
    """
    from ..cement import analyze_cement

    kwargs: dict[str, object] = {}
    if inputs.has("body_mask"):
        kwargs["body_mask"] = inputs.mask("body_mask")
    elif inputs.has("vertebra_mask"):
        kwargs["vertebra_mask"] = inputs.mask("vertebra_mask")
    elif inputs.has("mask"):
        kwargs["body_mask"] = inputs.mask("mask")
    else:
        kwargs["seed"] = inputs.value("seed")
    r = analyze_cement(inputs.ct(), **kwargs)
    write_json(case_dir / "result.json", r.to_dict())
    score = r.distribution_score
    out: dict[str, object] = {
        "vbv_ml": r.vbv_ml,
        "cdv_ml": r.cdv_ml,
        "vf_percent": r.vf_percent,
        "predicted_extensive": bool(r.predicted_extensive),
        "leakage_ml": r.leakage_ml,
        "distribution_score": math.nan if score is None else int(score.total),
        "distribution_group": "" if score is None else score.group,
        "body_source": r.body_source,
    }
    for loc, ml in dict(r.leakage_by_location).items():
        out[f"leakage_{loc}_ml"] = _num(ml)
    for side, frac in dict(r.side_fraction).items():
        out[f"side_{side}_fraction"] = _num(frac)
    return out


register_analysis(
    Analysis(
        "corridors",
        corridors_figures,
        requires=("ct", "landmarks"),
        tables=("profiles.csv",),
        description="seed 000 screw corridors and L5 density (CLINICAL.md section 2)",
    )
)
register_analysis(
    Analysis(
        "sacroplasty",
        sacroplasty_figures,
        requires=("ct", "landmarks"),
        description="seed 001 needle planning (CLINICAL.md section 3)",
    )
)
register_analysis(
    Analysis(
        "focal-defect",
        focal_defect_figures,
        requires=("ct", "mask|body_mask|seed"),
        description="seed 004 focal BMC loss (CLINICAL.md section 4)",
    )
)
register_analysis(
    Analysis(
        "cement",
        cement_figures,
        requires=("ct", "body_mask|vertebra_mask|mask|seed"),
        description="seed 003 cement volumetry (CLINICAL.md section 5)",
    )
)
