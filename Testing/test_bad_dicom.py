"""DICOM series with a missing or unreadable slice, folders with two series, and images that are
no scalar 3-D volume on an orthonormal grid: refused, naming the file (or slice, or node).

Bad copies of the shared DICOM series (``../shared/data/totalsegmentator_example_dicom``)
are built in temporary folders; the second series is written here with SimpleITK.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from bonequality import errors
from bonequality.cli import main
from bonequality.dicom import list_series
from bonequality.segmentation import read_mask
from bonequality.volume import read_dicom_series, read_image

SECOND_UID = "1.2.826.0.1.3680043.8.498.4242"


def _copy(src: Path, dst: Path) -> list[Path]:
    dst.mkdir()
    for f in sorted(src.glob("*.dcm")):
        shutil.copy(f, dst / f.name)
    return sorted(dst.glob("*.dcm"))


def _slice_order(files: list[Path]) -> list[Path]:
    """The files sorted by position along the slice normal."""

    def z(f):
        r = sitk.ImageFileReader()
        r.SetFileName(str(f))
        r.ReadImageInformation()
        return r.GetOrigin()[2]

    return sorted(files, key=z)


def _write_series(
    folder: Path, uid: str, positions=(0.0, 2.0, 4.0, 6.0, 8.0, 10.0), description: str = "second series"
) -> None:
    n = len(positions)
    arr = np.full((n, 16, 16), -1000, np.int16)
    arr[:, 4:12, 4:12] = 300
    img = sitk.GetImageFromArray(arr)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(n):
        sl = img[:, :, k]
        for tag, value in {
            "0008|0060": "CT",
            "0008|103e": description,
            "0020|000d": uid + ".1",
            "0020|000e": uid,
            "0008|0018": f"{uid}.2.{k + 1}",
            "0020|0013": str(k + 1),
            "0020|0032": f"0\\0\\{positions[k]}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": "1\\1",
        }.items():
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"second_{k:02d}.dcm"))
        writer.Execute(sl)


def _one_line(argv, capsys) -> str:
    assert main(["--no-progress", *[str(a) for a in argv]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# ------------------------------------------------------------------------------- missing, unreadable
@pytest.mark.realdata
def test_a_missing_slice_is_refused_naming_its_neighbours(example_dicom_dir, tmp_path, capfd):
    files = _slice_order(_copy(example_dicom_dir, tmp_path / "series"))
    files[7].unlink()
    with pytest.raises(errors.InputFileError) as info:
        read_dicom_series(tmp_path / "series", name="DICOM S")
    msg = str(info.value)
    assert msg.startswith("DICOM S: a gap between slices ")
    assert files[6].name in msg
    assert files[8].name in msg
    assert "4.00 mm apart" in msg
    assert "the others 2.00 mm" in msg
    assert "WARNING" not in capfd.readouterr().err  # no raw ITK warning


def test_a_duplicated_slice_position_is_refused(tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    _write_series(folder, SECOND_UID, positions=(0.0, 2.0, 4.0, 4.0, 6.0, 8.0))
    with pytest.raises(
        errors.InputFileError, match=r"two slices closer than the others between slices second_0"
    ):
        read_dicom_series(folder)
    even = tmp_path / "even"
    even.mkdir()
    _write_series(even, SECOND_UID, positions=(0.0, 2.0, 4.0, 6.0, 8.0))
    assert read_dicom_series(even).array.shape == (5, 16, 16)


@pytest.mark.realdata
def test_an_unreadable_slice_is_named(example_dicom_dir, tmp_path, capsys):
    files = _copy(example_dicom_dir, tmp_path / "series")
    bad = files[5]
    bad.write_bytes(bad.read_bytes()[:5000])  # truncated copy
    with pytest.raises(errors.InputFileError, match=rf"1 DICOM file\(s\) cannot be read \({bad.name}\)"):
        read_image(tmp_path / "series")
    msg = _one_line(
        ["corridors", tmp_path / "series", "--landmarks", tmp_path / "x.mrk.json", "--out", tmp_path / "o"],
        capsys,
    )
    assert bad.name in msg
    assert not (tmp_path / "o").exists()


@pytest.mark.realdata
def test_the_complete_series_still_reads(example_dicom_dir):
    vol = read_image(example_dicom_dir)
    assert vol.array.shape == (20, 512, 512)
    np.testing.assert_allclose(vol.spacing, (0.9765625, 0.9765625, 2.0), atol=1e-6)


# ------------------------------------------------------------------------------- two series
@pytest.mark.realdata
def test_two_series_are_listed_and_one_can_be_chosen(example_dicom_dir, tmp_path, capsys):
    folder = tmp_path / "two"
    _copy(example_dicom_dir, folder)
    _write_series(folder, SECOND_UID)
    assert sorted(len(v) for v in list_series(folder).values()) == [6, 20]
    with pytest.raises(errors.InputFileError) as info:
        read_image(folder)
    msg = str(info.value)
    assert f"{folder} holds 2 DICOM series" in msg
    assert f"'{SECOND_UID}' (second series, 6 files)" in msg
    assert "(CT Body 3.0, 20 files)" in msg
    assert "--series UID" in msg
    second = read_dicom_series(folder, series=SECOND_UID)
    assert second.array.shape == (6, 16, 16)
    assert read_image(folder / SECOND_UID).array.shape == (6, 16, 16)  # FOLDER/UID
    assert read_image(folder, series="").array.shape == (20, 512, 512)  # the anonymised (empty) UID
    with pytest.raises(errors.InputFileError, match=r"no series with UID '1\.2\.3'; the folder holds"):
        read_dicom_series(folder, series="1.2.3")
    line = _one_line(["focal-defect", folder, "--seed", "0,0,0", "--out", tmp_path / "o"], capsys)
    assert "holds 2 DICOM series" in line


# ------------------------------------------------------------------------------- not scalar 3-D
def _rgb(path: Path) -> Path:
    img = sitk.Image([8, 8, 8], sitk.sitkVectorUInt8, 3)
    sitk.WriteImage(img, str(path))
    return path


def _four_d(path: Path) -> Path:
    img = sitk.GetImageFromArray(np.zeros((3, 8, 8, 8), np.int16), isVector=False)
    sitk.WriteImage(img, str(path))
    return path


def _sheared(path: Path) -> Path:
    header = (
        "NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 4 4 4\n"
        "space directions: (1,0,0) (0.5,1,0) (0,0,1)\nspace origin: (0,0,0)\nencoding: raw\n"
        "endian: little\n\n"
    )
    path.write_bytes(header.encode() + bytes(2 * 64))
    return path


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (_rgb, "is an RGB(A) colour image with 3 components per voxel"),
        (_four_d, "is a 4-D image (8 x 8 x 8 x 3 voxels: 3 time points or channels)"),
        (_sheared, "the direction matrix is not orthonormal"),
    ],
    ids=["rgb", "4d", "sheared"],
)
def test_images_that_are_no_scalar_3d_volume_are_refused_by_name(tmp_path, capsys, make, said):
    path = make(tmp_path / "odd.nrrd")
    with pytest.raises(errors.InputFileError) as info:
        read_image(path, name="CT odd.nrrd")
    assert str(info.value).startswith("CT odd.nrrd: ")
    assert said in str(info.value)
    line = _one_line(["focal-defect", path, "--seed", "0,0,0", "--out", tmp_path / "o"], capsys)
    assert "odd.nrrd" in line
    assert said in line
    # As a mask, too.
    with pytest.raises(errors.InputFileError, match=r"mask .*odd\.nrrd"):
        read_mask(path)


@pytest.mark.mrml
def test_mrml_volume_nodes_that_are_not_scalar_or_orthonormal_are_named(mrml_scene):
    import vtk

    from bonequality.mrml.volumes import node_to_volume

    node = mrml_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Sheared")
    image = vtk.vtkImageData()
    image.SetDimensions(4, 4, 4)
    image.AllocateScalars(vtk.VTK_SHORT, 1)
    node.SetAndObserveImageData(image)
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 1, 0.5)  # shear
    node.SetIJKToRASMatrix(m)
    with pytest.raises(
        errors.InputFileError, match="volume 'Sheared': the direction matrix is not orthonormal"
    ):
        node_to_volume(node)
    rgb = mrml_scene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "Colour")
    colour = vtk.vtkImageData()
    colour.SetDimensions(4, 4, 4)
    colour.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 3)
    rgb.SetAndObserveImageData(colour)
    with pytest.raises(errors.InputFileError, match="volume 'Colour': is an RGB"):
        node_to_volume(rgb)
