"""One per-scan bone threshold: corridors and sacroplasty report the same one.

Seed 000 determines the bone threshold once per dataset; SacralBoneAnalysis runs both
analyses on it. With default options, on one scan and one landmark file, the CLI's
``summary.json`` of both analyses, the library's estimator
(:func:`bonequality.imaging.threshold.bone_threshold`) and the Slicer module's corridor
table show the same number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bonequality.cli import main
from bonequality.imaging.threshold import bone_threshold
from bonequality.landmarks import Landmarks, read_mrk_json, write_mrk_json
from bonequality.phantoms import make_phantom
from bonequality.volume import Volume

DATA = Path(__file__).parent / "data"


def _cli_thresholds(ct: Path, landmarks: Path, out: Path) -> dict[str, float]:
    found = {}
    for command in ("corridors", "sacroplasty"):
        assert (
            main(
                [
                    "--no-progress",
                    command,
                    str(ct),
                    "--landmarks",
                    str(landmarks),
                    "--out",
                    str(out / command),
                ]
            )
            == 0
        )
        found[command] = json.loads((out / command / "summary.json").read_text())["bone_threshold_hu"]
    return found


def test_pelvis_phantom_one_threshold_for_both_analyses(tmp_path, capsys):
    ph = make_phantom("pelvis", spacing=(1.5, 1.5, 1.5))
    ct, lm = tmp_path / "pelvis.nrrd", tmp_path / "pelvis.mrk.json"
    ph.volume.write(ct)
    write_mrk_json(lm, ph.landmarks)
    found = _cli_thresholds(ct, lm, tmp_path)
    capsys.readouterr()
    expected = bone_threshold(Volume.read(ct), read_mrk_json(lm))
    assert found["corridors"] == pytest.approx(expected, abs=1e-9)
    assert found["sacroplasty"] == pytest.approx(expected, abs=1e-9)
    # Between soft tissue and bone: a threshold, not a stray value.
    assert 100.0 < expected < 900.0


@pytest.mark.realdata
def test_real_ct_one_landmark_file_one_threshold(example_ct_path, tmp_path, capsys):
    """Testing/data's corridor and sacroplasty placements in one file (shared labels: the corridor file's)."""
    corridors = read_mrk_json(DATA / "example_ct_corridors.mrk.json").to_dict()
    sacro = read_mrk_json(DATA / "example_ct_sacroplasty.mrk.json").to_dict()
    merged = {**sacro, **corridors}
    lm = tmp_path / "both.mrk.json"
    write_mrk_json(lm, Landmarks.from_dict(merged))
    found = _cli_thresholds(example_ct_path, lm, tmp_path)
    capsys.readouterr()
    assert found["corridors"] == pytest.approx(found["sacroplasty"], abs=1e-9)
    assert 80.0 < found["corridors"] < 400.0


@pytest.mark.mrml
def test_slicer_module_shows_the_same_threshold(mrml_scene, tmp_path):
    """The SacralBoneAnalysis logic's corridor table and its sacroplasty plan, on one node pair."""
    from bonequality.mrml.logic_sacral import CorridorSession, SacroplastySession
    from bonequality.mrml.markups import landmarks_to_node
    from bonequality.mrml.results import ResultNodes
    from bonequality.mrml.tables import dataframe_from_table_node
    from bonequality.mrml.volumes import volume_to_node

    ph = make_phantom("pelvis", spacing=(1.5, 1.5, 1.5))
    ct_node = volume_to_node(ph.volume, name="CT", scene=mrml_scene)
    lm_node = landmarks_to_node(ph.landmarks, name="L", scene=mrml_scene)
    results = ResultNodes(mrml_scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "params"))
    corridor = CorridorSession().analyze(ct_node, lm_node, results=results)
    plan = SacroplastySession().run(ct_node, lm_node, results=results)
    table = dataframe_from_table_node(results.get("corridors.summary"))
    shown = float(table.loc[table["Measure"] == "Bone threshold", "Value"].iloc[0])
    assert shown == pytest.approx(corridor.bone_threshold_hu, abs=1e-6)
    assert plan.bone_threshold_hu == pytest.approx(shown, abs=1e-6)
