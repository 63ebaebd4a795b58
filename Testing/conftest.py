"""Shared pytest fixtures.

* ``shared_data``: ``../shared/data`` beside the checkout (real scans, read in place,
  never copied); tests marked ``realdata`` skip when it is absent.
* ``tmp_out``: a fresh output folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    env = os.environ.get("BONEQUALITY_SHARED")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = _shared_dir() / "data"
    if not data.is_dir():
        pytest.skip(f"shared data folder {data} not present")
    return data


@pytest.fixture(scope="session")
def example_ct_path(shared_data) -> Path:
    p = shared_data / "totalsegmentator_example_ct" / "example_ct.nii.gz"
    if not p.exists():
        pytest.skip(f"{p} not present")
    return p


@pytest.fixture(scope="session")
def example_sacrum_mask_path(shared_data) -> Path:
    """TotalSegmentator's own sacrum mask of the example CT."""
    p = shared_data / "totalsegmentator_example_seg" / "sacrum.nii.gz"
    if not p.exists():
        pytest.skip(f"{p} not present")
    return p


@pytest.fixture(scope="session")
def example_dicom_dir(shared_data) -> Path:
    p = shared_data / "totalsegmentator_example_dicom"
    if not p.is_dir():
        pytest.skip(f"{p} not present")
    return p


# ---------------------------------------------------------------------------------------
# MRML fixtures (owner: the bonequality.mrml / Slicer modules work). Tests marked
# ``mrml`` use Slicer's real MRML classes from the slicer-core package and skip when it
# cannot be imported.
# ---------------------------------------------------------------------------------------


@pytest.fixture
def mrml_scene():
    """A fresh vtkMRMLScene with the module logics registered; also set as ``slicer.mrmlScene``."""
    pytest.importorskip("slicer", reason="Slicer's MRML (slicer-core) is not installed")
    from bonequality.mrml.scene import standalone_scene

    app = standalone_scene(set_global=True)
    yield app.scene
    app.close()
