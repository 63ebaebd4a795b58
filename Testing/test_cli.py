"""The `bonequality` CLI: version, exit codes, one-line errors, no partial output."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import bonequality
from bonequality.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "bonequality.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"bonequality {bonequality.__version__}"


def test_no_command_and_unknown_arguments_exit_2(capsys):
    assert main([]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["phantom", "kidney", "--out", "x.nrrd"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'kidney'" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["phantom", "vertebra", "--osteoporotic"], "applies to the pelvis phantom only"),
        (["phantom", "cemented-vertebra", "--sacral-tilt", "30"], "--sacral-tilt applies to the pelvis"),
        (["phantom", "pelvis", "--sacral-tilt", "95"], "between -60 and 60 degrees"),
        (["phantom", "pelvis"], "use an image file ending in"),
    ],
)
def test_bad_phantom_options_exit_2_and_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path / ("p.txt" if args == ["phantom", "pelvis"] else "x.nrrd")
    assert main(["--no-progress", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_exits_2_and_leaves_nothing(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["--no-progress", "phantom", "vertebra", "--out", str(blocker / "v.nrrd")]) == 2
    assert "cannot write output" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.parametrize("ras", [False, True])
def test_phantom_pelvis_writes_three_files_that_load_back(tmp_path, ras):
    out = tmp_path / "p.nrrd"
    res = run_cli("--no-progress", "phantom", "pelvis", "--out", out, *(["--ras"] if ras else []))
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.mrk.json", "p.nrrd", "p.truth.json"]
    vol = bonequality.Volume.read(out)
    vol.require_ct("pelvis phantom")
    lm = bonequality.read_mrk_json(tmp_path / "p.mrk.json")
    truth = json.loads((tmp_path / "p.truth.json").read_text())
    assert truth["phantom"] == "pelvis"
    stored = json.loads((tmp_path / "p.mrk.json").read_text())["markups"][0]["coordinateSystem"]
    assert stored == ("RAS" if ras else "LPS")
    from bonequality.landmarks import required_labels

    lm.validate(required_labels("corridors", "sacroplasty"), volume=vol)
    assert np.isfinite(vol.sample(np.array([lm["L5_body_center"]]))).all()


def test_phantom_oblique_has_oblique_direction(tmp_path):
    out = tmp_path / "v.nii.gz"
    res = run_cli("--no-progress", "phantom", "vertebra", "--out", out, "--oblique", "--anisotropic")
    assert res.returncode == 0, res.stderr
    vol = bonequality.Volume.read(out)
    assert not np.allclose(vol.direction, np.eye(3), atol=1e-3)
    np.testing.assert_allclose(vol.spacing, bonequality.phantoms.ANISOTROPIC_SPACING, atol=1e-5)


def test_negative_coordinate_tuples_are_values_not_options():
    from bonequality.cli import _join_negative_tuples

    argv = ["cement", "ct.nrrd", "--seed", "-12.5,-80,210", "--out", "o", "--calibration", "-1.5,3"]
    assert _join_negative_tuples(argv) == [
        "cement",
        "ct.nrrd",
        "--seed=-12.5,-80,210",
        "--out",
        "o",
        "--calibration=-1.5,3",
    ]
    # Single negative numbers and ordinary options are left to argparse.
    plain = ["--bone-threshold", "-5", "--out", "x"]
    assert _join_negative_tuples(plain) == plain


def test_phantom_pelvis_sacral_tilt_moves_the_landmarks(tmp_path):
    out = tmp_path / "t.nrrd"
    res = run_cli("--no-progress", "phantom", "pelvis", "--out", out, "--sacral-tilt", "30")
    assert res.returncode == 0, res.stderr
    lm = bonequality.read_mrk_json(tmp_path / "t.mrk.json")
    truth = json.loads((tmp_path / "t.truth.json").read_text())
    assert truth["frame"]["sacral_tilt_deg"] == 30
    # S1 endplate faces anterosuperiorly: the anterosuperior corner lies 15 mm below the posterosuperior.
    assert lm["S1_corner_PS"][2] - lm["S1_corner_AS"][2] == pytest.approx(15.0, abs=0.01)


@pytest.mark.parametrize("value", ["-5000", "nan", "inf", "99999", "0"])
def test_bone_threshold_outside_the_ct_range_exits_2(tmp_path, capsys, value):
    for command in ("corridors", "sacroplasty"):
        out = tmp_path / command
        argv = [command, "ct.nrrd", "--landmarks", "l.mrk.json", "--out", str(out)]
        argv.append(f"--bone-threshold={value}")
        with pytest.raises(SystemExit) as exc:
            main(["--no-progress", *argv])
        assert exc.value.code == 2
        assert "between 0 and 3071 HU" in capsys.readouterr().err
        assert not out.exists()
