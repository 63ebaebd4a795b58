"""Issue 11: a sacrum segmentation is the envelope; bad masks are refused with typed errors.

On the block sacrum phantom (:mod:`bonequality.phantoms.sacrum_block`; its bone box is
known analytically) the masks are made here: the block itself, the block on another
grid, the block's posterior part only (so the targets lie outside the mask but inside the
cortical shell), an empty mask, a mask far from the targets and one outside the CT.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from bonequality.errors import GeometryMismatchError, MaskError
from bonequality.imaging.grid import voxel_points
from bonequality.phantoms.sacrum_block import BLOCK, block_landmarks, make_sacrum_block
from bonequality.sacroplasty import SIDES, SacroplastyInputs, SacroplastyPlanner, run
from bonequality.volume import Volume

TOL = 1.0  # mm, issue 11
DEPTH = 25.0


@functools.cache
def phantom():
    return make_sacrum_block(cancellous_hu=-30.0, spacing=(0.9, 1.0, 1.1))


def box_mask(volume: Volume, lo, hi) -> np.ndarray:
    """Voxels of ``volume`` whose centres lie in the LPS box ``[lo, hi]``."""
    pts = voxel_points(volume, np.ones(volume.array.shape, bool)).reshape(*volume.array.shape, 3)
    return np.all((pts >= np.asarray(lo)) & (pts <= np.asarray(hi)), axis=-1)


def test_the_sacrum_mask_is_the_envelope_and_gives_the_same_distances():
    ph = phantom()
    lm = block_landmarks(DEPTH)
    mask = ph.volume.with_array(box_mask(ph.volume, *BLOCK))
    inputs = SacroplastyInputs(ph.volume, lm, sacrum_mask=mask, sacrum_mask_name="sacrum mask block.nrrd")
    with_mask = run(inputs)
    shell = SacroplastyPlanner(ph.volume).plan(lm)
    assert with_mask.envelope["envelope"] == "sacrum mask"
    assert with_mask.envelope["envelope_name"] == "sacrum mask block.nrrd"
    assert with_mask.envelope["envelope_threshold_hu"] is None
    assert shell.envelope["envelope"] == "cortical shell"
    assert with_mask.bone_threshold_hu == shell.bone_threshold_hu
    for side in SIDES:
        a, b = with_mask.sides[side], shell.sides[side]
        assert a.target_in_bone
        assert b.target_in_bone
        assert a.in_cortical_shell is True
        assert b.in_cortical_shell is None
        for key, tr in a.trajectories.items():
            assert tr.distance_to_anterior_cortex_mm > 0
            assert tr.distance_to_anterior_cortex_mm == pytest.approx(
                b.trajectories[key].distance_to_anterior_cortex_mm, abs=TOL / 2
            )
    assert not any(w.startswith("BREACH") for w in with_mask.warnings)
    d = with_mask.to_dict()
    assert d["envelope"] == "sacrum mask"
    assert d["left"]["in_cortical_shell"] is True


def test_a_mask_on_another_grid_is_resampled_onto_the_ct():
    ph = phantom()
    coarse = Volume.from_array(
        np.zeros((70, 60, 80), np.uint8), spacing=(2.0, 2.0, 2.0), origin=(-79, -24, -69)
    )
    coarse = coarse.with_array(box_mask(coarse, *BLOCK).astype(np.uint8) * 3)
    inputs = SacroplastyInputs(ph.volume, block_landmarks(DEPTH), sacrum_mask=coarse)
    assert inputs.sacrum_mask.same_grid(ph.volume)
    plan = run(inputs)
    assert all(r.target_in_bone for r in plan.sides.values())


def test_a_target_the_mask_shows_outside_but_the_shell_inside_is_a_breach_naming_both():
    ph = phantom()
    lo, hi = np.array(BLOCK[0]), np.array(BLOCK[1])
    posterior = ph.volume.with_array(box_mask(ph.volume, lo + np.array([0.0, DEPTH + 10.0, 0.0]), hi))
    plan = run(
        SacroplastyInputs(ph.volume, block_landmarks(DEPTH), sacrum_mask=posterior, sacrum_mask_name="M")
    )
    for side in SIDES:
        res = plan.sides[side]
        assert not res.target_in_bone
        assert res.in_cortical_shell is True
        assert res.breach_depth_mm == pytest.approx(10.0, abs=TOL)
        assert {t.distance_to_anterior_cortex_mm for t in res.trajectories.values()} == {-res.breach_depth_mm}
        (w,) = [w for w in plan.warnings if w.startswith(f"BREACH: the {side} target")]
        assert "outside the sacrum (M)" in w
        assert "cortical shell at" in w
        assert "disagree" in w


def test_bad_masks_are_refused_with_typed_errors():
    ph = phantom()
    lm = block_landmarks(DEPTH)
    with pytest.raises(MaskError, match="empty"):
        SacroplastyInputs(
            ph.volume, lm, sacrum_mask=ph.volume.with_array(np.zeros(ph.volume.array.shape, bool))
        )
    far = Volume.from_array(np.ones((5, 5, 5), np.uint8), spacing=(1.0, 1.0, 1.0), origin=(900.0, 0.0, 0.0))
    with pytest.raises(GeometryMismatchError, match="does not overlap"):
        SacroplastyInputs(ph.volume, lm, sacrum_mask=far, sacrum_mask_name="sacrum mask far.nrrd")
    corner = ph.volume.with_array(box_mask(ph.volume, (-78, 90, -64), (-70, 98, -58)))
    with pytest.raises(MaskError, match="holds no voxel within 50 mm"):
        SacroplastyInputs(ph.volume, lm, sacrum_mask=corner)


def test_batch_sacrum_mask_column_is_the_envelope(tmp_path, capsys):
    """The manifest column ``sacrum_mask`` reaches the plan: batch's summary says which envelope."""
    import csv
    import json

    from bonequality.cli import main
    from bonequality.landmarks import write_mrk_json

    ph = phantom()
    ct, lm, mask = tmp_path / "ct.nrrd", tmp_path / "lm.mrk.json", tmp_path / "sacrum.nrrd"
    ph.volume.write(ct)
    write_mrk_json(lm, block_landmarks(DEPTH))
    ph.volume.with_array(box_mask(ph.volume, *BLOCK).astype(np.uint8)).write(mask)
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "ct", "landmarks", "sacrum_mask"])
        w.writerow(["b1", ct, lm, mask])
    out = tmp_path / "out"
    args = ["--no-progress", "batch", str(manifest), "--analyses", "sacroplasty", "--workers", "1"]
    assert main([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    summary = json.loads((out / "cases" / "b1" / "sacroplasty" / "summary.json").read_text())
    assert summary["envelope"] == "sacrum mask"
    assert summary["inputs"]["sacrum_mask"] == str(mask)
    assert summary["left"]["target_in_bone"]
    assert summary["right"]["target_in_bone"]
