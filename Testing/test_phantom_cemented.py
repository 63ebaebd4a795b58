"""The cemented-vertebra phantom: its voxels agree with its analytic truth on every grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bonequality.phantoms import ANISOTROPIC_SPACING, make_phantom, oblique_direction
from bonequality.phantoms.cemented import BODY, CEMENT_BLOBS, LEAKS, make_cemented_vertebra

GRIDS = {
    "iso": {"spacing": (0.5, 0.5, 0.5)},
    "anisotropic": {"spacing": ANISOTROPIC_SPACING},
    "oblique": {"spacing": (0.6, 0.6, 0.6), "direction": oblique_direction()},
    "anisotropic-oblique": {"spacing": ANISOTROPIC_SPACING, "direction": oblique_direction()},
}


@pytest.fixture(scope="module", params=list(GRIDS))
def phantom(request):
    return make_cemented_vertebra(**GRIDS[request.param])


def test_truth_is_closed_form():
    t = make_cemented_vertebra(spacing=(2.0, 2.0, 2.0)).truth
    # Footprint: ellipse 22 x 16 cut at y = 12; unit-circle segment above d = 0.75.
    d = 0.75
    segment = 22 * 16 * (math.acos(d) - d * math.sqrt(1 - d * d))
    assert t["vbv_ml"] == pytest.approx((math.pi * 22 * 16 - segment) * 2 * BODY["half_height"] / 1000)
    cdv = sum(math.pi * b["semi"][0] * b["semi"][1] * (b["z"][1] - b["z"][0]) for b in CEMENT_BLOBS.values())
    assert t["cdv_ml"] == pytest.approx(cdv / 1000)
    assert t["vf_percent"] == pytest.approx(100 * cdv / 1000 / t["vbv_ml"])
    leaks = {k: 4 / 3 * math.pi * np.prod(v["semi"]) / 1000 for k, v in LEAKS.items()}
    assert t["leakage_ml"] == pytest.approx(sum(leaks.values()))
    assert t["leakage_by_location"]["caudal_disc"] == 0.0
    assert t["distribution_score"]["total"] == 8
    assert t["distribution_score"]["group"] == "B"
    assert t["side_fraction"]["left"] + t["side_fraction"]["right"] == pytest.approx(1.0)


def test_voxels_match_truth(phantom):
    v, t = phantom.volume, phantom.truth
    vv = v.voxel_volume_mm3 / 1000
    body = phantom.masks["body"]
    assert body.sum() * vv == pytest.approx(t["vbv_ml"], rel=0.02)
    # Cement HU (>= 1500) only where cement was designed: inside the body plus the leaks.
    dense = v.array >= 1500
    assert (dense & body).sum() * vv == pytest.approx(t["cdv_ml"], rel=0.02)
    assert (dense & ~body).sum() * vv == pytest.approx(t["leakage_ml"], rel=0.02)
    # The dense cortical wall (1200 HU) is in the cement threshold range but not cement.
    wall = (v.array >= 1000) & (v.array < 1500) & body
    assert wall.sum() * vv > 2.0


def test_masks_and_ct_range(phantom):
    v = phantom.volume
    v.require_ct("phantom")
    vert = phantom.masks["vertebra"]
    body = phantom.masks["body"]
    assert np.all(vert[body]), "the vertebra mask must contain the body"
    assert (vert & ~body).sum() * v.voxel_volume_mm3 / 1000 > 5.0  # posterior elements
    assert v.array.min() == -1000
    assert 2300 <= v.array.max() <= 2400


def test_generator_registered():
    p = make_phantom("cemented-vertebra", spacing=(2.0, 2.0, 2.0))
    assert p.name == "cemented-vertebra"
    assert set(p.masks) == {"body", "vertebra"}
