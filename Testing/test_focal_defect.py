"""Focal BMC loss (CLINICAL.md section 4, seed 004) on phantoms with answers worked by hand.

Analytic images: parallel plates (void width along orientation θ = gap / |cos θ|),
spherical voids (chord lengths), a uniform block (no voids), and the vertebra phantom
(larger voids in the defect region). Blurred edges are modelled as erf steps, so the
half-maximum crossing of an isolated edge is the edge itself.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy.special import erfc

from bonequality.errors import (
    CalibrationError,
    GeometryMismatchError,
    MaskError,
    NotCTError,
    OperationCancelled,
    OptionError,
    OutsideImageError,
)
from bonequality.focal_defect import (
    AXIAL_ANGLES_DEG,
    Calibration,
    FocalDefectInputs,
    analyze_focal_defect,
    detect_voids,
    prepare_focal_defect,
    read_phantom_inserts,
    star_line_maps,
    z_scores,
)
from bonequality.imaging import BodySource, vertebral_body
from bonequality.phantoms import ANISOTROPIC_SPACING, evaluate_on_grid, oblique_direction
from bonequality.phantoms.cemented import BODY, make_cemented_vertebra
from bonequality.phantoms.vertebra import make_vertebra
from bonequality.volume import Volume

REPO = Path(__file__).resolve().parents[1]
EDGE_SIGMA = 0.2  # mm, blur of the analytic edges
MATRIX_HU = 600.0


def _baseline():
    spec = importlib.util.spec_from_file_location("focal_baseline", REPO / "benchmarks" / "focal_baseline.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _step(signed):
    """Blurred indicator of ``signed < 0``."""
    return 0.5 * erfc(signed / (np.sqrt(2) * EDGE_SIGMA))


def _scene(texture, *, box_half, spacing=(0.5, 0.5, 0.5), direction=None, extent=None):
    """CT: ``texture`` inside a box (with a 3 mm margin), air outside; mask = the box."""
    box_half = np.asarray(box_half, dtype=float)

    def hu(p):
        inside = np.all(np.abs(p) <= box_half + 3.0, axis=1)
        return np.where(inside, texture(p), -1000.0)

    extent = 2 * box_half + 10 if extent is None else extent
    ct = evaluate_on_grid(
        hu, center=(0, 0, 0), extent_mm=extent, spacing=spacing, direction=direction, dtype=np.float32
    )
    mask = evaluate_on_grid(
        lambda p: np.all(np.abs(p) <= box_half, axis=1).astype(float),
        center=(0, 0, 0),
        extent_mm=extent,
        spacing=spacing,
        direction=direction,
        dtype=np.uint8,
    )
    return ct, mask


def _voxels_lps(vol: Volume, where: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    kk, jj, ii = np.nonzero(where)
    return (kk, jj, ii), vol.index_to_physical(np.stack([ii, jj, kk], 1))


# ----------------------------------------------------------------------------------- plates
PLATE_PERIOD, PLATE_THICK = 5.0, 2.0
GAP = PLATE_PERIOD - PLATE_THICK  # 3 mm of marrow between plates normal to x


def _plates(p):
    dx = p[:, 0] - PLATE_PERIOD * np.round(p[:, 0] / PLATE_PERIOD)
    return MATRIX_HU * _step(np.abs(dx) - PLATE_THICK / 2)


@pytest.fixture(scope="module")
def plates():
    # Box of 72 x 72 x 17 mm: ROI 60 x 60 x 5 mm after the 6 mm erosion.
    return _scene(_plates, box_half=(36, 36, 8.5))


def _gap_centre_voxels(result, *, max_y=3.0):
    (kk, jj, ii), pts = _voxels_lps(result.roi, result.roi.array)
    gap_c = PLATE_PERIOD * np.floor(pts[:, 0] / PLATE_PERIOD) + PLATE_PERIOD / 2
    sel = (np.abs(pts[:, 0] - gap_c) < 0.5) & (np.abs(pts[:, 0]) < 13) & (np.abs(pts[:, 1]) < max_y)
    return tuple(a[sel] for a in (kk, jj, ii))


@pytest.mark.parametrize("angle", [0.0, 24.0, 48.0, 72.0, 120.0, 156.0])
def test_plates_width_per_orientation_is_gap_over_cos(plates, angle):
    ct, mask = plates
    res = analyze_focal_defect(ct, mask=mask, angles_deg=(angle,))
    vox = _gap_centre_voxels(res, max_y=8.0)
    w = res.intercept_width.array[vox]
    expected = GAP / abs(np.cos(np.deg2rad(angle)))
    assert w.size > 50
    np.testing.assert_allclose(w, expected, rtol=0.02)
    # Mean BMD over the void: two erf edges of blur s leave 600*s/sqrt(2*pi) HU*mm each in the
    # void; s = sqrt(0.2^2 + 0.3^2 + resampling) is between 0.35 and 0.47 mm.
    loss = res.focal_bmd_loss.array[vox]
    lo = 1 - 2 * MATRIX_HU * 0.47 / np.sqrt(2 * np.pi) / (GAP * 1200)
    hi = 1 - 2 * MATRIX_HU * 0.35 / np.sqrt(2 * np.pi) / (GAP * 1200)
    assert lo < loss.mean() < hi
    assert np.ptp(loss) < 0.01  # stretching the profile does not change its mean
    np.testing.assert_allclose(res.focal_bmc_loss.array[vox], loss * w, rtol=1e-5)


def test_plates_mean_map_over_15_orientations(plates):
    ct, mask = plates
    res = analyze_focal_defect(ct, mask=mask)
    vox = _gap_centre_voxels(res)
    expected = np.mean([GAP / abs(np.cos(np.deg2rad(a))) for a in AXIAL_ANGLES_DEG])  # 8.06 mm
    assert expected == pytest.approx(8.06, abs=0.01)
    np.testing.assert_allclose(res.intercept_width.array[vox], expected, rtol=0.02)
    # Inside a plate, away from its edges, no orientation sees a valley.
    (kk, jj, ii), pts = _voxels_lps(res.roi, res.roi.array)
    in_plate = (np.abs(pts[:, 0] - PLATE_PERIOD * np.round(pts[:, 0] / PLATE_PERIOD)) < 0.4) & (
        np.abs(pts[:, 1]) < 10
    )
    assert np.all(res.intercept_width.array[kk[in_plate], jj[in_plate], ii[in_plate]] == 0)


# ----------------------------------------------------------------------------------- spheres
SPHERE_D, SPHERE_PERIOD = 4.0, 10.0


def _spheres(p):
    q = p - SPHERE_PERIOD * np.round(p / SPHERE_PERIOD)
    return MATRIX_HU * (1 - _step(np.linalg.norm(q, axis=1) - SPHERE_D / 2))


def test_spherical_voids_chords():
    ct, mask = _scene(_spheres, box_half=(22, 22, 9))
    res = analyze_focal_defect(ct, mask=mask)
    (kk, jj, ii), pts = _voxels_lps(res.roi, res.roi.array)
    q = pts - SPHERE_PERIOD * np.round(pts / SPHERE_PERIOD)
    off = np.hypot(q[:, 0], q[:, 1])
    phi = np.arctan2(q[:, 1], q[:, 0])
    # The half-maximum surface of a ball of radius R blurred by s lies at R - s^2 / R, with
    # s^2 = 0.2^2 (edges) + 0.3^2 (the method's smoothing), resampling neglected.
    r_eff = SPHERE_D / 2 - (EDGE_SIGMA**2 + 0.3**2) / (SPHERE_D / 2)
    r_slice = np.sqrt(np.maximum(r_eff**2 - q[:, 2] ** 2, 0))
    # Voxels within 0.2 mm of a sphere's centre: every line is a diameter.
    centre = (off < 0.2) & (np.abs(q[:, 2]) < 0.2)
    assert centre.sum() >= 4
    np.testing.assert_allclose(res.intercept_width.array[kk, jj, ii][centre], 2 * r_eff, rtol=0.02)
    loss = res.focal_bmd_loss.array[kk, jj, ii][centre]
    assert np.all((loss > 0.94) & (loss < 0.98))
    # Voxels 0.8-1.2 mm off-centre in the sphere's central plane: chord 2 sqrt(R^2 - r^2 sin^2(θ - φ)).
    ring = (off > 0.8) & (off < 1.2) & (np.abs(q[:, 2]) < 0.2)
    th = np.deg2rad(np.asarray(AXIAL_ANGLES_DEG))[None, :]
    chords = 2 * np.sqrt(r_slice[ring, None] ** 2 - (off[ring, None] * np.sin(th - phi[ring, None])) ** 2)
    np.testing.assert_allclose(res.intercept_width.array[kk, jj, ii][ring], chords.mean(axis=1), rtol=0.02)


def test_uniform_block_has_no_voids():
    ct, mask = _scene(lambda p: np.full(len(p), 300.0), box_half=(12, 12, 10))
    res = analyze_focal_defect(ct, mask=mask)
    for m in (res.focal_bmc_loss, res.focal_bmd_loss, res.intercept_width):
        assert not np.any(m.array)
    s = res.summary
    assert s.focal_bmc_loss_mm == s.focal_bmd_loss == s.intercept_width_mm == 0
    assert s.void_fraction == 0
    assert s.bmd_mg_cm3 == pytest.approx(300.0, abs=0.5)


# ----------------------------------------------------------------------------------- vertebra
@pytest.fixture(scope="module")
def vertebra_iso():
    ph = make_vertebra()
    return ph, analyze_focal_defect(ph.volume, mask=ph.masks["body"])


def test_defect_region_has_higher_focal_bmc_loss(vertebra_iso):
    ph, res = vertebra_iso
    (kk, jj, ii), pts = _voxels_lps(res.roi, res.roi.array)
    cx, cy = ph.truth["defect_region"]["center_xy_mm"]
    r = np.hypot(pts[:, 0] - cx, pts[:, 1] - cy)
    inside, outside = (
        r < ph.truth["defect_region"]["radius_mm"] - 1,
        r > ph.truth["defect_region"]["radius_mm"] + 1,
    )
    bmc = res.focal_bmc_loss.array[kk, jj, ii]
    width = res.intercept_width.array[kk, jj, ii]
    assert bmc[inside].mean() > 1.8 * bmc[outside].mean()
    assert width[inside].mean() > 1.5 * width[outside].mean()
    # At void centres every line is a diameter: the widths are the void diameters (1.5 and
    # 3.0 mm) narrowed by the blur (the half-maximum contour of a blurred disc lies inside it).
    for voids, region in (("background_voids", outside), ("defect_voids", inside)):
        per, dia = ph.truth[voids]["period_mm"], ph.truth[voids]["diameter_mm"]
        q = pts[:, :2] - per * np.round(pts[:, :2] / per)
        centre = region & (np.hypot(q[:, 0], q[:, 1]) < 0.2)
        assert 0.75 * dia < np.median(width[centre]) < dia
    s = res.summary
    assert s.roi_volume_ml == pytest.approx(ph.truth["roi_after_6mm_erosion"]["volume_ml"], rel=0.06)
    assert not s.calibrated
    assert "uncalibrated" in s.bmd_units
    assert s.focal_bmc_loss_mm_void > s.focal_bmc_loss_mm > 0


@pytest.mark.parametrize(
    ("spacing", "oblique"),
    [(ANISOTROPIC_SPACING, False), ((0.5, 0.5, 0.5), True), ((0.5, 0.5, 1.25), True)],
    ids=["anisotropic", "oblique", "anisotropic-oblique"],
)
def test_anisotropic_and_oblique_match_isotropic(vertebra_iso, spacing, oblique):
    _, ref = vertebra_iso
    ph = make_vertebra(spacing=spacing, direction=oblique_direction() if oblique else None)
    res = analyze_focal_defect(ph.volume, mask=ph.volume.with_array(ph.masks["body"]))
    for key in ("focal_bmc_loss_mm", "focal_bmd_loss", "intercept_width_mm", "bmd_mg_cm3"):
        assert getattr(res.summary, key) == pytest.approx(getattr(ref.summary, key), rel=0.02), key
    # The maps live on a patient-aligned grid whatever the input direction.
    np.testing.assert_allclose(res.roi.direction, np.eye(3))
    np.testing.assert_allclose(res.roi.spacing, 0.3)


def test_fast_maps_match_per_voxel_baseline():
    ph = make_vertebra()
    prep = prepare_focal_defect(ph.volume, mask=ph.masks["body"])
    roi = prep.roi.array.copy()
    k = np.flatnonzero(roi.any(axis=(1, 2)))
    keep = k[len(k) // 2]
    roi[:keep] = False
    roi[keep + 1 :] = False  # one slice: the axial lines only ever see their own slice
    fast = star_line_maps(prep.bmd.array, roi)
    vox = np.argwhere(roi)
    sel = vox[np.random.default_rng(1).choice(len(vox), 250, replace=False)]
    _, slow = _baseline().baseline_maps(prep.bmd.array, roi, voxels=sel)
    for f, b in zip(fast, slow):
        fv = f[tuple(sel.T)]
        # The same ROI means; voxel values differ only where a void edge passes between the
        # voxel's own line and the nearest row of the rotated grid (<= 0.15 mm apart).
        assert fv.mean() == pytest.approx(b.mean(), rel=0.02)
        assert np.corrcoef(fv, b)[0, 1] > 0.985
        assert np.median(np.abs(fv - b)) < 0.05 * b.mean()


# ----------------------------------------------------------------------------------- voids
def test_detect_voids_worked_profiles():
    nan = np.nan
    v = detect_voids(np.array([nan, 10, 10, 0, 0, 10, 10, nan]), 1.0)
    assert v.left.tolist() == [2.5]
    assert v.right.tolist() == [4.5]
    assert v.width.tolist() == [2.0]
    # Area under the profile between the crossings: two triangles of 0.5 x 5 / 2.
    assert v.bmd_loss[0] == pytest.approx((1200 - 2.5 / 2) / 1200)
    assert v.bmc_loss[0] == pytest.approx(2 * (1200 - 1.25) / 1200)
    # Different maxima: levels 0.5*(20+0) on the left, 0.5*(10+0) on the right.
    v = detect_voids(np.array([nan, 20, 0, 10, nan]), 0.3)
    assert v.left[0] == pytest.approx(1.5)
    assert v.right[0] == pytest.approx(2.5)
    assert v.width[0] == pytest.approx(0.3)
    # A valley open at a profile end is no void; a profile that rises to its end is.
    assert detect_voids(np.array([nan, 10, 5, 0, nan]), 1.0).width.size == 0
    assert detect_voids(np.array([nan, 0, 5, 10, nan, 3, 3, 3, nan]), 1.0).width.size == 0
    assert detect_voids(np.array([nan, 10, 0, 10, nan, 10, 0, 10, nan]), 1.0).width.tolist() == [1.0, 1.0]


# ----------------------------------------------------------------------------------- calibration
def test_calibration_from_phantom_inserts(tmp_path):
    ph = make_vertebra()
    cal_truth = ph.truth["calibration"]
    path = tmp_path / "inserts.json"
    import json

    path.write_text(json.dumps({"inserts": ph.truth["calibration_inserts"]}))
    cal = read_phantom_inserts(path)
    assert cal.slope == pytest.approx(cal_truth["slope"])
    assert cal.intercept == pytest.approx(cal_truth["intercept"])
    assert cal.r_squared == pytest.approx(1.0)
    # Measured in the image (HU means in spheres) instead of given.
    measured = [
        {k: e[k] for k in ("density_mg_cm3", "center_lps", "radius_mm")}
        for e in ph.truth["calibration_inserts"]
    ]
    for e in measured:
        e["radius_mm"] = 2.5
    path.write_text(json.dumps({"inserts": measured}))
    cal2 = read_phantom_inserts(path, volume=ph.volume)
    assert cal2.slope == pytest.approx(cal_truth["slope"], rel=0.01)
    assert cal2.intercept == pytest.approx(cal_truth["intercept"], abs=1.0)
    assert cal2.r_squared > 0.999


def test_calibrated_bmd_is_linear_in_hu(vertebra_iso):
    ph, ref = vertebra_iso
    res = analyze_focal_defect(ph.volume, mask=ph.masks["body"], calibration=(0.8, -16.0))
    s = res.summary
    assert s.calibrated
    assert s.bmd_units == "mg/cm3 HA"
    assert s.bmd_mg_cm3 == pytest.approx(0.8 * ref.summary.bmd_mg_cm3 - 16.0, rel=1e-4)
    # Denser-looking BMD scale changes losses but not where the voids are.
    assert s.void_fraction == pytest.approx(ref.summary.void_fraction, abs=0.01)
    assert s.focal_bmd_loss > ref.summary.focal_bmd_loss
    # Only the scale-free intercept width compares with seed 004 without a calibration.
    assert {r["key"]: r["comparable"] for r in ref.summary.reference} == {
        "focal_bmc_loss_mm": False,
        "focal_bmd_loss": False,
        "intercept_width_mm": True,
        "bmd_mg_cm3": False,
    }
    assert all(r["comparable"] for r in s.reference)
    # The half-maximum levels are invariant under a linear calibration: same widths.
    assert s.intercept_width_mm == pytest.approx(ref.summary.intercept_width_mm, rel=1e-4)


@pytest.mark.parametrize(
    ("hu", "dens"),
    [
        ([100.0], [50.0]),
        ([100.0, 100.0], [0.0, 100.0]),
        ([0.0, 100.0, 200.0], [200.0, 100.0, 0.0]),
        ([0.0, np.nan], [0.0, 100.0]),
        ([0.0, 100.0, 200.0, 300.0], [0.0, 300.0, 0.0, 300.0]),
    ],
)
def test_bad_inserts_raise(hu, dens):
    with pytest.raises(CalibrationError, match="phantom inserts"):
        Calibration.from_inserts(hu, dens)


def test_bad_slope_raises():
    with pytest.raises(CalibrationError, match="slope"):
        Calibration.from_slope_intercept(0.0, 3.0)


def test_z_scores_worked():
    z = z_scores({"focal_bmc_loss_mm": 1.03, "bmd_mg_cm3": 124.0})
    assert z["focal_bmc_loss_mm"]["vs_fracture"] == pytest.approx(0.0)
    assert z["focal_bmc_loss_mm"]["vs_control"] == pytest.approx((1.03 - 0.93) / 0.11)
    assert z["bmd_mg_cm3"]["vs_fracture"] == pytest.approx((124 - 78) / 40)
    assert set(z) == {"focal_bmc_loss_mm", "bmd_mg_cm3"}


# ----------------------------------------------------------------------------------- inputs and errors
def _small_block(box_half, spacing=(0.5, 0.5, 0.5)):
    return _scene(lambda p: np.full(len(p), 300.0), box_half=box_half, spacing=spacing, extent=(40, 40, 40))


def test_roi_empty_after_erosion():
    # A 9 ml slab (a plausible body volume, bonequality.masks.PLAUSIBLE_ML) only 10 mm thick.
    ct, mask = _small_block((15, 15, 5))
    with pytest.raises(MaskError, match="empty after the 6 mm erosion"):
        analyze_focal_defect(ct, mask=mask)


def test_roi_too_small_after_erosion():
    # An 11.7 ml slab 13 mm thick: 0.29 ml are left after the 6 mm erosion.
    ct, mask = _small_block((15, 15, 6.5))
    with pytest.raises(MaskError, match=r"only 0\.\d+ ml"):
        analyze_focal_defect(ct, mask=mask)


def test_mask_not_overlapping_ct():
    ct, mask = _small_block((12, 12, 12))
    far = Volume(mask.array, mask.spacing, mask.origin + 500.0, mask.direction)
    with pytest.raises(GeometryMismatchError, match="does not overlap"):
        analyze_focal_defect(ct, mask=far)


def test_mr_like_image_is_rejected():
    ct, mask = _small_block((12, 12, 12))
    mr = ct.with_array((ct.array + 1000.0) * 0.5)  # 0-650, no air
    with pytest.raises(NotCTError, match="does not look like a CT"):
        analyze_focal_defect(mr, mask=mask)


def test_mask_or_seed_required():
    ct, mask = _small_block((12, 12, 12))
    with pytest.raises(MaskError, match="either"):
        analyze_focal_defect(ct)
    with pytest.raises(MaskError, match="either"):
        analyze_focal_defect(ct, mask=mask, seed=(0, 0, 0))


def test_seed_point_segments_the_body(vertebra_iso):
    ph, ref = vertebra_iso
    body = vertebral_body(ph.volume, BodySource.seed_point((0.0, 0.0, 0.0))).mask
    truth = ph.masks["body"]
    # The grown body holds the whole true body (marrow spaces filled) and at most one
    # 0.5 mm voxel layer more (the 226 HU threshold crosses the blurred cortex edge outside it).
    assert np.all(body[truth])
    assert body.sum() < 1.15 * truth.sum()
    res = analyze_focal_defect(ph.volume, seed=(0.0, 0.0, 0.0))
    assert res.summary.roi_volume_ml == pytest.approx(ref.summary.roi_volume_ml, rel=0.25)
    assert res.summary.focal_bmc_loss_mm == pytest.approx(ref.summary.focal_bmc_loss_mm, rel=0.05)
    with pytest.raises(MaskError, match="seed point"):
        analyze_focal_defect(ph.volume, seed=(0.0, -30.0, 0.0))  # in soft tissue


def test_coarse_inplane_spacing_warns():
    ct, mask = _small_block((12, 12, 12), spacing=(1.2, 1.2, 1.0))
    res = analyze_focal_defect(ct, mask=mask)
    assert any("in-plane spacing 1.20 mm" in w for w in res.summary.warnings)
    assert "in-plane" in " ".join(res.to_dict()["warnings"])


def test_progress_and_cancel(vertebra_iso):
    ph, _ = vertebra_iso
    seen = []
    analyze_focal_defect(ph.volume, mask=ph.masks["body"], progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0
    assert np.all(np.diff(seen) >= 0)
    assert len(seen) >= 15

    def cancel(f, m):
        if "orientation 3/" in m:
            raise OperationCancelled()

    with pytest.raises(OperationCancelled):
        analyze_focal_defect(ph.volume, mask=ph.masks["body"], progress=cancel)


def test_3d_star(vertebra_iso):
    ph, ref = vertebra_iso
    res = analyze_focal_defect(ph.volume, mask=ph.masks["body"], star="3d")
    assert res.summary.n_orientations == 24
    assert res.summary.star == "3d"
    # Vertical voids: the tilted lines cross them at wider chords, the vertical line never.
    assert res.summary.intercept_width_mm > 0
    assert res.summary.focal_bmc_loss_mm == pytest.approx(ref.summary.focal_bmc_loss_mm, rel=0.25)


@pytest.mark.parametrize(
    ("spacing", "oblique"), [((0.5, 0.5, 0.5), False), ((0.5, 0.5, 1.25), True)], ids=["iso", "aniso-oblique"]
)
def test_whole_vertebra_mask_cuts_the_posterior_elements(spacing, oblique):
    # The cemented vertebra's whole-vertebra mask (as TotalSegmentator labels it): body plus
    # pedicles, laminae, spinous and transverse processes behind the posterior wall y = 12 mm.
    ph = make_cemented_vertebra(spacing=spacing, direction=oblique_direction() if oblique else None)
    res = analyze_focal_defect(ph.volume, vertebra_mask=ph.masks["vertebra"], angles_deg=(0.0,))
    body = prepare_focal_defect(ph.volume, mask=ph.masks["body"])
    whole = prepare_focal_defect(ph.volume, mask=ph.masks["vertebra"])  # the vertebra taken as a body

    def posterior_limit(roi):
        _, pts = _voxels_lps(roi, roi.array)
        return pts[:, 1].max()

    # The ROI is the body's, 6 mm inside its posterior wall (half a 0.3 mm voxel of slack),
    # while the vertebra taken as a body reaches far into the posterior elements.
    assert posterior_limit(res.roi) < BODY["y_post"] - 6.0 + 0.3
    assert posterior_limit(whole.roi) > BODY["y_post"] + 10.0
    assert res.summary.roi_voxels == pytest.approx(int(body.roi.array.sum()), rel=0.005)
    assert int(whole.roi.array.sum()) > 1.05 * res.summary.roi_voxels
    assert res.summary.focal_bmc_loss_mm > 0


def test_inputs_validate_once():
    ct, mask = _small_block((12, 12, 12))
    body = BodySource.body_mask(mask)
    inputs = FocalDefectInputs(ct, body, calibration=(0.8, -16), angles_deg=[0, 90])
    assert inputs.calibration == Calibration.from_slope_intercept(0.8, -16.0)
    assert inputs.angles_deg == (0.0, 90.0)
    with pytest.raises(OptionError, match="star 'x'"):
        FocalDefectInputs(ct, body, star="x")
    with pytest.raises(OptionError, match="BodySource"):
        FocalDefectInputs(ct, mask)
    with pytest.raises(OptionError, match="star-line angle"):
        FocalDefectInputs(ct, body, angles_deg=[float("nan")])
    with pytest.raises(CalibrationError, match="slope"):
        FocalDefectInputs(ct, body, calibration=(-1.0, 0.0))
    with pytest.raises(CalibrationError, match="slope"):
        FocalDefectInputs(ct, body, calibration=Calibration(0.0, 1.0, None, "slope/intercept"))
    with pytest.raises(CalibrationError, match="two numbers"):
        FocalDefectInputs(ct, body, calibration=("a", 1.0))
    with pytest.raises(OutsideImageError, match="outside the image"):
        FocalDefectInputs(ct, BodySource.seed_point((0.0, 0.0, 300.0)))
    with pytest.raises(MaskError, match="is empty"):
        FocalDefectInputs(ct, BodySource.body_mask(mask.with_array(np.zeros_like(mask.array))))
    with pytest.raises(GeometryMismatchError, match="not on the CT grid"):
        FocalDefectInputs(ct, BodySource.body_mask(np.ones((3, 3, 3), dtype=bool)))
    with pytest.raises(NotCTError):
        FocalDefectInputs(ct.with_array((ct.array + 1000.0) * 0.5), body)
