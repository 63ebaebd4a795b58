"""The thermal overlay colours the bone inside its cortex, fatty marrow included (CLINICAL.md section 2).

Block sacrum phantom (:mod:`bonequality.phantoms.sacrum_block`, analytic): a 2 mm cortical
shell (800 HU) around cancellous bone at 250 HU or fatty marrow at -30 HU, both below the
per-scan bone threshold, in 40 HU soft tissue; on an anisotropic grid and an oblique
anisotropic one. Truth: every voxel whose centre lies at least 3 mm inside the block
(past the shell and its 1 mm edge ramp) shows its own CT value; every voxel at least 3 mm
outside it shows nothing. The old overlay (HU above the bone threshold only) failed the
first for both marrows: only the shell was coloured.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bonequality.colors import THERMAL_RANGE_HU
from bonequality.corridors import report
from bonequality.corridors.overlay import OUTSIDE_HU, ThermalOverlay, thermal_overlay
from bonequality.imaging.envelope import SACRUM_MASK, Envelope, cortical_envelope
from bonequality.imaging.grid import voxel_points
from bonequality.imaging.threshold import bone_threshold
from bonequality.phantoms import oblique_direction
from bonequality.phantoms.sacrum_block import BLOCK, block_landmarks, make_sacrum_block

GRIDS = {
    "aniso": ((0.7, 0.9, 1.2), None),
    "oblique": ((0.8, 1.0, 1.2), "oblique"),
}
THRESHOLD_HU = 400.0  # between the marrow and the 800 HU shell, as the per-scan threshold is


@functools.cache
def block(cancellous_hu: float, grid: str):
    spacing, direction = GRIDS[grid]
    return make_sacrum_block(
        cancellous_hu=cancellous_hu,
        spacing=spacing,
        direction=oblique_direction() if direction else None,
    ).volume


def depth_inside_block(points: np.ndarray) -> np.ndarray:
    """Signed distance (mm) into the block: > 0 inside, < 0 outside (exact box distance)."""
    lo, hi = (np.asarray(b, dtype=float) for b in BLOCK)
    inside = np.minimum(points - lo, hi - points).min(axis=-1)
    outside = -np.linalg.norm(np.maximum(np.maximum(lo - points, points - hi), 0.0), axis=-1)
    return np.where(inside > 0, inside, outside)


def landmark_points(depth_mm: float = 30.0) -> np.ndarray:
    lm = block_landmarks(depth_mm)
    return np.array([lm[k] for k in lm])


PHANTOMS = [(hu, grid) for hu in (250.0, -30.0) for grid in GRIDS]
IDS = [f"{'fatty' if hu < 0 else 'cancellous'}-{grid}" for hu, grid in PHANTOMS]


@pytest.mark.parametrize(("hu", "grid"), PHANTOMS, ids=IDS)
def test_overlay_shows_the_ct_inside_the_cortex_and_nothing_outside(hu, grid):
    ct = block(hu, grid)
    overlay = ThermalOverlay()
    assert overlay.update(ct, THRESHOLD_HU, landmark_points())
    vol = overlay.volume
    assert vol.array.dtype == np.int16
    np.testing.assert_allclose(vol.spacing, ct.spacing)
    np.testing.assert_allclose(vol.direction, ct.direction)
    pts = voxel_points(vol, np.ones(vol.array.shape, dtype=bool))
    values = vol.array.reshape(-1)
    depth = depth_inside_block(pts)
    deep = depth >= 3.0
    # Inside: every voxel shows its own CT value (the overlay lies on the CT's grid).
    assert np.all(values[deep] != OUTSIDE_HU), (
        f"{np.mean(values[deep] == OUTSIDE_HU):.3%} of the marrow blank"
    )
    np.testing.assert_allclose(values[deep], hu, atol=0.5)
    ct_values = ct.sample(pts[deep][::97], order=0)
    np.testing.assert_allclose(values[deep][::97], np.rint(ct_values), atol=0)
    # Outside the block (soft tissue, air): nothing.
    assert np.all(values[depth <= -3.0] == OUTSIDE_HU)
    # A crop around the bone, not a copy of the CT.
    assert vol.array.size < 0.6 * ct.array.size


@pytest.mark.parametrize("grid", list(GRIDS))
def test_overlay_is_kept_while_landmarks_move_a_little_and_rebuilt_when_they_leave(grid):
    ct = block(-30.0, grid)
    overlay = ThermalOverlay(margin_mm=20.0)
    pts = landmark_points()
    assert overlay.update(ct, THRESHOLD_HU, pts)
    first = overlay.volume
    moved = pts.copy()
    moved[0] += (5.0, 0.0, 0.0)  # a 5 mm drag: within half the margin
    assert not overlay.update(ct, THRESHOLD_HU, moved)
    assert overlay.volume is first
    moved[0] += (0.0, 0.0, 25.0)  # 25 mm further: outside the box the envelope was built in
    assert overlay.update(ct, THRESHOLD_HU, moved)
    assert overlay.volume is not first
    assert overlay.update(ct, THRESHOLD_HU + 50.0, moved)  # another threshold: rebuilt


def test_a_sacrum_mask_is_the_overlay_region():
    ct = block(-30.0, "aniso")
    pts = voxel_points(ct, np.ones(ct.array.shape, dtype=bool))
    mask = (depth_inside_block(pts) > 10.0).reshape(ct.array.shape)
    overlay = ThermalOverlay()
    assert overlay.update(ct, THRESHOLD_HU, landmark_points(), sacrum_mask=mask)
    vol = overlay.volume
    values = vol.array.reshape(-1)
    depth = depth_inside_block(voxel_points(vol, np.ones(vol.array.shape, dtype=bool)))
    assert np.all(values[depth > 10.5] != OUTSIDE_HU)
    assert np.all(values[depth < 9.5] == OUTSIDE_HU)  # the shell is outside this mask
    assert not overlay.update(ct, THRESHOLD_HU, landmark_points(50.0), sacrum_mask=mask)


def test_an_empty_envelope_gives_a_blank_voxel():
    ct = block(250.0, "aniso")
    empty = Envelope(ct.with_array(np.zeros(ct.array.shape, dtype=bool)), source=SACRUM_MASK, name="empty")
    out = thermal_overlay(ct, empty)
    assert out.array.shape == (1, 1, 1)
    assert out.array[0, 0, 0] == OUTSIDE_HU


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spacing=st.tuples(*(st.floats(1.0, 2.5) for _ in range(3))),
    oblique=st.booleans(),
    hu=st.floats(-80.0, 300.0),
)
@example(spacing=(1.0, 2.28125, 1.0), oblique=False, hu=0.0)  # the shell split between two voxels
def test_any_grid_marrow_inside_is_shown_with_its_value(spacing, oblique, hu):
    """At the per-scan threshold the corridors use (and pass to the overlay): a fixed 400 HU
    misses the 2 mm shell where a coarse grid splits it between two voxels (313 and 288 HU
    at 2.28 mm), the per-scan threshold follows the scan (217 HU there)."""
    ct = make_sacrum_block(
        cancellous_hu=hu, spacing=spacing, direction=oblique_direction() if oblique else None
    ).volume
    threshold = bone_threshold(ct, block_landmarks(30.0))
    region = (np.array(BLOCK[0]) - 20, np.array(BLOCK[1]) + 20)
    vol = thermal_overlay(ct, cortical_envelope(ct, threshold, region=region))
    values = vol.array.reshape(-1)
    depth = depth_inside_block(voxel_points(vol, np.ones(vol.array.shape, dtype=bool)))
    deep = depth >= 2.0 + 1.5 * max(spacing)
    np.testing.assert_allclose(values[deep], hu, atol=0.5)
    assert np.all(values[depth <= -(2.0 + 1.5 * max(spacing))] == OUTSIDE_HU)


def test_one_thermal_scale_for_the_overlay_and_the_report():
    assert report.THERMAL_RANGE_HU is THERMAL_RANGE_HU
    assert THERMAL_RANGE_HU[0] > OUTSIDE_HU
