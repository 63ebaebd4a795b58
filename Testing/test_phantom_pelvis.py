"""Pelvis phantom: the truth agrees with the image, on isotropic, anisotropic and oblique grids."""

from __future__ import annotations

import numpy as np
import pytest

from bonequality.geometry import Line, closest_points
from bonequality.landmarks import required_labels
from bonequality.phantoms import ANISOTROPIC_SPACING, make_phantom, oblique_direction
from bonequality.phantoms.pelvis import EDGE_MM, make_pelvis, pelvis_hu, pelvis_landmarks


@pytest.fixture(scope="module")
def normal():
    return make_pelvis()


@pytest.fixture(scope="module")
def oblique_aniso():
    return make_pelvis(spacing=ANISOTROPIC_SPACING, direction=oblique_direction())


@pytest.fixture(scope="module")
def osteo():
    return make_pelvis(osteoporotic=True, spacing=(1.5, 1.5, 1.5))


def _known(phantom):
    names = list(phantom.truth["known_points_lps"])
    pts = np.array([phantom.truth["known_points_lps"][n] for n in names])
    expected = np.array([phantom.truth["hu"][n] for n in names])
    return names, pts, expected


def test_sampled_hu_at_known_points_matches_truth(normal):
    names, pts, expected = _known(normal)
    got = normal.volume.sample(pts)
    np.testing.assert_allclose(got, expected, atol=1.0, err_msg=str(names))


def test_analytic_function_matches_truth_table(normal):
    names, pts, expected = _known(normal)
    np.testing.assert_allclose(pelvis_hu(pts), expected, atol=1e-3, err_msg=str(names))


def test_every_required_landmark_is_present_and_inside(normal):
    labels = required_labels("corridors", "sacroplasty")
    normal.landmarks.validate(labels, volume=normal.volume)
    assert set(labels) <= set(normal.truth["landmarks_lps"])


def test_osteoporotic_l5_and_sacrum_are_lower(osteo, normal):
    l5 = osteo.truth["landmarks_lps"]["L5_body_center"]
    assert osteo.volume.sample(np.array([l5]))[0] <= 100
    assert osteo.truth["l5"]["group"] == "L5 <= 100 HU"
    assert normal.truth["l5"]["group"] == "L5 > 100 HU"
    lower = osteo.truth["hu"]
    for name in ("S1_trabecular", "S2_trabecular", "alar_trabecular", "ilium_trabecular"):
        assert lower[name] < normal.truth["hu"][name], name


def test_oblique_anisotropic_variant_samples_the_same_anatomy(normal, oblique_aniso):
    assert not np.allclose(oblique_aniso.volume.direction, np.eye(3))
    _, pts, expected = _known(normal)
    # thin cortex (2.5 mm) on 1.6 mm slices: trilinear reaches the ramps, hence rtol
    np.testing.assert_allclose(oblique_aniso.volume.sample(pts), expected, atol=1.0, rtol=0.005)
    # Random points where the analytic HU is constant within 2.5 mm (away from edges):
    # both grids must reproduce it.
    rng = np.random.default_rng(0)
    p = rng.uniform((-100, -20, -60), (100, 40, 50), size=(4000, 3))
    f = pelvis_hu(p)
    offsets = np.concatenate([np.eye(3), -np.eye(3)]) * 2.5
    stable = np.all([np.abs(pelvis_hu(p + o) - f) < 1e-3 for o in offsets], axis=0)
    assert stable.sum() > 1000
    # (the distance bound of ellipses is not a unit-gradient distance, so a rare point
    # sits on a ramp wider than 2.5 mm; allow 1 in 100)
    for ph in (normal, oblique_aniso):
        err = np.abs(ph.volume.sample(p[stable]) - f[stable])
        assert np.mean(err <= 1.0) > 0.99
        assert err.max() < 5.0


def test_ilium_outer_cortex_surface_is_where_the_truth_entry_is(normal):
    truth = normal.truth["s1"]
    c1 = np.array(truth["C1"])
    for side in ("L", "R"):
        entry = np.array(truth[f"entry_{side}"])
        d = np.array(truth[f"direction_{side}"])
        inside = normal.volume.sample(entry - (EDGE_MM / 2 + 0.6) * d[None])[0]
        outside = normal.volume.sample(entry + (EDGE_MM / 2 + 0.6) * d[None])[0]
        assert inside > 900
        assert abs(outside - normal.truth["hu"]["soft_tissue"]) < 1
        mid = normal.volume.sample(entry[None])[0]
        half = (normal.truth["hu"]["ilium_cortex"] + normal.truth["hu"]["soft_tissue"]) / 2
        assert abs(mid - half) < 80  # on the ramp's midpoint, up to trilinear error
        assert np.dot(entry - c1, d) > 90


def test_s1_segment_quadrilateral_diagonals_cross_inside_bone(normal):
    lm = normal.truth["landmarks_lps"]
    line_a = Line.through(lm["S1_corner_PS"], lm["S1_corner_AI"])
    line_b = Line.through(lm["S1_corner_AS"], lm["S1_corner_PI"])
    p1, _, gap = closest_points(line_a, line_b)
    assert gap < 1e-6
    assert normal.volume.sample(p1[None])[0] >= normal.truth["hu"]["S1_trabecular"] - 1
    # The anterior sacral cortex lies in front (anterior = -y) of the anterior corners.
    ant = np.array(lm["S1_corner_AS"]) + np.array([0.0, 1.0, -15.0])
    ray = ant + np.arange(0, 12, 0.25)[:, None] * np.array([0.0, -1.0, 0.0])
    hu = normal.volume.sample(ray)
    assert hu.max() >= normal.truth["hu"]["body_cortex"] - 50
    assert hu[-1] == pytest.approx(normal.truth["hu"]["soft_tissue"], abs=1)


def test_s2_truth_circumcentres_and_no_shift(normal):
    s2 = normal.truth["s2"]
    assert s2["ventral_clearance_mm"] > 7.0
    assert s2["ventral_shift_mm"] == 0.0
    lm = normal.truth["landmarks_lps"]
    for side in ("L", "R"):
        m = np.array(s2[f"M_{side}"])
        radii = [
            np.linalg.norm(m - np.array(lm[f"{n}_{side}"]))
            for n in ("S1_foramen_inf", "S2_foramen_sup", "S2_body_ventral")
        ]
        np.testing.assert_allclose(radii, s2[f"circle_radius_{side}"], atol=1e-9)


def test_make_phantom_registry_and_json_truth(tmp_path):
    import json

    from bonequality.phantoms import write_phantom

    ph = make_phantom("pelvis", spacing=(2.0, 2.0, 2.0))
    paths = write_phantom(ph, tmp_path / "p.nrrd")
    truth = json.loads(paths["truth"].read_text())
    assert truth["phantom"] == "pelvis"
    assert truth["l5"]["trabecular_mean_hu"] == 180.0
    assert len(truth["s1"]["entry_L"]) == 3


# ---------------------------------------------------------------------------- sacral tilt
TILT = 30.0


@pytest.fixture(scope="module")
def tilted_oblique():
    """The tilted phantom (sacral slope 30 degrees) on the anisotropic, oblique grid."""
    return make_pelvis(sacral_tilt_deg=TILT, spacing=ANISOTROPIC_SPACING, direction=oblique_direction())


def test_default_is_upright_and_zero_tilt_is_the_same_phantom():
    a = make_pelvis(spacing=(3.0, 3.0, 3.0))
    b = make_pelvis(sacral_tilt_deg=0.0, spacing=(3.0, 3.0, 3.0))
    assert np.array_equal(a.volume.array, b.volume.array)
    np.testing.assert_array_equal(a.volume.origin, b.volume.origin)
    assert a.truth["frame"]["sacral_tilt_deg"] == 0.0
    np.testing.assert_array_equal(a.truth["frame"]["rotation_lps_from_anatomical"], np.eye(3))


def test_tilt_is_a_rigid_rotation_about_the_x_axis_through_the_pivot(tilted_oblique):
    frame = tilted_oblique.truth["frame"]
    r = np.array(frame["rotation_lps_from_anatomical"])
    pivot = np.array(frame["pivot_lps"])
    a = np.deg2rad(TILT)
    np.testing.assert_allclose(
        r, [[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]], atol=1e-15
    )
    # Landmarks: the upright ones rotated about the pivot.
    upright = pelvis_landmarks()
    for label, p in tilted_oblique.landmarks.items():
        np.testing.assert_allclose(p, r @ (upright[label] - pivot) + pivot, atol=1e-12, err_msg=label)
    # The function: the upright function at R^T (p - pivot) + pivot.
    rng = np.random.default_rng(1)
    p = rng.uniform((-110, -60, -70), (110, 90, 70), size=(5000, 3))
    np.testing.assert_allclose(
        pelvis_hu(p, sacral_tilt_deg=TILT), pelvis_hu((p - pivot) @ r + pivot), atol=1e-3
    )
    # Sacral slope: the S1 endplate faces antero-superiorly; AS below PS by 30 sin(30) = 15 mm.
    lm = tilted_oblique.landmarks
    slope = np.rad2deg(
        np.arctan2(
            lm["S1_corner_PS"][2] - lm["S1_corner_AS"][2], lm["S1_corner_PS"][1] - lm["S1_corner_AS"][1]
        )
    )
    assert slope == pytest.approx(TILT, abs=1e-9)
    assert lm["S1_corner_PS"][2] - lm["S1_corner_AS"][2] == pytest.approx(15.0, abs=1e-9)
    # The S1 corners' centre is the pivot, so the sacroplasty target T does not move.
    np.testing.assert_allclose(
        np.mean([lm[c] for c in ("S1_corner_PS", "S1_corner_AS", "S1_corner_PI", "S1_corner_AI")], axis=0),
        pivot,
        atol=1e-12,
    )


def test_tilted_image_samples_the_truth(tilted_oblique):
    ph = tilted_oblique
    ph.landmarks.validate(required_labels("corridors", "sacroplasty"), volume=ph.volume)
    names, pts, expected = _known(ph)
    np.testing.assert_allclose(pelvis_hu(pts, sacral_tilt_deg=TILT), expected, atol=1e-3, err_msg=str(names))
    # Trilinear sampling on 1.6 mm slices reads each material's plateau, except in the middle of
    # the 2.5 mm iliac cortex, whose plateau (1.5 mm between the 1 mm ramps) is narrower than
    # the slice: there the tilted cortex crosses the slices obliquely and reads ~1088 HU.
    got = dict(zip(names, ph.volume.sample(pts)))
    for name, value in zip(names, expected):
        assert got[name] == pytest.approx(value, abs=15.0 if name == "ilium_cortex" else 1.0), name
    # The L5 trabecular core, given in the anatomical frame: its centre and points 1 mm inside
    # its edges, mapped to LPS, read the L5 trabecular HU.
    core = ph.truth["l5"]["trabecular_core"]
    assert core["frame"] == "anatomical"
    r = np.array(ph.truth["frame"]["rotation_lps_from_anatomical"])
    pivot = np.array(ph.truth["frame"]["pivot_lps"])
    (cx, cy), (ax, ay), (z0, z1) = core["center_xy"], core["semi_axes_xy_mm"], core["z_range_mm"]
    inner = np.array(
        [
            [cx, cy, (z0 + z1) / 2],
            [cx + ax - 2.5, cy, z0 + 2.5],
            [cx, cy - ay + 2.5, z1 - 2.5],
            [cx - ax + 2.5, cy, z1 - 2.5],
            [cx, cy + ay - 2.5, z0 + 2.5],
        ]
    )
    lps = (inner - pivot) @ r.T + pivot
    np.testing.assert_allclose(lps[0], ph.truth["l5"]["center"], atol=1e-9)
    np.testing.assert_allclose(ph.volume.sample(lps), ph.truth["hu"]["L5_trabecular"], atol=1.0)
    np.testing.assert_allclose(core["axis_lps"], r[:, 2], atol=1e-15)


def test_tilted_entries_are_on_the_outer_iliac_cortex(tilted_oblique):
    ph = tilted_oblique
    half = (ph.truth["hu"]["ilium_cortex"] + ph.truth["hu"]["soft_tissue"]) / 2
    for corridor, start in (("s1", ph.truth["s1"]["C1"]), ("s2", None)):
        t = ph.truth[corridor]
        for side in ("L", "R"):
            entry = np.array(t[f"entry_{side}"])
            if start is None:
                d = (entry - np.array(t["entry_R" if side == "L" else "entry_L"])) / t["length_mm"]
            else:
                d = np.array(t[f"direction_{side}"])
            # analytic: the ramp's midpoint is exactly at the entry, bone inside, soft tissue outside
            hu = pelvis_hu(
                entry + np.outer([-(EDGE_MM / 2 + 0.6), 0.0, EDGE_MM / 2 + 0.6], d), sacral_tilt_deg=TILT
            )
            assert hu[0] > 900
            assert hu[1] == pytest.approx(half, abs=0.01)  # float32 evaluation
            assert hu[2] == pytest.approx(ph.truth["hu"]["soft_tissue"], abs=1e-3)
    np.testing.assert_allclose(np.array(ph.truth["s1"]["C1"])[0], 0.0, atol=1e-12)
