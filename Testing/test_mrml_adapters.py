"""bonequality.mrml adapters against Slicer's real MRML classes (slicer-core package).

Geometry is checked three ways: an exact round trip Volume -> node -> Volume, the node's
IJK-to-RAS against LPS positions computed by the library, and Slicer's own NRRD reader and
writer (vtkMRMLVolumeArchetypeStorageNode) against the library's SimpleITK I/O.
"""

from __future__ import annotations

import colorsys

import numpy as np
import pandas as pd
import pytest

from bonequality.colors import thermal_rgb
from bonequality.errors import LandmarkError, MaskError
from bonequality.frames import lps_to_ras
from bonequality.landmarks import Landmarks, read_mrk_json, required_labels, write_mrk_json
from bonequality.phantoms import ANISOTROPIC_SPACING, oblique_direction
from bonequality.volume import Volume

pytestmark = pytest.mark.mrml

slicer = pytest.importorskip("slicer", reason="Slicer's MRML (slicer-core) is not installed")
vtk = pytest.importorskip("vtk")

from bonequality.mrml import colors, markups, plots, segmentations, tables, volumes  # noqa: E402

GEOMETRY_TOL = 1e-9


@pytest.fixture
def oblique_ct() -> Volume:
    """A CT-like int16 volume with anisotropic spacing and an oblique direction."""
    rng = np.random.default_rng(7)
    array = rng.integers(-1024, 2000, size=(17, 23, 29), dtype=np.int16)
    return Volume(array, np.array(ANISOTROPIC_SPACING), np.array([-12.5, 40.25, -310.0]), oblique_direction())


def _lm() -> Landmarks:
    return Landmarks(
        [
            ("S1_body_top", [1.25, -30.5, 112.0]),
            ("S1_foramen_sup_L", [25.0, -20.125, 100.0]),
            ("S1_foramen_sup_R", [-24.5, -20.0, 100.5]),
            ("L5_body_center", [0.333333, -40.0, 140.0]),
        ],
        source="test",
    )


# ----------------------------------------------------------------------------- volumes
def test_volume_round_trip_is_exact_on_oblique_anisotropic_grid(mrml_scene, oblique_ct):
    node = volumes.volume_to_node(oblique_ct, name="CT")
    assert node.IsA("vtkMRMLScalarVolumeNode")
    assert not node.IsA("vtkMRMLLabelMapVolumeNode")
    back = volumes.node_to_volume(node)
    assert back.array.dtype == oblique_ct.array.dtype
    np.testing.assert_array_equal(back.array, oblique_ct.array)
    np.testing.assert_allclose(back.spacing, oblique_ct.spacing, atol=GEOMETRY_TOL, rtol=0)
    np.testing.assert_allclose(back.origin, oblique_ct.origin, atol=GEOMETRY_TOL, rtol=0)
    np.testing.assert_allclose(back.direction, oblique_ct.direction, atol=GEOMETRY_TOL, rtol=0)
    # The node's array is a copy: changing the Volume afterwards cannot reach Slicer.
    assert back.array is not oblique_ct.array


def test_node_places_voxels_at_the_library_positions_in_ras(mrml_scene, oblique_ct):
    node = volumes.volume_to_node(oblique_ct)
    ijk = np.array([[0, 0, 0], [28, 0, 0], [3, 22, 16], [10.5, 4.25, 7.0]])
    lps = oblique_ct.index_to_physical(ijk)
    m = volumes.ijk_to_ras_of_node(node)
    ras = (m[:3, :3] @ ijk.T).T + m[:3, 3]
    np.testing.assert_allclose(ras, lps_to_ras(lps), atol=1e-9)
    # Slicer's own helper agrees for a voxel value lookup.
    i, j, k = 3, 22, 16
    assert slicer.util.arrayFromVolume(node)[k, j, i] == oblique_ct.array[k, j, i]


def test_slicer_nrrd_io_agrees_with_library_io(mrml_scene, oblique_ct, tmp_path):
    # Slicer writes the node; SimpleITK (the library) reads it.
    node = volumes.volume_to_node(oblique_ct)
    writer = slicer.vtkMRMLVolumeArchetypeStorageNode()
    mrml_scene.AddNode(writer)
    writer.SetFileName(str(tmp_path / "slicer.nrrd"))
    assert writer.WriteData(node)
    read = Volume.read(tmp_path / "slicer.nrrd")
    np.testing.assert_array_equal(read.array, oblique_ct.array)
    np.testing.assert_allclose(read.origin, oblique_ct.origin, atol=1e-6)
    np.testing.assert_allclose(read.direction, oblique_ct.direction, atol=1e-9)
    # The library writes; Slicer reads into a node; the adapter gives the same Volume.
    oblique_ct.write(tmp_path / "lib.nrrd")
    other = mrml_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    reader = slicer.vtkMRMLVolumeArchetypeStorageNode()
    mrml_scene.AddNode(reader)
    reader.SetFileName(str(tmp_path / "lib.nrrd"))
    assert reader.ReadData(other)
    back = volumes.node_to_volume(other)
    np.testing.assert_array_equal(back.array, oblique_ct.array)
    np.testing.assert_allclose(back.origin, oblique_ct.origin, atol=1e-6)
    np.testing.assert_allclose(back.spacing, oblique_ct.spacing, atol=1e-9)


def test_update_in_place_and_labelmap_and_bool(mrml_scene, oblique_ct):
    node = volumes.volume_to_node(oblique_ct)
    node_id = node.GetID()
    moved = Volume(oblique_ct.array[::-1].copy(), oblique_ct.spacing * 2, oblique_ct.origin + 5, np.eye(3))
    assert volumes.volume_to_node(moved, node).GetID() == node_id
    back = volumes.node_to_volume(node)
    np.testing.assert_array_equal(back.array, moved.array)
    np.testing.assert_allclose(back.spacing, moved.spacing, atol=GEOMETRY_TOL)
    mask = oblique_ct.with_array(oblique_ct.array > 500)
    label = volumes.volume_to_node(mask, labelmap=True, name="mask")
    assert label.IsA("vtkMRMLLabelMapVolumeNode")
    np.testing.assert_array_equal(volumes.node_to_volume(label).array, mask.array.astype(np.uint8))


def test_linear_parent_transform_moves_the_geometry(mrml_scene, oblique_ct):
    node = volumes.volume_to_node(oblique_ct)
    transform = mrml_scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    shift_ras = np.eye(4)
    shift_ras[:3, 3] = [10.0, 20.0, 30.0]
    transform.SetMatrixTransformToParent(volumes.vtk_matrix(shift_ras))
    node.SetAndObserveTransformNodeID(transform.GetID())
    world = volumes.node_to_volume(node)
    local = volumes.node_to_volume(node, world=False)
    # +10 R, +20 A in RAS is -10, -20 in LPS.
    np.testing.assert_allclose(world.origin - local.origin, [-10.0, -20.0, 30.0], atol=1e-9)


# ----------------------------------------------------------------------------- markups
@pytest.mark.parametrize("system", ["LPS", "RAS"])
def test_mrk_json_loads_in_slicer_at_the_same_ras_positions(mrml_scene, tmp_path, system):
    lm = _lm()
    path = tmp_path / f"lm_{system}.mrk.json"
    write_mrk_json(path, lm, coordinate_system=system, unplaced=["S2_body_ventral_mid"])
    node = markups.load_markups(path)
    assert node.IsA("vtkMRMLMarkupsFiducialNode")
    assert node.GetNumberOfControlPoints() == 5
    for i, (label, p) in enumerate(lm.entries):
        assert node.GetNthControlPointLabel(i) == label
        ras = np.array(node.GetNthControlPointPositionWorld(i))
        assert np.max(np.abs(ras - lps_to_ras(p))) < 1e-6
    assert node.GetNthControlPointPositionStatus(4) == node.PositionUndefined
    back = markups.landmarks_from_node(node)
    assert back.entries[4] == ("S2_body_ventral_mid", None)
    for label, p in lm.items():
        np.testing.assert_allclose(back[label], p, atol=1e-9)


def test_landmarks_node_saved_by_slicer_reads_back_in_lps(mrml_scene, tmp_path):
    lm = _lm()
    node = markups.landmarks_to_node(lm, unplaced=["S3_body_center"])
    path = tmp_path / "saved.mrk.json"
    storage = node.CreateDefaultStorageNode()
    assert storage is not None, "markups logic not registered: no .mrk.json storage"
    mrml_scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.WriteData(node)
    read = read_mrk_json(path)
    for label, p in lm.items():
        np.testing.assert_allclose(read[label], p, atol=1e-6)
    assert ("S3_body_center", None) in [(lab, p) for lab, p in read.entries if p is None]


def test_guided_node_fills_the_next_unplaced_label(mrml_scene):
    lm = Landmarks([("S1_body_top", [0.0, -30.0, 110.0])])
    node = markups.guided_landmarks_node(("corridors",), landmarks=lm)
    labels = [node.GetNthControlPointLabel(i) for i in range(node.GetNumberOfControlPoints())]
    assert labels == list(required_labels("corridors"))
    assert node.GetNumberOfDefinedControlPoints() == 1
    assert node.GetNthControlPointDescription(1) == "superior margin of the left S1 neuroforamen"
    assert markups.next_unplaced_label(node) == "S1_foramen_sup_L"
    assert markups.control_point_index(node, "S1_foramen_sup_L") == 1
    with pytest.raises(ValueError, match="no control point labelled 'S9'"):
        markups.control_point_index(node, "S9")
    # What a click of the place widget does: position the first undefined point.
    node.SetNthControlPointPositionWorld(1, *lps_to_ras([22.0, -20.0, 100.0]).tolist())
    assert markups.next_unplaced_label(node) == "S1_foramen_sup_R"
    read = markups.landmarks_from_node(node)
    np.testing.assert_allclose(read["S1_foramen_sup_L"], [22.0, -20.0, 100.0], atol=1e-9)
    with pytest.raises(LandmarkError) as info:
        read.validate(required_labels("corridors"))
    assert "S1_foramen_sup_R" in info.value.labels
    assert "S1_foramen_sup_L" not in info.value.labels
    # Re-running guided set-up keeps placed points and appends the sacroplasty labels.
    again = markups.guided_landmarks_node(("corridors", "sacroplasty"), node)
    assert again is node
    assert node.GetNumberOfDefinedControlPoints() == 2
    assert node.GetNumberOfControlPoints() == len(required_labels("corridors", "sacroplasty"))


def test_line_node_end_points(mrml_scene):
    a, b = np.array([1.0, 2.0, 3.0]), np.array([-40.0, 12.5, 99.0])
    node = markups.line_node(a, b, name="S1 trajectory")
    assert node.IsA("vtkMRMLMarkupsLineNode")
    np.testing.assert_allclose(node.GetNthControlPointPositionWorld(1), lps_to_ras(b), atol=1e-9)
    p, q = markups.line_points(node)
    np.testing.assert_allclose(p, a, atol=1e-9)
    np.testing.assert_allclose(q, b, atol=1e-9)
    assert markups.line_node(b, a, node) is node
    assert node.GetNumberOfControlPoints() == 2


# ----------------------------------------------------------------------------- segmentations
def _masks(shape):
    body = np.zeros(shape, dtype=bool)
    body[3:12, 4:18, 5:22] = True
    cement = np.zeros(shape, dtype=bool)
    cement[6:9, 8:12, 9:14] = True
    leak = np.zeros(shape, dtype=bool)
    leak[10:15, 15:21, 20:27] = True  # overlaps the body: a separate layer in Slicer
    return {"VertebralBody": body, "Cement": cement, "Leakage": leak}


def test_segmentation_round_trip_on_oblique_grid(mrml_scene, oblique_ct):
    masks = _masks(oblique_ct.array.shape)
    ct_node = volumes.volume_to_node(oblique_ct)
    node = segmentations.segmentation_node_from_masks(masks, oblique_ct, reference_node=ct_node)
    assert segmentations.segment_names(node) == list(masks)
    seg = node.GetSegmentation()
    np.testing.assert_allclose(
        seg.GetSegment(seg.GetSegmentIdBySegmentName("Leakage")).GetColor(), (1.0, 0.15, 0.15)
    )
    for name, mask in masks.items():
        np.testing.assert_array_equal(segmentations.mask_from_node(node, oblique_ct, segment=name), mask)
    union = masks["VertebralBody"] | masks["Cement"] | masks["Leakage"]
    np.testing.assert_array_equal(segmentations.mask_from_node(node, oblique_ct), union)
    # Slicer's own export (with the CT node as reference) sees the same voxels.
    seg_id = seg.GetSegmentIdBySegmentName("Cement")
    labelmap = mrml_scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    ids = vtk.vtkStringArray()
    ids.InsertNextValue(seg_id)
    assert slicer.vtkSlicerSegmentationsModuleLogic.ExportSegmentsToLabelmapNode(node, ids, labelmap, ct_node)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(labelmap) != 0, masks["Cement"])
    # Updating replaces same-named segments only.
    smaller = np.zeros_like(masks["Cement"])
    smaller[7, 9, 10] = True
    segmentations.segmentation_node_from_masks({"Cement": smaller}, oblique_ct, node)
    assert sorted(segmentations.segment_names(node)) == sorted(masks)
    assert segmentations.mask_from_node(node, oblique_ct, segment="Cement").sum() == 1


def test_mask_from_segment_on_another_grid_is_resampled(mrml_scene, oblique_ct):
    # A segment drawn on a 2x coarser axis-aligned grid covering an LPS box within the CT
    # (a mask must lie at least 95 % within the CT: Volume.mask_on).
    coarse = Volume(
        np.zeros((30, 30, 30), dtype=np.uint8), np.full(3, 2.0), np.array([-30.0, 20.0, -330.0]), np.eye(3)
    )
    box = np.zeros(coarse.array.shape, dtype=bool)
    box[11:19, 11:19, 11:19] = True
    node = segmentations.segmentation_node_from_masks({"Body": box}, coarse)
    got = segmentations.mask_from_node(node, oblique_ct, segment="Body")
    expected = coarse.with_array(box).mask_on(oblique_ct)
    np.testing.assert_array_equal(got, expected)
    assert 0 < got.sum() < got.size


def test_mask_errors_name_the_input(mrml_scene, oblique_ct):
    masks = _masks(oblique_ct.array.shape)
    node = segmentations.segmentation_node_from_masks(masks, oblique_ct, name="Vertebra")
    with pytest.raises(MaskError, match="no segment named 'L1'"):
        segmentations.mask_from_node(node, oblique_ct, segment="L1")
    label = volumes.volume_to_node(oblique_ct.with_array(masks["Cement"].astype(np.uint8) * 4), labelmap=True)
    np.testing.assert_array_equal(segmentations.mask_from_node(label, oblique_ct, label=4), masks["Cement"])
    with pytest.raises(MaskError, match="label 2 does not occur"):
        segmentations.mask_from_node(label, oblique_ct, label=2)
    empty = volumes.volume_to_node(
        oblique_ct.with_array(np.zeros(oblique_ct.array.shape, np.uint8)), labelmap=True
    )
    with pytest.raises(MaskError, match="empty"):
        segmentations.mask_from_node(empty, oblique_ct)


# ----------------------------------------------------------------------------- tables, plots, colours
def test_table_round_trip_keeps_names_dtypes_and_values(mrml_scene):
    df = pd.DataFrame(
        {
            "region": ["vertebral body", "alae", "whole corridor"],
            "mean_hu": [231.25, np.nan, -12.5],
            "n_samples": [120, 240, 400],
            "below_cohort": [True, False, True],
        }
    )
    node = tables.dataframe_to_table_node(df, name="Regions", units={"mean_hu": "HU"})
    assert node.GetNumberOfRows() == 3
    assert node.GetCellText(0, 0) == "vertebral body"
    assert node.GetColumnUnitLabel("mean_hu") == "HU"
    pd.testing.assert_frame_equal(tables.dataframe_from_table_node(node), df, check_dtype=False)
    back = tables.dataframe_from_table_node(node)
    assert back["n_samples"].dtype.kind == "i"
    assert back["below_cohort"].dtype == bool
    # slicer.util's reader sees the same numbers.
    np.testing.assert_allclose(slicer.util.dataframeFromTable(node)["n_samples"], [120, 240, 400])
    assert tables.dataframe_to_table_node(df.iloc[:1], node) is node
    assert node.GetNumberOfRows() == 1


def test_profile_chart_nodes_and_update(mrml_scene):
    x = np.arange(100) + 0.5
    s1 = plots.ProfileCurve("S1", x, 200 + 50 * np.cos(x / 10), {"L5 > 100 HU": 240.0, "L5 <= 100 HU": 160.0})
    s2 = plots.ProfileCurve("S2", x, 150 + 0 * x)
    chart = plots.profile_chart([s1, s2], title="Corridor profiles", x_title="% of width", y_title="HU")
    series = plots.chart_series(chart)
    assert list(series) == ["S1", "S1 L5 > 100 HU", "S1 L5 <= 100 HU", "S2"]
    assert series["S1 L5 > 100 HU"].GetLineStyle() == series["S1"].LineStyleDash
    assert series["S1"].GetLineStyle() == series["S1"].LineStyleSolid
    table = series["S1"].GetTableNode()
    df = tables.dataframe_from_table_node(table)
    np.testing.assert_allclose(df["S1"], s1.y)
    np.testing.assert_allclose(df["S1 L5 <= 100 HU"], 160.0)
    assert chart.GetXAxisTitle() == "% of width"
    # Update: S2 dropped, S1 changed; nodes reused, stale ones removed from the scene.
    s1b = plots.ProfileCurve("S1", x, 100 + 0 * x)
    assert plots.profile_chart([s1b], chart, title="Corridor profiles") is chart
    series = plots.chart_series(chart)
    assert list(series) == ["S1"]
    assert series["S1"].GetTableNode() is table
    np.testing.assert_allclose(tables.dataframe_from_table_node(table)["S1"], 100.0)
    assert mrml_scene.GetNodesByClass("vtkMRMLPlotSeriesNode").GetNumberOfItems() == 1
    assert mrml_scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == 1


def test_thermal_color_table_is_hotter_for_denser(mrml_scene):
    node = colors.thermal_color_node()
    assert colors.thermal_color_node() is node
    n = node.GetNumberOfColors()
    assert n == 256
    rgba = np.array([_color(node, i) for i in range(n)])
    # The lookup table stores 8-bit colours: equal to the library scale within half a step.
    np.testing.assert_allclose(rgba[:, :3], thermal_rgb(np.linspace(0, 1, n)), atol=0.5 / 255 + 1e-9)
    # Cold end blue, then green, yellow, hot end red (denser = hotter).
    assert np.argmax(rgba[0, :3]) == 2
    assert np.argmax(rgba[int(0.45 * 255), :3]) == 1
    r, g, b = rgba[int(0.70 * 255), :3]
    assert min(r, g) > 0.9
    assert b < 0.1
    assert np.argmax(rgba[-1, :3]) == 0
    # Hue falls monotonically from blue (240 degrees) to red (0): hotter along the table.
    hue = np.array([colorsys.rgb_to_hsv(*c[:3])[0] for c in rgba])
    assert np.all(np.diff(hue) <= 1e-9)
    assert hue[0] == pytest.approx(240 / 360)
    assert hue[-1] == pytest.approx(0.0)


def _color(node, i):
    c = [0.0, 0.0, 0.0, 0.0]
    node.GetColor(i, c)
    return c


def test_overlay_sets_display_and_slice_views(mrml_scene, oblique_ct):
    composite = mrml_scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    ct = volumes.volume_to_node(oblique_ct, name="CT")
    fmap = volumes.volume_to_node(
        oblique_ct.with_array(oblique_ct.array.astype(np.float32) / 100), name="map"
    )
    display = colors.show_overlay(
        fmap, window_min=0.0, window_max=3.0, threshold_below=0.01, background_node=ct
    )
    assert display.GetColorNodeID() == colors.thermal_color_node().GetID()
    assert display.GetWindow() == pytest.approx(3.0)
    assert display.GetLevel() == pytest.approx(1.5)
    assert display.GetApplyThreshold()
    assert display.GetLowerThreshold() == pytest.approx(0.01)
    assert composite.GetForegroundVolumeID() == fmap.GetID()
    assert composite.GetBackgroundVolumeID() == ct.GetID()
    assert composite.GetForegroundOpacity() == pytest.approx(0.5)
