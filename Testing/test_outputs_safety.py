"""Output folders never destroy or mix user files (bonequality.outputs.prepare_output_dir).

Every command's ``--out`` and batch's ``--out`` go through the same rules: no ``""``, no
folder holding an input or inside an input folder, no folder of user files (even with
``--overwrite``), no folder of earlier results without ``--overwrite`` (then replaced
whole), and errors that name the final paths, never the hidden staging ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bonequality.batch import read_manifest
from bonequality.batch.cluster import check_scheduler, check_workers
from bonequality.batch.runner import check_batch_dir
from bonequality.cli import main
from bonequality.errors import OptionError, OutputFolderError
from bonequality.outputs import STAMP, atomic_file, atomic_output_dir, prepare_output_dir, read_stamp


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) -> the hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("bonequality: error: ")
    assert ".bq-tmp-" not in err[0]
    assert "Traceback" not in err[0]
    return err[0]


def write_results(out, analysis: str, names=("summary.json",), **options) -> None:
    with atomic_output_dir(out, analysis, **options) as stage:
        for name in names:
            (stage / name).write_text(f"{analysis} {name}")


# ------------------------------------------------------------------------------------ the rules


@pytest.mark.parametrize("out", ["", "   ", None])
def test_empty_out_is_refused_and_nothing_is_written(tmp_path, out, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "summary.json").write_text("the user's own")
    before = tree(tmp_path)
    with pytest.raises(OutputFolderError, match=r"--out is empty .*unset shell variable"):
        write_results(out, "corridors")
    assert tree(tmp_path) == before


def test_empty_out_on_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("ct.nrrd", "l.mrk.json", "summary.json"):
        (tmp_path / name).write_text("user file")
    before = tree(tmp_path)
    assert main(["--no-progress", "corridors", "ct.nrrd", "--landmarks", "l.mrk.json", "--out", ""]) == 2
    assert "--out is empty" in one_error_line(capsys)
    assert tree(tmp_path) == before


def test_a_folder_holding_an_input_is_refused(tmp_path, capsys):
    """``cement --body-mask OUT/segments.seg.nrrd --out OUT`` must not overwrite its own input."""
    out = tmp_path / "OUT"
    out.mkdir()
    (out / "segments.seg.nrrd").write_bytes(b"NRRD0004 a mask the user made")
    (tmp_path / "ct.nrrd").write_bytes(b"a CT")
    before = tree(tmp_path)
    argv = [
        "--no-progress",
        "cement",
        str(tmp_path / "ct.nrrd"),
        "--body-mask",
        str(out / "segments.seg.nrrd"),
    ]
    assert main([*argv, "--out", str(out), "--overwrite"]) == 2
    line = one_error_line(capsys)
    assert f"--out {out} holds the input {out / 'segments.seg.nrrd'}" in line
    assert tree(tmp_path) == before
    # an input deeper inside, and --out equal to the input's own folder
    with pytest.raises(OutputFolderError, match="holds the input"):
        prepare_output_dir(tmp_path, "cement", inputs=[out / "segments.seg.nrrd"], overwrite=True)
    with pytest.raises(OutputFolderError, match="holds the input"):
        prepare_output_dir(tmp_path, "corridors", inputs=[tmp_path / "ct.nrrd"])


def test_a_folder_inside_an_input_folder_is_refused(tmp_path):
    """A DICOM series folder is an input: results must not be written into it."""
    series = tmp_path / "dicom"
    series.mkdir()
    (series / "IM0001.dcm").write_bytes(b"DICM")
    for out in (series, series / "results"):
        with pytest.raises(OutputFolderError, match="input"):
            write_results(out, "focal-defect", inputs=[series])
    assert sorted(p.name for p in series.iterdir()) == ["IM0001.dcm"]
    # next to it is fine
    write_results(tmp_path / "results", "focal-defect", inputs=[series])
    assert read_stamp(tmp_path / "results")["inputs"] == [str(series)]


def test_user_files_are_never_replaced_even_with_overwrite(tmp_path):
    out = tmp_path / "mine"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "todo.txt").write_text("mine")
    before = tree(out)
    for overwrite in (False, True):
        with pytest.raises(OutputFolderError, match=r"bonequality did not write \(e.g. notes\)"):
            write_results(out, "corridors", overwrite=overwrite)
    assert tree(out) == before


def test_a_file_as_out_is_refused(tmp_path):
    f = tmp_path / "results"
    f.write_text("a file")
    with pytest.raises(OutputFolderError, match="is a file"):
        write_results(f, "corridors")
    assert f.read_text() == "a file"


def test_an_empty_folder_is_used_and_stamped(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    write_results(out, "corridors", names=("summary.json", "profiles.csv"))
    assert sorted(p.name for p in out.iterdir()) == [STAMP, "profiles.csv", "summary.json"]
    stamp = read_stamp(out)
    assert stamp["analysis"] == "corridors"
    assert {"version", "written", "inputs"} <= set(stamp)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_earlier_results_need_overwrite_and_are_replaced_whole(tmp_path):
    """Sacroplasty into a folder holding corridors' results: refused, or replaced whole; never mixed."""
    out = tmp_path / "out"
    write_results(out, "corridors", names=("summary.json", "profiles.csv", "report.png"))
    before = tree(out)
    with pytest.raises(OutputFolderError, match=r"earlier `bonequality corridors` run .*--overwrite"):
        write_results(out, "sacroplasty", names=("summary.json", "report.png"))
    assert tree(out) == before
    with pytest.raises(OutputFolderError, match="--overwrite"):  # a rerun of the same analysis too
        write_results(out, "corridors")
    write_results(out, "sacroplasty", names=("summary.json", "report.png"), overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [STAMP, "report.png", "summary.json"]
    assert (out / "summary.json").read_text() == "sacroplasty summary.json"
    assert read_stamp(out)["analysis"] == "sacroplasty"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging or old folder left


def test_files_added_to_a_results_folder_are_not_replaced(tmp_path):
    """--overwrite replaces what the earlier run wrote (the stamp lists it), never more."""
    out = tmp_path / "out"
    write_results(out, "corridors", names=("summary.json", "profiles.csv"))
    (out / "my_notes.txt").write_text("the user's")
    before = tree(out)
    with pytest.raises(OutputFolderError, match=r"files it did not write \(e.g. my_notes.txt\)"):
        write_results(out, "sacroplasty", overwrite=True)
    assert tree(out) == before


def test_a_failure_while_replacing_keeps_the_old_results(tmp_path):
    out = tmp_path / "out"
    write_results(out, "corridors", names=("summary.json", "profiles.csv"))
    before = tree(out)

    def crash():
        with atomic_output_dir(out, "corridors", overwrite=True) as stage:
            (stage / "summary.json").write_text("half")
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        crash()
    assert tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_user_files_appearing_while_computing_are_not_replaced(tmp_path):
    """The folder is checked again right before the swap."""
    out = tmp_path / "out"

    def user_writes_meanwhile():
        with atomic_output_dir(out, "corridors") as stage:
            (stage / "summary.json").write_text("{}")
            out.mkdir()
            (out / "later.txt").write_text("the user's")

    with pytest.raises(OutputFolderError, match="did not write"):
        user_writes_meanwhile()
    assert tree(out) == {"later.txt": hashlib.sha1(b"the user's").hexdigest()}


def test_errors_name_the_final_paths_not_the_staging_ones(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError) as err, atomic_output_dir(out, "corridors") as stage:
        (stage / "missing" / "x.csv").write_text("a")
    assert err.value.filename == str(out / "missing" / "x.csv")
    assert ".bq-tmp-" not in str(err.value)
    with pytest.raises(RuntimeError) as err, atomic_output_dir(out, "corridors") as stage:
        raise RuntimeError(f"cannot write {stage / 'report.png'}")
    assert str(err.value) == f"cannot write {out / 'report.png'}"
    with pytest.raises(FileNotFoundError) as err, atomic_file(tmp_path / "table.csv") as tmp:
        open(tmp.parent / "nope" / "t.csv", "w")  # noqa: SIM115 - the OSError is the point
    assert ".bq-tmp-" not in str(err.value)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    user_files=st.lists(st.sampled_from(["a.txt", "sub/b.csv", "summary.json"]), max_size=2, unique=True),
    stamped=st.booleans(),
    overwrite=st.booleans(),
    input_inside=st.booleans(),
)
def test_property_refused_untouched_or_replaced_whole(tmp_path, user_files, stamped, overwrite, input_inside):
    """Any folder state: either refused with nothing changed, or exactly the new results."""
    case = Path(os.urandom(6).hex())
    root = tmp_path / case
    out = root / "out"
    out.mkdir(parents=True)
    if stamped:
        write_results(out, "cement", names=("old.json",), overwrite=True)
    for name in user_files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("user")
    ct = (out if input_inside else root) / "ct.nrrd"
    ct.write_bytes(b"CT")
    before = tree(root)
    allowed = not input_inside and not user_files and (overwrite or not stamped)
    try:
        write_results(out, "corridors", names=("summary.json",), inputs=[ct], overwrite=overwrite)
    except OutputFolderError:
        assert not allowed
        assert tree(root) == before
    else:
        assert allowed
        assert sorted(tree(out)) == [STAMP, "summary.json"]
        assert (out / "summary.json").read_text() == "corridors summary.json"
    assert sorted(p.name for p in root.iterdir()) == (["out"] if input_inside else ["ct.nrrd", "out"])


# ------------------------------------------------------------------------------------------ batch


def cohort_csv(folder: Path, n: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"c{i}.nrrd").write_bytes(b"CT")
    m = folder / "cohort.csv"
    m.write_text(
        "case_id,ct,seed\n" + "".join(f'c{i},c{i}.nrrd,"0,0,0"\n' for i in range(n)), encoding="utf-8"
    )
    return m


def test_batch_never_writes_over_its_manifest(tmp_path, capsys):
    """``batch D/cohort.csv --out D`` used to overwrite the manifest with its results."""
    m = cohort_csv(tmp_path / "D")
    before = tree(tmp_path)
    assert main(["--no-progress", "batch", str(m), "--analyses", "cement", "--out", str(m.parent)]) == 2
    assert f"holds the input {m}" in one_error_line(capsys)
    assert tree(tmp_path) == before
    # a case's input inside --out is refused too, naming it
    other = tmp_path / "m.csv"
    other.write_text(f"case_id,ct\nc1,{m.parent / 'c1.nrrd'}\n")
    with pytest.raises(OutputFolderError, match=r"holds the input .*c1\.nrrd"):
        check_batch_dir(m.parent, read_manifest(other))


def test_batch_folder_of_another_manifest_needs_overwrite(tmp_path):
    a, b = cohort_csv(tmp_path / "a"), cohort_csv(tmp_path / "b")
    out = tmp_path / "out"
    out.mkdir()
    (out / "cohort.csv").write_text("case_id,status\nc0,done\n")
    (out / "cases").mkdir()
    # written before stamps existed: resumed (stamped on the first run), not refused
    assert check_batch_dir(out, read_manifest(a)) == out.resolve()
    from bonequality.outputs import write_stamp

    write_stamp(out, "batch", inputs=[a], manifest=str(a.resolve()))
    assert check_batch_dir(out, read_manifest(a)) == out.resolve()  # the same manifest: resume
    with pytest.raises(OutputFolderError, match=r"earlier `bonequality batch` run.*--overwrite"):
        check_batch_dir(out, read_manifest(b))
    assert check_batch_dir(out, read_manifest(b), overwrite=True) == out.resolve()


def test_batch_overwrite_starts_afresh(tmp_path, monkeypatch):
    """--overwrite replaces an earlier batch folder by an empty one before the run."""
    from bonequality.batch import runner

    a, b = cohort_csv(tmp_path / "a"), cohort_csv(tmp_path / "b")
    out = tmp_path / "out"
    (out / "cases" / "old").mkdir(parents=True)
    (out / "cases" / "old" / "summary.json").write_text("{}")
    from bonequality.outputs import write_stamp

    write_stamp(out, "batch", inputs=[a], manifest=str(a.resolve()))
    prepared = runner._prepare(out, read_manifest(b), overwrite=True)
    assert prepared == out.resolve()
    assert sorted(p.name for p in out.iterdir()) == [STAMP]
    assert json.loads((out / STAMP).read_text())["manifest"] == str(b.resolve())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------------------------- workers, scheduler


def test_workers_are_bounded_by_the_cores(tmp_path, capsys, monkeypatch):
    from bonequality.batch import cluster

    monkeypatch.setattr(cluster, "available_cpus", lambda: 2)
    monkeypatch.setattr(cluster, "_memory_bytes", lambda: 64 * 2**30)
    assert check_workers(None) == 2
    assert check_workers(2) == 2
    with pytest.raises(OptionError, match=r"--workers 1000: this machine has 2 CPU cores.*at most 2"):
        check_workers(1000)
    for bad in (0, -3):
        with pytest.raises(OptionError, match=f"--workers {bad}"):
            check_workers(bad)
    monkeypatch.setattr(cluster, "available_cpus", lambda: 64)
    monkeypatch.setattr(cluster, "_memory_bytes", lambda: 8 * 2**30)
    assert check_workers(None) == 4  # memory allows 4 at 2 GiB each
    with pytest.raises(OptionError, match=r"--workers 10: 8.0 GiB of memory holds at most 4"):
        check_workers(10)
    m = cohort_csv(tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--no-progress", "batch", str(m), "--analyses", "cement", "--out", str(out), "--workers", "1000"]
    assert main(argv) == 2
    assert "--workers 1000" in one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("address", ["garbage", "tcp://", "http://host:8786", "host:port", "tcp://a b:1"])
def test_a_malformed_scheduler_is_one_line(tmp_path, capsys, address):
    with pytest.raises(OptionError, match=r"--scheduler .*tcp://host:port"):
        check_scheduler(address)
    m = cohort_csv(tmp_path / "data")
    out = tmp_path / "out"
    assert main(["--no-progress", "batch", str(m), "--out", str(out), "--scheduler", address]) == 2
    assert "--scheduler" in one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize(
    "address", ["tcp://10.0.0.5:8786", "127.0.0.1:8786", "tls://sched.example.org:8786", "tcp://[::1]:8786"]
)
def test_scheduler_addresses_are_accepted(address):
    assert check_scheduler(address) == address


def test_a_signal_during_the_swap_waits_until_the_new_folder_is_in_place(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM between the renames would leave no folder: it is held until they are done."""
    import signal

    out = tmp_path / "out"
    write_results(out, "corridors", names=("old.json",))
    real = os.replace
    calls = []

    def replace_then_signal(src, dst):
        if Path(src) == out:  # the old folder moves aside: the worst moment for a signal
            os.kill(os.getpid(), signal.SIGINT)
        if Path(src) == out or Path(dst) == out:
            calls.append(dst)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_signal)
    with pytest.raises(KeyboardInterrupt):
        write_results(out, "sacroplasty", names=("new.json",), overwrite=True)
    monkeypatch.setattr(os, "replace", real)
    assert len(calls) == 2  # both renames ran before the interrupt was raised
    assert sorted(p.name for p in out.iterdir()) == [STAMP, "new.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old folder removed too
