"""``bonequality sacroplasty`` end to end: outputs on success, exit 2 and nothing left on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bonequality.cli import main
from bonequality.landmarks import Landmarks, write_mrk_json
from bonequality.phantoms import write_phantom
from bonequality.volume import Volume

KEYS = ("distance_to_anterior_cortex_mm", "category", "entry_bone_lps", "entry_skin_lps", "needle_depth_mm")
KEYS_TRAJ = ("disc_parallel", "axial", "long_axis")


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


# ---------------------------------------------------------------------------- issue 11: --sacrum-mask
@pytest.fixture(scope="module")
def block_files(tmp_path_factory):
    """The fatty block sacrum phantom, a label map (sacrum = 3, a distractor = 5) and a .seg.nrrd."""
    from bonequality.imaging.grid import voxel_points
    from bonequality.phantoms.sacrum_block import BLOCK, make_sacrum_block
    from bonequality.segmentation import write_segmentation

    folder = tmp_path_factory.mktemp("block")
    ph = make_sacrum_block(cancellous_hu=-30.0, spacing=(1.5, 1.5, 1.5))
    paths = write_phantom(ph, folder / "block.nrrd")
    vol = ph.volume
    pts = voxel_points(vol, np.ones(vol.array.shape, bool)).reshape(*vol.array.shape, 3)
    sacrum = np.all((pts >= BLOCK[0]) & (pts <= BLOCK[1]), axis=-1)
    labels = np.where(sacrum, 3, np.where(pts[..., 1] > 90, 5, 0)).astype(np.uint8)
    vol.with_array(labels).write(folder / "labels.nrrd")
    vol.with_array(np.zeros(vol.array.shape, np.uint8)).write(folder / "empty.nrrd")
    Volume(labels, vol.spacing, vol.origin + 1000.0, vol.direction).write(folder / "far.nrrd")
    write_segmentation(folder / "sacrum.seg.nrrd", {"Sacrum": sacrum, "Other": labels == 5}, vol)
    return {"image": paths["image"], "landmarks": paths["landmarks"], "folder": folder}


def _argv(files, out, *extra):
    return [
        "--no-progress",
        "sacroplasty",
        str(files["image"]),
        "--landmarks",
        str(files["landmarks"]),
        "--out",
        str(out),
        *extra,
    ]


def test_sacrum_mask_label_map_is_the_envelope(block_files, tmp_path, capsys):
    out = tmp_path / "out"
    labels = block_files["folder"] / "labels.nrrd"
    assert main(_argv(block_files, out, "--sacrum-mask", str(labels), "--label", "3")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["envelope"] == "sacrum mask"
    assert summary["envelope_name"] == "sacrum mask labels.nrrd"
    assert summary["inputs"]["sacrum_mask"] == str(labels)
    for side in ("left", "right"):
        assert summary[side]["target_in_bone"] is True
        assert summary[side]["in_cortical_shell"] is True
        assert all(summary[side][k]["distance_to_anterior_cortex_mm"] > 0 for k in KEYS_TRAJ)
    assert (out / "report.png").stat().st_size > 10_000
    assert json.loads(capsys.readouterr().out)["envelope"] == "sacrum mask labels.nrrd"


def test_sacrum_mask_segment_of_a_seg_nrrd(block_files, tmp_path):
    out = tmp_path / "out"
    seg = block_files["folder"] / "sacrum.seg.nrrd"
    assert main(_argv(block_files, out, "--sacrum-mask", str(seg), "--segment", "Sacrum")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["envelope"] == "sacrum mask"
    assert summary["left"]["target_in_bone"] is True


def test_without_a_mask_the_cortical_shell_and_the_threshold_are_reported(block_files, tmp_path):
    from bonequality.imaging.threshold import bone_threshold
    from bonequality.landmarks import read_mrk_json

    out = tmp_path / "out"
    assert main(_argv(block_files, out)) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["envelope"] == "cortical shell"
    ct = Volume.read(block_files["image"])
    expected = bone_threshold(ct, read_mrk_json(block_files["landmarks"]))
    assert summary["bone_threshold_hu"] == pytest.approx(expected, abs=1e-9)
    assert summary["envelope_threshold_hu"] == summary["bone_threshold_hu"]
    assert summary["left"]["breach_depth_mm"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--sacrum-mask", "{folder}/labels.nrrd", "--label", "7"), "label 7 does not occur"),
        (("--sacrum-mask", "{folder}/empty.nrrd"), "empty"),
        (("--sacrum-mask", "{folder}/far.nrrd", "--label", "3"), "does not overlap"),
        (("--sacrum-mask", "{folder}/sacrum.seg.nrrd", "--segment", "Nope"), "no segment named 'Nope'"),
        (("--sacrum-mask", "{folder}/missing.nrrd"), "missing.nrrd"),
        (("--label", "3"), "--label and --segment select the sacrum in --sacrum-mask"),
    ],
    ids=["unknown-label", "empty", "no-overlap", "unknown-segment", "missing-file", "label-without-mask"],
)
def test_bad_sacrum_masks_exit_2_and_leave_no_output(block_files, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    extra = [e.format(folder=block_files["folder"]) for e in extra]
    assert main(_argv(block_files, out, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_label_and_segment_are_exclusive(block_files, tmp_path, capsys):
    seg = block_files["folder"] / "sacrum.seg.nrrd"
    with pytest.raises(SystemExit) as exc:
        main(_argv(block_files, tmp_path / "o", "--sacrum-mask", str(seg), "--label", "1", "--segment", "S"))
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
