"""SIGTERM and Ctrl-C: every cleanup runs, one line on stderr, exit 143 or 130.

``timeout``, Slurm and ``docker stop`` send SIGTERM; a terminal's Ctrl-C sends SIGINT to
every process of the job (the batch's Dask workers too). The runs here are subprocesses
whose slow step is stretched by a hook, so the signal lands while outputs are staged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

HIDDEN = (".bq-tmp-", ".bq-old-", ".stage-", ".old-")


def leftovers(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if any(h in p.name for h in HIDDEN)]


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended (rc {proc.returncode}) before the signal: {err[-2000:]}")
        assert time.monotonic() < deadline, "timed out waiting for the run"
        time.sleep(0.02)


def start(script: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a job under a shell or Slurm
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def pelvis(tmp_path_factory) -> dict[str, Path]:
    from bonequality.phantoms import write_phantom
    from bonequality.phantoms.pelvis import make_pelvis

    folder = tmp_path_factory.mktemp("pelvis")
    return write_phantom(make_pelvis(spacing=(2.0, 2.0, 2.0)), folder / "pelvis.nrrd")


# Stretch the last step of writing a results folder (the stamp goes in after every
# other file), and say when it is reached.
SLOW_STAMP = """
    import pathlib, sys, time
    import bonequality.outputs as outputs

    def slow_stamp(folder, *args, **kwargs):
        pathlib.Path(sys.argv[1]).write_text(str(folder))
        time.sleep(60)

    outputs.write_stamp = slow_stamp
    from bonequality.cli import main
    sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_signal_while_writing_leaves_nothing(pelvis, tmp_path, sig, code, word):
    work = tmp_path / "work"
    work.mkdir()
    ready = tmp_path / "ready"
    out = work / "out"
    argv = ["--no-progress", "corridors", str(pelvis["image"]), "--landmarks", str(pelvis["landmarks"])]
    proc = start(SLOW_STAMP, str(ready), *argv, "--out", str(out))
    wait_for(ready.exists, proc)
    staged = Path(ready.read_text())
    assert staged.name.startswith(".out.bq-tmp-")
    assert {p.name for p in staged.iterdir()} >= {"summary.json", "profiles.csv", "report.png"}
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    lines = err.strip().splitlines()
    assert lines == [
        f"bonequality: {word}{' (SIGTERM)' if code == 143 else ''}; no partial output was written"
    ]
    assert list(work.iterdir()) == []  # neither the staging folder nor a half --out


def test_sigterm_while_replacing_keeps_the_earlier_results(pelvis, tmp_path):
    from bonequality.cli import main

    out = tmp_path / "out"
    argv = ["--no-progress", "corridors", str(pelvis["image"]), "--landmarks", str(pelvis["landmarks"])]
    assert main([*argv, "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    ready = tmp_path / "ready"
    proc = start(SLOW_STAMP, str(ready), *argv, "--out", str(out), "--overwrite")
    wait_for(ready.exists, proc)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "ready"]


# A batch analysis that finishes case c0 at once and takes long on the others (while
# BQ_SLOW is set), so the signal lands with one case kept and others running.
TOY = """
    import os, time
    from bonequality.batch import Analysis, register_analysis

    def toy(inputs, case_dir):
        (case_dir / "x.txt").write_text(inputs.case_id)
        if inputs.case_id != "c0" and os.environ.get("BQ_SLOW"):
            time.sleep(60)
        return {"size": os.path.getsize(inputs.value("ct"))}

    register_analysis(Analysis("toy", toy, requires=("ct",)))
"""

BATCH = """
    import sys
    import toy_analysis  # registers "toy" (the workers import it by name)
    from bonequality.cli import main
    sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("sig", "group", "code"),
    [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)],
    ids=["ctrl-c to the job", "sigterm to the cli"],
)
def test_batch_stops_with_one_line_keeps_finished_cases_and_resumes(tmp_path, sig, group, code):
    (tmp_path / "toy_analysis.py").write_text(textwrap.dedent(TOY))
    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        (data / f"c{i}.nrrd").write_bytes(b"x" * (i + 1))
    manifest = data / "m.csv"
    manifest.write_text("case_id,ct\n" + "".join(f"c{i},c{i}.nrrd\n" for i in range(4)))
    out = tmp_path / "out"
    argv = ["--no-progress", "batch", str(manifest), "--analyses", "toy", "--workers", "2", "--out", str(out)]
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]), "BQ_SLOW": "1"}
    proc = start(BATCH, *argv, env=env)
    cases = out / "cases"

    def c0_kept_others_running() -> bool:
        if not (out / "cohort.csv").is_file() or not leftovers(cases):
            return False
        return "c0,done" in (out / "cohort.csv").read_text()

    wait_for(c0_kept_others_running, proc)
    (os.killpg if group else os.kill)(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # no Dask tracebacks
    assert lines[0].startswith("bonequality: " + ("interrupted" if code == 130 else "terminated (SIGTERM)"))
    assert (
        f"1 of 4 cases finished and kept in {out.resolve()}; run the same command again to resume" in lines[0]
    )
    assert leftovers(out) == []
    assert pd.read_csv(out / "cohort.csv").set_index("case_id").loc["c0", "status"] == "done"

    env.pop("BQ_SLOW")
    res = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BATCH), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert res.returncode == 0, res.stderr
    cohort = pd.read_csv(out / "cohort.csv").set_index("case_id")
    assert list(cohort["status"]) == ["done"] * 4
    assert list(cohort["toy_size"]) == [1, 2, 3, 4]
    assert json.loads(res.stdout)["skipped"] == 1
