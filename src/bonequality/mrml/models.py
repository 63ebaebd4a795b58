"""Model nodes for results shown in 3-D and slice views (e.g. the 10 mm cylinder probes)."""

from __future__ import annotations

import numpy as np
import slicer
import vtk

from ..frames import lps_to_ras

__all__ = ["cylinder_model"]


def cylinder_model(
    start_lps,
    end_lps,
    radius_mm: float,
    node=None,
    *,
    name: str = "Probe",
    color=(1.0, 0.6, 0.0),
    opacity: float = 0.4,
    scene=None,
    resolution: int = 32,
):
    """A capped cylinder model between two LPS points (updated in place when ``node`` is given).

    The model is visible in 3-D and as its intersection in slice views.
    """
    a, b = lps_to_ras(start_lps), lps_to_ras(end_lps)
    line = vtk.vtkLineSource()
    line.SetPoint1(*a.tolist())
    line.SetPoint2(*b.tolist())
    tube = vtk.vtkTubeFilter()
    tube.SetInputConnection(line.GetOutputPort())
    tube.SetRadius(float(radius_mm))
    tube.SetNumberOfSides(int(resolution))
    tube.CappingOn()
    tube.Update()
    poly = vtk.vtkPolyData()
    poly.DeepCopy(tube.GetOutput())
    if node is None:
        scene = scene or slicer.mrmlScene
        node = scene.AddNewNodeByClass("vtkMRMLModelNode", scene.GenerateUniqueName(name))
    node.SetAndObservePolyData(poly)
    if node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    display = node.GetDisplayNode()
    display.SetColor(*[float(c) for c in color])
    display.SetOpacity(float(opacity))
    display.SetVisibility2D(True)
    node.SetAttribute("BoneQuality.Length_mm", f"{float(np.linalg.norm(b - a)):.3f}")
    return node
