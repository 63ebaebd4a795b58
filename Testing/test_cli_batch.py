"""End to end: `bonequality phantom-cohort` then `bonequality batch` on a 2-worker Dask
LocalCluster, killed with SIGKILL part-way and restarted.

Checks the issue's acceptance: every case exactly once, no duplicated or missing rows in
cohort.csv, no half-written file after the kill, a bad row (a landmark removed) in
failures.csv naming the landmark while the rest completes, and the real analyses'
figures agreeing with the phantoms' design (L5 HU of the density blend).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bonequality.cli import main
from bonequality.landmarks import read_mrk_json, write_mrk_json
from bonequality.outputs import STAMP


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "bonequality.cli", "--no-progress", *args]


def make_cohort(tmp: Path, n: int, capsys) -> Path:
    assert main(["--no-progress", "phantom-cohort", "--n", str(n), "--out", str(tmp / "cohort")]) == 0
    assert json.loads(capsys.readouterr().out)["cases"] == n
    manifest = tmp / "cohort" / "manifest.csv"
    # one bad row: a pelvis whose landmarks lack S1_body_top
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    first = df[df["kind"] == "pelvis"].iloc[0].copy()
    lm = read_mrk_json(manifest.parent / first["landmarks"])
    bad = {k: v for k, v in lm.items() if k != "S1_body_top"}
    from bonequality.landmarks import Landmarks

    write_mrk_json(manifest.parent / "images" / "bad.mrk.json", Landmarks.from_dict(bad))
    first["case_id"], first["landmarks"] = "badlm", "images/bad.mrk.json"
    pd.concat([df, first.to_frame().T], ignore_index=True).to_csv(manifest, index=False)
    return manifest


def finished(out: Path) -> set[str]:
    """Published cases. pathlib's glob also matches hidden staging folders, whose
    summary.json is written just before the folder is published: those are not finished."""
    summaries = (out / "cases").glob("*/summary.json")
    return {p.parent.name for p in summaries if not p.parent.name.startswith(".")}


def check_no_half_written_files(out: Path) -> None:
    """Every visible file parses; every visible case folder is complete."""
    for p in out.rglob("*"):
        if any(part.startswith(".") for part in p.relative_to(out).parts):
            continue  # hidden staging folders: never read, removed by the next run
        if p.suffix == ".json":
            json.loads(p.read_text(encoding="utf-8"))
        elif p.suffix == ".csv":
            pd.read_csv(p)
    for case in (out / "cases").iterdir():
        if not case.name.startswith("."):
            assert (case / "summary.json").is_file(), f"{case} published without its summary"


def kill_and_resume(tmp_path: Path, n: int, capsys, *, kill_after: int) -> None:
    manifest = make_cohort(tmp_path, n, capsys)
    ids = list(pd.read_csv(manifest, dtype=str)["case_id"])
    out = tmp_path / "run"
    proc = subprocess.Popen(
        cli("batch", str(manifest), "--out", str(out), "--workers", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while len(finished(out)) < kill_after if (out / "cases").is_dir() else True:
        assert proc.poll() is None, "the batch ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its scheduler and its workers
    proc.wait()
    time.sleep(0.5)
    done_at_kill = finished(out)
    assert kill_after <= len(done_at_kill) < len(ids), "the kill did not land part-way"
    check_no_half_written_files(out)

    res = subprocess.run(
        cli("batch", str(manifest), "--out", str(out), "--workers", "2"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["skipped"] >= len(done_at_kill - {"badlm"})
    assert (summary["total"], summary["done"], summary["failed"]) == (len(ids), len(ids) - 1, 1)
    assert summary["partial"] == 1

    cohort = pd.read_csv(out / "cohort.csv", dtype={"case_id": str})
    assert list(cohort["case_id"]) == ids  # every case exactly once, manifest order
    assert set(cohort.loc[cohort["status"] == "done", "case_id"]) == set(ids) - {"badlm"}
    # badlm lacks S1_body_top: corridors fails, sacroplasty (S1 corners) is kept, status partial
    assert sorted(p.name for p in (out / "cases").iterdir()) == sorted(ids)
    assert sorted(p.name for p in (out / "cases" / "badlm").iterdir()) == ["sacroplasty", "summary.json"]
    assert cohort.set_index("case_id").loc["badlm", "status"] == "partial"
    assert not [p for p in out.rglob("*") if p.name.startswith((".stage-", ".old-", ".bq-tmp-"))]
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["case_id"]) == ["badlm"]
    assert list(failures["analysis"]) == ["corridors"]
    assert "S1_body_top" in failures["error"].iloc[0]
    assert f"row {len(ids) + 1} (case badlm)" in failures["error"].iloc[0]
    check_no_half_written_files(out)

    # the analyses' figures follow the phantoms' design
    pel = cohort[(cohort["kind"] == "pelvis") & (cohort["status"] == "done")]
    assert (pel["corridors_L5_hu"] - pel["phantom_L5_hu"]).abs().max() < 3.0
    assert pel["sacroplasty_bone_threshold_hu"].notna().all()
    assert cohort.loc[cohort["kind"] == "vertebra", "focal_defect_bmc_loss_mm"].gt(0).all()
    cem = cohort[cohort["kind"] == "cemented-vertebra"]
    assert cem["cement_vf_percent"].between(1, 60).all()
    profiles = pd.read_csv(out / "profiles.csv")
    assert set(profiles["case_id"]) == set(pel["case_id"])
    assert len(profiles) == 2 * 100 * len(pel)
    html = (out / "report.html").read_text(encoding="utf-8")
    for name in ("fig5_l5_regression.png", "fig6_profiles.png", "focal_by_fracture.png", "cement_roc.png"):
        assert f"report/{name}" in html
        assert (out / "report" / name).stat().st_size > 10_000


def test_kill_and_resume_on_a_phantom_cohort(tmp_path, capsys):
    kill_and_resume(tmp_path, 8, capsys, kill_after=3)


@pytest.mark.slow
def test_kill_and_resume_40_cases(tmp_path, capsys):
    kill_and_resume(tmp_path, 40, capsys, kill_after=15)


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Small, fast phantoms: a pelvis (2 mm), a focal-defect vertebra, a cemented vertebra."""
    from bonequality.phantoms import make_phantom, write_phantom

    tmp = tmp_path_factory.mktemp("phantoms")
    made = {
        "pelvis": make_phantom("pelvis", spacing=(2.0, 2.0, 2.0)),
        "vertebra": make_phantom(
            "vertebra", spacing=(0.5, 0.5, 0.5), body_semi_axes_mm=(16.0, 12.0), body_height_mm=20.0
        ),
        "cemented": make_phantom("cemented-vertebra", spacing=(1.0, 1.0, 1.0)),
    }
    return {k: write_phantom(p, tmp / f"{k}.nrrd") for k, p in made.items()}


def files_of(folder: Path) -> list[str]:
    """The files under ``folder``, without the stamp of a CLI results folder (provenance)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != STAMP)


def comparable(summary: dict) -> dict:
    """summary.json without what may differ between the CLI and batch: timings and provenance."""

    def drop(v):
        if isinstance(v, dict):
            return {k: drop(x) for k, x in v.items() if k != "seconds"}
        return [drop(x) for x in v] if isinstance(v, list) else v

    return drop({k: v for k, v in summary.items() if k != "inputs"})


def same_image(a: Path, b: Path) -> None:
    import numpy as np
    import SimpleITK as sitk

    ia, ib = sitk.ReadImage(str(a)), sitk.ReadImage(str(b))
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(ia), sitk.GetArrayViewFromImage(ib))
    assert (ia.GetSpacing(), ia.GetOrigin(), ia.GetDirection()) == (
        ib.GetSpacing(),
        ib.GetOrigin(),
        ib.GetDirection(),
    )
    meta = {k: ia.GetMetaData(k) for k in ia.GetMetaDataKeys()}
    assert meta == {k: ib.GetMetaData(k) for k in ib.GetMetaDataKeys()}


def test_batch_writes_exactly_what_the_cli_writes(tmp_path, phantom_files, capsys):
    """Per case and analysis: the same files as `bonequality <analysis>`, the same summary.json
    (but for ``seconds`` and the ``inputs`` provenance), the same tables and images."""
    pel, ver, cem = phantom_files["pelvis"], phantom_files["vertebra"], phantom_files["cemented"]
    commands = {
        ("pelvis", "corridors"): ["corridors", str(pel["image"]), "--landmarks", str(pel["landmarks"])],
        ("pelvis", "sacroplasty"): ["sacroplasty", str(pel["image"]), "--landmarks", str(pel["landmarks"])],
        ("vert", "focal-defect"): ["focal-defect", str(ver["image"]), "--mask", str(ver["mask:body"])],
        ("cem", "cement"): ["cement", str(cem["image"]), "--vertebra-mask", str(cem["mask:vertebra"])],
    }
    for (_, analysis), argv in commands.items():
        assert main(["--no-progress", *argv, "--out", str(tmp_path / "cli" / analysis)]) == 0
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "case_id,ct,landmarks,mask,vertebra_mask,analyses\n"
        f"pelvis,{pel['image']},{pel['landmarks']},,,corridors;sacroplasty\n"
        f"vert,{ver['image']},,{ver['mask:body']},,focal-defect\n"
        f"cem,{cem['image']},,,{cem['mask:vertebra']},cement\n"
    )
    out = tmp_path / "batch"
    capsys.readouterr()
    assert (
        main(["--no-progress", "batch", str(manifest), "--out", str(out), "--workers", "2", "--no-report"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"]) == (3, 0)
    for (case, analysis), _ in commands.items():
        cli_dir, batch_dir = tmp_path / "cli" / analysis, out / "cases" / case / analysis
        assert files_of(batch_dir) == files_of(cli_dir)
        assert "report.png" in files_of(cli_dir)
        for name in files_of(cli_dir):
            a, b = cli_dir / name, batch_dir / name
            if name.endswith(".json"):
                assert comparable(json.loads(b.read_text(encoding="utf-8"))) == comparable(
                    json.loads(a.read_text(encoding="utf-8"))
                )
            elif name.endswith(".csv"):
                assert b.read_bytes() == a.read_bytes()
            elif name.endswith(".nrrd"):
                same_image(a, b)
    assert sorted(p.name for p in (out / "cases").iterdir()) == ["cem", "pelvis", "vert"]
    # the cohort-wide profiles.csv is the per-case file as written, with case_id in front
    profiles = pd.read_csv(out / "profiles.csv")
    per_case = pd.read_csv(out / "cases" / "pelvis" / "corridors" / "profiles.csv")
    assert list(profiles.columns) == ["case_id", *per_case.columns]
    pd.testing.assert_frame_equal(profiles.drop(columns="case_id"), per_case)


def test_a_failing_analysis_keeps_the_others_results(tmp_path, phantom_files, capsys):
    """--analyses corridors,sacroplasty on landmarks without the S1 corners: corridors is kept."""
    from bonequality.landmarks import Landmarks

    pel = phantom_files["pelvis"]
    lm = read_mrk_json(pel["landmarks"])
    write_mrk_json(
        tmp_path / "nocorners.mrk.json",
        Landmarks.from_dict({k: v for k, v in lm.items() if not k.startswith("S1_corner_")}),
    )
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"case_id,ct,landmarks\np1,{pel['image']},nocorners.mrk.json\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["--no-progress", "batch", str(manifest), "--analyses", "corridors,sacroplasty", "--out", str(out)]
    assert main([*argv, "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"], summary["partial"]) == (0, 1, 1)
    cohort = pd.read_csv(out / "cohort.csv", dtype={"case_id": str}).set_index("case_id")
    assert cohort.loc["p1", "status"] == "partial"
    assert pd.notna(cohort.loc["p1", "corridors_L5_hu"])
    assert "S1_corner_PS" in cohort.loc["p1", "error"]
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["analysis"]) == ["sacroplasty"]
    assert list(failures["case_id"]) == ["p1"]
    assert failures["error_type"].iloc[0] == "LandmarkError"
    assert "S1_corner_PS" in failures["error"].iloc[0]
    case = out / "cases" / "p1"
    assert sorted(p.name for p in case.iterdir()) == ["corridors", "summary.json"]
    assert files_of(case / "corridors") == ["profiles.csv", "report.png", "summary.json"]
    assert json.loads((case / "summary.json").read_text(encoding="utf-8"))["status"] == "partial"
    assert set(pd.read_csv(out / "profiles.csv")["case_id"]) == {"p1"}
    assert "report/fig5_l5_regression.png" in (out / "report.html").read_text(encoding="utf-8")


def test_bad_manifest_exits_2(tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text("case_id,ct\na,x.nrrd\na,y.nrrd\n", encoding="utf-8")
    assert main(["--no-progress", "batch", str(m), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err
    assert "'a' repeats row 2" in err
    assert main(["--no-progress", "batch", str(m), "--analyses", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "unknown analysis 'nope'" in capsys.readouterr().err
    assert main(["--no-progress", "phantom-cohort", "--n", "0", "--out", str(tmp_path / "c")]) == 2
    assert not (tmp_path / "o").exists()
    assert not (tmp_path / "c").exists()


def test_unreachable_scheduler_exits_2_and_writes_nothing(tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text("case_id,ct,landmarks\na,x.nrrd,x.mrk.json\n", encoding="utf-8")
    out = tmp_path / "o"
    argv = ["--no-progress", "batch", str(m), "--analyses", "sacroplasty", "--out", str(out)]
    code = main([*argv, "--scheduler", "tcp://127.0.0.1:1"])  # refused: fails after the connect timeout
    assert code == 2
    assert "cannot connect" in capsys.readouterr().err
    assert not out.exists()
