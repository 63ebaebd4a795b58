"""Real scans from ../shared/data: geometry and HU ranges as the files declare them."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from bonequality import Volume

pytestmark = pytest.mark.realdata


def test_example_ct_nifti_geometry_and_hu(example_ct_path):
    vol = Volume.read(example_ct_path)
    # PROVENANCE.txt: 3.0 mm isotropic, 122 x 101 x 112 voxels, int32 HU,
    # direction (-1,0,0; 0,-1,0; 0,0,1): i -> patient right, j -> anterior, k -> superior.
    assert vol.shape_ijk == (122, 101, 112)
    np.testing.assert_allclose(vol.spacing, 3.0, atol=1e-5)
    np.testing.assert_allclose(vol.direction, np.diag([-1.0, -1.0, 1.0]), atol=1e-6)
    # Cross-check against the NIfTI header's qform/sform via nibabel-free SimpleITK metadata.
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(example_ct_path))
    reader.ReadImageInformation()
    np.testing.assert_allclose(vol.origin, reader.GetOrigin(), atol=1e-6)
    assert vol.array.dtype == np.int32
    assert -1300 < vol.array.min() < -900  # air
    assert 1000 < vol.array.max() < 4000  # cortical bone
    vol.require_ct("example_ct")
    # Moving +1 in i goes to patient right, i.e. -x in LPS.
    step = vol.index_to_physical([1, 0, 0]) - vol.index_to_physical([0, 0, 0])
    np.testing.assert_allclose(step, [-3.0, 0.0, 0.0], atol=1e-6)


def test_example_dicom_series_geometry_and_hu(example_dicom_dir):
    vol = Volume.read(example_dicom_dir)
    # PROVENANCE.txt: 20 axial slices of 512 x 512, 0.977 mm pixels, 2 mm slice spacing.
    assert vol.shape_ijk == (512, 512, 20)
    np.testing.assert_allclose(vol.spacing, [0.9765625, 0.9765625, 2.0], atol=1e-4)
    np.testing.assert_allclose(vol.direction, np.eye(3), atol=1e-6)  # axial, patient-aligned
    # The origin is the first slice's ImagePositionPatient (0020,0032).
    files = sorted(example_dicom_dir.glob("*.dcm"))
    positions = []
    for f in files:
        r = sitk.ImageFileReader()
        r.SetFileName(str(f))
        r.ReadImageInformation()
        positions.append([float(v) for v in r.GetMetaData("0020|0032").split("\\")])
    positions = np.array(positions)
    np.testing.assert_allclose(vol.origin, positions[np.argmin(positions[:, 2])], atol=1e-3)
    # HU after the DICOM rescale: air near -1000, bone above 1000.
    assert vol.array.min() <= -1000
    assert vol.array.max() > 1000
    vol.require_ct("example_dicom")
