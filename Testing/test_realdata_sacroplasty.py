"""Sacroplasty planning on the real 3 mm example CT with hand-placed landmarks.

The landmarks (Testing/data/example_ct_sacroplasty.mrk.json) were placed on rendered
midsagittal, axial and coronal slices of the TotalSegmentator example CT: the S1 corners
on x = -1 mm, the SI joints on the axial slice z = 222 mm, the S1 foramina and S3 by eye.
This patient's alae are fatty (about -30 HU around the targets), the case the
``max_marrow_mm`` rule exists for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bonequality.landmarks import read_mrk_json
from bonequality.sacroplasty import plan_sacroplasty
from bonequality.volume import Volume

pytestmark = pytest.mark.realdata

LANDMARKS = Path(__file__).parent / "data" / "example_ct_sacroplasty.mrk.json"


@pytest.fixture(scope="module")
def plan(example_ct_path):
    return plan_sacroplasty(Volume.read(example_ct_path), read_mrk_json(LANDMARKS))


def test_distances_in_seed_001_table_1_range(plan):
    for side in ("left", "right"):
        for tr in plan.sides[side].trajectories.values():
            # Seed 001 Table 1: means 11-13 mm, SD up to 9 mm; nothing beyond about 30 mm.
            assert 0.0 < tr.distance_to_anterior_cortex_mm < 30.0, (side, tr.key)
            assert 50.0 < tr.needle_depth_mm < 200.0


def test_targets_in_the_ala(plan):
    lm = read_mrk_json(LANDMARKS)
    for side, s in (("left", "L"), ("right", "R")):
        res = plan.sides[side]
        assert res.target_in_bone
        lo, hi = sorted([lm[f"S1_foramen_sup_{s}"][0], lm[f"SI_joint_ventral_sup_{s}"][0]])
        assert lo < res.target_lps[0] < hi
    assert plan.lr_line_in_bone
    assert not any(w.startswith("BREACH") for w in plan.warnings)
    assert plan.skew_gap_mm < 0.5
    # Per-scan threshold from profiles through the sacrum: between soft tissue and cortex.
    assert 80.0 < plan.bone_threshold_hu < 400.0
    assert np.isfinite(plan.target_midsagittal_lps).all()
