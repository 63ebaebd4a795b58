"""SacralBoneAnalysis's Qt-free logic on real MRML: corridors (seed 000) and sacroplasty (seed 001).

These are the scenarios the module's self-test runs inside Slicer
(``bonequality.testing.scenarios.SCENARIOS["SacralBoneAnalysis"]``), so CI checks what "Reload and
Test" checks. Each builds a phantom in a fresh scene, runs the logic as the module does
and compares the result nodes with the phantom's analytic truth.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.mrml

pytest.importorskip("slicer", reason="Slicer's MRML (slicer-core) is not installed")

from bonequality.testing import scenarios  # noqa: E402


@pytest.mark.parametrize("scenario", scenarios.SCENARIOS["SacralBoneAnalysis"], ids=lambda f: f.__name__)
def test_scenario(mrml_scene, scenario):
    checked = scenario(mrml_scene)
    assert isinstance(checked, dict)
    assert checked
