"""Geometry primitives against hand-worked answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bonequality import GeometryError, Volume
from bonequality.geometry import Line, Plane, circle_through, closest_points, orthonormal_frame
from bonequality.imaging.rays import bone_exit, first_sustained_run
from bonequality.phantoms import oblique_direction


def test_circle_through_right_triangle():
    # Thales: the hypotenuse of a right triangle is a diameter.
    c = circle_through([0, 0, 0], [6, 0, 0], [0, 8, 0])
    np.testing.assert_allclose(c.center, [3, 4, 0], atol=1e-12)
    assert c.radius == pytest.approx(5.0)
    np.testing.assert_allclose(np.abs(c.normal), [0, 0, 1], atol=1e-12)


def test_circle_through_tilted_points():
    # Points on a circle of radius 7 about (1, 2, 3) in a tilted plane.
    u = np.array([1.0, 1.0, 0.0]) / np.sqrt(2)
    v = np.array([0.0, 0.0, 1.0])
    centre = np.array([1.0, 2.0, 3.0])
    pts = [centre + 7 * (np.cos(a) * u + np.sin(a) * v) for a in (0.1, 2.0, 4.0)]
    c = circle_through(*pts)
    np.testing.assert_allclose(c.center, centre, atol=1e-10)
    assert c.radius == pytest.approx(7.0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=9, max_size=9))
def test_circumcentre_is_equidistant(xs):
    a, b, c = np.array(xs).reshape(3, 3)
    try:
        circ = circle_through(a, b, c)
    except GeometryError:
        return
    d = [np.linalg.norm(circ.center - p) for p in (a, b, c)]
    np.testing.assert_allclose(d, circ.radius, rtol=1e-6, atol=1e-6)


def test_collinear_and_coincident_points_are_errors():
    with pytest.raises(GeometryError, match="P, Q, R"):
        circle_through([0, 0, 0], [1, 1, 1], [2, 2, 2], names=("P", "Q", "R"))
    with pytest.raises(GeometryError):
        circle_through([0, 0, 0], [0, 0, 0], [1, 0, 0])
    with pytest.raises(GeometryError, match="zero length"):
        Line.through([1, 2, 3], [1, 2, 3], names=("A", "B"))
    with pytest.raises(GeometryError):
        Plane.from_points([0, 0, 0], [1, 0, 0], [2, 0, 0])


def test_closest_points_of_skew_lines():
    # x-axis, and a line parallel to y through (0, 0, 5): common perpendicular along z.
    l1 = Line(np.array([0.0, 0, 0]), np.array([1.0, 0, 0]))
    l2 = Line.through([3, -4, 5], [3, 10, 5])
    p1, p2, gap = closest_points(l1, l2)
    np.testing.assert_allclose(p1, [3, 0, 0], atol=1e-12)
    np.testing.assert_allclose(p2, [3, 0, 5], atol=1e-12)
    assert gap == pytest.approx(5.0)
    # Intersecting lines: gap 0 at the crossing.
    p1, p2, gap = closest_points(Line.through([0, 0, 0], [2, 2, 0]), Line.through([2, 0, 0], [0, 2, 0]))
    np.testing.assert_allclose(p1, [1, 1, 0], atol=1e-12)
    assert gap == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(GeometryError, match="parallel"):
        closest_points(l1, Line.through([0, 1, 0], [5, 1, 0]), names=("line A", "line B"))


def test_line_and_plane_projections():
    line = Line.through([0, 0, 0], [0, 0, 10])
    assert line.distance([3, 4, 7]) == pytest.approx(5.0)
    assert line.parameter([3, 4, 7]) == pytest.approx(7.0)
    plane = Plane.from_points([0, 0, 2], [1, 0, 2], [0, 1, 2])
    assert abs(plane.signed_distance([5, 5, 7])) == pytest.approx(5.0)
    np.testing.assert_allclose(plane.intersect(Line.through([1, 1, 0], [1, 1, 1])), [1, 1, 2])
    np.testing.assert_allclose(plane.project_vector([1, 2, 3]), [1, 2, 0])
    u, v, w = orthonormal_frame([0, 0, 2])
    np.testing.assert_allclose(np.array([u, v, w]) @ np.array([u, v, w]).T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.cross(u, v), w, atol=1e-12)


def test_first_sustained_run():
    b = np.array([0, 1, 1, 0, 1, 1, 1, 1, 0, 1], dtype=bool)
    assert first_sustained_run(b, 3) == 4
    assert first_sustained_run(b, 5) == 9  # truncated run at the end counts
    assert first_sustained_run(b, 5, allow_truncated=False) == -1
    assert first_sustained_run(np.zeros(5, bool), 1) == -1


def _slab_volume(direction=None, spacing=(0.5, 0.5, 0.5)):
    """Bone (1000 HU) for x in [-10, 10] with a 3 mm gap (0 HU) at x in [4, 7]; soft tissue elsewhere."""
    direction = np.eye(3) if direction is None else direction
    n = np.ceil(np.array([60, 20, 20]) / np.asarray(spacing)).astype(int)
    origin = -direction @ ((n - 1) / 2 * np.asarray(spacing))
    vol = Volume(np.zeros(n[::-1], np.float32), spacing, origin, direction)
    kk, jj, ii = np.meshgrid(*[np.arange(s) for s in n[::-1]], indexing="ij")
    x = vol.index_to_physical(np.stack([ii, jj, kk], -1))[..., 0]
    hu = np.where((np.abs(x) <= 10) & ~((x > 4) & (x < 7)), 1000.0, 0.0)
    return vol.with_array(hu.astype(np.float32))


def _ray_exit(vol, start, direction, *, threshold, min_run_mm=5.0, step_mm=0.25):
    """Sample the ray over the image diagonal with ``Volume.sample`` and find its first bone exit."""
    lo, hi = vol.physical_bounds()
    t = np.arange(int(np.ceil(np.linalg.norm(hi - lo) / step_mm)) + 1) * step_mm
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    hu = vol.sample(np.asarray(start, float) + t[:, None] * d)
    return bone_exit(t, hu, threshold, min_run_mm=min_run_mm)


@pytest.mark.parametrize("oblique", [False, True])
def test_bone_exit_skips_short_gaps_and_finds_outer_surface(oblique):
    spacing = (0.5, 0.6, 0.8) if oblique else (0.5, 0.5, 0.5)
    vol = _slab_volume(oblique_direction() if oblique else None, spacing)
    ex = _ray_exit(vol, [0, 0, 0], [1, 0, 0], threshold=500, min_run_mm=5)
    # The 3 mm gap is shorter than 5 mm; the exit is the outer surface at x = 10 (voxel-edge tolerance).
    assert not ex.at_image_edge
    assert ex.t == pytest.approx(10.0, abs=0.5)
    # With a 2 mm minimum run the gap counts as leaving bone.
    ex2 = _ray_exit(vol, [0, 0, 0], [1, 0, 0], threshold=500, min_run_mm=2)
    assert ex2.t == pytest.approx(4.0, abs=0.5)


def test_bone_exit_at_the_image_edge_and_without_bone():
    vol = _slab_volume()
    arr = np.full(vol.array.shape, 1000, np.float32)
    # Still in bone where the ray leaves the image (x = 30 mm): the exit is not seen.
    ex = _ray_exit(vol.with_array(arr), [0, 0, 0], [1, 0, 0], threshold=500)
    assert ex.at_image_edge
    assert ex.t == pytest.approx(30.0, abs=0.5)
    assert _ray_exit(vol.with_array(arr * 0), [0, 0, 0], [1, 0, 0], threshold=500) is None
