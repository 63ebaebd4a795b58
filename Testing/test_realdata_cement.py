"""A real CT without cement (TotalSegmentator example, 3 mm): no cement and no leakage reported.

With user-made vertebra masks and seed points (below), and with the TotalSegmentator
whole-vertebra masks of L1-L5 through the CLI and batch, and bad masks (at the end).

The lumbar bodies were located by looking at sagittal and axial slices rendered to PNG:
the spine's midline is near i = 60, the bodies near j = 36-48, and the disc spaces (mean
HU minima along the body column) at k = 56-57, 67-68, 79-80, 92-93 and 103-104. The
trabecular bone of this scan is 100-200 HU, so, as a user would in the segment editor, the
vertebrae are thresholded at 150 HU between two disc spaces, closed once and reduced to
the largest island; the seed mode gets the same lowered threshold and a 3 mm gap closing.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from bonequality.cement import CementOptions, analyze_cement
from bonequality.cli import main
from bonequality.segmentation import read_segmentation
from bonequality.volume import Volume

pytestmark = pytest.mark.realdata

#: (first, last) axial index of four lumbar vertebrae between disc spaces.
LEVELS = [(58, 66), (69, 78), (81, 91), (94, 102)]
USER = CementOptions(bone_hu=(150.0, 3071.0), closing_mm=3.0)


@pytest.fixture(scope="module")
def ct(example_ct_path):
    return Volume.read(example_ct_path)


def _user_vertebra_mask(a: np.ndarray, k0: int, k1: int) -> np.ndarray:
    m = np.zeros(a.shape, bool)
    m[k0 : k1 + 1, 20:60, 40:80] = a[k0 : k1 + 1, 20:60, 40:80] >= 150
    m = ndimage.binary_closing(m, iterations=2)
    lab, _ = ndimage.label(m)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == np.argmax(sizes)


@pytest.mark.parametrize("level", LEVELS)
def test_vertebra_mask_no_cement_no_leak(ct, level):
    mask = _user_vertebra_mask(ct.array, *level)
    r = analyze_cement(ct, vertebra_mask=mask, options=USER)
    assert r.canal.found
    assert 10.0 < r.vbv_ml < 80.0
    assert r.cdv_ml == 0.0
    assert r.leakage_ml == 0.0
    assert all(v == 0.0 for v in r.leakage_by_location.values())
    assert r.distribution_score.total == 0
    assert r.nearest_leak_to_canal_mm is None


# Seeds in the anterior half of the bodies (j = 44); in the third level the 150 HU shell is
# too broken at 3 mm for the seed to be enclosed (a typed "not in bone" error), so it is
# covered by the vertebra-mask test only.
@pytest.mark.parametrize("level", [LEVELS[0], LEVELS[1], LEVELS[3]])
def test_seed_mode_no_cement_no_leak(ct, level):
    k = (level[0] + level[1]) / 2
    seed = ct.index_to_physical([60.0, 44.0, k])
    r = analyze_cement(ct, seed=seed, options=USER)
    assert r.body_mask.any()
    assert r.cdv_ml == 0.0
    assert r.leakage_ml == 0.0


def test_dense_bone_is_there_but_not_cement(ct):
    """The scan has 1000-1400 HU bone near the spine; only the cortical-bone check keeps it out."""
    mask = _user_vertebra_mask(ct.array, *LEVELS[1])
    off = CementOptions(
        bone_hu=(150.0, 3071.0), closing_mm=3.0, min_cement_thickness_mm=0, cement_peak_hu=None
    )
    raw = analyze_cement(ct, vertebra_mask=mask, options=off)
    assert raw.cdv_ml + raw.leakage_ml > 0.0


# ----------------------------------------------------------------------------- TotalSegmentator masks
# The whole-vertebra masks Slicer's TotalSegmentator extension makes, on the same 3 mm grid
# (issue 12): the canal is found in 3-D along each vertebra's axis (L1 and L5 are tilted by
# about 17 and 29 degrees) and the posterior elements are cut at the body's posterior wall.
LUMBAR = ("L1", "L2", "L3", "L4", "L5")


@pytest.fixture(scope="module")
def seg_dir(shared_data):
    folder = shared_data / "totalsegmentator_example_seg"
    if not (folder / "vertebrae_L1.nii.gz").exists():
        pytest.skip(f"{folder} not present")
    return folder


@pytest.fixture(scope="module")
def cli_summaries(example_ct_path, seg_dir, tmp_path_factory):
    """``bonequality cement --vertebra-mask`` on each lumbar mask: level -> (exit code, out folder)."""
    out = {}
    for level in LUMBAR:
        folder = tmp_path_factory.mktemp(f"cement-{level}") / "out"
        argv = ["--no-progress", "cement", str(example_ct_path)]
        argv += ["--vertebra-mask", str(seg_dir / f"vertebrae_{level}.nii.gz"), "--out", str(folder)]
        out[level] = (main(argv), folder)
    return out


@pytest.mark.parametrize("level", LUMBAR)
def test_totalsegmentator_vertebra_mask_cli(cli_summaries, seg_dir, level):
    rc, folder = cli_summaries[level]
    assert rc == 0
    s = json.loads((folder / "summary.json").read_text())
    whole = Volume.read(seg_dir / f"vertebrae_{level}.nii.gz")
    whole_ml = float((whole.array > 0).sum()) * whole.voxel_volume_mm3 / 1000
    assert 20.0 <= s["vbv_ml"] <= 60.0
    assert 0.5 * whole_ml <= s["vbv_ml"] <= 0.8 * whole_ml  # the body, without the posterior elements
    assert s["cdv_ml"] <= 0.05
    assert s["leakage_ml"] <= 0.05
    assert s["canal"]["found"]
    assert s["leak_rule"] == "cement"
    assert s["warnings"] == []
    body = read_segmentation(folder / "segments.seg.nrrd")["VertebralBody"]
    pts = body.index_to_physical(np.argwhere(body.array > 0)[:, ::-1].astype(float))
    canal = s["canal"]
    behind = pts[:, 1] > canal["cut_y0_mm"] + canal["cut_slope"] * pts[:, 2] + 6.0
    near_midline = np.abs(pts[:, 0] - canal["center_x_mm"]) < canal["half_width_mm"]
    assert not np.any(behind & near_midline)  # nothing of the body reaches into the canal
    assert (folder / "report.png").stat().st_size > 20_000


def test_totalsegmentator_vertebra_masks_through_batch(example_ct_path, seg_dir, cli_summaries, tmp_path):
    manifest = tmp_path / "manifest.csv"
    lines = ["case_id,ct,vertebra_mask"]
    lines += [f"{lv},{example_ct_path},{seg_dir / f'vertebrae_{lv}.nii.gz'}" for lv in LUMBAR]
    manifest.write_text("\n".join(lines) + "\n")
    out = tmp_path / "batch"
    argv = ["--no-progress", "batch", str(manifest), "--analyses", "cement", "--workers", "1"]
    assert main([*argv, "--out", str(out), "--no-report"]) == 0
    cohort = pd.read_csv(out / "cohort.csv").set_index("case_id")
    for level in LUMBAR:
        cli = json.loads((cli_summaries[level][1] / "summary.json").read_text())
        case = json.loads((out / "cases" / level / "cement" / "summary.json").read_text())
        assert case["vbv_ml"] == pytest.approx(cli["vbv_ml"])
        assert cohort.loc[level, "cement_vbv_ml"] == pytest.approx(cli["vbv_ml"])
        assert cohort.loc[level, "cement_cdv_ml"] <= 0.05
        assert cohort.loc[level, "cement_leakage_ml"] <= 0.05


def _write_mask(volume: Volume, array: np.ndarray, path) -> str:
    volume.with_array(array.astype(np.uint8)).write(path)
    return str(path)


def test_bad_totalsegmentator_masks(example_ct_path, seg_dir, cli_summaries, tmp_path, capsys, caplog):
    """Two vertebrae under one label and a mask of another scan: exit 2; a body mask with the
    posterior elements: a warning and the body cut as from the whole-vertebra mask."""
    l1, l2, l3 = (Volume.read(seg_dir / f"vertebrae_{lv}.nii.gz") for lv in ("L1", "L2", "L3"))
    two = _write_mask(l1, (l1.array > 0) | (l2.array > 0), tmp_path / "L1L2.nii.gz")
    # Another scan's mask: on its own 2 mm grid, 20 mm off this patient's L3.
    other = l3.resample_isotropic(2.0, order=0)
    elsewhere = tmp_path / "other_scan_L3.nii.gz"
    Volume(other.array, other.spacing, other.origin + np.array([0.0, 20.0, 0.0]), other.direction).write(
        elsewhere
    )
    for mask, said in (
        (two, "2 vertebral bodies under one label"),
        (str(elsewhere), "does not follow the bone"),
    ):
        out = tmp_path / "refused"
        argv = ["--no-progress", "cement", str(example_ct_path), "--vertebra-mask", mask, "--out", str(out)]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert said in err[0]
        assert not out.exists()
    out = tmp_path / "body-mask"
    argv = [
        "--no-progress",
        "cement",
        str(example_ct_path),
        "--body-mask",
        str(seg_dir / "vertebrae_L3.nii.gz"),
    ]
    assert main([*argv, "--out", str(out)]) == 0
    assert any("holds the posterior elements" in r.getMessage() for r in caplog.records)  # logged
    s = json.loads((out / "summary.json").read_text())
    assert any("holds the posterior elements" in w for w in s["warnings"])
    cut = json.loads((cli_summaries["L3"][1] / "summary.json").read_text())
    assert s["vbv_ml"] == pytest.approx(cut["vbv_ml"], rel=0.01)
