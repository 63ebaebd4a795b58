"""Volume: index <-> physical transforms, trilinear sampling, I/O, CT check.

Geometry is checked against hand-worked values and against SimpleITK's own
TransformContinuousIndexToPhysicalPoint on anisotropic, oblique grids.
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from bonequality import (
    GeometryMismatchError,
    InputFileError,
    MaskError,
    NotCTError,
    OutsideImageError,
    Volume,
)
from bonequality.phantoms import ANISOTROPIC_SPACING, oblique_direction, rotation_matrix

SPACING = np.array(ANISOTROPIC_SPACING)
ORIGIN = np.array([-12.5, 30.25, -101.0])


def _oblique_volume(values=None, shape=(9, 11, 13)):
    rng = np.random.default_rng(1)
    arr = rng.integers(-1000, 1500, size=shape).astype(np.int16) if values is None else values
    return Volume(arr, SPACING, ORIGIN, oblique_direction())


def test_index_to_physical_matches_simpleitk_on_oblique_anisotropic_grid():
    vol = _oblique_volume()
    img = vol.to_sitk()
    rng = np.random.default_rng(2)
    ijk = rng.uniform(-2, 12, size=(50, 3))
    expected = np.array([img.TransformContinuousIndexToPhysicalPoint(p.tolist()) for p in ijk])
    np.testing.assert_allclose(vol.index_to_physical(ijk), expected, atol=1e-9)
    np.testing.assert_allclose(vol.physical_to_index(expected), ijk, atol=1e-9)
    # The homogeneous matrix says the same.
    m = vol.index_to_physical_matrix
    np.testing.assert_allclose((np.c_[ijk, np.ones(len(ijk))] @ m.T)[:, :3], expected, atol=1e-9)


def test_hand_worked_index_to_physical():
    # i axis along -x (patient right), j along -y (anterior), k along +z: like the example CT.
    vol = Volume(np.zeros((2, 2, 2)), (2.0, 3.0, 4.0), (10.0, 20.0, 30.0), np.diag([-1.0, -1.0, 1.0]))
    np.testing.assert_allclose(vol.index_to_physical([1, 1, 1]), [8.0, 17.0, 34.0])
    np.testing.assert_allclose(vol.physical_to_index([6.0, 14.0, 38.0]), [2.0, 2.0, 2.0])


def test_trilinear_sampling_reproduces_linear_field_exactly_on_oblique_grid():
    vol0 = _oblique_volume(np.zeros((9, 11, 13), dtype=np.float32))
    nk, nj, ni = vol0.array.shape
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    pts = vol0.index_to_physical(np.stack([ii, jj, kk], axis=-1))
    coeffs = np.array([3.0, -2.0, 0.5])
    field = pts @ coeffs + 7.0
    vol = vol0.with_array(field.astype(np.float64))
    rng = np.random.default_rng(3)
    inner = vol.index_to_physical(rng.uniform([0, 0, 0], [ni - 1, nj - 1, nk - 1], size=(200, 3)))
    np.testing.assert_allclose(vol.sample(inner), inner @ coeffs + 7.0, atol=1e-9)


def test_sampling_outside_returns_fill_and_contains_is_consistent():
    vol = _oblique_volume()
    far = vol.center() + 1000.0
    assert np.isnan(vol.sample(far[np.newaxis])[0])
    assert vol.sample(far[np.newaxis], fill=-1024)[0] == -1024
    assert not vol.contains(far)
    assert vol.contains(vol.center())


def test_require_inside_names_each_outside_point():
    vol = _oblique_volume()
    with pytest.raises(OutsideImageError) as err:
        vol.require_inside([vol.center(), vol.center() + 500, vol.center() - 500], ["A", "B", "C"])
    assert err.value.labels == ("B", "C")
    assert "B, C" in str(err.value)


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".mha"])
def test_file_round_trip_keeps_geometry_and_values(tmp_path, suffix):
    vol = _oblique_volume()
    path = tmp_path / f"img{suffix}"
    vol.write(path)
    back = Volume.read(path)
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.spacing, vol.spacing, atol=1e-6)
    np.testing.assert_allclose(back.origin, vol.origin, atol=1e-5)
    np.testing.assert_allclose(back.direction, vol.direction, atol=1e-6)
    assert list(tmp_path.iterdir()) == [path]  # nothing else left behind


def test_dicom_series_folder_round_trip(tmp_path):
    """Write a CT-like series with SimpleITK and read the folder back."""
    arr = (np.arange(4 * 6 * 5).reshape(4, 6, 5) * 10 - 1000).astype(np.int16)
    vol = Volume(arr, (0.8, 0.8, 2.5), (-50.0, -60.0, 100.0), np.eye(3))
    img = vol.to_sitk()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        pos = img.TransformIndexToPhysicalPoint((0, 0, k))
        sl.SetMetaData("0008|0060", "CT")
        sl.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1.1")
        sl.SetMetaData("0020|0032", "\\".join(f"{v:.4f}" for v in pos))
        sl.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        sl.SetMetaData("0020|0013", str(k + 1))
        sl.SetMetaData("0028|0030", "0.8\\0.8")
        writer.SetFileName(str(tmp_path / f"s{k:03d}.dcm"))
        writer.Execute(sl)
    back = Volume.read(tmp_path)
    np.testing.assert_array_equal(back.array, arr)
    np.testing.assert_allclose(back.spacing, [0.8, 0.8, 2.5], atol=1e-4)
    np.testing.assert_allclose(back.origin, vol.origin, atol=1e-3)


def test_missing_corrupt_and_2d_files_give_input_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        Volume.read(tmp_path / "nope.nrrd")
    bad = tmp_path / "corrupt.nrrd"
    bad.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 10 10 10\nencoding: raw\n\n" + b"\x00" * 17)
    with pytest.raises(InputFileError, match=r"corrupt\.nrrd"):
        Volume.read(bad)
    flat = tmp_path / "flat.nrrd"
    sitk.WriteImage(sitk.Image(5, 5, sitk.sitkInt16), str(flat))
    with pytest.raises(InputFileError, match="2-D"):
        Volume.read(flat)
    with pytest.raises(InputFileError, match="no DICOM"):
        Volume.read(tmp_path)  # a folder without DICOM files


def test_require_ct_accepts_ct_and_rejects_mr_and_unscaled():
    rng = np.random.default_rng(0)
    ct = np.full((20, 20, 20), -1000, dtype=np.int16)
    ct[5:15, 5:15, 5:15] = rng.normal(40, 10, size=(10, 10, 10)).astype(np.int16)
    ct[8:12, 8:12, 8:12] = 700
    Volume.from_array(ct).require_ct("ct")
    mr = rng.uniform(0, 900, size=(20, 20, 20)).astype(np.float32)
    with pytest.raises(NotCTError, match=r"T1 scan does not look like a CT"):
        Volume.from_array(mr).require_ct("T1 scan")
    with pytest.raises(NotCTError):
        Volume.from_array(ct.astype(np.int32) + 1024).require_ct("unscaled")


def test_constructor_rejects_bad_geometry():
    with pytest.raises(InputFileError):
        Volume(np.zeros((2, 2, 2)), (1.0, 0.0, 1.0), (0, 0, 0), np.eye(3))
    with pytest.raises(InputFileError):
        Volume(np.zeros((2, 2, 2)), (1.0, 1.0, 1.0), (0, 0, 0), np.ones((3, 3)))
    with pytest.raises(InputFileError):
        Volume(np.zeros((2, 2)), (1.0, 1.0, 1.0), (0, 0, 0), np.eye(3))


def test_mask_on_resamples_to_reference_and_reports_no_overlap():
    ref = Volume(np.zeros((10, 12, 14), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    # The same box described on a finer, rotated grid.
    fine = Volume(np.zeros((1, 1, 1), np.uint8), (0.5, 0.5, 0.5), (0, 0, 0), rotation_matrix((0, 0, 1), 90))
    nk, nj, ni = 30, 30, 30
    origin = ref.center() - fine.direction @ (np.array([ni - 1, nj - 1, nk - 1]) / 2 * 0.5)
    fine = Volume(np.ones((nk, nj, ni), np.uint8), fine.spacing, origin, fine.direction)
    m = fine.mask_on(ref, name="box mask", min_inside=0.0)  # larger than ref on purpose
    assert m.dtype == bool
    # 15 mm cube centred in a 14 x 12 x 10 mm grid covers the whole reference grid.
    assert m.all()
    far = Volume(np.ones((3, 3, 3), np.uint8), (1, 1, 1), (500.0, 500.0, 500.0), np.eye(3))
    with pytest.raises(GeometryMismatchError, match="far mask"):
        far.mask_on(ref, name="far mask")
    with pytest.raises(MaskError, match="empty"):
        ref.with_array(np.zeros(ref.array.shape, np.uint8)).mask_on(ref, name="empty")


def test_resample_isotropic_keeps_extent_and_linear_values():
    vol = Volume(np.zeros((10, 10, 10), np.float32), (1.0, 1.0, 2.0), (0, 0, 0), oblique_direction())
    nk, nj, ni = vol.array.shape
    kk, jj, ii = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    pts = vol.index_to_physical(np.stack([ii, jj, kk], -1))
    vol = vol.with_array((pts @ np.array([1.0, 2.0, -1.0])).astype(np.float32))
    iso = vol.resample_isotropic(0.5)
    assert iso.array.shape == (40, 20, 20)
    np.testing.assert_allclose(iso.spacing, 0.5)
    lo0, hi0 = vol.physical_bounds()
    lo1, hi1 = iso.physical_bounds()
    np.testing.assert_allclose(lo0, lo1, atol=1e-6)
    np.testing.assert_allclose(hi0, hi1, atol=1e-6)
    # Interior voxels reproduce the linear field.
    inner = iso.index_to_physical(np.array([[10, 10, 20], [5, 12, 30]], float))
    np.testing.assert_allclose(iso.sample(inner), inner @ np.array([1.0, 2.0, -1.0]), atol=1e-3)
