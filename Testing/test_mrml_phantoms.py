"""Issue 2 acceptance on real MRML: phantom files written by the CLI load into Slicer nodes.

``bonequality phantom pelvis --out p.nrrd`` writes ``p.mrk.json``; Slicer's own markups
reader must put every landmark at the same RAS position (within 1e-6 mm) whether the file
is written in LPS or RAS, and the oblique image must survive Volume -> node -> Volume.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bonequality.frames import lps_to_ras
from bonequality.landmarks import read_mrk_json
from bonequality.phantoms import make_phantom, oblique_direction
from bonequality.volume import Volume

pytestmark = pytest.mark.mrml

slicer = pytest.importorskip("slicer", reason="Slicer's MRML (slicer-core) is not installed")

from bonequality.mrml import markups, sampledata, segmentations, volumes  # noqa: E402


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "bonequality.cli", *args], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def pelvis_files(tmp_path_factory):
    """The pelvis phantom written by the CLI on an oblique anisotropic grid, landmarks in LPS and RAS."""
    out = tmp_path_factory.mktemp("pelvis")
    lps = _cli("phantom", "pelvis", "--oblique", "--anisotropic", "--out", str(out / "lps" / "p.nrrd"))
    assert lps.returncode == 0, lps.stderr
    ras = _cli(
        "phantom", "pelvis", "--oblique", "--anisotropic", "--ras", "--out", str(out / "ras" / "p.nrrd")
    )
    assert ras.returncode == 0, ras.stderr
    return out


@pytest.mark.slow
@pytest.mark.parametrize("system", ["lps", "ras"])
def test_cli_pelvis_landmarks_load_in_slicer_at_the_same_ras_positions(mrml_scene, pelvis_files, system):
    path = pelvis_files / system / "p.mrk.json"
    assert f'"coordinateSystem": "{system.upper()}"' in path.read_text()
    truth = make_phantom("pelvis", spacing=(4.0, 4.0, 4.0)).landmarks  # landmarks do not depend on the grid
    node = markups.load_markups(path)
    assert node.IsA("vtkMRMLMarkupsFiducialNode")
    assert node.GetNumberOfControlPoints() == len(truth.entries)
    worst = 0.0
    for i in range(node.GetNumberOfControlPoints()):
        label = node.GetNthControlPointLabel(i)
        ras = np.array(node.GetNthControlPointPositionWorld(i))
        worst = max(worst, float(np.max(np.abs(ras - lps_to_ras(truth[label])))))
    assert worst < 1e-6
    # And back through the adapter to LPS.
    back = markups.landmarks_from_node(node)
    for label, p in truth.items():
        np.testing.assert_allclose(back[label], p, atol=1e-6)


@pytest.mark.slow
def test_cli_oblique_pelvis_survives_volume_node_round_trip(mrml_scene, pelvis_files):
    image = Volume.read(pelvis_files / "lps" / "p.nrrd")
    assert not np.allclose(image.direction, np.eye(3))
    node = volumes.volume_to_node(image, name="pelvis")
    back = volumes.node_to_volume(node)
    np.testing.assert_array_equal(back.array, image.array)
    for a, b in (
        (back.spacing, image.spacing),
        (back.origin, image.origin),
        (back.direction, image.direction),
    ):
        assert np.max(np.abs(a - b)) < 1e-9
    # Landmarks file next to it agrees with the library reader.
    lm = read_mrk_json(pelvis_files / "lps" / "p.mrk.json")
    lm.validate(list(lm), volume=back)


def test_sample_data_loader_makes_nodes_on_an_oblique_grid(mrml_scene):
    loaded = sampledata.load_phantom(
        "BoneQualityCementedVertebra", spacing=(1.5, 1.5, 2.0), direction=oblique_direction()
    )
    phantom = make_phantom("cemented-vertebra", spacing=(1.5, 1.5, 2.0), direction=oblique_direction())
    vol = volumes.node_to_volume(loaded.volume)
    np.testing.assert_array_equal(vol.array, phantom.volume.array)
    np.testing.assert_allclose(vol.direction, oblique_direction(), atol=1e-9)
    assert loaded.truth == phantom.truth
    assert segmentations.segment_names(loaded.segmentation) == list(phantom.masks)
    for name, mask in phantom.masks.items():
        np.testing.assert_array_equal(
            segmentations.mask_from_node(loaded.segmentation, vol, segment=name), mask
        )
