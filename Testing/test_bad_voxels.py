"""Non-finite voxels: a float CT holding NaN or infinite voxels is refused by every analysis.

The one rule (:func:`bonequality.volume.require_finite`, called by ``Volume.require_ct``
where every analysis's inputs object checks its CT) refuses such a CT with
:class:`~bonequality.errors.NotCTError`, naming the CT and counting the NaN and the
infinite voxels. Checked through the CLI of every analysis (exit 2, one line, no output
folder), batch, and the Slicer modules' logics on MRML nodes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from bonequality import errors
from bonequality.cli import main
from bonequality.landmarks import read_mrk_json, write_mrk_json
from bonequality.phantoms import make_phantom
from bonequality.validation import check_ct
from bonequality.volume import Volume, require_finite

#: Voxels (k, j, i) spoiled in each phantom: a few NaN, one +Inf and one -Inf.
N_NAN, N_INF = 5, 2


def _spoil(volume: Volume) -> Volume:
    """The phantom as float32 with N_NAN NaN and N_INF infinite voxels near its centre."""
    a = volume.array.astype(np.float32)
    c = np.array(a.shape) // 2
    for n in range(N_NAN):
        a[c[0], c[1], c[2] + n] = np.nan
    a[c[0] + 1, c[1], c[2]] = np.inf
    a[c[0] + 2, c[1], c[2]] = -np.inf
    return volume.with_array(a)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad-voxels")
    pelvis = make_phantom("pelvis", spacing=(1.5, 1.5, 1.5))
    vertebra = make_phantom("vertebra")
    _spoil(pelvis.volume).write(d / "pelvis_nan.nrrd")
    write_mrk_json(d / "pelvis.mrk.json", pelvis.landmarks)
    _spoil(vertebra.volume).write(d / "vertebra_nan.nrrd")
    body = np.asarray(
        vertebra.masks["body"].array if isinstance(vertebra.masks["body"], Volume) else vertebra.masks["body"]
    )
    vertebra.volume.with_array(body.astype(np.uint8)).write(d / "body.nrrd")
    return {p.name: p for p in d.iterdir()}


def _argv(analysis: str, f: dict[str, Path], out: Path) -> list[str]:
    if analysis in ("corridors", "sacroplasty"):
        extra = [str(f["pelvis_nan.nrrd"]), "--landmarks", str(f["pelvis.mrk.json"])]
    else:
        flag = "--mask" if analysis == "focal-defect" else "--body-mask"
        extra = [str(f["vertebra_nan.nrrd"]), flag, str(f["body.nrrd"])]
    return ["--no-progress", analysis, *extra, "--out", str(out)]


@pytest.mark.parametrize("analysis", ["corridors", "sacroplasty", "focal-defect", "cement"])
def test_cli_refuses_a_ct_with_nan_and_inf_voxels(files, tmp_path, capsys, analysis):
    out = tmp_path / "out"
    assert main(_argv(analysis, files, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    ct = "pelvis_nan.nrrd" if analysis in ("corridors", "sacroplasty") else "vertebra_nan.nrrd"
    assert ct in err[0]
    assert f"{N_NAN} NaN and {N_INF} infinite voxel values" in err[0]
    assert "re-export the CT" in err[0]
    assert "landmark" not in err[0].lower()  # the CT is blamed, not the landmarks
    assert not out.exists()


def test_batch_refuses_it_with_the_same_error(files, tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "ct", "body_mask"])
        w.writerow(["nan", files["vertebra_nan.nrrd"], files["body.nrrd"]])
    out = tmp_path / "batch"
    main(
        ["--no-progress", "batch", str(manifest), "--analyses", "cement", "--workers", "1", "--out", str(out)]
    )
    capsys.readouterr()
    with (out / "failures.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["error_type"] for r in rows] == ["NotCTError"]


@pytest.mark.parametrize(("n_nan", "n_inf"), [(1, 0), (0, 1), (17, 3)])
def test_require_finite_counts_exactly(n_nan, n_inf):
    rng = np.random.default_rng(n_nan * 10 + n_inf)
    a = rng.normal(0, 300, size=(9, 11, 13)).astype(np.float32)
    flat = rng.choice(a.size, n_nan + n_inf, replace=False)
    a.ravel()[flat[:n_nan]] = np.nan
    a.ravel()[flat[n_nan:]] = rng.choice([np.inf, -np.inf], n_inf)
    with pytest.raises(errors.NotCTError, match=rf"CT x holds {n_nan} NaN and {n_inf} infinite voxel values"):
        require_finite(a, "CT x")


def test_finite_and_integer_cts_pass():
    a = np.full((4, 5, 6), -1000.0, np.float64)
    a[..., 3:] = 3.0e38  # huge but finite
    require_finite(a, "CT")
    require_finite(np.zeros((3, 3, 3), np.int16), "CT")


def test_check_ct_refuses_a_nan_volume_built_in_memory():
    ph = make_phantom("vertebra")
    with pytest.raises(errors.NotCTError, match=r"^phantom holds 5 NaN and 2 infinite"):
        check_ct(_spoil(ph.volume), "phantom")


@pytest.mark.mrml
@pytest.mark.parametrize("analysis", ["corridors", "sacroplasty", "focal-defect", "cement"])
def test_mrml_logics_refuse_it(files, mrml_scene, analysis):
    """What the modules' Apply does, on a CT node with NaN voxels: the CLI's error."""
    from bonequality.mrml import logic_cement, logic_focal, logic_sacral
    from bonequality.mrml.markups import landmarks_to_node
    from bonequality.mrml.results import ResultNodes
    from bonequality.mrml.volumes import volume_to_node

    pelvis = analysis in ("corridors", "sacroplasty")
    ct = Volume.read(files["pelvis_nan.nrrd" if pelvis else "vertebra_nan.nrrd"])
    ct_node = volume_to_node(ct, name="CT with NaN", scene=mrml_scene)
    results = ResultNodes(mrml_scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "params"))
    if pelvis:
        lm = landmarks_to_node(read_mrk_json(files["pelvis.mrk.json"]), name="L", scene=mrml_scene)
        if analysis == "corridors":
            run = lambda: logic_sacral.CorridorSession().analyze(ct_node, lm, results=results)  # noqa: E731
        else:
            run = lambda: logic_sacral.run_sacroplasty(ct_node, lm, results=results)  # noqa: E731
    else:
        mask = volume_to_node(Volume.read(files["body.nrrd"]), name="M", labelmap=True, scene=mrml_scene)
        if analysis == "cement":
            run = lambda: logic_cement.run_cement(  # noqa: E731
                ct_node, results=results, body_source="body mask", mask_node=mask
            )
        else:
            run = lambda: logic_focal.run_focal_defect(ct_node, results=results, mask_node=mask)  # noqa: E731
    with pytest.raises(errors.NotCTError, match=f"{N_NAN} NaN and {N_INF} infinite") as info:
        run()
    assert "CT with NaN" in str(info.value)
