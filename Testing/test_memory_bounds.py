"""Memory bounds: an image too large for memory, or a step above the budget, is refused before allocating.

* :func:`bonequality.volume.read_image` reads the header first: a small NRRD whose header
  declares 2000^3 voxels is refused within 2 s, and the process never grows (measured in
  a subprocess: ``ru_maxrss``);
* heavy steps (balls, closings, distance transforms, resampling) check their estimated
  peak against :func:`bonequality.memory.budget_bytes` (``BONEQUALITY_MEMORY_BUDGET_GB``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bonequality import errors, memory
from bonequality.cli import main
from bonequality.imaging.body import BodySource, vertebral_body
from bonequality.imaging.morphology import ball, closing
from bonequality.phantoms import make_phantom
from bonequality.volume import Volume, read_dicom_series, read_image

#: Bytes the 2000^3 short image would need (voxels twice, one float32 copy).
HUGE_NEED = 2000**3 * (2 * 2 + 4)


def _nrrd_header(sizes: str, data: str | None = None) -> str:
    lines = ["NRRD0004", "type: short", "dimension: 3", f"sizes: {sizes}", "spacings: 1 1 1"]
    lines += ["encoding: raw", "endian: little"]
    if data is not None:
        lines.append(f"data file: {data}")
    return "\n".join(lines) + "\n\n"


@pytest.fixture
def huge_files(tmp_path) -> dict[str, Path]:
    """Hand-written NRRDs declaring huge images with a few hundred bytes of data."""
    attached = tmp_path / "huge.nrrd"
    attached.write_bytes(_nrrd_header("2000 2000 2000").encode() + bytes(256))
    (tmp_path / "tiny.raw").write_bytes(bytes(256))
    detached = tmp_path / "huge.nhdr"
    detached.write_text(_nrrd_header("2000 2000 2000", "tiny.raw"))
    enormous = tmp_path / "enormous.nrrd"
    enormous.write_bytes(_nrrd_header("20000 20000 20000").encode() + bytes(256))
    return {"attached": attached, "detached": detached, "enormous": enormous}


def _needs_more_than_available(need: int) -> None:
    avail = memory.available_bytes()
    if avail is not None and avail >= need:
        pytest.skip(f"this machine has {avail / 1e9:.0f} GB available: the image would fit")


_PROBE = """
import json, resource, sys, time
from bonequality.errors import BoneQualityError
from bonequality.volume import read_image
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    read_image(sys.argv[1])
    out = {"error": None}
except BoneQualityError as exc:
    out = {"error": type(exc).__name__, "message": str(exc)}
out["seconds"] = time.perf_counter() - t
out["grown_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
print(json.dumps(out))
"""


@pytest.mark.parametrize("which", ["attached", "detached", "enormous"])
def test_a_huge_header_is_refused_fast_without_allocating(huge_files, which):
    _needs_more_than_available(HUGE_NEED if which != "enormous" else 20000**3 * 8)
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, str(huge_files[which])], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["error"] == "MemoryLimitError", got
    assert got["seconds"] < 2.0
    assert got["grown_mb"] < 50.0  # 16 GB if the voxels were allocated
    msg = got["message"]
    assert str(huge_files[which]) in msg
    assert "voxels of 2 bytes" in msg
    need = (20000**3 if which == "enormous" else 2000**3) * 8
    assert f"about {memory.gb(need)} of memory" in msg
    assert "is available" in msg


def test_the_cli_refuses_it_with_one_line(huge_files, tmp_path, capsys):
    _needs_more_than_available(HUGE_NEED)
    out = tmp_path / "out"
    lm = tmp_path / "none.mrk.json"  # never read: the CT is refused first
    start = time.perf_counter()
    code = main(
        ["--no-progress", "corridors", str(huge_files["attached"]), "--landmarks", str(lm), "--out", str(out)]
    )
    assert code == 2
    assert time.perf_counter() - start < 2.0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "huge.nrrd: its header declares 2000 x 2000 x 2000 voxels" in err[0]
    assert not out.exists()


def test_image_bytes_counts_two_copies_and_a_float32_one():
    assert memory.image_bytes(1000, 2) == 1000 * 8
    assert memory.bytes_per_component("16-bit signed integer") == 2
    assert memory.bytes_per_component("vector of 32-bit float") == 4
    assert memory.bytes_per_component("64-bit float") == 8


def test_a_small_image_reads_and_its_peak_is_known(tmp_path):
    vol = Volume.from_array(np.zeros((4, 5, 6), np.int16))
    vol.write(tmp_path / "small.nrrd")
    back = read_image(tmp_path / "small.nrrd")
    assert back.array.shape == (4, 5, 6)


def test_the_budget_comes_from_the_environment_and_the_memory_available(monkeypatch):
    monkeypatch.setenv(memory.BUDGET_ENV, "0.5")
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 * 10**9)
    assert memory.budget_bytes() == 5 * 10**8
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**8)
    assert memory.budget_bytes() == int(0.9 * 10**8)
    monkeypatch.setenv(memory.BUDGET_ENV, "not a number")
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    assert memory.budget_bytes() == memory.MEMORY_BUDGET
    with pytest.raises(
        errors.MemoryLimitError, match=r"^step X would need about 5 GB of memory, above the budget"
    ):
        memory.check_fits(5e9, "step X")
    memory.check_fits(1e9, "step X")


def test_a_huge_ball_or_closing_is_refused_before_it_is_built(monkeypatch):
    start = time.perf_counter()
    with pytest.raises(errors.MemoryLimitError, match="a ball of 500 mm radius"):
        ball((0.5, 0.5, 0.5), 500.0)  # 2001^3 elements: about 200 GB to build
    monkeypatch.setenv(memory.BUDGET_ENV, "0.001")
    mask = np.ones((120, 120, 120), bool)
    with pytest.raises(errors.MemoryLimitError, match=r"the 3 mm closing of body M \(1728000 voxels\)"):
        closing(mask, (1.0, 1.0, 1.0), 3.0, what="body M")
    assert time.perf_counter() - start < 2.0
    holed = np.zeros((11, 11, 11), bool)
    holed[2:9, 2:9, 2:9] = True
    holed[5, 5, 5] = False
    assert closing(holed, (1.0, 1.0, 1.0), 1.0)[2:9, 2:9, 2:9].all()  # within the budget


def test_heavy_steps_of_the_vertebral_body_obey_the_budget(monkeypatch, tmp_path, capsys):
    ph = make_phantom("vertebra")
    body = ph.masks["body"]
    body = np.asarray(body.array if isinstance(body, Volume) else body)
    monkeypatch.setenv(memory.BUDGET_ENV, "0.002")
    with pytest.raises(
        errors.MemoryLimitError, match=r"^the bone-alignment check of body B would need about"
    ):
        vertebral_body(ph.volume, BodySource.body_mask(body, name="body B"))
    # From the command line: exit 2, one line.
    ph.volume.write(tmp_path / "ct.nrrd")
    ph.volume.with_array(body.astype(np.uint8)).write(tmp_path / "body.nrrd")
    argv = ["--no-progress", "cement", str(tmp_path / "ct.nrrd"), "--body-mask", str(tmp_path / "body.nrrd")]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "above the budget of 0.002 GB" in err[0]


@pytest.mark.realdata
def test_a_dicom_series_too_large_for_memory_is_refused(example_dicom_dir, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 20 * 10**6)
    with pytest.raises(errors.MemoryLimitError, match=r"512 x 512 x 20 voxels of 2 bytes, .*about 0.0419 GB"):
        read_dicom_series(example_dicom_dir)
