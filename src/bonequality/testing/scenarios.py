"""Test scenarios shared by pytest (slicer-core) and the modules' self-tests in Slicer.

Each scenario builds its inputs from a phantom in the current scene (``slicer.mrmlScene``
unless given), runs a module's Qt-free logic exactly as the module does, checks the
result nodes against the phantom's analytic truth, and returns the numbers it checked.
Failures raise :class:`AssertionError` with a message (plain checks, so they also work
with ``python -O``). Slicer's "Reload and Test" therefore checks what CI checks.
"""

from __future__ import annotations

import numpy as np
import slicer

from ..errors import BoneQualityError, OperationCancelled
from ..mrml.markups import control_point_index
from ..mrml.results import CancellableProgress
from ..mrml.sampledata import load_phantom
from ..mrml.segmentations import mask_from_node, segment_names
from ..mrml.tables import dataframe_from_table_node
from ..mrml.volumes import node_to_volume
from ..phantoms import oblique_direction
from .checks import close, holder, pelvis, require, require_rejected, table_value
from .contract import (
    corridors_thermal_placement,
    sacroplasty_cancel_keeps_results,
    segmentation_parent_transform,
)

__all__ = [
    "SCENARIOS",
    "cement_cancel_keeps_results",
    "cement_failure_keeps_results",
    "cement_phantom",
    "corridors_guided_placement",
    "corridors_live_update",
    "corridors_pelvis",
    "corridors_thermal_placement",
    "focal_defect_vertebra",
    "sacroplasty_cancel_keeps_results",
    "sacroplasty_live_update",
    "sacroplasty_pelvis",
    "segmentation_parent_transform",
]


# ------------------------------------------------------------------------------- CementVolume
def cement_phantom(scene=None, *, spacing=(1.0, 1.0, 1.0), oblique: bool = True) -> dict:
    """Cemented-vertebra phantom (oblique grid) -> CementVolume logic -> segments and tables.

    Checks VBV, CDV and leakage within 6 % and VF % within 1.5 points of the analytic
    truth at 1 mm (the library's own tests hold the 3 % criterion at finer spacing), the
    designed distribution score, and that the segments written back equal the result masks.
    """
    from ..mrml.logic_cement import run_cement

    scene = scene or slicer.mrmlScene
    loaded = load_phantom(
        "BoneQualityCementedVertebra",
        scene=scene,
        spacing=spacing,
        direction=oblique_direction() if oblique else None,
    )
    truth = loaded.truth
    results = holder(scene)
    result = run_cement(
        loaded.volume,
        results=results,
        body_source="vertebra mask",
        mask_node=loaded.segmentation,
        mask_segment="vertebra",
    )
    close(result.vbv_ml, truth["vbv_ml"], 0.06, "VBV ml")
    close(result.cdv_ml, truth["cdv_ml"], 0.06, "CDV ml")
    close(result.leakage_ml, truth["leakage_ml"], 0.06, "leakage ml")
    require(
        abs(result.vf_percent - truth["vf_percent"]) <= 1.5,
        f"VF % {result.vf_percent:.2f} vs {truth['vf_percent']:.2f}",
    )
    require(
        result.distribution_score is not None
        and result.distribution_score.total == truth["distribution_score"]["total"],
        f"distribution score {result.distribution_score} vs designed {truth['distribution_score']['total']}",
    )
    seg = results.get("cement.segmentation")
    require(seg is not None, "no cement segmentation node written")
    require(segment_names(seg) == ["VertebralBody", "Cement", "Leakage"], f"segments {segment_names(seg)}")
    ct = node_to_volume(loaded.volume)
    for name, mask in (("Cement", result.cement_mask), ("Leakage", result.leakage_mask)):
        require(
            np.array_equal(mask_from_node(seg, ct, segment=name), mask),
            f"segment {name} differs from the result",
        )
    table = results.get("cement.table")
    require(table is not None, "no cement table written")
    close(table_value(table, "VF %"), result.vf_percent, 1e-9, "VF % in the table")
    return {
        "vbv_ml": result.vbv_ml,
        "cdv_ml": result.cdv_ml,
        "leakage_ml": result.leakage_ml,
        "vf_percent": result.vf_percent,
        "score_total": result.distribution_score.total,
    }


def cement_failure_keeps_results(scene=None) -> dict:
    """A failing second run (seed mode without a placed seed) leaves the first results untouched."""
    from ..mrml.logic_cement import run_cement

    scene = scene or slicer.mrmlScene
    loaded = load_phantom("BoneQualityCementedVertebra", scene=scene, spacing=(1.5, 1.5, 1.5))
    results = holder(scene)
    run_cement(loaded.volume, results=results, mask_node=loaded.segmentation, mask_segment="vertebra")
    table = results.get("cement.table")
    before = dataframe_from_table_node(table)
    seed = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "empty seed")
    try:
        run_cement(loaded.volume, results=results, body_source="seed point", seed_node=seed)
    except BoneQualityError as exc:
        message = str(exc)
    else:
        raise AssertionError("an empty seed point list was accepted")
    require("seed" in message, f"the error does not name the seed: {message}")
    require(results.get("cement.table") is table, "the table node was replaced after a failure")
    require(dataframe_from_table_node(table).equals(before), "the previous results changed after a failure")
    return {"error": message}


def cement_cancel_keeps_results(scene=None) -> dict:
    """Cancelling at the first progress report raises OperationCancelled and writes nothing."""
    from ..mrml.logic_cement import run_cement

    scene = scene or slicer.mrmlScene
    loaded = load_phantom("BoneQualityCementedVertebra", scene=scene, spacing=(1.5, 1.5, 1.5))
    results = holder(scene)
    progress = CancellableProgress()
    progress.cancel()
    try:
        run_cement(
            loaded.volume,
            results=results,
            mask_node=loaded.segmentation,
            mask_segment="vertebra",
            progress=progress,
        )
    except OperationCancelled:
        pass
    else:
        raise AssertionError("cancelling did not stop the analysis (no progress reported?)")
    require(results.roles() == [], f"result nodes were written after cancelling: {results.roles()}")
    return {"cancelled_at": progress.last}


# ------------------------------------------------------------------------------- SacralBoneAnalysis
def corridors_pelvis(scene=None) -> dict:
    """Pelvis phantom (oblique, 1.5 mm) -> corridor logic -> tables, chart, lines, probes, overlay.

    Checks the entry points against the analytic ones (within 1.5 mm at this spacing), L5
    mean within 5 HU, the S1 region means within 10 HU of the analytic disk means, and that
    every result node holds what the result says (lines end at the entries, the chart's S1
    curve is the profile, the table's z-scores match).
    """
    from ..mrml.logic_sacral import CorridorSession
    from ..mrml.markups import line_points
    from ..mrml.plots import chart_series

    scene = scene or slicer.mrmlScene
    loaded = pelvis(scene)
    truth = loaded.truth
    results = holder(scene)
    result = CorridorSession().analyze(loaded.volume, loaded.landmarks, results=results)
    for side, key in (("L", "entry_left"), ("R", "entry_right")):
        err = float(np.linalg.norm(getattr(result.s1, key) - np.asarray(truth["s1"][f"entry_{side}"])))
        require(err < 1.5, f"S1 entry {side} is {err:.2f} mm from the analytic entry")
    require(
        abs(result.l5.mean_hu - truth["l5"]["trabecular_mean_hu"]) < 5, f"L5 mean {result.l5.mean_hu:.1f} HU"
    )
    expected = truth["s1"]["expected_region_means"]
    for region in ("corridor", "body", "alae"):
        got, want = result.s1.region_means[region], expected[f"{region}_mean_hu"]
        require(abs(got - want) < 10, f"S1 {region} mean {got:.1f} HU vs analytic {want:.1f} HU")
    line = results.get("corridors.line.S1.S1_L")
    require(line is not None, "no S1 left trajectory line")
    a, b = line_points(line)  # along the probe: E_L -> C1 (CLINICAL.md section 2)
    require(np.allclose(a, result.s1.entry_left, atol=1e-6), "S1 left line does not start at the left entry")
    require(np.allclose(b, result.s1_geometry.c1, atol=1e-6), "S1 left line does not end at the S1 centre")
    series = chart_series(results.get("corridors.chart"))
    require({"S1", "S2", "S1 cohort L5 > 100 HU"} <= set(series), f"chart series {sorted(series)}")
    curve = dataframe_from_table_node(series["S1"].GetTableNode())
    require(
        np.allclose(curve["S1"], result.s1.profile_hu, equal_nan=True),
        "chart S1 curve differs from the profile",
    )
    table = dataframe_from_table_node(results.get("corridors.table"))
    z = table.loc[table["Measure"] == "S1 body", "z (L5 > 100 HU)"].iloc[0]
    require(
        abs(z - result.z_scores["L5 > 100 HU"]["S1_body"]) < 1e-9, "table z-score differs from the result"
    )
    for role in (
        "corridors.probe.S1.S1_L",
        "corridors.thermal.S1.S1_L",
        "corridors.overlay",
        "corridors.summary",
    ):
        require(results.get(role) is not None, f"result node {role} missing")
    overlay_hu = _thermal_overlay_checks(results, loaded.volume, result)
    return {
        "overlay_s1_centre_hu": overlay_hu,
        "s1_entry_left_error_mm": float(
            np.linalg.norm(result.s1.entry_left - np.asarray(truth["s1"]["entry_L"]))
        ),
        "l5_mean_hu": result.l5.mean_hu,
        "s1_body_mean_hu": result.s1.region_means["body"],
    }


def _thermal_overlay_checks(results, ct_node, result) -> float:
    """The thermal overlay shows the CT's HU in the S1 body and ala, on the one thermal scale."""
    from ..colors import THERMAL_RANGE_HU
    from ..corridors.overlay import OUTSIDE_HU

    node = results.get("corridors.overlay")
    display = node.GetDisplayNode()
    window = (display.GetWindowLevelMin(), display.GetWindowLevelMax())
    require(np.allclose(window, THERMAL_RANGE_HU), f"overlay window {window} is not {THERMAL_RANGE_HU}")
    overlay, ct = node_to_volume(node), node_to_volume(ct_node)
    c1, entry = result.s1_geometry.c1, result.s1.entry_left
    points = np.array([c1, entry + 0.6 * (c1 - entry)])  # S1 body centre, left ala
    got, want = overlay.sample(points, order=0), ct.sample(points, order=0)
    require(np.all(got > OUTSIDE_HU), f"overlay blank in the S1 body or ala: {got}")
    require(np.allclose(got, np.rint(want), atol=0.5), f"overlay {got} HU vs CT {want} HU")
    return float(got[0])


def corridors_guided_placement(scene=None) -> dict:
    """Guided placement: a pre-labelled node filled click by click gives the same result as the phantom's."""
    from ..mrml.logic_sacral import CorridorSession
    from ..mrml.markups import guided_landmarks_node, landmarks_from_node, next_unplaced_label

    scene = scene or slicer.mrmlScene
    loaded = pelvis(scene, oblique=False, spacing=(2.0, 2.0, 2.0))
    placed = landmarks_from_node(loaded.landmarks)
    # The phantom holds both landmark sets, and the per-scan bone threshold depends on
    # which are placed (bonequality.imaging.threshold): guide the placement of both.
    node = guided_landmarks_node(("corridors", "sacroplasty"), name="guided", scene=scene)
    clicks = 0
    while (label := next_unplaced_label(node)) is not None:
        # What one click of the place widget does: the next undefined point gets a position.
        index = control_point_index(node, label)
        node.SetNthControlPointPositionWorld(index, *(placed[label] * np.array([-1.0, -1.0, 1.0])).tolist())
        clicks += 1
    require(
        clicks == node.GetNumberOfControlPoints(),
        f"{clicks} clicks for {node.GetNumberOfControlPoints()} points",
    )
    results = holder(scene)
    guided = CorridorSession().analyze(loaded.volume, node, results=results)
    direct = CorridorSession().analyze(loaded.volume, loaded.landmarks, results=holder(scene))
    require(
        abs(guided.s1.region_means["corridor"] - direct.s1.region_means["corridor"]) < 1e-9,
        "guided placement gives another S1 mean than the phantom landmarks",
    )
    return {"clicks": clicks}


def corridors_live_update(scene=None) -> dict:
    """Dragging a landmark updates the results in place; a bad landmark keeps the previous results."""
    from ..mrml.logic_sacral import CorridorSession

    scene = scene or slicer.mrmlScene
    loaded = pelvis(scene, oblique=False, spacing=(2.0, 2.0, 2.0))
    results = holder(scene)
    session = CorridorSession()
    first = session.analyze(loaded.volume, loaded.landmarks, results=results)
    table = results.get("corridors.table")
    node = loaded.landmarks
    index = control_point_index(node, "SI_joint_ventral_sup_L")
    pos = np.array(node.GetNthControlPointPositionWorld(index))
    node.SetNthControlPointPositionWorld(index, *(pos + np.array([0.0, 0.0, 4.0])).tolist())  # 4 mm superior
    moved = session.update(loaded.volume, node, results=results)
    require(
        results.get("corridors.table") is table, "live update replaced the table node instead of updating it"
    )
    require(
        not np.allclose(moved.s1.entry_left, first.s1.entry_left),
        "the left S1 entry did not move with its landmark",
    )
    require(
        np.allclose(moved.s2.profile_hu, first.s2.profile_hu, equal_nan=True),
        "S2 changed though no S2 landmark moved",
    )
    before = dataframe_from_table_node(table)
    node.SetNthControlPointPositionWorld(index, 5000.0, 5000.0, 5000.0)  # outside the image
    require_rejected(
        lambda: session.update(loaded.volume, node, results=results),
        "SI_joint_ventral_sup_L",
        "a landmark outside the image",
        table,
        before,
    )
    return {
        "s1_mean_before": first.s1.region_means["corridor"],
        "s1_mean_after": moved.s1.region_means["corridor"],
    }


def sacroplasty_pelvis(scene=None) -> dict:
    """Pelvis phantom -> sacroplasty logic -> table with seed 001 references, needle lines, reformat."""
    from ..mrml.logic_sacral import reformat_slice_node, run_sacroplasty
    from ..mrml.markups import line_points

    scene = scene or slicer.mrmlScene
    loaded = pelvis(scene)
    results = holder(scene)
    plan = run_sacroplasty(loaded.volume, loaded.landmarks, results=results)
    table = dataframe_from_table_node(results.get("sacroplasty.table"))
    require(len(table) == 6, f"{len(table)} trajectory rows instead of 6")
    for side, res in plan.sides.items():
        require(res.target_in_bone, f"{side} target outside bone on the normal pelvis phantom")
        line = results.get(f"sacroplasty.line.{side}.axial")
        require(line is not None, f"no {side} axial needle line")
        _a, b = line_points(line)
        require(np.allclose(b, res.target_lps, atol=1e-6), f"{side} needle line does not end at the target")
    slice_node = scene.AddNewNodeByClass("vtkMRMLSliceNode")
    reformat_slice_node(slice_node, plan, "left")
    m = slice_node.GetSliceToRAS()
    center = np.array([m.GetElement(r, 3) for r in range(3)])
    require(
        np.allclose(center, plan.left.target_lps * [-1.0, -1.0, 1.0], atol=1e-6),
        "reformat not centred on the target",
    )
    normal_ras = np.array([m.GetElement(r, 2) for r in range(3)])
    require(abs(normal_ras[2]) < 1e-9, "the reformat plane is not vertical")
    return {"distance_left_axial_mm": plan.left.trajectories["axial"].distance_to_anterior_cortex_mm}


# ------------------------------------------------------------------------------- FocalDefect
def sacroplasty_live_update(scene=None) -> dict:
    """Dragging a corner re-plans all six trajectories in place; a bad corner keeps the plan."""
    from ..mrml.logic_sacral import SacroplastySession

    scene = scene or slicer.mrmlScene
    loaded = pelvis(scene, oblique=False)
    results = holder(scene)
    session = SacroplastySession()
    require(session.update(loaded.volume, loaded.landmarks, results=results) is None, "updated before a plan")
    first = session.run(loaded.volume, loaded.landmarks, results=results)
    table = results.get("sacroplasty.table")
    node = loaded.landmarks
    index = control_point_index(node, "S1_corner_PS")
    pos = np.array(node.GetNthControlPointPositionWorld(index))
    node.SetNthControlPointPositionWorld(index, *(pos + np.array([0.0, 0.0, 3.0])).tolist())  # 3 mm superior
    moved = session.update(loaded.volume, node, results=results)
    require(results.get("sacroplasty.table") is table, "live update replaced the table node")
    require(
        not np.allclose(moved.target_midsagittal_lps, first.target_midsagittal_lps),
        "the target did not move with S1_corner_PS",
    )
    before = dataframe_from_table_node(table)
    node.SetNthControlPointPositionWorld(
        index, *node.GetNthControlPointPositionWorld(control_point_index(node, "S1_corner_AI"))
    )
    require_rejected(
        lambda: session.update(loaded.volume, node, results=results),
        "S1_corner_PS",
        "coincident corners",
        table,
        before,
    )
    require(session.plan is moved, "the session dropped its last good plan")
    return {
        "target_shift_mm": float(np.linalg.norm(moved.target_midsagittal_lps - first.target_midsagittal_lps))
    }


def focal_defect_vertebra(scene=None) -> dict:
    """Vertebra phantom -> focal-defect logic -> three thermal maps and the summary table.

    The map nodes must equal the library's maps, the table its summary, and the defect
    region (3 mm voids) must show a higher mean focal BMC loss than the rest of the ROI.
    """
    from ..mrml.logic_focal import MAPS, run_focal_defect

    scene = scene or slicer.mrmlScene
    loaded = load_phantom("BoneQualityVertebra", scene=scene, spacing=(0.6, 0.6, 1.0))
    results = holder(scene)
    result = run_focal_defect(loaded.volume, results=results, mask_node=loaded.segmentation)
    for attr in MAPS:
        node = results.get(f"focal.{attr}")
        require(node is not None, f"no {attr} map node")
        back = node_to_volume(node)
        require(np.array_equal(back.array, getattr(result, attr).array), f"{attr} node differs from the map")
        require(node.GetDisplayNode().GetColorNodeID().endswith("BoneQualityThermal"), f"{attr} not thermal")
    bmc = result.focal_bmc_loss
    ijk = np.argwhere(result.roi.array)[:, ::-1]
    pts = bmc.index_to_physical(ijk)
    region = loaded.truth["defect_region"]
    center = np.asarray(loaded.truth["center_lps"], dtype=float)
    r = np.hypot(
        pts[:, 0] - center[0] - region["center_xy_mm"][0], pts[:, 1] - center[1] - region["center_xy_mm"][1]
    )
    values = bmc.array[result.roi.array]
    inside, outside = (
        values[r < region["radius_mm"] - 1.0].mean(),
        values[r > region["radius_mm"] + 1.0].mean(),
    )
    require(inside > outside, f"defect region BMC loss {inside:.3f} mm not above background {outside:.3f} mm")
    table = dataframe_from_table_node(results.get("focal.table"))
    row = table[table["Measure"] == "ROI volume"]
    close(row["Value"].iloc[0], result.summary.roi_volume_ml, 1e-9, "ROI volume in the table")
    return {"bmc_loss_defect_mm": float(inside), "bmc_loss_background_mm": float(outside)}


#: Module name -> its scenarios (run by the module's self-test and by pytest).
SCENARIOS = {
    "SacralBoneAnalysis": (
        corridors_pelvis,
        corridors_guided_placement,
        corridors_live_update,
        corridors_thermal_placement,
        sacroplasty_pelvis,
        sacroplasty_live_update,
        sacroplasty_cancel_keeps_results,
    ),
    "FocalDefect": (focal_defect_vertebra, segmentation_parent_transform),
    "CementVolume": (cement_phantom, cement_failure_keeps_results, cement_cancel_keeps_results),
}
