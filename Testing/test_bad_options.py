"""Bad input through the command line: exit 2, one stderr line, no traceback, no --out folder.

One case (or more) per class of issue 15 part A: malformed JSON inputs and segment fields,
a point on the image's far face, numeric options out of range, options that do not apply,
and messages (a folder as an input file, a near-miss landmark label). The library checks
behind each are the same for batch and the Slicer logics (their tests call the inputs
objects and readers directly).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bonequality.cli import main
from bonequality.errors import OptionError, OutsideImageError
from bonequality.segmentation import write_segmentation
from bonequality.validation import check_inside, check_integer, check_number, closest_name, inside_image
from bonequality.volume import Volume

ORIGIN = (-9.5, -9.5, -9.5)  # 20 voxels of 1 mm: the image spans -10 ... 10 mm


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small CT-like image (air, a 10 mm bone cube), a label map, a .seg.nrrd and JSON inputs."""
    folder = tmp_path_factory.mktemp("inputs")
    arr = np.full((20, 20, 20), -1000, np.int16)
    arr[5:15, 5:15, 5:15] = 400
    ct = Volume.from_array(arr, origin=ORIGIN)
    ct.write(folder / "ct.nrrd")
    labels = np.zeros(arr.shape, np.uint8)
    labels[5:15, 5:15, 5:15] = 1
    ct.with_array(labels).write(folder / "labels.nrrd")
    write_segmentation(folder / "body.seg.nrrd", {"Body": labels > 0}, ct)
    write_segmentation(folder / "two.seg.nrrd", {"Body": labels > 0, "Other": labels == 0}, ct)
    screws = {
        "markups": [
            {
                "type": "Line",
                "name": "S",
                "screwDiameterMm": "seven",
                "controlPoints": [
                    {"label": "a", "position": [0, 0, -3]},
                    {"label": "b", "position": [0, 0, 3]},
                ],
            }
        ]
    }
    (folder / "screws.mrk.json").write_text(json.dumps(screws))
    markups = {"markups": [{"controlPoints": [{"label": "S1_body_top", "position": [1, 2]}]}]}
    (folder / "bad.mrk.json").write_text(json.dumps(markups))
    (folder / "null.mrk.json").write_text(
        json.dumps({"markups": [{"controlPoints": None}]}), encoding="utf-8"
    )
    inserts = {"inserts": [{"density_mg_cm3": 0, "hu": 0}, {"density_mg_cm3": 100, "center_lps": [0, 0]}]}
    (folder / "inserts.json").write_text(json.dumps(inserts))
    (folder / "a_folder").mkdir()
    return folder


def _refused(capsys, tmp_path, argv, *expected):
    """Run ``bonequality ARGV --out OUT``: exit 2, one line holding ``expected``, no traceback, no OUT."""
    out = tmp_path / "out"
    rc = main(["--no-progress", *map(str, argv), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("bonequality: error: "), err
    assert "Traceback" not in err
    assert ".bq-tmp" not in err
    for text in expected:
        assert text in err, err
    assert not out.exists()
    return err


# ----------------------------------------------------------------------------- 1. malformed JSON / fields
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["corridors", "{f}/ct.nrrd", "--landmarks", "{f}/bad.mrk.json"],
            "bad.mrk.json: markups[0].controlPoints[0].position must be 3 numbers",
        ),
        (
            ["sacroplasty", "{f}/ct.nrrd", "--landmarks", "{f}/null.mrk.json"],
            "null.mrk.json: markups[0].controlPoints must be a list",
        ),
        (
            ["focal-defect", "{f}/ct.nrrd", "--seed=0,0,0", "--phantom-inserts", "{f}/inserts.json"],
            "inserts.json: inserts[1].center_lps must be 3 numbers",
        ),
        (
            ["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--screws", "{f}/screws.mrk.json"],
            "screws.mrk.json: markups[0].screwDiameterMm must be a number between 0 and 20 mm",
        ),
    ],
)
def test_malformed_json_inputs_exit_2_naming_the_field(files, tmp_path, capsys, argv, expected):
    _refused(capsys, tmp_path, [a.format(f=files) for a in argv], expected)


def test_segment_layer_past_the_stored_layers_exits_2(files, tmp_path, capsys):
    import nrrd

    bad = tmp_path / "bad.seg.nrrd"
    voxels, header = nrrd.read(str(files / "body.seg.nrrd"))
    header["Segment0_Layer"] = "3"
    nrrd.write(str(bad), voxels, header)
    _refused(
        capsys, tmp_path, ["cement", files / "ct.nrrd", "--body-mask", bad], "Segment0_Layer ('Body') is '3'"
    )


# ----------------------------------------------------------------------------- 2. inside the image
def test_one_inside_rule_half_open_voxel_edges():
    vol = Volume.from_array(np.zeros((20, 20, 20), np.int16), origin=ORIGIN)
    pts = np.array(
        [[-10.0, 0, 0], [9.999, 0, 0], [10.0, 0, 0], [0, 0, 1e308], [np.nan, 0, 0], [0, -10.0001, 0]]
    )
    np.testing.assert_array_equal(inside_image(vol, pts), [True, True, False, False, False, False])
    # Every inside point has a nearest voxel (floor(index + 0.5) and np.round) on the grid.
    rng = np.random.default_rng(1)
    cand = rng.uniform(-10.5, 10.5, size=(5000, 3))
    cand[:50, 0] = 10.0
    idx = vol.physical_to_index(cand[inside_image(vol, cand)])
    for nearest in (np.floor(idx + 0.5), np.round(idx)):
        assert nearest.min() >= 0
        assert nearest.max() <= 19
    with pytest.raises(OutsideImageError, match=r"seed point\(s\) outside the image: seed") as err:
        check_inside(vol, [10.0, 0.0, 0.0], ["seed"], what="seed point")
    assert err.value.labels == ("seed",)


@pytest.mark.parametrize("seed", ["10,0,0", "0,10,0", "0,0,10", "1e308,0,0"])
def test_seed_on_the_far_face_or_far_away_exits_2(files, tmp_path, capsys, seed):
    for command in ("focal-defect", "cement"):
        _refused(capsys, tmp_path, [command, files / "ct.nrrd", f"--seed={seed}"], "outside the image")


# ----------------------------------------------------------------------------- 3. numeric options
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--closing-mm", "1e6"], "closing_mm"),
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--closing-mm", "50"], "between 0 and 5 mm"),
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--closing-mm", "-3"], "closing_mm"),
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--closing-mm", "nan"], "closing_mm"),
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--min-zone-fraction", "inf"], "min_zone_fraction"),
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--bone-hu", "226,1e9"], "bone_hu"),
        (
            [
                "cement",
                "{f}/ct.nrrd",
                "--seed=0,0,0",
                "--screws",
                "{f}/screws.mrk.json",
                "--screw-diameter",
                "inf",
            ],
            "screw_diameter_mm",
        ),
        (
            ["corridors", "{f}/ct.nrrd", "--landmarks", "{f}/bad.mrk.json", "--screw-diameter", "0"],
            "diameter",
        ),
        (["focal-defect", "{f}/ct.nrrd", "--seed=0,0,0", "--calibration", "1e300,0"], "calibration slope"),
        (
            ["focal-defect", "{f}/ct.nrrd", "--seed=0,0,0", "--calibration", "0.8,nan"],
            "calibration intercept",
        ),
        (["phantom-cohort", "--n", "2", "--seed", "-1"], "--seed: -1 is out of range"),
        (["phantom-cohort", "--n", "100000"], "--n: 100000 is out of range"),
        (["phantom-cohort", "--n", "0"], "--n"),
    ],
)
def test_numeric_options_out_of_range_exit_2(files, tmp_path, capsys, argv, expected):
    _refused(capsys, tmp_path, [a.format(f=files) for a in argv], expected)


def test_sacral_tilt_nan_exits_2(tmp_path, capsys):
    out = tmp_path / "p.nrrd"
    assert main(["--no-progress", "phantom", "pelvis", "--sacral-tilt", "nan", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--sacral-tilt" in err
    assert "between -60 and 60 degrees" in err
    assert not out.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1e308, "x", True, 10**400])
def test_check_number_refuses_every_non_finite_or_odd_value_in_one_line(value):
    with pytest.raises(OptionError) as err:
        check_number(value, name="--x", lo=0, hi=10, unit="mm")
    assert len(str(err.value).splitlines()) == 1
    assert "--x" in str(err.value)


def test_check_integer_bounds():
    assert check_integer(3.0, name="--n", lo=1, hi=5) == 3
    for bad in (3.5, 0, 6, "1e308", True):
        with pytest.raises(OptionError, match="--n"):
            check_integer(bad, name="--n", lo=1, hi=5)


# ----------------------------------------------------------------------------- 4. options that do not apply
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["cement", "{f}/ct.nrrd", "--body-mask", "{f}/body.seg.nrrd", "--label", "1"],
         ("--label 1", "--segment")),
        (
            ["cement", "{f}/ct.nrrd", "--vertebra-mask", "{f}/labels.nrrd", "--segment", "Body"],
            ("--segment 'Body'", "--label N"),
        ),
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--sacrum-label", "2"],
         ("--sacrum-label", "--sacrum-mask")),
        (
            ["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--sacrum-mask", "{f}/body.seg.nrrd",
             "--sacrum-label", "2"],
            ("--sacrum-label 2", "--sacrum-mask"),
        ),
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--label", "1"], ("--label", "--seed")),
        (["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--screw-diameter", "6"],
         ("--screw-diameter", "--screws")),
        (["focal-defect", "{f}/ct.nrrd", "--seed=0,0,0", "--segment", "Body"], ("--segment", "--mask")),
        (
            ["focal-defect", "{f}/ct.nrrd", "--mask", "{f}/labels.nrrd", "--segment", "Body"],
            ("--segment 'Body'", "--label"),
        ),
        (
            ["sacroplasty", "{f}/ct.nrrd", "--landmarks", "{f}/bad.mrk.json", "--label", "1"],
            ("--label", "--sacrum-mask"),
        ),
        (
            ["sacroplasty", "{f}/ct.nrrd", "--landmarks", "{f}/bad.mrk.json",
             "--sacrum-mask", "{f}/labels.nrrd", "--segment", "Sacrum"],
            ("--segment 'Sacrum'", "--label N"),
        ),
    ],
)  # fmt: skip
def test_options_that_do_not_apply_exit_2_naming_both(files, tmp_path, capsys, argv, expected):
    _refused(capsys, tmp_path, [a.format(f=files) for a in argv], *expected)


def test_ras_for_a_phantom_without_landmarks_exits_2(tmp_path, capsys):
    out = tmp_path / "v.nrrd"
    assert main(["--no-progress", "phantom", "vertebra", "--ras", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--ras" in err
    assert "vertebra" in err
    assert list(tmp_path.iterdir()) == []


def test_two_segments_of_one_name_are_refused(files, tmp_path, capsys):
    import nrrd

    dup = tmp_path / "dup.seg.nrrd"
    voxels, header = nrrd.read(str(files / "two.seg.nrrd"))
    header["Segment1_Name"] = "Body"
    nrrd.write(str(dup), voxels, header)
    _refused(
        capsys,
        tmp_path,
        ["focal-defect", files / "ct.nrrd", "--mask", dup, "--segment", "Body"],
        "two segments are named 'Body'",
        "dup.seg.nrrd",
    )


# ----------------------------------------------------------------------------- 5. messages
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["corridors", "{f}/ct.nrrd", "--landmarks", "{f}/a_folder"],
            "a_folder is a folder; give the .mrk.json file",
        ),
        (
            ["sacroplasty", "{f}/ct.nrrd", "--landmarks", "{f}/a_folder"],
            "is a folder; give the .mrk.json file",
        ),
        (
            ["focal-defect", "{f}/ct.nrrd", "--seed=0,0,0", "--phantom-inserts", "{f}/a_folder"],
            "is a folder; give the inserts .json file",
        ),
        (
            ["cement", "{f}/ct.nrrd", "--seed=0,0,0", "--screws", "{f}/a_folder"],
            "is a folder; give the .mrk.json file",
        ),
        (["cement", "{f}/ct.nrrd", "--body-mask", "{f}/a_folder"], "is a folder; give the mask file"),
    ],
)
def test_a_folder_given_as_an_input_file_says_so(files, tmp_path, capsys, argv, expected):
    err = _refused(capsys, tmp_path, [a.format(f=files) for a in argv], expected)
    assert "--out" not in err


def test_segment_near_miss_says_did_you_mean(files, tmp_path, capsys):
    _refused(
        capsys,
        tmp_path,
        ["cement", files / "ct.nrrd", "--body-mask", files / "body.seg.nrrd", "--segment", "body "],
        "no segment named 'body ' (did you mean 'Body'?)",
    )


def test_closest_name():
    names = ["S1_body_top", "L5_body_center"]
    assert closest_name("s1_body_top ", names) == "S1_body_top"
    assert closest_name("L5_body_centre", names) == "L5_body_center"
    assert closest_name("S3_body_center", ["S1_corner_PS"]) is None
