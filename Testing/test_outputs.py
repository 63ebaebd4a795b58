"""Atomic outputs: a failure leaves nothing behind."""

from __future__ import annotations

import pytest

from bonequality.errors import OutputFolderError
from bonequality.outputs import atomic_files, atomic_output_dir, prepare_output_dir


def test_atomic_files_all_or_nothing(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"

    def fail_midway():
        with atomic_files(a, b) as (ta, _):
            ta.write_text("A")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_midway()
    assert list(tmp_path.iterdir()) == []
    with atomic_files(a, b) as (ta, tb):
        ta.write_text("A")
        tb.write_text("B")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_atomic_files_require_every_output(tmp_path):
    def write_one_of_two():
        with atomic_files(tmp_path / "x", tmp_path / "y") as (tx, _):
            tx.write_text("only one")

    with pytest.raises(RuntimeError, match="not written"):
        write_one_of_two()
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_dir_creates_nothing_on_failure_and_never_merges(tmp_path):
    """A failure leaves nothing; user files are refused, never mixed (was: merged into them)."""
    out = tmp_path / "results"

    def fail_midway():
        with atomic_output_dir(out) as stage:
            (stage / "summary.json").write_text("{}")
            raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        fail_midway()
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    with pytest.raises(OutputFolderError, match=r"keep\.txt"):
        prepare_output_dir(out, "corridors", overwrite=True)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    with atomic_output_dir(out) as stage:  # an empty folder is fine
        (stage / "summary.json").write_text("{}")
        (stage / "sub").mkdir()
        (stage / "sub" / "x.csv").write_text("a")
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert written == [".bonequality.json", "sub", "sub/x.csv", "summary.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["results"]


def test_json_is_strict_nan_and_infinities_become_null(tmp_path):
    import json

    import numpy as np

    from bonequality.outputs import write_json

    path = tmp_path / "s.json"
    write_json(path, {"a": float("nan"), "b": [1.0, np.inf, np.float32(2.5)], "c": np.array([np.nan, 3.0])})
    text = path.read_text()
    assert "NaN" not in text
    assert "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None, 2.5], "c": [None, 3.0]}
