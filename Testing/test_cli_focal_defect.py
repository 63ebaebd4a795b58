"""``bonequality focal-defect``: outputs on the vertebra phantom, exit 2 and nothing left on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from bonequality.cli import main
from bonequality.focal_defect import FOCAL_MAPS
from bonequality.phantoms import write_phantom
from bonequality.phantoms.cemented import make_cemented_vertebra
from bonequality.phantoms.vertebra import make_vertebra
from bonequality.volume import Volume

#: What the command writes; ``.bonequality.json`` is the stamp of a results folder (bonequality.outputs).
OUTPUTS = {
    ".bonequality.json",
    "summary.json",
    "focal_bmc_loss.nrrd",
    "focal_bmd_loss.nrrd",
    "intercept_width.nrrd",
    "report.png",
}
SUMMARY_KEYS = {
    "focal_bmc_loss_mm",
    "focal_bmd_loss",
    "intercept_width_mm",
    "focal_bmc_loss_mm_void",
    "focal_bmd_loss_void",
    "intercept_width_mm_void",
    "bmd_mg_cm3",
    "calibrated",
    "roi_volume_ml",
    "z_scores",
    "seconds",
}


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vertebra")
    ph = make_vertebra()
    paths = write_phantom(ph, folder / "vertebra.nrrd")
    inserts = folder / "inserts.json"
    inserts.write_text(json.dumps({"inserts": ph.truth["calibration_inserts"]}))
    return {"ct": paths["image"], "mask": paths["mask:body"], "inserts": inserts, "truth": ph.truth}


def _run(*args):
    return main(["--no-progress", "focal-defect", *map(str, args)])


def test_mask_run_writes_all_outputs(phantom_files, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(phantom_files["ct"], "--mask", phantom_files["mask"], "--out", out) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {p.name for p in out.iterdir()} == OUTPUTS
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS
    assert summary["calibrated"] is False
    assert summary["bmd_units"] == "HU-equivalent (uncalibrated)"
    assert any("uncalibrated" in w for w in summary["warnings"])
    assert printed["focal_bmc_loss_mm"] == pytest.approx(summary["focal_bmc_loss_mm"])
    assert summary["roi_volume_ml"] == pytest.approx(
        phantom_files["truth"]["roi_after_6mm_erosion"]["volume_ml"], rel=0.06
    )
    assert set(summary["z_scores"]["focal_bmc_loss_mm"]) == {"vs_fracture", "vs_control"}
    # The maps: 0.3 mm patient-aligned grid, nonzero where voids are, the header says what they are.
    bmc = Volume.read(out / "focal_bmc_loss.nrrd")
    np.testing.assert_allclose(bmc.spacing, 0.3)
    assert bmc.array.max() > summary["focal_bmc_loss_mm"] > 0
    roi_voxels = round(summary["roi_volume_ml"] * 1000 / 0.3**3)
    assert bmc.array.sum() / roi_voxels == pytest.approx(summary["focal_bmc_loss_mm"], rel=1e-3)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(out / "focal_bmd_loss.nrrd"))
    reader.ReadImageInformation()
    assert reader.GetMetaData("BoneQuality_bmd_scale") == "HU-equivalent (uncalibrated)"
    assert (out / "report.png").stat().st_size > 50_000


def test_calibrations_and_seed(phantom_files, tmp_path, capsys):
    cal = phantom_files["truth"]["calibration"]
    out1, out2, out3 = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert (
        _run(
            phantom_files["ct"],
            "--mask",
            phantom_files["mask"],
            "--calibration",
            f"{cal['slope']},{cal['intercept']}",
            "--out",
            out1,
        )
        == 0
    )
    assert (
        _run(
            phantom_files["ct"],
            "--mask",
            phantom_files["mask"],
            "--phantom-inserts",
            phantom_files["inserts"],
            "--out",
            out2,
        )
        == 0
    )
    assert _run(phantom_files["ct"], "--seed", "0,0,0", "--out", out3) == 0
    capsys.readouterr()
    s1, s2, s3 = (json.loads((o / "summary.json").read_text()) for o in (out1, out2, out3))
    assert s1["calibrated"] is s2["calibrated"] is True
    assert s1["bmd_units"] == "mg/cm3 HA"
    assert s2["calibration"]["r_squared"] == pytest.approx(1.0)
    assert s2["bmd_mg_cm3"] == pytest.approx(s1["bmd_mg_cm3"], rel=1e-6)
    assert s3["calibrated"] is False
    assert s3["inputs"]["seed_lps"] == [0.0, 0.0, 0.0]
    assert {p.name for p in out3.iterdir()} == OUTPUTS


def _shifted_mask(phantom_files, tmp_path):
    m = Volume.read(phantom_files["mask"])
    path = tmp_path / "far.nrrd"
    Volume(m.array, m.spacing, m.origin + 400.0, m.direction).write(path)
    return path


def _mr_like(phantom_files, tmp_path):
    ct = Volume.read(phantom_files["ct"])
    path = tmp_path / "mr.nrrd"
    ct.with_array(((ct.array.astype(np.float32) + 1000) * 0.5).astype(np.int16)).write(path)
    return path


def _tiny_mask(phantom_files, tmp_path):
    """The body cut to a 10 mm slab: a plausible body volume (bonequality.masks.PLAUSIBLE_ML),
    but nothing is left after the 6 mm erosion."""
    m = Volume.read(phantom_files["mask"])
    arr = m.array.copy()
    k = np.flatnonzero(arr.any(axis=(1, 2)))
    n, start = round(10.0 / m.spacing[2]), (k[0] + k[-1]) // 2 - round(5.0 / m.spacing[2])
    arr[:start] = 0
    arr[start + n :] = 0
    path = tmp_path / "tiny.nrrd"
    m.with_array(arr).write(path)
    return path


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda f, t: [t / "missing.nrrd", "--mask", f["mask"]], "file not found"),
        (lambda f, t: [f["ct"], "--mask", _shifted_mask(f, t)], "does not overlap"),
        (lambda f, t: [_mr_like(f, t), "--mask", f["mask"]], "does not look like a CT"),
        (lambda f, t: [f["ct"], "--mask", _tiny_mask(f, t)], "empty after the 6 mm erosion"),
        (lambda f, t: [f["ct"], "--mask", f["mask"], "--label", "7"], "label 7 does not occur"),
        (lambda f, t: [f["ct"], "--mask", f["mask"], "--calibration=-1,0"], "slope must be a positive"),
        (lambda f, t: [f["ct"], "--seed", "0,-30,0"], "seed point"),
        (lambda f, t: [f["ct"], "--seed", "0,0,900"], "outside the image"),
        (lambda f, t: [f["ct"], "--seed", "0,0,0", "--label", "1"], "give --mask too"),
    ],
    ids=[
        "missing-ct",
        "mask-elsewhere",
        "mr",
        "tiny-roi",
        "bad-label",
        "bad-slope",
        "seed-in-tissue",
        "seed-outside",
        "label-without-mask",
    ],
)
def test_bad_inputs_exit_2_and_leave_nothing(phantom_files, tmp_path, capsys, make_args, message):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args = make_args(phantom_files, inputs)
    out = tmp_path / "out"
    assert _run(*args, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inputs"]


def test_bad_inserts_file_exit_2(phantom_files, tmp_path, capsys):
    bad = tmp_path / "inserts.json"
    bad.write_text(json.dumps({"inserts": [{"density_mg_cm3": 100, "hu": 50}]}))
    out = tmp_path / "out"
    assert (
        _run(phantom_files["ct"], "--mask", phantom_files["mask"], "--phantom-inserts", bad, "--out", out)
        == 2
    )
    assert "at least two inserts" in capsys.readouterr().err
    assert not out.exists()


def test_mask_and_seed_are_exclusive(phantom_files, tmp_path):
    with pytest.raises(SystemExit) as exc:
        _run(phantom_files["ct"], "--mask", phantom_files["mask"], "--seed", "0,0,0", "--out", tmp_path / "o")
    assert exc.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_vertebra_mask_run(tmp_path, capsys):
    # A whole-vertebra mask: the posterior elements are cut off at the spinal canal, so the
    # ROI is the one of the body mask; the provenance names the file and the source kind.
    paths = write_phantom(make_cemented_vertebra(), tmp_path / "cemented.nrrd")
    out_v, out_b = tmp_path / "v", tmp_path / "b"
    assert _run(paths["image"], "--vertebra-mask", paths["mask:vertebra"], "--out", out_v) == 0
    assert _run(paths["image"], "--mask", paths["mask:body"], "--out", out_b) == 0
    capsys.readouterr()
    assert {p.name for p in out_v.iterdir()} == OUTPUTS
    sv, sb = (json.loads((o / "summary.json").read_text()) for o in (out_v, out_b))
    assert sv["inputs"] == {
        "ct": str(paths["image"]),
        "mask": str(paths["mask:vertebra"]),
        "seed_lps": None,
        "body_source": "vertebra_mask",
    }
    assert sb["inputs"]["body_source"] == "body_mask"
    assert sv["roi_volume_ml"] == pytest.approx(sb["roi_volume_ml"], rel=0.005)
    # One definition of the map units: the NRRD headers and the summary's reference rows agree.
    units = {r["key"]: r["unit"] for r in sv["reference"]}
    reader = sitk.ImageFileReader()
    for m, key in zip(FOCAL_MAPS, ("focal_bmc_loss_mm", "focal_bmd_loss", "intercept_width_mm")):
        reader.SetFileName(str(out_v / m.file))
        reader.ReadImageInformation()
        assert reader.GetMetaData("BoneQuality_unit") == m.unit == units[key]
    with pytest.raises(SystemExit) as exc:
        _run(
            paths["image"],
            "--mask",
            paths["mask:body"],
            "--vertebra-mask",
            paths["mask:vertebra"],
            "--out",
            tmp_path / "o",
        )
    assert exc.value.code == 2
    assert not (tmp_path / "o").exists()


def test_demo_section(tmp_path):
    from bonequality.commands import focal_defect

    sections = focal_defect.demo(tmp_path, None)
    assert len(sections) == 1
    section = sections[0]
    assert section.images == ("focal_defect/report.png",)
    assert (tmp_path / section.images[0]).stat().st_size > 50_000
    assert section.table["calibration R² (3 inserts)"] > 0.999
    assert "mg/cm3 HA" in " ".join(section.table)
    assert section.table["focal BMC loss (mm)"] > 0
