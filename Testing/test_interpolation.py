"""Trilinear interpolation (:mod:`bonequality.interpolation`) equals scipy's order-1 spline.

``Volume.sample`` uses :func:`bonequality.interpolation.trilinear` for order 1; these tests
hold it to ``scipy.ndimage.map_coordinates(order=1, mode="nearest")`` on random grids
(including one-voxel-thick axes, integer, boolean and float data), points inside, on the
edges and outside, and on an anisotropic oblique volume, plus an analytic linear field.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from bonequality.interpolation import trilinear
from bonequality.volume import Volume

shapes = st.tuples(*(st.integers(1, 7) for _ in range(3)))
dtypes = st.sampled_from([np.int16, np.uint8, np.float32, np.float64])


@settings(max_examples=200, deadline=None)
@given(data=st.data(), shape=shapes, dtype=dtypes)
def test_trilinear_equals_scipy_order_1(data, shape, dtype):
    elements = st.integers(-1024, 3000) if np.dtype(dtype).kind == "i" else None
    if dtype is np.uint8:
        elements = st.integers(0, 255)
    elif np.dtype(dtype).kind == "f":
        elements = st.floats(-2000, 3000, width=np.dtype(dtype).itemsize * 8)
    array = data.draw(arrays(dtype, shape, elements=elements))
    n = data.draw(st.integers(1, 40))
    # from 1.5 voxels outside to 1.5 voxels beyond the last centre, on every axis
    coords = np.array([data.draw(arrays(np.float64, n, elements=st.floats(-1.5, s + 0.5))) for s in shape])
    expected = ndimage.map_coordinates(array, coords, order=1, mode="nearest", output=np.float64)
    got = trilinear(array, coords)
    scale = max(1.0, float(np.max(np.abs(array.astype(np.float64)))))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * scale)


def test_trilinear_refuses_non_contiguous_data():
    array = np.arange(60, dtype=np.int16).reshape(3, 4, 5)[:, :, ::2]
    assert trilinear(array, np.zeros((3, 1))) is None
    # Volume.sample then uses scipy: same values as on a contiguous copy
    vol, copy = Volume.from_array(array), Volume.from_array(np.ascontiguousarray(array))
    pts = np.array([[0.3, 1.7, 2.2], [1.9, 0.1, 0.5]])
    np.testing.assert_allclose(vol.sample(pts), copy.sample(pts), atol=1e-12)


def test_linear_field_on_an_anisotropic_oblique_grid_is_exact():
    """A linear HU field is reproduced exactly inside the grid; outside is the fill value."""
    theta = np.deg2rad(23.0)
    c, s = np.cos(theta), np.sin(theta)
    direction = np.array([[c, -s, 0.0], [s * 0.8, c * 0.8, -0.6], [s * 0.6, c * 0.6, 0.8]])
    spacing, origin = np.array([0.7, 1.1, 2.5]), np.array([-30.0, 12.0, 5.0])
    shape_kji = (9, 17, 23)
    probe = Volume.from_array(
        np.zeros(shape_kji, dtype=np.float32), spacing=spacing, origin=origin, direction=direction
    )
    ijk = np.indices(shape_kji).reshape(3, -1)[::-1].T.astype(float)
    lps = probe.index_to_physical(ijk)
    gradient = np.array([3.0, -2.0, 5.0])  # HU / mm
    field = (lps @ gradient + 100.0).reshape(shape_kji).astype(np.float64)
    vol = probe.with_array(field)
    rng = np.random.default_rng(0)
    inner = vol.index_to_physical(rng.uniform(0, 1, (500, 3)) * (np.array(vol.shape_ijk) - 1))
    np.testing.assert_allclose(vol.sample(inner), inner @ gradient + 100.0, atol=1e-9)
    outside = vol.index_to_physical(np.array([[-0.6, 0, 0], [0, 0, shape_kji[0] - 0.4]]))
    assert np.isnan(vol.sample(outside)).all()


def test_non_finite_voxels_are_interpolated_as_scipy_does():
    array = np.zeros((3, 3, 3))
    array[1, 1, 1] = np.nan
    vol = Volume.from_array(array)
    pts = np.array([[1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    coords = vol.physical_to_index(pts)[:, ::-1].T
    expected = ndimage.map_coordinates(array, coords, order=1, mode="nearest", output=np.float64)
    np.testing.assert_array_equal(np.isnan(vol.sample(pts)), np.isnan(expected))


@pytest.mark.parametrize("dtype", [bool, np.int16])
def test_masks_and_integer_ct_sample_without_a_float_copy(dtype):
    array = np.zeros((4, 4, 4), dtype=dtype)
    array[2:, :, :] = 1
    vol = Volume.from_array(array)
    np.testing.assert_allclose(vol.sample([[0, 0, 1.5], [0, 0, 1.25]]), [0.5, 0.25])
