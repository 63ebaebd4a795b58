"""Scenarios for the parts of the Slicer contract that real MRML can check without the application.

Parent transforms are honoured by segment masks as by volumes and markups; each probe
leg's thermal image lies in patient space where it was sampled; Cancel stops sacroplasty
planning before anything is written. They are part of
:data:`bonequality.testing.scenarios.SCENARIOS`; ``segmentation_parent_transform`` and
``sacroplasty_cancel_keeps_results`` need no package beyond what Slicer bundles.
"""

from __future__ import annotations

import numpy as np
import slicer

from ..errors import OperationCancelled
from ..mrml.results import CancellableProgress
from ..mrml.sampledata import load_phantom
from ..mrml.segmentations import mask_from_node
from ..mrml.volumes import node_to_volume
from .checks import holder, pelvis, require

__all__ = ["corridors_thermal_placement", "sacroplasty_cancel_keeps_results", "segmentation_parent_transform"]


def segmentation_parent_transform(scene=None) -> dict:
    """Masks honour a segmentation's parent transform, as volumes and markups do.

    The CT and its segmentation are put under the same rigid transform (rotation and
    shift): the segment read on the moved CT's grid is still the original mask, and a mask
    written into the transformed segmentation reads back unchanged.
    """
    from ..mrml.segmentations import segmentation_node_from_masks
    from ..mrml.volumes import vtk_matrix

    scene = scene or slicer.mrmlScene
    loaded = load_phantom("BoneQualityVertebra", scene=scene, spacing=(1.0, 1.0, 1.5))
    before = node_to_volume(loaded.volume)
    mask = mask_from_node(loaded.segmentation, before)
    angle = np.deg2rad(20.0)
    matrix = np.eye(4)
    matrix[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    matrix[:3, 3] = [12.0, -7.0, 30.0]
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "rigid move")
    transform.SetMatrixTransformToParent(vtk_matrix(matrix))
    for node in (loaded.volume, loaded.segmentation):
        node.SetAndObserveTransformNodeID(transform.GetID())
    moved = node_to_volume(loaded.volume)
    require(not np.allclose(moved.origin, before.origin), "the transform did not move the CT")
    require(
        np.array_equal(mask_from_node(loaded.segmentation, moved), mask),
        "the segment read on the moved CT differs: the segmentation's parent transform was ignored",
    )
    segmentation_node_from_masks({"copy": mask}, moved, loaded.segmentation)
    require(
        np.array_equal(mask_from_node(loaded.segmentation, moved, segment="copy"), mask),
        "a mask written into the transformed segmentation does not read back unchanged",
    )
    return {"voxels": int(mask.sum())}


def corridors_thermal_placement(scene=None) -> dict:
    """Each probe leg's thermal image lies where it was sampled and holds the CT's HU there.

    Checks three voxels of every leg (both corners and the centre): their positions are
    the sample points along the axis and the dorsal direction (within 1 micrometre), and
    their values the CT interpolated at those points (within 0.5 HU: float32 storage).
    """
    from ..corridors.probes import perp_frame
    from ..mrml.logic_sacral import CorridorSession

    scene = scene or slicer.mrmlScene
    loaded = pelvis(scene)
    results = holder(scene)
    result = CorridorSession().analyze(loaded.volume, loaded.landmarks, results=results)
    ct = node_to_volume(loaded.volume)
    worst = 0.0
    for probe in (result.s1, result.s2):
        for leg in probe.legs:
            node = results.get(f"corridors.thermal.{probe.corridor}.{leg.name}")
            require(node is not None, f"no thermal image of {leg.name}")
            image = node_to_volume(node)
            rows, cols = leg.thermal.shape
            r, c = np.array([0, rows - 1, rows // 2]), np.array([0, cols - 1, cols // 2])
            w = (leg.end - leg.start) / leg.length_mm
            u, _ = perp_frame(w)
            along = (c + 0.5) * leg.length_mm / cols
            expected = leg.start + along[:, None] * w + leg.thermal_offsets_mm[::-1][r][:, None] * u
            got = image.index_to_physical(np.stack([c, r, np.zeros(3, dtype=int)], axis=1))
            err = float(np.abs(got - expected).max())
            worst = max(worst, err)
            require(err < 1e-3, f"{leg.name} thermal voxels are {err:.3g} mm from their sample points")
            values, sampled = image.array[0, r, c], ct.sample(expected)
            ok = np.isfinite(sampled)
            require(
                np.allclose(values[ok], sampled[ok], atol=0.5), f"{leg.name} thermal values are not the CT's"
            )
    return {"max_position_error_mm": worst}


def sacroplasty_cancel_keeps_results(scene=None) -> dict:
    """Cancel during sacroplasty planning raises OperationCancelled and writes nothing."""
    from ..mrml.logic_sacral import SacroplastySession

    scene = scene or slicer.mrmlScene
    loaded = pelvis(scene, oblique=False, spacing=(2.0, 2.0, 2.0))
    results = holder(scene)
    progress = CancellableProgress()
    progress.cancel()
    session = SacroplastySession()
    try:
        session.run(loaded.volume, loaded.landmarks, results=results, progress=progress)
    except OperationCancelled:
        pass
    else:
        raise AssertionError("cancelling did not stop the sacroplasty planning (no progress reported?)")
    require(results.roles() == [], f"result nodes were written after cancelling: {results.roles()}")
    require(session.plan is None, "the session kept a plan after cancelling")
    return {"cancelled_at": progress.last}
