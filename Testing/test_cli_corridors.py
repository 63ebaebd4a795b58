"""``bonequality corridors``: outputs on the pelvis phantom; exit 2 and nothing written on bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bonequality.cli import main
from bonequality.landmarks import write_mrk_json
from bonequality.phantoms import write_phantom
from bonequality.phantoms.pelvis import make_pelvis
from bonequality.volume import Volume


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("pelvis")
    ph = make_pelvis(spacing=(1.5, 1.5, 1.5))
    paths = write_phantom(ph, d / "pelvis.nrrd", coordinate_system="RAS")
    return ph, paths


def _run(*args):
    return main(["--no-progress", "corridors", *map(str, args)])


def test_corridors_writes_summary_profiles_and_report(phantom_files, tmp_path, capsys):
    ph, paths = phantom_files
    out = tmp_path / "out"
    code = _run(
        paths["image"],
        "--landmarks",
        paths["landmarks"],
        "--out",
        out,
        "--screw-diameter",
        "6.5",
        "--screw-diameter",
        "9",
    )
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [
        ".bonequality.json",
        "profiles.csv",
        "report.png",
        "summary.json",
    ]
    s = json.loads((out / "summary.json").read_text())
    assert s["bone_threshold_hu"] > 100
    assert set(s["l5"]) >= {"mean_hu", "roi_volume_ml", "group"}
    assert s["l5"]["mean_hu"] == pytest.approx(180, abs=1)
    for key in ("S1", "S2"):
        for k in (
            "length_mm",
            "corridor_mean_hu",
            "body_mean_hu",
            "alae_mean_hu",
            "entry_left_lps",
            "entry_right_lps",
            "z_scores",
            "screw_fit",
        ):
            assert k in s[key], (key, k)
        assert set(s[key]["screw_fit"]) == {"6.5", "9"}
        truth = ph.truth[key.lower()]
        assert np.linalg.norm(np.subtract(s[key]["entry_left_lps"], truth["entry_L"])) < 0.75
    assert s["S2"]["ventral_shift_mm"] == 0.0
    assert s["inputs"] == {"ct": str(paths["image"]), "landmarks": str(paths["landmarks"])}
    prof = pd.read_csv(out / "profiles.csv")
    assert list(prof.columns) == ["corridor", "percent", "mean_hu"]
    assert len(prof) == 200
    assert prof["percent"].iloc[0] == 0.5
    assert prof["percent"].iloc[99] == 99.5
    assert set(prof["corridor"]) == {"S1", "S2"}
    printed = json.loads(capsys.readouterr().out)
    assert printed["l5"]["group"] == "L5 > 100 HU"


def _expect_exit_2(capsys, out, *args, message):
    assert _run(*args, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err
    assert not out.exists()


def test_missing_landmark_file(phantom_files, tmp_path, capsys):
    _, paths = phantom_files
    _expect_exit_2(
        capsys,
        tmp_path / "out",
        paths["image"],
        "--landmarks",
        tmp_path / "nope.mrk.json",
        message="not found",
    )


def test_missing_landmark(phantom_files, tmp_path, capsys):
    ph, paths = phantom_files
    pts = ph.landmarks.to_dict()
    del pts["SI_joint_ventral_sup_L"]
    lm = tmp_path / "partial.mrk.json"
    write_mrk_json(lm, pts)
    _expect_exit_2(
        capsys, tmp_path / "out", paths["image"], "--landmarks", lm, message="SI_joint_ventral_sup_L"
    )


def test_non_ct_image(phantom_files, tmp_path, capsys):
    _, paths = phantom_files
    mr = tmp_path / "mr.nrrd"
    Volume.from_array(np.random.default_rng(0).uniform(0, 500, (20, 20, 20)).astype(np.int16)).write(mr)
    _expect_exit_2(
        capsys, tmp_path / "out", mr, "--landmarks", paths["landmarks"], message="does not look like"
    )


def test_corrupt_image(phantom_files, tmp_path, capsys):
    _, paths = phantom_files
    bad = tmp_path / "bad.nrrd"
    bad.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 10 10\n\x00\x01garbage")
    _expect_exit_2(capsys, tmp_path / "out", bad, "--landmarks", paths["landmarks"], message="bad.nrrd")


def test_corrupt_landmark_file(phantom_files, tmp_path, capsys):
    _, paths = phantom_files
    bad = tmp_path / "bad.mrk.json"
    bad.write_text("{not json")
    _expect_exit_2(capsys, tmp_path / "out", paths["image"], "--landmarks", bad, message="bad.mrk.json")
