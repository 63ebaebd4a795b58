"""The vertebral-body phantom (seed 004): analytic anatomy, known void sizes, same anatomy on any grid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bonequality.phantoms import ANISOTROPIC_SPACING, make_phantom, oblique_direction, write_phantom
from bonequality.phantoms.vertebra import VERTEBRA, make_vertebra, vertebra_hu
from bonequality.volume import Volume

BODY_ML = np.pi * 20 * 15 * 25 / 1000  # elliptic cylinder 40 x 30 mm, 25 mm tall


@pytest.fixture(scope="module")
def phantom():
    return make_phantom("vertebra")


def test_geometry_and_truth(phantom):
    vol, truth = phantom.volume, phantom.truth
    assert phantom.name == "vertebra"
    assert phantom.masks["body"].shape == vol.array.shape
    assert phantom.masks["body"].sum() * vol.voxel_volume_mm3 / 1000 == pytest.approx(BODY_ML, rel=0.02)
    assert truth["background_voids"]["diameter_mm"] == 1.5
    assert truth["defect_voids"]["diameter_mm"] == 3.0
    assert truth["defect_voids"]["area_fraction"] == pytest.approx(np.pi * 1.5**2 / 16)
    assert truth["roi_after_6mm_erosion"]["volume_ml"] == pytest.approx(np.pi * 14 * 9 * 13 / 1000)
    assert truth["calibration"]["slope"] == pytest.approx(0.8)
    assert truth["calibration"]["intercept"] == pytest.approx(-16.0)
    json.dumps(truth)  # JSON-able
    vol.require_ct("vertebra phantom")


@pytest.mark.parametrize(
    ("point", "expected", "tol"),
    [
        # Background void centre (7 mm from the defect): the 0.75 mm radius is 1.5 edge sigmas,
        # so the blur leaves 580 HU * Phi(-1.5) of matrix there.
        ((0.0, 0.0, 0.0), 20.0 + 580.0 * 0.0668, 0.5),
        ((8.0, 0.0, 0.0), 20.0, 2.0),  # defect void centre
        ((6.0, 2.0, 0.0), 600.0, 5.0),  # defect matrix: 2.8 mm from the void centres (4, 0) ... (8, 4)
        ((0.0, -25.0, 0.0), 40.0, 1.0),  # soft tissue in front of the body
        ((45.0, 45.0, 0.0), -1000.0, 1.0),  # air outside the soft-tissue ellipse
        ((15.0, 28.0, 0.0), 270.0, 1.0),  # 200 mg/cm3 insert: 20 + 1.25 * 200 HU
        ((-15.0, 28.0, 5.0), 20.0, 1.0),  # 0 mg/cm3 insert
    ],
)
def test_hu_at_known_points(point, expected, tol):
    assert vertebra_hu(np.array([point]))[0] == pytest.approx(expected, abs=tol)


def test_cortex_is_densest_bone():
    # Mid-cortex 0.6 mm inside the wall, along x and along y.
    hu = vertebra_hu(np.array([[19.4, 0.0, 0.0], [0.0, 14.4, 0.0], [0.0, 0.0, 11.9]]))
    assert np.all(hu > 600)


@pytest.mark.parametrize(
    ("spacing", "direction"),
    [(ANISOTROPIC_SPACING, None), ((0.5, 0.5, 0.5), "oblique"), (ANISOTROPIC_SPACING, "oblique")],
    ids=["anisotropic", "oblique", "anisotropic-oblique"],
)
def test_same_anatomy_on_any_grid(phantom, spacing, direction):
    ph = make_vertebra(spacing=spacing, direction=oblique_direction() if direction else None)
    vol = ph.volume
    np.testing.assert_allclose(vol.spacing, spacing)
    # Flat regions (insert centres, soft tissue, void centres) read back through interpolation.
    pts = np.array([[15.0, 28.0, 0.0], [0.0, 28.0, 3.0], [0.0, -25.0, 0.0], [8.0, 0.0, 0.0], [4.0, 4.0, 2.0]])
    np.testing.assert_allclose(vol.sample(pts), vertebra_hu(pts), atol=25.0)
    assert ph.masks["body"].sum() * vol.voxel_volume_mm3 / 1000 == pytest.approx(BODY_ML, rel=0.03)
    assert ph.truth == phantom.truth  # ground truth does not depend on the grid


def test_noise_is_seeded():
    a = make_vertebra(spacing=(1.0, 1.0, 1.0), noise_hu=20.0, seed=3).volume.array.astype(float)
    b = make_vertebra(spacing=(1.0, 1.0, 1.0), noise_hu=20.0, seed=3).volume.array.astype(float)
    c = make_vertebra(spacing=(1.0, 1.0, 1.0)).volume.array.astype(float)
    np.testing.assert_array_equal(a, b)
    assert np.std(a - c) == pytest.approx(20.0, rel=0.05)


def test_size_options():
    ph = make_vertebra(spacing=(1.0, 1.0, 1.0), body_semi_axes_mm=(25.0, 25.0), body_height_mm=30.0)
    assert ph.truth["body_semi_axes_mm"] == [25.0, 25.0]
    assert ph.masks["body"].sum() / 1000 == pytest.approx(np.pi * 25 * 25 * 30 / 1000, rel=0.03)
    assert VERTEBRA["body_semi_axes_mm"] == (20.0, 15.0)  # the defaults are not modified


def test_write_phantom_files(phantom, tmp_path):
    paths = write_phantom(phantom, tmp_path / "v.nrrd")
    assert set(paths) == {"image", "truth", "mask:body"}
    back = Volume.read(paths["image"])
    np.testing.assert_array_equal(back.array, phantom.volume.array)
    mask = Volume.read(paths["mask:body"])
    np.testing.assert_array_equal(mask.array != 0, phantom.masks["body"])
    assert json.loads(paths["truth"].read_text())["phantom"] == "vertebra"
