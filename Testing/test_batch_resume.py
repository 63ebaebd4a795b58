"""Resume notices edited inputs: a case whose input files changed since it finished is redone.

The fingerprint of a case covers its manifest cells and the size and modification time of
every file it names (each file of a folder input, e.g. a DICOM series), taken before its
analyses read them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bonequality.batch import Analysis, read_manifest, run_batch, run_case
from bonequality.batch.manifest import file_state
from bonequality.batch.runner import finished_summary
from bonequality.volume import Volume


def mean_ct(inputs, case_dir: Path) -> dict:
    """Test analysis: the CT's mean HU."""
    return {"hu": float(np.mean(inputs.ct().array))}


MEAN = Analysis("mean-ct", mean_ct, requires=("ct",), prefix="mean")


def write_ct(path: Path, hu: float) -> None:
    Volume(np.full((6, 7, 8), hu, np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3)).write(path)


def edit_in_place(path: Path, write) -> None:
    """Rewrite ``path`` in place; its mtime moves on even on a coarse-clock file system."""
    before = path.stat().st_mtime_ns
    write()
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 10**9, before + 10**9))


@pytest.fixture
def cohort(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        write_ct(data / f"c{i}.nrrd", 100.0 * (i + 1))
    m = tmp_path / "manifest.csv"
    m.write_text("case_id,ct\n" + "".join(f"c{i},data/c{i}.nrrd\n" for i in range(3)))
    return m


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_a_ct_edited_in_place_is_redone(cohort, tmp_path, client):
    """The reviewer's case: a CT edited in place kept its old result (331.7 vs a fresh 167.1)."""
    out = tmp_path / "out"
    run_batch(read_manifest(cohort), (MEAN,), out, client=client, write_report=False)
    hu = pd.read_csv(out / "cohort.csv").set_index("case_id")["mean_hu"]
    assert list(hu) == pytest.approx([100.0, 200.0, 300.0])
    edit_in_place(
        cohort.parent / "data" / "c1.nrrd", lambda: write_ct(cohort.parent / "data" / "c1.nrrd", 167.1)
    )
    ran = []
    result = run_batch(
        read_manifest(cohort),
        (MEAN,),
        out,
        client=client,
        write_report=False,
        on_case=lambda o, c: ran.append(o.case_id),
    )
    assert ran == ["c1"]
    assert (result.skipped, result.done) == (2, 3)
    hu = pd.read_csv(out / "cohort.csv").set_index("case_id")["mean_hu"]
    assert hu["c1"] == pytest.approx(167.1, abs=1e-3)
    assert json.loads((out / "cases" / "c1" / "summary.json").read_text())["figures"][
        "mean_hu"
    ] == pytest.approx(167.1, abs=1e-3)
    # nothing changed: nothing is redone
    ran.clear()
    run_batch(
        read_manifest(cohort),
        (MEAN,),
        out,
        client=client,
        write_report=False,
        on_case=lambda o, c: ran.append(o.case_id),
    )
    assert ran == []


def test_fingerprint_follows_the_files(tmp_path):
    ct, mask = tmp_path / "ct.nrrd", tmp_path / "mask.nrrd"
    series = tmp_path / "series"
    series.mkdir()
    for p in (ct, mask, series / "IM1.dcm", series / "IM2.dcm"):
        p.write_bytes(b"0123456789")
    m = tmp_path / "m.csv"
    m.write_text("case_id,ct,mask,label\na,ct.nrrd,mask.nrrd,1\nb,series,,\n")

    def fingerprints() -> tuple[str, str]:
        a, b = read_manifest(m).cases
        return a.fingerprint, b.fingerprint

    first = fingerprints()
    assert fingerprints() == first  # stable when nothing changes
    edit_in_place(mask, lambda: mask.write_bytes(b"9876543210"))  # same size, new content
    second = fingerprints()
    assert second[0] != first[0]
    assert second[1] == first[1]
    edit_in_place(series / "IM2.dcm", lambda: (series / "IM2.dcm").write_bytes(b"x"))  # a file of a folder
    third = fingerprints()
    assert third[1] != second[1]
    assert third[0] == second[0]
    (series / "IM3.dcm").write_bytes(b"new")  # a file added to the series
    assert fingerprints()[1] != third[1]
    ct.unlink()  # a file gone
    assert fingerprints()[0] != third[0]
    assert file_state(ct) == ["missing"]


def test_the_fingerprint_is_taken_before_the_analyses_read(cohort, tmp_path):
    """An input edited while its case runs leaves the case stale: the next run redoes it."""
    case = read_manifest(cohort).case("c0")
    ct = Path(case.inputs["ct"])

    def edits_its_input(inputs, case_dir: Path) -> dict:
        value = mean_ct(inputs, case_dir)
        edit_in_place(ct, lambda: write_ct(ct, 555.0))  # the user saves a corrected CT meanwhile
        return value

    analysis = Analysis("mean-ct", edits_its_input, requires=("ct",), prefix="mean")
    out = tmp_path / "out"
    outcome = run_case(case, (analysis,), out)
    assert outcome.status == "done"
    assert outcome.figures["mean_hu"] == pytest.approx(100.0)
    assert finished_summary(out, case, (analysis,)) is None  # stale: redone by the next run
    fresh = run_case(case, (MEAN,), out)
    assert fresh.figures["mean_hu"] == pytest.approx(555.0)
    assert finished_summary(out, case, (MEAN,)) is not None
