"""Masks that cannot be the structure are refused, alike from the CLI, batch and the MRML adapters.

* label 0 (the background) wherever a label is chosen;
* a multi-label map without a label: the message lists the labels and their volumes;
* a mask less than 95 % within the CT (measured on the mask's own grid);
* an implausible volume for the structure (:data:`bonequality.masks.PLAUSIBLE_ML`): a hip
  given as a vertebra is refused at once, not after minutes of canal search.
"""

from __future__ import annotations

import csv
import functools
import time
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from bonequality import errors
from bonequality.cli import main
from bonequality.imaging.body import BodySource, vertebral_body
from bonequality.imaging.grid import crop, voxel_points
from bonequality.masks import PLAUSIBLE_ML, check_label_value, check_mask_volume
from bonequality.phantoms import make_phantom
from bonequality.phantoms.sacrum_block import block_landmarks, make_sacrum_block
from bonequality.sacroplasty import SacroplastyInputs
from bonequality.segmentation import read_mask
from bonequality.volume import Volume


@functools.cache
def _vertebra():
    ph = make_phantom("vertebra")
    body = ph.masks["body"]
    body = np.asarray(body.array if isinstance(body, Volume) else body, dtype=bool)
    return ph.volume, body


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Vertebra phantom CT, its body mask, a 2-label map, and the CT cut in half (body half outside)."""
    d = tmp_path_factory.mktemp("bad-masks")
    ct, body = _vertebra()
    ct.write(d / "ct.nrrd")
    ct.with_array(body.astype(np.uint8)).write(d / "body.nrrd")
    labels = body.astype(np.uint8)
    labels[:3, :3, :3] = 2  # a second structure in a corner
    ct.with_array(labels).write(d / "labels.nrrd")
    k = np.flatnonzero(body.any(axis=(1, 2)))
    half = (slice(0, int((k[0] + k[-1]) // 2)), slice(None), slice(None))  # lower half of the body's slices
    crop(ct, half).write(d / "ct_half.nrrd")
    return {p.name: p for p in d.iterdir()}


def _cli(argv, capsys) -> str:
    """Run the CLI; it must exit 2 with exactly one line on stderr, which is returned."""
    assert main(["--no-progress", *[str(a) for a in argv]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# --------------------------------------------------------------------------- label 0 and multi-label
@pytest.mark.parametrize("analysis", ["focal-defect", "cement"])
def test_label_0_is_refused_on_the_command_line(files, tmp_path, capsys, analysis):
    out = tmp_path / "out"
    msg = _cli(
        [analysis, files["ct.nrrd"], "--vertebra-mask", files["labels.nrrd"], "--label", "0", "--out", out],
        capsys,
    )
    assert "labels.nrrd" in msg
    assert "label 0 is the background" in msg
    assert not out.exists()


def test_label_0_is_refused_in_batch_and_the_library(files, tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "ct", "body_mask", "label"])
        w.writerow(["zero", files["ct.nrrd"], files["labels.nrrd"], "0"])
    out = tmp_path / "batch"
    main(
        ["--no-progress", "batch", str(manifest), "--analyses", "cement", "--workers", "1", "--out", str(out)]
    )
    capsys.readouterr()
    with (out / "failures.csv").open() as fh:
        assert [r["error_type"] for r in csv.DictReader(fh)] == ["MaskError"]
    for bad in (0, -1, 1.5, "x"):
        with pytest.raises(errors.MaskError, match="label"):
            check_label_value(bad, "mask M")
    assert check_label_value(3, "mask M") == 3


def test_a_multi_label_map_without_label_lists_the_labels(files, tmp_path, capsys):
    ct, body = _vertebra()
    ml = body.sum() * ct.voxel_volume_mm3 / 1000
    msg = _cli(
        ["focal-defect", files["ct.nrrd"], "--mask", files["labels.nrrd"], "--out", tmp_path / "o"], capsys
    )
    assert "labels.nrrd holds 2 labels ([1, 2]" in msg
    assert f"{ml:.1f}" in msg
    assert "--label N" in msg
    # With the label chosen, the map gives the body itself.
    np.testing.assert_array_equal(read_mask(files["labels.nrrd"], label=1).array, body)


@pytest.mark.mrml
def test_mrml_adapter_refuses_label_0_and_a_multi_label_node(files, mrml_scene):
    from bonequality.mrml import segmentations
    from bonequality.mrml.volumes import volume_to_node

    ct = Volume.read(files["ct.nrrd"])
    node = volume_to_node(Volume.read(files["labels.nrrd"]), name="Labels", labelmap=True, scene=mrml_scene)
    with pytest.raises(errors.MaskError, match="label 0 is the background"):
        segmentations.mask_from_node(node, ct, label=0)
    with pytest.raises(errors.MaskError, match=r"mask 'Labels\w*' holds 2 labels \(\[1, 2\]"):
        segmentations.mask_from_node(node, ct)
    assert segmentations.mask_from_node(node, ct, label=2).sum() == 27


# --------------------------------------------------------------------------- within the CT
@pytest.mark.parametrize(("analysis", "flag"), [("focal-defect", "--mask"), ("cement", "--body-mask")])
def test_a_body_mask_half_outside_the_ct_is_refused(files, tmp_path, capsys, analysis, flag):
    out = tmp_path / "out"
    msg = _cli([analysis, files["ct_half.nrrd"], flag, files["body.nrrd"], "--out", out], capsys)
    share = float(msg.split("only ")[1].split(" %")[0])
    assert 35 <= share <= 65, msg  # about half of the body's slices
    assert "body.nrrd" in msg
    assert "at least 95 % must" in msg
    assert not out.exists()


def test_inside_share_is_measured_on_the_masks_grid():
    """A 10 mm cube shifted by 2.5 mm out of a 1 mm CT (oblique mask grid): 75 % inside."""
    ct = Volume.from_array(np.zeros((40, 40, 40), np.int16), origin=(-19.5, -19.5, -19.5))
    theta = np.deg2rad(90.0)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    cube = Volume(np.ones((20, 20, 20), np.uint8), np.full(3, 0.5), np.array([0.0, 0.0, 12.75]), rot)
    # x from -9.5..0 (rotation), y 0..9.5, z 12.75..22.25: the CT ends at z = 20.
    share = cube.inside_fraction(ct)
    assert share == pytest.approx(0.75, abs=0.03)
    with pytest.raises(errors.GeometryMismatchError, match=r"cube: only 7\d % of its 1\.0 ml"):
        cube.mask_on(ct, name="cube")
    inner = Volume(cube.array, cube.spacing, np.array([0.0, 0.0, 5.0]), rot)
    assert inner.inside_fraction(ct) == 1.0
    assert inner.mask_on(ct, name="cube").sum() == 1000


@pytest.mark.mrml
def test_mrml_adapter_refuses_a_mask_half_outside(files, mrml_scene):
    from bonequality.mrml import segmentations
    from bonequality.mrml.volumes import volume_to_node

    node = volume_to_node(Volume.read(files["body.nrrd"]), name="Body", labelmap=True, scene=mrml_scene)
    with pytest.raises(errors.GeometryMismatchError, match="mask 'Body': only"):
        segmentations.mask_from_node(node, Volume.read(files["ct_half.nrrd"]))


# --------------------------------------------------------------------------- plausible size
def test_a_4_ml_cube_is_too_small_for_a_vertebral_body():
    ct, body = _vertebra()
    pts = voxel_points(ct, np.ones(body.shape, bool)).reshape(*body.shape, 3)
    cube = np.all(np.abs(pts) <= 8.0, axis=-1)  # 16 mm cube, 4.1 ml
    with pytest.raises(
        errors.MaskError, match=r"cube is 4\.\d ml on the CT grid, too small for a vertebral body \(5-120"
    ):
        vertebral_body(ct, BodySource.body_mask(cube, name="cube"))


@pytest.mark.parametrize("kind", sorted(PLAUSIBLE_ML))
def test_plausible_ranges_are_closed_intervals(kind):
    _, (lo, hi) = PLAUSIBLE_ML[kind]
    for ml in (lo, (lo + hi) / 2, hi):
        n = ml * 1000  # voxels of 1 mm^3
        mask = np.zeros(round(n) + 1, bool)
        mask[: round(n)] = True
        assert check_mask_volume(mask, 1.0, kind, "M") == pytest.approx(ml, abs=1e-3)
    for ml in (lo * 0.9, hi * 1.1):
        with pytest.raises(errors.MaskError, match=rf"M is {ml:.1f} ml .* \({lo:g}-{hi:g} ml\)"):
            check_mask_volume(np.ones(int(ml * 1000), bool), 1.0, kind, "M")


def test_a_small_box_is_too_small_for_a_sacrum():
    ph = make_sacrum_block(spacing=(2.0, 2.0, 2.0))
    pts = voxel_points(ph.volume, np.ones(ph.volume.array.shape, bool)).reshape(*ph.volume.array.shape, 3)
    box = np.all(np.abs(pts - (0.0, 25.0, 0.0)) <= 12.0, axis=-1)  # 24 mm cube around the target
    with pytest.raises(
        errors.MaskError, match=r"sacrum mask S is 1\d\.\d ml .* too small for a sacrum \(50-1000"
    ):
        SacroplastyInputs(ph.volume, block_landmarks(25.0), sacrum_mask=box, sacrum_mask_name="sacrum mask S")


# --------------------------------------------------------------------------- real TotalSegmentator masks
@pytest.mark.realdata
@pytest.mark.parametrize("analysis", ["focal-defect", "cement"])
def test_a_hip_given_as_a_vertebra_is_refused_at_once(
    example_ct_path, shared_data, tmp_path, capsys, analysis
):
    hip = shared_data / "totalsegmentator_example_seg" / "hip_left.nii.gz"
    start = time.perf_counter()
    msg = _cli([analysis, example_ct_path, "--vertebra-mask", hip, "--out", tmp_path / "o"], capsys)
    assert time.perf_counter() - start < 15.0
    assert "hip_left.nii.gz" in msg
    assert "375.7 ml on the CT grid, too large for a whole vertebra (8-180 ml)" in msg


@pytest.mark.realdata
def test_a_totalsegmentator_multi_label_map_without_label_is_refused_at_once(
    example_ct_path, shared_data, tmp_path, capsys
):
    seg = shared_data / "totalsegmentator_example_seg"
    names = ["vertebrae_L1", "vertebrae_L2", "vertebrae_L3", "vertebrae_L4", "vertebrae_L5", "sacrum"]
    names += ["hip_left", "hip_right"]
    first = sitk.ReadImage(str(seg / f"{names[0]}.nii.gz"))
    labels = np.zeros(sitk.GetArrayFromImage(first).shape, np.uint8)
    for value, n in enumerate(names, start=1):
        labels[sitk.GetArrayFromImage(sitk.ReadImage(str(seg / f"{n}.nii.gz"))) > 0] = value
    img = sitk.GetImageFromArray(labels)
    img.CopyInformation(first)
    path = tmp_path / "total.nii.gz"
    sitk.WriteImage(img, str(path))
    start = time.perf_counter()
    msg = _cli(["focal-defect", example_ct_path, "--vertebra-mask", path, "--out", tmp_path / "o"], capsys)
    assert time.perf_counter() - start < 15.0
    assert "total.nii.gz holds 8 labels ([1, 2, 3, 4, 5, 6, 7, 8]" in msg
    assert "375.7" in msg
    assert "--label N" in msg
    # L5 (label 5) of the same map is a plausible whole vertebra.
    l5 = read_mask(path, label=5)
    assert 8.0 <= l5.array.sum() * l5.voxel_volume_mm3 / 1000 <= 180.0


@pytest.mark.realdata
@pytest.mark.mrml
def test_mrml_logic_refuses_the_hip_as_vertebra(example_ct_path, shared_data, mrml_scene):
    from bonequality.mrml import logic_cement
    from bonequality.mrml.results import ResultNodes
    from bonequality.mrml.volumes import volume_to_node

    ct = volume_to_node(Volume.read(example_ct_path), name="CT", scene=mrml_scene)
    hip = Volume.read(shared_data / "totalsegmentator_example_seg" / "hip_left.nii.gz")
    mask = volume_to_node(
        hip.with_array(hip.array.astype(np.uint8)), name="hip", labelmap=True, scene=mrml_scene
    )
    results = ResultNodes(mrml_scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "params"))
    with pytest.raises(errors.MaskError, match=r"375\.7 ml on the CT grid, too large for a whole vertebra"):
        logic_cement.run_cement(ct, results=results, body_source="vertebra mask", mask_node=mask)
