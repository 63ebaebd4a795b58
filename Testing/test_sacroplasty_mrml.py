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
    from bonequality.testing.checks import holder

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
    # the drag skipped re-checking the CT and mask; a fresh session plans the same
    fresh = SacroplastySession().run(
        nodes["ct"], nodes["landmarks"], results=holder(nodes["ct"].GetScene()), **kw
    )
    for side in ("left", "right"):
        np.testing.assert_allclose(moved.sides[side].target_lps, fresh.sides[side].target_lps, atol=1e-9)
        for key, trajectory in moved.sides[side].trajectories.items():
            other = fresh.sides[side].trajectories[key]
            assert trajectory.distance_to_anterior_cortex_mm == pytest.approx(
                other.distance_to_anterior_cortex_mm, abs=1e-9, nan_ok=True
            )


def test_a_drag_outside_the_image_is_refused_as_the_inputs_refuse_it(nodes):
    """A live update checks the landmarks like SacroplastyInputs (same typed error and message)
    and keeps the previous table."""
    from bonequality.errors import BoneQualityError
    from bonequality.mrml.logic_sacral import SacroplastySession
    from bonequality.mrml.markups import landmarks_from_node
    from bonequality.mrml.volumes import node_to_volume
    from bonequality.sacroplasty import SacroplastyInputs

    session = SacroplastySession()
    session.run(nodes["ct"], nodes["landmarks"], results=nodes["results"])
    before = nodes["results"].get("sacroplasty.table").GetTable().GetValue(0, 1).ToString()
    _move_corner(nodes["landmarks"], 500.0)
    with pytest.raises(BoneQualityError) as live:
        session.update(nodes["ct"], nodes["landmarks"], results=nodes["results"])
    with pytest.raises(BoneQualityError) as direct:
        SacroplastyInputs(node_to_volume(nodes["ct"]), landmarks_from_node(nodes["landmarks"]), name="block")
    assert type(live.value) is type(direct.value)
    assert str(live.value) == str(direct.value)
    assert nodes["results"].get("sacroplasty.table").GetTable().GetValue(0, 1).ToString() == before


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


def test_a_drag_after_a_new_bone_threshold_uses_it(mrml_scene):
    """A threshold typed before a drag is used (a full analysis), as the sacroplasty update
    does; a drag at the same threshold keeps the result's threshold and the overlay."""
    from bonequality.mrml.logic_sacral import CorridorSession
    from bonequality.testing.checks import holder, pelvis

    loaded = pelvis(mrml_scene, oblique=True, spacing=(2.0, 1.5, 2.5))
    session, results = CorridorSession(), holder(mrml_scene)
    session.analyze(loaded.volume, loaded.landmarks, results=results, bone_threshold=200.0)
    first = session.overlay.volume
    _move(loaded.landmarks, "S1_body_top", 1.0)
    kept = session.update(loaded.volume, loaded.landmarks, results=results, bone_threshold=200.0)
    assert kept.bone_threshold_hu == 200.0
    assert session.overlay.volume is first
    _move(loaded.landmarks, "S1_body_top", 1.0)
    changed = session.update(loaded.volume, loaded.landmarks, results=results, bone_threshold=230.0)
    assert changed.bone_threshold_hu == 230.0
    assert session.overlay.volume is not first  # the envelope at the new threshold
    summary = results.get("corridors.summary").GetTable()
    assert float(summary.GetValueByName(0, "Value").ToDouble()) == 230.0


def test_a_session_adopts_the_callers_volume_until_the_node_changes(mrml_scene):
    """adopt(): no conversion (no second CT copy) while the node's voxels stay; a new image
    on the node is converted again and drops the cached result."""
    from bonequality.mrml.logic_sacral import CorridorSession
    from bonequality.mrml.volumes import node_to_volume, update_node_from_volume
    from bonequality.testing.checks import holder, pelvis

    loaded = pelvis(mrml_scene, oblique=True, spacing=(2.0, 1.5, 2.5))
    volume = node_to_volume(loaded.volume)
    session, results = CorridorSession(), holder(mrml_scene)
    session.adopt(loaded.volume, volume)
    assert session.volume(loaded.volume) is volume
    result = session.analyze(loaded.volume, loaded.landmarks, results=results)
    session.adopt(loaded.volume, volume)  # the same volume again: the result is kept
    assert session.result is result
    update_node_from_volume(loaded.volume, volume.with_array(volume.array + 1))
    converted = session.volume(loaded.volume)
    assert converted is not volume
    assert session.result is None
    np.testing.assert_array_equal(converted.array, volume.array + 1)


def test_a_drag_rewrites_only_the_probe_legs_it_changes(mrml_scene):
    """Moving SI_joint_ventral_sup_L re-samples the left S1 leg only: only its line, model and
    thermal image nodes are written (each costs the views a pipeline update); the others keep
    their data, and a leg whose node was deleted is written again."""
    from bonequality.mrml.logic_sacral import CorridorSession
    from bonequality.testing.checks import holder, pelvis

    loaded = pelvis(mrml_scene, oblique=True, spacing=(2.0, 1.5, 2.5))
    session, results = CorridorSession(), holder(mrml_scene)
    first = session.analyze(loaded.volume, loaded.landmarks, results=results)
    roles = [r for r in results.roles() if r.split(".")[1] in ("line", "probe", "thermal")]
    assert len(roles) == 3 * sum(len(p.legs) for p in (first.s1, first.s2))

    def data_times() -> dict:
        """Per role: the line's points, or the MTime of the model's or image's data."""
        out = {}
        for role in roles:
            node, kind = results.get(role), role.split(".")[1]
            if kind == "line":
                out[role] = [
                    node.GetNthControlPointPosition(i) for i in range(node.GetNumberOfControlPoints())
                ]
            else:
                out[role] = (node.GetPolyData() if kind == "probe" else node.GetImageData()).GetMTime()
        return out

    before = data_times()
    _move(loaded.landmarks, "SI_joint_ventral_sup_L", 2.0)
    moved = session.update(loaded.volume, loaded.landmarks, results=results)
    after = data_times()
    changed = {r for r in roles if after[r] != before[r]}
    new_legs = [lg for lg in moved.s1.legs if all(lg is not old for old in first.s1.legs)]
    assert len(new_legs) == 1
    expected = {f"corridors.{kind}.S1.{new_legs[0].name}" for kind in ("line", "probe", "thermal")}
    assert changed == expected
    # a deleted node of an unchanged leg is written again
    gone = next(r for r in roles if r.startswith("corridors.probe.S2"))
    mrml_scene.RemoveNode(results.get(gone))
    _move(loaded.landmarks, "SI_joint_ventral_sup_L", 1.0)
    session.update(loaded.volume, loaded.landmarks, results=results)
    assert results.get(gone) is not None


def _move(node, label: str, dz: float) -> None:
    from bonequality.mrml.markups import control_point_index

    i = control_point_index(node, label)
    pos = np.array(node.GetNthControlPointPositionWorld(i))
    node.SetNthControlPointPositionWorld(i, *(pos + np.array([0.0, 0.0, dz])).tolist())
