"""Issue 11 in the SacralBoneAnalysis logic: a sacrum segmentation or label map node as the envelope,
and live re-planning that keeps the envelope (real MRML nodes from slicer-core)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.mrml

pytest.importorskip("slicer", reason="Slicer's MRML (slicer-core) is not installed")

from bonequality.errors import MaskError  # noqa: E402
from bonequality.imaging.grid import voxel_points  # noqa: E402
from bonequality.phantoms.sacrum_block import BLOCK, block_landmarks, make_sacrum_block  # noqa: E402


@pytest.fixture
def nodes(mrml_scene):
    from bonequality.mrml.markups import landmarks_to_node
    from bonequality.mrml.segmentations import segmentation_node_from_masks
    from bonequality.mrml.volumes import volume_to_node
    from bonequality.testing.checks import holder

    ph = make_sacrum_block(cancellous_hu=-30.0, spacing=(1.5, 1.5, 1.5))
    vol = ph.volume
    pts = voxel_points(vol, np.ones(vol.array.shape, bool)).reshape(*vol.array.shape, 3)
    sacrum = np.all((pts >= BLOCK[0]) & (pts <= BLOCK[1]), axis=-1)
    return {
        "ct": volume_to_node(vol, name="block", scene=mrml_scene),
        "landmarks": landmarks_to_node(block_landmarks(25.0), name="marks", scene=mrml_scene),
        "labelmap": volume_to_node(
            vol.with_array(sacrum.astype(np.uint8) * 2), name="sacrum labels", labelmap=True, scene=mrml_scene
        ),
        "segmentation": segmentation_node_from_masks(
            {"Sacrum": sacrum, "Other": pts[..., 1] > 90}, vol, name="segs", scene=mrml_scene
        ),
        "results": holder(mrml_scene),
    }


def _move_corner(node, dz: float) -> None:
    from bonequality.mrml.markups import control_point_index

    i = control_point_index(node, "S1_corner_PS")
    pos = np.array(node.GetNthControlPointPositionWorld(i))
    node.SetNthControlPointPositionWorld(i, *(pos + np.array([0.0, 0.0, dz])).tolist())


@pytest.mark.parametrize(
    ("mask", "segment", "label"), [("labelmap", None, 2), ("segmentation", "Sacrum", None)]
)
def test_a_sacrum_node_is_the_envelope_and_live_updates_keep_it(nodes, mask, segment, label):
    from bonequality.mrml.logic_sacral import SacroplastySession
    from bonequality.mrml.tables import dataframe_from_table_node

    session = SacroplastySession()
    kw = {"sacrum_mask_node": nodes[mask], "sacrum_segment": segment, "sacrum_label": label}
    plan = session.run(nodes["ct"], nodes["landmarks"], results=nodes["results"], **kw)
    assert plan.envelope["envelope"] == "sacrum mask"
    assert all(r.target_in_bone and r.in_cortical_shell for r in plan.sides.values())
    table = nodes["results"].get("sacroplasty.table")
    assert table.GetAttribute("BoneQuality.Envelope") == f"sacrum mask '{nodes[mask].GetName()}'"
    df = dataframe_from_table_node(table)
    assert df["Breach depth (mm)"].isna().all()
    assert (df["Distance to anterior cortex (mm)"] > 0).all()
    planner = session._planner
    _move_corner(nodes["landmarks"], 1.0)
    moved = session.update(nodes["ct"], nodes["landmarks"], results=nodes["results"], **kw)
    assert session._planner is planner
    assert moved.envelope["envelope"] == "sacrum mask"
    assert not np.allclose(moved.target_midsagittal_lps, plan.target_midsagittal_lps)


def test_without_a_mask_live_updates_reuse_the_cortical_envelope(nodes):
    from bonequality.mrml.logic_sacral import SacroplastySession

    session = SacroplastySession()
    plan = session.run(nodes["ct"], nodes["landmarks"], results=nodes["results"])
    assert plan.envelope["envelope"] == "cortical shell"
    shell = session._planner._shell
    _move_corner(nodes["landmarks"], 0.5)
    session.update(nodes["ct"], nodes["landmarks"], results=nodes["results"])
    assert session._planner._shell is shell


def test_an_unknown_segment_is_refused_and_nothing_is_written(nodes):
    from bonequality.mrml.logic_sacral import run_sacroplasty

    with pytest.raises(MaskError):
        run_sacroplasty(
            nodes["ct"],
            nodes["landmarks"],
            results=nodes["results"],
            sacrum_mask_node=nodes["segmentation"],
            sacrum_segment="Nope",
        )
    assert nodes["results"].get("sacroplasty.table") is None


def test_a_sacrum_node_is_the_thermal_overlay_region_of_the_corridors(mrml_scene):
    """Corridors with a sacrum label map: the overlay is the CT's HU inside it and nothing else;
    a 3 mm drag keeps the same overlay (no rebuild)."""
    from bonequality.corridors.overlay import OUTSIDE_HU
    from bonequality.mrml.logic_sacral import CorridorSession
    from bonequality.mrml.volumes import node_to_volume, volume_to_node
    from bonequality.testing.checks import holder, pelvis

    loaded = pelvis(mrml_scene, oblique=True, spacing=(2.0, 1.5, 2.5))
    ct = node_to_volume(loaded.volume)
    pts = voxel_points(ct, np.ones(ct.array.shape, bool)).reshape(*ct.array.shape, 3)
    centre = np.asarray(loaded.truth["s1"]["C1"], dtype=float)
    sphere = np.linalg.norm(pts - centre, axis=-1) <= 20.0
    labels = volume_to_node(
        ct.with_array(sphere.astype(np.uint8) * 3), name="sacrum", labelmap=True, scene=mrml_scene
    )
    session, results = CorridorSession(), holder(mrml_scene)
    kw = {"sacrum_mask_node": labels, "sacrum_label": 3}
    session.analyze(loaded.volume, loaded.landmarks, results=results, **kw)
    overlay = node_to_volume(results.get("corridors.overlay"))
    shown = overlay.array != OUTSIDE_HU
    where = voxel_points(overlay, shown)
    assert np.all(np.linalg.norm(where - centre, axis=-1) <= 20.0 + 1e-6)
    assert shown.sum() == sphere.sum()  # every voxel of the mask, and only those
    np.testing.assert_allclose(
        overlay.sample(centre[None], order=0), np.rint(ct.sample(centre[None], order=0))
    )
    first = session.overlay.volume
    _move(loaded.landmarks, "S1_body_top", 3.0)
    session.update(loaded.volume, loaded.landmarks, results=results, **kw)
    assert session.overlay.volume is first


def _move(node, label: str, dz: float) -> None:
    from bonequality.mrml.markups import control_point_index

    i = control_point_index(node, label)
    pos = np.array(node.GetNthControlPointPositionWorld(i))
    node.SetNthControlPointPositionWorld(i, *(pos + np.array([0.0, 0.0, dz])).tolist())
