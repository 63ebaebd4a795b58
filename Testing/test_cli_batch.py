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
            json.loads(p.read_text())
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

    cohort = pd.read_csv(out / "cohort.csv", dtype={"case_id": str})
    assert list(cohort["case_id"]) == ids  # every case exactly once, manifest order
    assert set(cohort.loc[cohort["status"] == "done", "case_id"]) == set(ids) - {"badlm"}
    assert sorted(p.name for p in (out / "cases").iterdir()) == sorted(set(ids) - {"badlm"})
    assert not [p for p in out.rglob("*") if p.name.startswith((".stage-", ".old-", ".bq-tmp-"))]
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures["case_id"]) == ["badlm"]
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
    html = (out / "report.html").read_text()
    for name in ("fig5_l5_regression.png", "fig6_profiles.png", "focal_by_fracture.png", "cement_roc.png"):
        assert f"report/{name}" in html
        assert (out / "report" / name).stat().st_size > 10_000


def test_kill_and_resume_on_a_phantom_cohort(tmp_path, capsys):
    kill_and_resume(tmp_path, 8, capsys, kill_after=3)


@pytest.mark.slow
def test_kill_and_resume_40_cases(tmp_path, capsys):
    kill_and_resume(tmp_path, 40, capsys, kill_after=15)


def test_bad_manifest_exits_2(tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text("case_id,ct\na,x.nrrd\na,y.nrrd\n")
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
    m.write_text("case_id,ct,landmarks\na,x.nrrd,x.mrk.json\n")
    out = tmp_path / "o"
    argv = ["--no-progress", "batch", str(m), "--analyses", "sacroplasty", "--out", str(out)]
    code = main([*argv, "--scheduler", "tcp://127.0.0.1:1"])  # refused: fails after the connect timeout
    assert code == 2
    assert "cannot connect" in capsys.readouterr().err
    assert not out.exists()
