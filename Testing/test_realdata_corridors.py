"""Corridors on the real 3 mm CT with landmarks placed by hand (Testing/data/example_ct_corridors.mrk.json).

The landmarks were placed from axial, coronal and sagittal renderings of the scan: S1
body top on the superior endplate centre, S1 foramina below the alae's inferior cortex,
the SI joints' ventral-superior borders at the S1 upper plate, the S2 foramina and the
ventral S2 cortex on parasagittal planes at +-24 mm, and L5 in the middle of its body.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bonequality.corridors import analyze_corridors
from bonequality.landmarks import read_mrk_json, required_labels
from bonequality.volume import Volume

LANDMARKS = Path(__file__).parent / "data" / "example_ct_corridors.mrk.json"

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def analysis(example_ct_path):
    volume = Volume.read(example_ct_path)
    landmarks = read_mrk_json(LANDMARKS)
    return volume, landmarks, analyze_corridors(volume, landmarks)


def test_landmark_file_has_every_corridor_label(example_ct_path):
    volume = Volume.read(example_ct_path)
    read_mrk_json(LANDMARKS).validate(required_labels("corridors"), volume=volume)


def test_probes_stay_inside_the_bony_pelvis(analysis):
    volume, landmarks, res = analysis
    for probe in (res.s1, res.s2):
        axis = np.concatenate([np.linspace(leg.start, leg.end, 400) for leg in probe.legs])
        hu = volume.sample(axis)
        # No air, bowel gas or pelvic fat on the axis: bone (or marrow) all the way.
        assert np.nanmin(hu) > -100, probe.corridor
        assert np.median(hu) > 40, probe.corridor
        # Entries at the lateral bone surface: just outside is soft tissue, just inside bone.
        for entry, sign in ((probe.entry_left, 1.0), (probe.entry_right, -1.0)):
            d = np.array([sign, 0.0, 0.0])
            outside = volume.sample(entry + np.outer(np.arange(2, 8), d))
            assert np.all(outside < res.bone_threshold_hu), probe.corridor
    # S1: the entries lie lateral to the SI joints (through the ilia)
    assert res.s1.entry_left[0] > landmarks["SI_joint_ventral_sup_L"][0] + 5
    assert res.s1.entry_right[0] < landmarks["SI_joint_ventral_sup_R"][0] - 5
    # S2: the probe spans the sacrum beyond both circumcentres
    assert res.s2.entry_left[0] > res.s2_geometry.m["L"][0] + 10
    assert res.s2.entry_right[0] < res.s2_geometry.m["R"][0] - 10


def test_l5_and_s1_body_are_physiological(analysis):
    _, _, res = analysis
    assert 50 < res.l5.mean_hu < 300
    assert 3.0 < res.l5.roi_volume_ml < 10.0
    assert 60 < res.s1.region_means["body"] < 350
    assert 40 < res.bone_threshold_hu < 600


def test_s1_profile_has_the_seed_000_figure_6_pattern(analysis):
    _, _, res = analysis
    prof = res.s1.profile_hu
    body = res.s1.region_means["body"]
    # iliac cortex / SI joint peaks near both ends
    assert np.nanmax(prof[3:20]) > body + 100
    assert np.nanmax(prof[80:97]) > body + 100
    # alar troughs
    assert np.nanmin(prof[20:40]) < body - 80
    assert np.nanmin(prof[60:80]) < body - 80
    # vertebral-body plateau: no bin in 42-58 % falls to the alar trough level
    assert np.nanmin(prof[42:58]) > np.nanmin(prof[20:40]) + 80
    assert np.nanmin(prof[42:58]) > np.nanmin(prof[60:80]) + 80
