"""Batch layer: manifest parsing, the resumable Dask runner, cohort statistics and the report.

The runner's mechanics are tested with a small analysis registered only here (``mean-hu``:
the HU at the ``L5_body_center`` landmark of a CT whose HU is a linear function of LPS
position, so trilinear sampling gives the analytic value on any grid, including an
anisotropic oblique one). The real analyses run on phantoms in ``test_cli_batch.py``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from bonequality.batch import (
    ANALYSES,
    Analysis,
    ManifestError,
    check_manifest,
    get_analyses,
    read_manifest,
    run_batch,
    run_case,
)
from bonequality.batch import stats as bstats
from bonequality.batch.report import COLUMNS, write_cohort_report
from bonequality.errors import InputFileError, OperationCancelled
from bonequality.landmarks import Landmarks, write_mrk_json
from bonequality.phantoms import ANISOTROPIC_SPACING, oblique_direction
from bonequality.volume import Volume

# HU = A + G . p (LPS mm): linear, so trilinear sampling is exact anywhere inside the grid.
HU_A, HU_G = 100.0, np.array([2.0, -1.0, 0.5])


def analytic_hu(p) -> float:
    return float(HU_A + HU_G @ np.asarray(p, dtype=float))


def mean_hu(inputs, case_dir: Path) -> dict:
    """Test analysis: the CT's HU at ``L5_body_center`` (sampled trilinearly)."""
    ct = inputs.ct()
    lm = inputs.landmarks()
    lm.validate(["L5_body_center"], volume=ct)
    p = lm["L5_body_center"]
    (case_dir / "point.json").write_text(json.dumps(p.tolist()), encoding="utf-8")
    return {"hu": float(ct.sample(p[None])[0]), "voxels": int(ct.array.size)}


MEAN_HU = Analysis("mean-hu", mean_hu, requires=("ct", "landmarks"), prefix="toy")


def failing(inputs, case_dir: Path) -> dict:
    raise RuntimeError("deliberate failure")


def make_ct(path: Path, *, spacing=(1.0, 1.0, 1.0), direction=None) -> Volume:
    direction = np.eye(3) if direction is None else np.asarray(direction)
    spacing = np.asarray(spacing, float)
    n = np.array([24, 20, 12])
    origin = -direction @ ((n - 1) / 2 * spacing)
    kk, jj, ii = np.meshgrid(*(np.arange(m) for m in n[::-1]), indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), kk.ravel()], axis=1)
    geom = Volume(np.zeros((1, 1, 1), np.float32), spacing, origin, direction)
    hu = (HU_A + geom.index_to_physical(ijk) @ HU_G).reshape(kk.shape).astype(np.float32)
    v = Volume(hu, spacing, origin, direction)
    v.write(path)
    return v


@pytest.fixture(scope="module")
def dask_cluster():
    """One 2-worker LocalCluster (processes, 1 thread each) for the module, closed at the end."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture
def cohort(tmp_path) -> Path:
    """6 good cases (isotropic, anisotropic, oblique grids) + 3 bad rows; returns the manifest."""
    data = tmp_path / "data"
    data.mkdir()
    rows = ["case_id,ct,landmarks,age,sex,fracture"]
    grids = [
        {},
        {"spacing": ANISOTROPIC_SPACING},
        {"spacing": ANISOTROPIC_SPACING, "direction": oblique_direction()},
    ]
    for i in range(6):
        make_ct(data / f"c{i}.nrrd", **grids[i % 3])
        p = np.array([1.5 * i - 3.0, 0.7 * i - 2.0, 0.4 * i - 1.0])
        write_mrk_json(data / f"c{i}.mrk.json", Landmarks.from_dict({"L5_body_center": p}))
        rows.append(f"c{i},data/c{i}.nrrd,data/c{i}.mrk.json,{40 + 8 * i},{'FM'[i % 2]},{i % 2}")
    write_mrk_json(data / "nol5.mrk.json", Landmarks.from_dict({"S1_body_top": [0, 0, 0]}))
    rows.append("missing_ct,data/nothere.nrrd,data/c0.mrk.json,70,F,1")
    rows.append("missing_lm,data/c0.nrrd,data/nol5.mrk.json,71,M,0")
    rows.append("missing_lmfile,data/c0.nrrd,data/gone.mrk.json,72,F,0")
    m = tmp_path / "manifest.csv"
    m.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return m


def expected_hu(i: int) -> float:
    return analytic_hu([1.5 * i - 3.0, 0.7 * i - 2.0, 0.4 * i - 1.0])


# ------------------------------------------------------------------------------------------ manifest


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.csv"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("id,ct\na,x.nrrd\n", ["no column 'case_id'"]),
        ("case_id,image\na,x.nrrd\n", ["no column 'ct'"]),
        ("case_id,ct\na,x.nrrd\nb,y.nrrd\na,z.nrrd\n", ["row 4", "'case_id'", "'a' repeats row 2"]),
        ("case_id,ct\n,x.nrrd\n", ["row 2", "'case_id' is empty"]),
        ("case_id,ct\n../up,x.nrrd\n", ["row 2", "'case_id'", "'../up'"]),
        ("case_id,ct\na,\n", ["row 2 (case a)", "'ct' is empty"]),
        ("case_id,ct,seed\na,x.nrrd,1;2\n", ["row 2 (case a)", "column 'seed'", "not a point"]),
        ("case_id,ct,label\na,x.nrrd,two\n", ["row 2 (case a)", "column 'label'", "whole number"]),
        ("case_id,ct\na,x.nrrd,extra\n", ["row 2 has 3 cells"]),
        ("case_id,ct\n", ["lists no cases"]),
        ("", ["is empty"]),
        ("case_id,ct,age,age\na,x.nrrd,1,2\n", ["'age' appears twice"]),
    ],
)
def test_manifest_errors_name_row_and_column(tmp_path, text, fragments):
    with pytest.raises(ManifestError) as err:
        read_manifest(write(tmp_path, text))
    for f in fragments:
        assert f in str(err.value)


def test_manifest_missing_file_is_not_a_manifest_error(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "none.csv")
    m = read_manifest(write(tmp_path, "case_id,ct\na,nothere.nrrd\n"))
    assert m.cases[0].inputs["ct"] == tmp_path / "nothere.nrrd"


def test_manifest_parses_inputs_relative_paths_and_metadata(tmp_path):
    (tmp_path / "sub").mkdir()
    text = (
        "case_id,ct,mask,label,seed,calibration_slope,analyses,age,sex,fracture\n"
        'P1,sub/a.nrrd,/abs/m.nrrd,3,"1.5, -2, 3e1",0.8,cement;focal-defect,61,F,1\n'
        "P2,b.nii.gz,,,,,,,M,\n"
    )
    m = read_manifest(write(tmp_path / "sub", text))
    a, b = m.cases
    assert a.inputs["ct"] == tmp_path / "sub" / "sub" / "a.nrrd"
    assert a.inputs["mask"] == Path("/abs/m.nrrd")
    assert a.inputs["label"] == 3
    assert a.inputs["seed"] == (1.5, -2.0, 30.0)
    assert a.inputs["calibration_slope"] == pytest.approx(0.8)
    assert a.inputs["analyses"] == ("cement", "focal-defect")
    assert dict(a.metadata) == {"age": "61", "sex": "F", "fracture": "1"}
    assert set(b.inputs) == {"ct"}
    assert m.metadata_columns == ("age", "sex", "fracture")
    assert (a.row, b.row) == (2, 3)
    assert a.fingerprint != b.fingerprint


def test_check_manifest_against_the_analyses(tmp_path, monkeypatch):
    monkeypatch.setitem(ANALYSES, "mean-hu", MEAN_HU)
    m = read_manifest(write(tmp_path, "case_id,ct,analyses\na,x.nrrd,mean-hu;bogus\n"))
    with pytest.raises(ManifestError, match=r"row 2 \(case a\), column 'analyses'.*'bogus'"):
        check_manifest(m, (MEAN_HU,))
    m = read_manifest(write(tmp_path, "case_id,ct\na,x.nrrd\n"))
    with pytest.raises(ManifestError, match="'mean-hu' needs a column 'landmarks'"):
        check_manifest(m, (MEAN_HU,))
    with pytest.raises(InputFileError, match="unknown analysis 'nope'"):
        get_analyses("mean-hu,nope")
    assert get_analyses("mean-hu, mean-hu") == (MEAN_HU,)
    assert {"sacroplasty", "focal-defect", "cement"} <= set(ANALYSES)


# ------------------------------------------------------------------------------------------ runner


def read_cohort(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "cohort.csv", dtype={"case_id": str}, keep_default_na=False)


def hidden_leftovers(out: Path) -> list[str]:
    return [str(p) for p in out.rglob("*") if p.name.startswith((".stage-", ".old-", ".bq-tmp-"))]


def test_run_case_failure_is_returned_not_raised(cohort, tmp_path):
    m = read_manifest(cohort)
    bad = Analysis("boom", failing)
    # every analysis fails: status failed, nothing published
    outcome = run_case(m.case("c0"), (bad,), tmp_path / "out")
    assert outcome.status == "failed"
    assert outcome.analysis == "boom"
    assert outcome.error == "boom: row 2 (case c0): deliberate failure"
    assert not (tmp_path / "out" / "cases" / "c0").exists()
    assert hidden_leftovers(tmp_path / "out") == []
    # one of two fails: the other's results are kept (status partial)
    outcome = run_case(m.case("c0"), (MEAN_HU, bad), tmp_path / "out")
    assert outcome.status == "partial"
    assert outcome.analysis == "boom"
    assert outcome.error == "boom: row 2 (case c0): deliberate failure"
    assert outcome.failures == (
        {
            "analysis": "boom",
            "error_type": "RuntimeError",
            "error": "boom: row 2 (case c0): deliberate failure",
        },
    )
    assert outcome.figures["toy_hu"] == pytest.approx(expected_hu(0), abs=1e-3)
    case = tmp_path / "out" / "cases" / "c0"
    assert sorted(p.name for p in case.iterdir()) == ["mean-hu", "summary.json"]
    summary = json.loads((case / "summary.json").read_text(encoding="utf-8"))
    assert (summary["status"], summary["analyses"]) == ("partial", ["mean-hu", "boom"])
    assert summary["failures"] == list(outcome.failures)
    assert hidden_leftovers(tmp_path / "out") == []


def test_bad_rows_land_in_failures_and_the_rest_completes(cohort, tmp_path, dask_cluster):
    out = tmp_path / "out"
    seen = []
    result = run_batch(
        read_manifest(cohort), (MEAN_HU,), out, client=dask_cluster, on_case=lambda o, c: seen.append(c)
    )
    assert (result.total, result.done, result.failed, result.skipped) == (9, 6, 3, 0)
    failures = pd.read_csv(out / "failures.csv").set_index("case_id")
    assert sorted(failures.index) == ["missing_ct", "missing_lm", "missing_lmfile"]
    assert "row 8 (case missing_ct), column 'ct'" in failures.loc["missing_ct", "error"]
    assert "nothere.nrrd not found" in failures.loc["missing_ct", "error"]
    assert "L5_body_center" in failures.loc["missing_lm", "error"]
    assert failures.loc["missing_lm", "analysis"] == "mean-hu"
    assert "column 'landmarks'" in failures.loc["missing_lmfile", "error"]
    assert "gone.mrk.json not found" in failures.loc["missing_lmfile", "error"]
    cohort_df = read_cohort(out)
    assert list(cohort_df["case_id"]) == [f"c{i}" for i in range(6)] + list(failures.index)
    done = cohort_df[cohort_df["status"] == "done"].set_index("case_id")
    for i in range(6):  # analytic HU on isotropic, anisotropic and oblique grids
        assert float(done.loc[f"c{i}", "toy_hu"]) == pytest.approx(expected_hu(i), abs=1e-3)
        assert json.loads((out / "cases" / f"c{i}" / "mean-hu" / "point.json").read_text(encoding="utf-8"))
    assert [int(a) for a in done["age"]] == [40 + 8 * i for i in range(6)]
    assert (cohort_df["status"] == "failed").sum() == 3
    assert seen[-1].done == 6
    assert seen[-1].failed == 3
    assert seen[-1].remaining == 0
    assert (out / "report.html").is_file()
    assert hidden_leftovers(out) == []


def test_rerun_skips_finished_and_redoes_failed(cohort, tmp_path, dask_cluster):
    out = tmp_path / "out"
    m = read_manifest(cohort)
    run_batch(m, (MEAN_HU,), out, client=dask_cluster, write_report=False)
    stamp = (out / "cases" / "c3" / "summary.json").stat().st_mtime_ns
    # fix one bad row; the other two stay bad
    make_ct(cohort.parent / "data" / "nothere.nrrd")
    ran = []
    result = run_batch(
        m,
        (MEAN_HU,),
        out,
        client=dask_cluster,
        write_report=False,
        on_case=lambda o, c: ran.append(o.case_id),
    )
    assert sorted(ran) == ["missing_ct", "missing_lm", "missing_lmfile"]
    assert (result.skipped, result.done, result.failed) == (6, 7, 2)
    assert (out / "cases" / "c3" / "summary.json").stat().st_mtime_ns == stamp
    failures = pd.read_csv(out / "failures.csv")
    assert sorted(failures["case_id"]) == ["missing_lm", "missing_lmfile"]
    cohort_df = read_cohort(out)
    assert cohort_df["case_id"].is_unique
    assert len(cohort_df) == 9
    assert cohort_df.set_index("case_id").loc["missing_ct", "status"] == "done"


def test_edited_input_cell_reruns_that_case(cohort, tmp_path, dask_cluster):
    out = tmp_path / "out"
    run_batch(read_manifest(cohort), (MEAN_HU,), out, client=dask_cluster, write_report=False)
    text = cohort.read_text(encoding="utf-8").replace(
        "c1,data/c1.nrrd,data/c1.mrk.json", "c1,data/c4.nrrd,data/c4.mrk.json"
    )
    cohort.write_text(text, encoding="utf-8")
    ran = []
    run_batch(
        read_manifest(cohort),
        (MEAN_HU,),
        out,
        client=dask_cluster,
        write_report=False,
        on_case=lambda o, c: ran.append(o.case_id),
    )
    assert "c1" in ran
    assert "c0" not in ran
    row = read_cohort(out).set_index("case_id").loc["c1"]
    assert float(row["toy_hu"]) == pytest.approx(expected_hu(4), abs=1e-3)
    assert hidden_leftovers(out) == []


def test_cancel_keeps_finished_cases_and_stale_files_are_cleaned(cohort, tmp_path, dask_cluster):
    out = tmp_path / "out"
    (out / "cases" / ".stage-c0-dead").mkdir(parents=True)
    (out / "cases" / ".stage-c0-dead" / "summary.json").write_text("{half", encoding="utf-8")
    (out / ".bq-tmp-zzz").mkdir()

    def cancel_after_two(fraction, message):
        if message.startswith("2 done"):
            raise OperationCancelled("stop")

    m = read_manifest(cohort)
    with pytest.raises(OperationCancelled):
        run_batch(m, (MEAN_HU,), out, client=dask_cluster, progress=cancel_after_two)
    finished = {p.parent.name for p in (out / "cases").glob("*/summary.json")}
    listed = set(read_cohort(out).query("status == 'done'")["case_id"])
    # tasks already running when cancelled may still finish (and are kept); the cohort lists
    # exactly the cases seen done before the cancel
    assert len(listed) == 2
    assert listed <= finished
    result = run_batch(m, (MEAN_HU,), out, client=dask_cluster, write_report=False)
    assert result.skipped >= 2
    assert result.done == 6
    assert hidden_leftovers(out) == []
    assert read_cohort(out)["case_id"].is_unique


def test_one_run_per_output_folder(cohort, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "out"
    out.mkdir()
    with (out / ".batch.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputFileError, match="in use by another batch run"):
            run_batch(read_manifest(cohort), (MEAN_HU,), out, client=object())


def flaky(inputs, case_dir: Path) -> dict:
    """Test analysis that fails while ``<ct>.fail`` exists beside the case's CT."""
    marker = Path(inputs.value("ct")).with_suffix(".fail")
    if marker.exists():
        raise InputFileError(f"{inputs.case.where('ct')}: {marker.name} says fail")
    (case_dir / "ok.txt").write_text("ok", encoding="utf-8")
    return {"ok": True}


FLAKY = Analysis("flaky", flaky, prefix="flaky")


def test_partial_case_keeps_its_results_and_is_rerun_like_a_failed_one(cohort, tmp_path, dask_cluster):
    """A failing analysis costs only its own results; a rerun redoes the whole partial case."""
    out = tmp_path / "out"
    m = read_manifest(cohort)
    marker = cohort.parent / "data" / "c1.fail"
    marker.write_text("", encoding="utf-8")
    ran = []
    result = run_batch(
        m, (MEAN_HU, FLAKY), out, client=dask_cluster, on_case=lambda o, c: ran.append(o.case_id)
    )
    assert (result.total, result.done, result.failed, result.partial) == (9, 5, 4, 3)
    cohort_df = read_cohort(out).set_index("case_id")
    c1 = cohort_df.loc["c1"]
    assert c1["status"] == "partial"
    assert float(c1["toy_hu"]) == pytest.approx(expected_hu(1), abs=1e-3)
    assert c1["flaky_ok"] == ""
    assert "c1.fail says fail" in c1["error"]
    assert cohort_df.loc["c0", "status"] == "done"
    assert cohort_df.loc["c0", "flaky_ok"] == "True"
    # no CT: both analyses fail; a bad landmarks file fails only mean-hu (flaky needs the CT only)
    assert cohort_df.loc["missing_ct", "status"] == "failed"
    assert cohort_df.loc["missing_lm", "status"] == "partial"
    assert cohort_df.loc["missing_lmfile", "status"] == "partial"
    failures = pd.read_csv(out / "failures.csv", keep_default_na=False)
    assert list(failures.columns) == ["case_id", "row", "analysis", "error_type", "error"]
    by_case = failures.groupby("case_id")["analysis"].apply(list).to_dict()
    assert by_case["c1"] == ["flaky"]
    assert by_case["missing_ct"] == ["mean-hu", "flaky"]
    assert by_case["missing_lm"] == ["mean-hu"]
    assert failures.set_index(["case_id", "analysis"]).loc[("c1", "flaky"), "error_type"] == "InputFileError"
    assert sorted(p.name for p in (out / "cases" / "c1").iterdir()) == ["mean-hu", "summary.json"]
    assert (out / "cases" / "c0" / "flaky" / "ok.txt").is_file()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "3 partly finished" in html
    assert "c1.fail says fail" in html

    # resume: the partial case is redone like the failed ones; the done ones are skipped
    marker.unlink()
    ran.clear()
    result = run_batch(
        m,
        (MEAN_HU, FLAKY),
        out,
        client=dask_cluster,
        write_report=False,
        on_case=lambda o, c: ran.append(o.case_id),
    )
    assert sorted(ran) == ["c1", "missing_ct", "missing_lm", "missing_lmfile"]
    assert (result.skipped, result.done, result.failed, result.partial) == (5, 6, 3, 2)
    cohort_df = read_cohort(out).set_index("case_id")
    assert cohort_df.loc["c1", "status"] == "done"
    assert cohort_df.loc["c1", "flaky_ok"] == "True"
    assert "c1" not in set(pd.read_csv(out / "failures.csv")["case_id"])
    assert (out / "cases" / "c1" / "flaky" / "ok.txt").is_file()
    assert hidden_leftovers(out) == []


def test_partial_case_shows_as_partial_until_it_is_rerun(cohort, tmp_path):
    """A cancelled rerun leaves cohort.csv showing the partial case as the last run left it."""
    from bonequality.batch.runner import _Run

    out = tmp_path / "out"
    m = read_manifest(cohort)
    (cohort.parent / "data" / "c1.fail").write_text("", encoding="utf-8")
    outcome = run_case(m.case("c1"), (MEAN_HU, FLAKY), out)
    assert outcome.status == "partial"
    state = _Run(m, (MEAN_HU, FLAKY), out)
    assert "c1" in {c.case_id for c in state.todo}
    state.flush()
    row = read_cohort(out).set_index("case_id").loc["c1"]
    assert row["status"] == "partial"
    assert float(row["toy_hu"]) == pytest.approx(expected_hu(1), abs=1e-3)
    # a later attempt that failed every analysis (failures.csv disagrees): shown as failed
    rows = [
        {"case_id": "c1", "row": 3, "analysis": a, "error_type": "X", "error": "later"}
        for a in ("mean-hu", "flaky")
    ]
    pd.DataFrame(rows).to_csv(out / "failures.csv", index=False)
    _Run(m, (MEAN_HU, FLAKY), out).flush()
    row = read_cohort(out).set_index("case_id").loc["c1"]
    assert (row["status"], row["error"]) == ("failed", "later; later")


def test_an_mr_like_image_is_refused_by_every_analysis(tmp_path, dask_cluster):
    """Values 0-255 and no air: NotCTError from each analysis's inputs object, through batch."""
    from bonequality.phantoms import make_phantom

    pelvis = make_phantom("pelvis", spacing=(4.0, 4.0, 4.0))
    hu = pelvis.volume.array.astype(np.float32)
    mr = np.clip((hu + 200.0) / 8.0, 0, 255).astype(np.uint8)
    pelvis.volume.with_array(mr).write(tmp_path / "mr.nrrd")
    box = np.zeros(mr.shape, np.uint8)
    k, j, i = (n // 2 for n in mr.shape)
    box[k - 2 : k + 3, j - 2 : j + 3, i - 2 : i + 3] = 1
    pelvis.volume.with_array(box).write(tmp_path / "box.nrrd")
    write_mrk_json(tmp_path / "mr.mrk.json", pelvis.landmarks)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "case_id,ct,landmarks,mask,vertebra_mask\nmr1,mr.nrrd,mr.mrk.json,box.nrrd,box.nrrd\n"
    )
    analyses = get_analyses("corridors,sacroplasty,focal-defect,cement")
    result = run_batch(
        read_manifest(manifest), analyses, tmp_path / "out", client=dask_cluster, write_report=False
    )
    assert (result.done, result.failed, result.partial) == (0, 1, 0)
    failures = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert list(failures["analysis"]) == ["corridors", "sacroplasty", "focal-defect", "cement"]
    assert set(failures["error_type"]) == {"NotCTError"}
    for error in failures["error"]:
        assert "row 2 (case mr1), column 'ct' (mr.nrrd)" in error
        assert "does not look like a CT in Hounsfield units" in error
    assert read_cohort(tmp_path / "out").loc[0, "status"] == "failed"
    assert not (tmp_path / "out" / "cases" / "mr1").exists()


# ------------------------------------------------------------------------------------------ registry


def python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_analyses_are_registered_right_after_import():
    res = python("import json, bonequality.batch as b; print(json.dumps(list(b.ANALYSES)))")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == ["corridors", "sacroplasty", "focal-defect", "cement"]
    # the built-in adapters do not import the registry (no cycle, no registration by side effect)
    code = (
        "import sys, bonequality.batch.analyses as a; "
        "print([x.name for x in a.BUILTIN], 'bonequality.batch.registry' in sys.modules)"
    )
    res = python(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "['corridors', 'sacroplasty', 'focal-defect', 'cement'] True"


def plugin_env(tmp_path: Path, entry_points: str, module: str = "") -> dict:
    """A site folder with a fake installed distribution declaring ``entry_points``."""
    site = tmp_path / "site"
    dist = site / "bq_plugin_demo-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: bq-plugin-demo\nVersion: 0.1\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(f"[bonequality.analyses]\n{entry_points}\n", encoding="utf-8")
    if module:
        (site / "bq_plugin_demo.py").write_text(module, encoding="utf-8")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


PLUGIN = """
from bonequality.batch import Analysis


def voxels(inputs, case_dir):
    return {"n": int(inputs.ct().array.size)}


VOXELS = Analysis("voxels", voxels, description="voxel count")
"""


def test_an_installed_entry_point_analysis_is_registered(tmp_path):
    env = plugin_env(tmp_path, "voxels = bq_plugin_demo:VOXELS", PLUGIN)
    res = python("import json, bonequality.batch as b; print(json.dumps(list(b.ANALYSES)))", env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == ["corridors", "sacroplasty", "focal-defect", "cement", "voxels"]


@pytest.mark.parametrize(
    ("entry", "fragments"),
    [
        ("broken = bq_no_such_module:X", ["entry point 'broken'", "bq_no_such_module:X", "cannot be loaded"]),
        ("voxels = bq_plugin_demo:voxels_missing", ["entry point 'voxels'", "cannot be loaded"]),
        ("notone = bq_plugin_demo:PLUGIN_NAME", ["entry point 'notone'", "is a str, not a"]),
        ("corridors = bq_plugin_demo:CLASH", ["entry point 'corridors'", "built-in"]),
    ],
)
def test_a_broken_entry_point_is_an_error_naming_it(tmp_path, entry, fragments):
    module = PLUGIN + 'PLUGIN_NAME = "x"\nCLASH = Analysis("corridors", voxels)\n'
    env = plugin_env(tmp_path, entry, module)
    res = python("import bonequality.batch", env)
    assert res.returncode != 0
    assert "AnalysisPluginError" in res.stderr
    for f in fragments:
        assert f in res.stderr
    # the CLI still works for everything else; `bonequality batch` reports the entry point (exit 2)
    cli = [sys.executable, "-m", "bonequality.cli", "--no-progress"]
    res = subprocess.run([*cli, "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    m = tmp_path / "m.csv"
    m.write_text("case_id,ct\na,x.nrrd\n", encoding="utf-8")
    res = subprocess.run(
        [*cli, "batch", str(m), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2
    assert fragments[0] in res.stderr
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------ stats


def test_summaries_and_mann_whitney_match_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(180, 60, 40), rng.normal(80, 25, 12)
    s = bstats.summarize(np.r_[a, np.nan])
    assert (s.n, s.mean, s.sd) == (40, pytest.approx(a.mean()), pytest.approx(a.std(ddof=1)))
    assert (s.min, s.max) == (a.min(), a.max())
    assert bstats.mann_whitney_p(a, b) == pytest.approx(sps.mannwhitneyu(a, b).pvalue)
    df = pd.DataFrame({"l5": np.r_[a, b], "female": [1] * 30 + [0] * 22})
    groups = {"hi": df["l5"] > 100, "lo": df["l5"] <= 100}
    table, numbers = bstats.group_table(df, {"L5": "l5"}, [("L5", groups)], count_column=("female", "female"))
    p = numbers.dropna(subset=["p"])["p"].iloc[0]
    assert p == pytest.approx(sps.mannwhitneyu(df.l5[groups["hi"]], df.l5[groups["lo"]]).pvalue)
    hi = bstats.summarize(df.l5[groups["hi"]])
    assert table.loc[0, "L5"].startswith(f"{hi.mean:.0f} ± ")
    assert table.loc[2, "group"] == "p (hi vs lo)"
    assert bstats.format_p(0.0004) == "<0.001"
    assert bstats.format_p(0.033) == "0.03"


def test_correlations_match_scipy():
    rng = np.random.default_rng(2)
    x = rng.uniform(20, 300, 30)
    df = pd.DataFrame({"l5": x, "s1": 30 + 1.1 * x + rng.normal(0, 20, 30)})
    df.loc[3, "s1"] = np.nan
    r = bstats.correlations(df, "l5", {"S1": "s1"}).iloc[0]
    ok = df.dropna()
    lr = sps.linregress(ok.l5, ok.s1)
    assert r["n"] == 29
    assert r["spearman_rho"] == pytest.approx(sps.spearmanr(ok.l5, ok.s1).statistic)
    assert (r["slope"], r["intercept"], r["p"]) == (
        pytest.approx(lr.slope),
        pytest.approx(lr.intercept),
        pytest.approx(lr.pvalue),
    )
    assert r["adj_r2"] == pytest.approx(1 - (1 - lr.rvalue**2) * 28 / 27)


def test_roc_on_hand_made_data():
    r = bstats.roc([1, 2, 3, 4], [0, 0, 1, 1])
    assert (r.auc, r.cutoff, r.sensitivity, r.specificity) == (1.0, 3.0, 1.0, 1.0)
    # 7 of the 9 positive-negative pairs are ordered: AUC 7/9; Youden best at threshold 0.3
    scores = [0.1, 0.2, 0.7, 0.3, 0.6, 0.8]
    labels = [0, 0, 0, 1, 1, 1]
    r = bstats.roc(scores, labels)
    assert r.auc == pytest.approx(7 / 9)
    u = sps.mannwhitneyu([0.3, 0.6, 0.8], [0.1, 0.2, 0.7])
    assert r.auc == pytest.approx(u.statistic / 9)
    assert r.p == pytest.approx(u.pvalue)
    assert (r.cutoff, r.sensitivity, r.specificity) == (0.3, 1.0, pytest.approx(2 / 3))
    assert r.fpr[0] == 0
    assert r.tpr[-1] == 1
    assert r.fpr[-1] == 1
    assert 0 <= r.auc_ci[0] < r.auc < r.auc_ci[1] <= 1
    with pytest.raises(ValueError, match="both classes"):
        bstats.roc([1, 2], [1, 1])


def test_odds_ratio_per_sd_recovers_the_simulated_effect():
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.normal(1.0, 0.12, n)  # like focal BMC loss, mm
    z = (x - x.mean()) / x.std(ddof=1)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.2 + 0.7 * z)))).astype(int)
    age = rng.normal(68, 8, n)
    df = pd.DataFrame({"y": y, "bmc": x, "age": age})
    t = bstats.odds_ratios(df, "y", {"BMC": "bmc"}, covariates=["age"]).set_index("model")
    for model in ("base", "full"):
        row = t.loc[model]
        assert row["ci_low"] < math.exp(0.7) < row["ci_high"]
        assert row["p"] < 1e-6
    assert t.loc["full", "adjusted_for"] == "age"
    sep = pd.DataFrame({"y": [0, 0, 0, 1, 1, 1], "bmc": [1, 2, 3, 4, 5, 6]})
    note = bstats.odds_ratios(sep, "y", {"BMC": "bmc"}).iloc[0]["note"]
    assert note.startswith("not estimable")


def test_profile_bands_mean_and_sd():
    prof = pd.DataFrame(
        {
            "case_id": ["a", "a", "b", "b", "c", "c"],
            "corridor": "S1",
            "percent": [0, 1] * 3,
            "mean_hu": [100.0, 200.0, 300.0, 400.0, 50.0, 60.0],
        }
    )
    bands = bstats.profile_bands(prof, pd.Series({"a": "hi", "b": "hi", "c": "lo"}))
    hi = bands[bands["group"] == "hi"].set_index("percent")
    assert hi.loc[0, "mean"] == 200
    assert hi.loc[1, "sd"] == pytest.approx(np.std([200, 400], ddof=1))
    assert bands[bands["group"] == "lo"]["n"].tolist() == [1, 1]


# ------------------------------------------------------------------------------------------ report


def synthetic_cohort(n: int = 40, seed: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cohort.csv-like table with every column the report uses, and profiles."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(35, 90, n)
    l5 = np.clip(260 - 2.2 * age + rng.normal(0, 30, n), 20, None)
    df = pd.DataFrame({"case_id": [f"p{i}" for i in range(n)], "status": "done", "age": age.round()})
    df["sex"] = np.where(rng.random(n) < 0.5, "F", "M")
    df["fracture"] = (rng.random(n) < 0.4).astype(int)
    df[COLUMNS["L5"]] = l5
    for key, (k_c, k_b, k_a) in {"S1": (1.1, 1.2, 0.6), "S2": (0.8, 0.75, 0.3)}.items():
        for (_, col), k in zip(COLUMNS[key].items(), (k_c, k_b, k_a)):
            df[col] = 20 + k * l5 + rng.normal(0, 25, n)
    f = COLUMNS["focal"]
    df[f["Focal BMC loss (mm)"]] = 0.93 + 0.1 * df["fracture"] + rng.normal(0, 0.12, n)
    df[f["Focal BMD loss"]] = 0.42 + 0.03 * df["fracture"] + rng.normal(0, 0.03, n)
    df[f["IncptWidth (mm)"]] = 1.87 + 0.08 * df["fracture"] + rng.normal(0, 0.18, n)
    df[f["BMD"]] = 124 - 46 * df["fracture"] + rng.normal(0, 40, n)
    vf = rng.normal(28, 6.5, n)
    df[COLUMNS["vf"]] = vf
    df[COLUMNS["cement_score"]] = np.clip(np.round((vf - 16) / 2 + rng.normal(0, 1.2, n)), 0, 10)
    df["cement_cdv_ml"] = vf * 0.26
    df["cement_vbv_ml"] = 26.0
    pct = np.arange(100) + 0.5
    rows = []
    for cid, v in zip(df["case_id"], l5):
        for probe, base in (("S1", 1.1), ("S2", 0.8)):
            shape = 300 * np.exp(-(((pct - 15) / 4) ** 2)) + 300 * np.exp(-(((pct - 85) / 4) ** 2))
            hu = shape + base * v * (0.3 + 0.7 * np.exp(-(((pct - 50) / 12) ** 2)))
            rows.append(pd.DataFrame({"case_id": cid, "corridor": probe, "percent": pct, "mean_hu": hu}))
    return df, pd.concat(rows, ignore_index=True)


def test_report_has_every_section_and_its_pictures(tmp_path):
    df, prof = synthetic_cohort()
    failed = pd.DataFrame([{"case_id": "bad1", "status": "failed", "error": "row 9: file x not found"}])
    pd.concat([df, failed], ignore_index=True).to_csv(tmp_path / "cohort.csv", index=False)
    prof.to_csv(tmp_path / "profiles.csv", index=False)
    html = write_cohort_report(tmp_path).read_text(encoding="utf-8")
    for title in (
        "Seed 000 Table 1",
        "Figure 5",
        "Figure 6",
        "Tables 3-4",
        "Table 4: odds",
        "Seed 003 Figure 4",
    ):
        assert title in html
    assert "Skipped" not in html
    assert "row 9: file x not found" in html
    assert "p (L5 &gt; 100 HU vs L5 ≤ 100 HU)" in html
    pngs = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert pngs == ["cement_roc.png", "fig5_l5_regression.png", "fig6_profiles.png", "focal_by_fracture.png"]
    for name in pngs:
        assert f"report/{name}" in html
        assert (tmp_path / "report" / name).stat().st_size > 10_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_report_skips_sections_without_data(tmp_path):
    df, _ = synthetic_cohort(12)
    df = df[["case_id", "status", "age", COLUMNS["L5"], *COLUMNS["S1"].values()]]
    df.to_csv(tmp_path / "cohort.csv", index=False)
    html = write_cohort_report(tmp_path).read_text(encoding="utf-8")
    assert "Seed 000 Table 1: bone density" in html
    assert "Skipped: no corridor profiles" in html
    assert "Skipped: no focal-defect results" in html
    assert "Skipped: no cement results" in html
    assert sorted(p.name for p in (tmp_path / "report").glob("*.png")) == ["fig5_l5_regression.png"]


def test_build_cohort_keeps_whole_numbers(cohort, tmp_path):
    m = read_manifest(cohort)
    out = tmp_path / "out"
    outcome = run_case(m.case("c2"), (MEAN_HU,), out)
    assert outcome.status == "done"
    from bonequality.batch import build_cohort

    summary = json.loads((out / "cases" / "c2" / "summary.json").read_text(encoding="utf-8"))
    df = build_cohort(m, {"c2": summary}, {}, (MEAN_HU,))
    assert str(df["toy_voxels"].dtype) == "Int64"
    assert df.set_index("case_id").loc["c0", "status"] == "pending"
    assert os.path.isdir(out / "cases" / "c2" / "mean-hu")


def test_existing_scheduler_address(cohort, tmp_path, dask_cluster):
    out = tmp_path / "out"
    address = dask_cluster.scheduler_info()["address"]
    result = run_batch(read_manifest(cohort), (MEAN_HU,), out, scheduler=address, write_report=False)
    assert (result.done, result.failed) == (6, 3)
    assert len(dask_cluster.scheduler_info()["workers"]) == 2  # the cluster is still up, not closed


def test_worker_environment_keeps_glibc_malloc_and_shares_the_cores():
    """Dask's MALLOC_TRIM_THRESHOLD_=65536 made the same cases 46 % slower in a worker."""
    import os

    from bonequality.batch.runner import worker_environment

    cores = os.cpu_count() or 1
    one, two = worker_environment(1), worker_environment(2)
    assert "MALLOC_TRIM_THRESHOLD_" not in one
    assert one["OMP_NUM_THREADS"] == str(cores)
    assert two["OMP_NUM_THREADS"] == str(max(1, cores // 2))
    assert all(isinstance(v, str) for v in one.values())
