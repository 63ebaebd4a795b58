"""``bonequality sacroplasty`` end to end: outputs on success, exit 2 and nothing left on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bonequality.cli import main
from bonequality.landmarks import Landmarks, write_mrk_json
from bonequality.phantoms import write_phantom

KEYS = ("distance_to_anterior_cortex_mm", "category", "entry_bone_lps", "entry_skin_lps", "needle_depth_mm")


@pytest.fixture(scope="module")
def pelvis_files(tmp_path_factory):
    from bonequality.phantoms.pelvis import make_pelvis

    folder = tmp_path_factory.mktemp("pelvis")
    # A realistic 30 degree sacral slope, so the three trajectories differ (with an upright
    # sacrum the disc-parallel one is the axial one).
    paths = write_phantom(
        make_pelvis(sacral_tilt_deg=30.0, spacing=(1.25, 1.25, 1.25)),
        folder / "pelvis.nrrd",
        coordinate_system="RAS",
    )
    return paths["image"], paths["landmarks"]


def test_writes_summary_and_report(pelvis_files, tmp_path, capsys):
    image, marks = pelvis_files
    out = tmp_path / "out"
    rc = main(["--no-progress", "sacroplasty", str(image), "--landmarks", str(marks), "--out", str(out)])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target_midsagittal_lps"] == pytest.approx([0.0, -2.0, 0.0], abs=1e-6)
    assert summary["skew_gap_mm"] == pytest.approx(0.0, abs=1e-6)
    for side in ("left", "right"):
        assert summary[side]["target_in_bone"] is True
        assert len(summary[side]["target_lps"]) == 3
        for key in ("disc_parallel", "axial", "long_axis"):
            entry = summary[side][key]
            assert set(KEYS) <= set(entry)
            assert 0 < entry["distance_to_anterior_cortex_mm"] < 30
        dirs = [np.array(summary[side][k]["direction_lps"]) for k in ("disc_parallel", "axial", "long_axis")]
        for a, b in ((0, 1), (0, 2), (1, 2)):
            assert np.rad2deg(np.arccos(np.clip(dirs[a] @ dirs[b], -1, 1))) > 10
    assert isinstance(summary["warnings"], list)
    assert (out / "report.png").stat().st_size > 10_000
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["distances_mm"]) == {"left", "right"}


def test_user_threshold_is_used(pelvis_files, tmp_path):
    image, marks = pelvis_files
    out = tmp_path / "out"
    args = ["--no-progress", "sacroplasty", str(image), "--landmarks", str(marks), "--out", str(out)]
    assert main([*args, "--bone-threshold", "300"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bone_threshold_hu"] == 300.0
    assert summary["threshold_source"] == "user"


def test_missing_corner_exits_2_and_leaves_no_output(pelvis_files, tmp_path, capsys):
    image, marks = pelvis_files
    lm = Landmarks.read(marks)
    partial = tmp_path / "partial.mrk.json"
    write_mrk_json(partial, {k: v for k, v in lm.items() if k != "S1_corner_AI"})
    out = tmp_path / "out"
    rc = main(["--no-progress", "sacroplasty", str(image), "--landmarks", str(partial), "--out", str(out)])
    assert rc == 2
    assert "S1_corner_AI" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("corrupt", ["landmarks", "image"])
def test_corrupt_input_exits_2_and_leaves_no_output(pelvis_files, tmp_path, corrupt, capsys):
    image, marks = pelvis_files
    bad = tmp_path / ("bad.mrk.json" if corrupt == "landmarks" else "bad.nrrd")
    bad.write_text("{ not json" if corrupt == "landmarks" else "NRRD0004\ngarbage\n")
    if corrupt == "landmarks":
        marks = bad
    else:
        image = bad
    out = tmp_path / "out"
    rc = main(["--no-progress", "sacroplasty", str(image), "--landmarks", str(marks), "--out", str(out)])
    assert rc == 2
    assert str(bad.name) in capsys.readouterr().err
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))


@pytest.mark.slow
def test_demo_section(tmp_path):
    from bonequality.commands.sacroplasty import demo

    sections = demo(tmp_path, None)
    assert len(sections) == 2
    for s in sections:
        assert (tmp_path / s.images[0]).stat().st_size > 10_000
        assert "left axial" in " ".join(s.table)
