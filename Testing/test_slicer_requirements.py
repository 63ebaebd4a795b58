"""The first-use installation of pandas (:mod:`bonequality.mrml.requirements`), pins against Slicer's bundle.

The asking and installing are shown in Slicer's start-up emulation
(``test_slicer_startup.py``); these tests pin the rules: which pandas for which Slicer
Python, what the constraints keep, and that a failed installation is reported, not raised.
"""

from __future__ import annotations

import importlib.metadata
import subprocess

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from slicer_api import check

from bonequality.mrml import requirements


def test_the_pins_follow_the_python_of_each_supported_slicer():
    for tag, version in check.load_manifest()["versions"].items():
        python = tuple(int(x) for x in version["bundled"]["python"].split(".")[:2])
        expected = "pandas==2.2.3" if python < (3, 11) else "pandas==3.1.1"
        assert requirements.pinned("pandas", python) == expected, tag
    with pytest.raises(ValueError, match=r"Slicer 5\.8 or later"):
        requirements.pinned("pandas", (3, 8))


def test_the_constraints_keep_what_slicer_bundles():
    text = requirements.constraints_text(
        (3, 9), installed={"numpy": "1.26.4", "python-dateutil": "2.9.0.post0"}
    )
    assert text.splitlines() == [
        "numpy==1.26.4",
        "python-dateutil==2.9.0.post0",
        "pandas==2.2.3",
        "pytz==2026.6",
        "tzdata==2026.6",
    ]


def test_the_pinned_pandas_accepts_the_newest_slicers_numpy_and_dateutil():
    """pandas 3.1.1 (installed here from constraints.txt) against Slicer 5.12.3's bundle and Python 3.12."""
    version = check.load_manifest()["versions"]["v5.12.3"]
    assert requirements.pinned("pandas", (3, 12)) == f"pandas=={importlib.metadata.version('pandas')}"
    env = {**default_environment(), "python_version": "3.12", "sys_platform": "linux", "extra": ""}
    for line in importlib.metadata.requires("pandas") or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        bundled = version["bundled"].get(req.name.lower())
        assert bundled is not None, f"pandas needs {req}, which Slicer does not bundle"
        assert req.specifier.contains(bundled, prereleases=True), f"{req} vs Slicer's {bundled}"


def test_a_failed_installation_is_reported_not_raised(monkeypatch, caplog):
    monkeypatch.setattr(requirements, "missing", lambda reqs=None: list(requirements.REQUIRED))

    def fail(args):
        raise subprocess.CalledProcessError(1, ["pip", "install", *args])

    assert requirements.ensure("Failing module", ask=lambda question, title: True, pip_install=fail) is False
    assert "installing pandas==" in caplog.text
    asked = []
    requirements.ensure("Failing module", ask=lambda q, t: asked.append(q) or False)
    assert asked, "after a failure (not a refusal) the next call asks again"
