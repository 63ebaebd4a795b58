"""Landmark schema, .mrk.json I/O in LPS and RAS, and validation messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bonequality import InputFileError, LandmarkError, Landmarks, OutsideImageError, Volume
from bonequality.landmarks import SCHEMA, read_mrk_json, required_labels, schema_table, write_mrk_json


def test_schema_covers_clinical_section_1():
    labels = [s.label for s in SCHEMA]
    assert len(labels) == len(set(labels))
    for expected in (
        "S1_body_top",
        "S1_foramen_sup_L",
        "SI_joint_ventral_sup_R",
        "S1_foramen_inf_L",
        "S2_foramen_sup_R",
        "S2_body_ventral_L",
        "S2_body_ventral_mid",
        "L5_body_center",
        "S1_corner_PS",
        "S1_corner_AI",
        "SI_joint_dorsal_L",
        "S3_body_center",
    ):
        assert expected in labels
    corridors = required_labels("corridors")
    assert len(corridors) == 13  # 1 + 2 + 2 + 2 + 2 + 2 + 1 + 1
    assert "S1_corner_PS" not in corridors
    sacro = required_labels("sacroplasty")
    assert {"S1_corner_PS", "S1_corner_AS", "S1_corner_PI", "S1_corner_AI", "S3_body_center"} <= set(sacro)
    assert "sacroplasty_target_L" not in sacro  # optional
    table = schema_table()
    assert list(table.columns) == ["label", "description", "used_by", "purpose", "optional"]
    assert len(table) == len(SCHEMA)
    with pytest.raises(ValueError, match="unknown analysis"):
        required_labels("nonsense")


@pytest.mark.parametrize("system", ["LPS", "RAS"])
def test_mrk_json_round_trip_in_both_coordinate_systems(tmp_path, system):
    pts = {"S1_body_top": [1.5, -2.25, 3.0], "L5_body_center": [-10.0, 20.0, 130.125]}
    path = tmp_path / "l.mrk.json"
    write_mrk_json(path, pts, coordinate_system=system, unplaced=["S3_body_center"])
    doc = json.loads(path.read_text())
    markup = doc["markups"][0]
    assert markup["coordinateSystem"] == system
    stored = markup["controlPoints"][0]["position"]
    expected_stored = [-1.5, 2.25, 3.0] if system == "RAS" else [1.5, -2.25, 3.0]
    np.testing.assert_allclose(stored, expected_stored)
    assert markup["controlPoints"][2]["positionStatus"] == "undefined"
    back = read_mrk_json(path)
    assert set(back) == {"S1_body_top", "L5_body_center"}
    np.testing.assert_allclose(back["S1_body_top"], pts["S1_body_top"])
    np.testing.assert_allclose(back["L5_body_center"], pts["L5_body_center"])
    assert ("S3_body_center", None) in [(lab, p) for lab, p in back.entries if p is None]


def test_validate_names_every_problem_at_once():
    lm = Landmarks(
        [
            ("S1_body_top", [0, 0, 0]),
            ("S1_body_top", [1, 0, 0]),
            ("S1_foramen_sup_L", [np.nan, 0, 0]),
            ("S1_foramen_sup_R", None),
        ],
        source="case7.mrk.json",
    )
    with pytest.raises(LandmarkError) as err:
        lm.validate(["S1_body_top", "S1_foramen_sup_L", "S1_foramen_sup_R", "L5_body_center"])
    msg = str(err.value)
    assert "case7.mrk.json" in msg
    assert "missing: S1_foramen_sup_R, L5_body_center" in msg
    assert "S1_body_top (2x)" in msg
    assert "non-finite coordinates: S1_foramen_sup_L" in msg
    assert set(err.value.labels) == {"S1_foramen_sup_R", "L5_body_center", "S1_body_top", "S1_foramen_sup_L"}


def test_validate_against_image_extent():
    vol = Volume(np.zeros((10, 10, 10), np.int16), (1, 1, 1), (0, 0, 0), np.eye(3))
    lm = Landmarks.from_dict({"A": [5, 5, 5], "B": [50, 5, 5]}, source="pts")
    lm.validate(["A"], volume=vol)
    with pytest.raises(OutsideImageError) as err:
        lm.validate(["A", "B"], volume=vol)
    assert err.value.labels == ("B",)
    assert "pts" in str(err.value)


def test_missing_label_lookup_says_where_to_place_it():
    lm = Landmarks.from_dict({"S1_body_top": [0, 0, 0]})
    with pytest.raises(LandmarkError, match="centre of the L5 vertebral body"):
        lm["L5_body_center"]


def test_membership_and_get_do_not_raise_for_missing_labels():
    lm = Landmarks([("A", [0, 0, 0]), ("B", None)])
    assert "A" in lm
    assert "B" not in lm  # placed nowhere yet
    assert "C" not in lm
    assert lm.get("C") is None
    np.testing.assert_allclose(lm.get("A"), [0, 0, 0])


def test_replaced_moves_one_point():
    lm = Landmarks.from_dict({"A": [0, 0, 0], "B": [1, 1, 1]})
    moved = lm.replaced("A", [2, 2, 2])
    np.testing.assert_allclose(moved["A"], [2, 2, 2])
    np.testing.assert_allclose(lm["A"], [0, 0, 0])
    assert list(moved) == ["A", "B"]


def test_bad_mrk_json_files(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_mrk_json(tmp_path / "none.mrk.json")
    bad = tmp_path / "bad.mrk.json"
    bad.write_text("{not json")
    with pytest.raises(InputFileError, match=r"bad\.mrk\.json"):
        read_mrk_json(bad)
    odd = tmp_path / "odd.mrk.json"
    odd.write_text(json.dumps({"markups": [{"coordinateSystem": "XYZ", "controlPoints": []}]}))
    with pytest.raises(InputFileError, match="coordinateSystem"):
        read_mrk_json(odd)
