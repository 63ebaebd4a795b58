"""Masks and Slicer .seg.nrrd segmentations (via slicerio), on an oblique anisotropic grid."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from bonequality import InputFileError, MaskError, Volume
from bonequality.phantoms import oblique_direction
from bonequality.segmentation import read_mask, read_segmentation, write_segmentation


def _ref():
    return Volume(np.zeros((8, 10, 12), np.int16), (0.7, 0.9, 1.6), (5.0, -3.0, 40.0), oblique_direction())


def test_seg_nrrd_round_trip_with_overlapping_segments(tmp_path):
    ref = _ref()
    body = np.zeros(ref.array.shape, bool)
    body[2:6, 2:8, 2:10] = True
    cement = np.zeros_like(body)
    cement[3:5, 4:6, 4:8] = True  # inside the body: overlaps -> second layer
    leak = np.zeros_like(body)
    leak[0:2, 0:2, 0:2] = True
    path = tmp_path / "segments.seg.nrrd"
    write_segmentation(path, {"VertebralBody": body, "Cement": cement, "Leakage": leak}, ref)
    back = read_segmentation(path)
    assert list(back) == ["VertebralBody", "Cement", "Leakage"]
    for name, m in (("VertebralBody", body), ("Cement", cement), ("Leakage", leak)):
        np.testing.assert_array_equal(back[name].array, m)
        np.testing.assert_allclose(back[name].spacing, ref.spacing, atol=1e-6)
        np.testing.assert_allclose(back[name].origin, ref.origin, atol=1e-6)
        np.testing.assert_allclose(back[name].direction, ref.direction, atol=1e-6)
    # read_mask picks one segment by name.
    np.testing.assert_array_equal(read_mask(path, segment="Cement").array, cement)
    with pytest.raises(MaskError, match="no segment named 'Bone'"):
        read_mask(path, segment="Bone")
    assert [p.name for p in tmp_path.iterdir()] == ["segments.seg.nrrd"]


def test_label_map_selection_and_errors(tmp_path):
    ref = _ref()
    lab = np.zeros(ref.array.shape, np.uint8)
    lab[1:3, 1:3, 1:3] = 3
    lab[4:6, 4:6, 4:6] = 7
    path = tmp_path / "labels.nii.gz"
    ref.with_array(lab).write(path)
    with pytest.raises(MaskError, match=r"holds 2 labels \(\[3, 7\] \(8, 8 voxels; .*--label N"):
        read_mask(path)  # a multi-label map needs a label (not the union)
    assert read_mask(path, label=7).array.sum() == 8
    with pytest.raises(MaskError, match=r"label 5 does not occur; labels present: \[3, 7\]"):
        read_mask(path, label=5)
    empty = tmp_path / "empty.nrrd"
    sitk.WriteImage(ref.with_array(np.zeros_like(lab)).to_sitk(), str(empty))
    with pytest.raises(MaskError, match="empty"):
        read_mask(empty)
    with pytest.raises(InputFileError, match="not found"):
        read_mask(tmp_path / "missing.seg.nrrd")


def test_a_ct_given_as_mask_is_rejected(tmp_path):
    """Passing the CT (negative, fractional HU) where a label map belongs is a clear error."""
    ref = _ref()
    ct = np.random.default_rng(0).normal(0, 500, size=ref.array.shape).astype(np.float32)
    path = tmp_path / "ct.nrrd"
    ref.with_array(ct).write(path)
    with pytest.raises(MaskError, match="is not a label map"):
        read_mask(path)
    many = tmp_path / "many.nrrd"
    Volume.from_array(np.arange(12**3, dtype=np.int32).reshape(12, 12, 12)).write(many)  # 1728 labels
    with pytest.raises(MaskError, match="distinct values"):
        read_mask(many)
