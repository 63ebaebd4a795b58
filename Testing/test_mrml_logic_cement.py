"""CementVolume's Qt-free logic on real MRML (slicer-core): cement volumetry (seed 003).

These are the scenarios the module's self-test runs inside Slicer
(``bonequality.testing.scenarios.SCENARIOS["CementVolume"]``), so CI checks what "Reload and
Test" checks. Each builds a phantom in a fresh scene, runs the logic as the module does
and compares the result nodes with the phantom's analytic truth.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.mrml

pytest.importorskip("slicer", reason="Slicer's MRML (slicer-core) is not installed")

from bonequality.testing import scenarios  # noqa: E402


@pytest.mark.parametrize("scenario", scenarios.SCENARIOS["CementVolume"], ids=lambda f: f.__name__)
def test_scenario(mrml_scene, scenario):
    checked = scenario(mrml_scene)
    assert isinstance(checked, dict)
    assert checked


def test_segment_statistics_vf_matches_the_analysis(mrml_scene):
    """VF % per segment (the Segment Statistics plugin's numbers) against analyze_cement's."""
    import numpy as np

    from bonequality.cement import analyze_cement
    from bonequality.mrml.logic_cement import VF_STATISTICS, segment_vf_statistics
    from bonequality.mrml.segmentations import segmentation_node_from_masks
    from bonequality.phantoms import make_phantom, oblique_direction

    ph = make_phantom("cemented-vertebra", spacing=(1.0, 1.0, 1.0), direction=oblique_direction())
    result = analyze_cement(ph.volume, body_mask=ph.masks["body"])
    masks = {"VertebralBody": result.body_mask, "Cement": result.cement_mask, "Leakage": result.leakage_mask}
    node = segmentation_node_from_masks(masks, ph.volume, scene=mrml_scene)

    cement = segment_vf_statistics(node, "Cement")
    assert set(cement) == set(VF_STATISTICS)
    assert cement["vf_percent"] == pytest.approx(result.vf_percent, abs=1e-6)
    assert cement["cdv_cm3"] == pytest.approx(result.cdv_ml, abs=1e-3)
    assert cement["vbv_cm3"] == pytest.approx(result.vbv_ml, abs=1e-3)
    assert cement["predicted_extensive"] is bool(result.vf_percent >= 28.58)
    # Leakage lies outside the body: no VF; the body itself gets no row.
    leak = segment_vf_statistics(node, "Leakage")
    assert leak["vf_percent"] == 0.0
    assert leak["cdv_cm3"] == 0.0
    assert segment_vf_statistics(node, "VertebralBody") == {}
    # A cut-off below this VF flips the prediction.
    low = segment_vf_statistics(node, "Cement", vf_cutoff_percent=float(np.floor(result.vf_percent)))
    assert low["predicted_extensive"] is True
