"""The "thermal" colour table node and colour overlays on slice views.

The colour table samples :data:`bonequality.colors.THERMAL_STOPS` (blue -> green ->
yellow -> red; denser = hotter, as seed 000's thermal maps), so Slicer's overlays and the
library's report pictures use the same scale.
"""

from __future__ import annotations

import slicer

from ..colors import thermal_rgb

__all__ = ["THERMAL_NAME", "color_display", "show_overlay", "thermal_color_node"]

THERMAL_NAME = "BoneQualityThermal"


def thermal_color_node(*, scene=None, n_colors: int = 256):
    """The scene's thermal ``vtkMRMLColorTableNode`` (created once, found by its singleton tag).

    Index 0 is the coldest (least dense) colour and ``n_colors - 1`` the hottest.
    """
    scene = scene or slicer.mrmlScene
    node = scene.GetSingletonNode(THERMAL_NAME, "vtkMRMLColorTableNode")
    if node is not None:
        return node
    node = slicer.vtkMRMLColorTableNode()
    node.SetName(THERMAL_NAME)
    node.SetSingletonTag(THERMAL_NAME)
    node.SetTypeToUser()
    node.SetNumberOfColors(n_colors)
    rgb = thermal_rgb([i / (n_colors - 1) for i in range(n_colors)])
    for i, (r, g, b) in enumerate(rgb):
        node.SetColor(i, f"thermal {i}", float(r), float(g), float(b), 1.0)
    node.SetAttribute("Category", "BoneQuality")
    scene.AddNode(node)
    return node


def color_display(
    volume_node, *, window_min: float, window_max: float, color_node=None, threshold_below=None
):
    """Colour ``volume_node`` with a colour table (default: thermal) over ``[window_min, window_max]``.

    Voxels below ``threshold_below`` (when given) are transparent. Returns the display node.
    """
    color_node = color_node or thermal_color_node(scene=volume_node.GetScene())
    if volume_node.GetDisplayNode() is None:
        volume_node.CreateDefaultDisplayNodes()
    display = volume_node.GetDisplayNode()
    was_modifying = display.StartModify()
    display.SetAndObserveColorNodeID(color_node.GetID())
    display.SetAutoWindowLevel(False)
    display.SetWindowLevelMinMax(float(window_min), float(window_max))
    if threshold_below is not None:
        display.SetAutoThreshold(False)
        display.SetApplyThreshold(True)
        display.SetThreshold(float(threshold_below), float(max(window_max, threshold_below)) + 1e9)
    display.EndModify(was_modifying)
    return display


def show_overlay(
    volume_node,
    *,
    window_min: float,
    window_max: float,
    color_node=None,
    threshold_below: float | None = None,
    opacity: float = 0.5,
    background_node=None,
):
    """Show ``volume_node`` with a colour table over a background in every slice view.

    Parameters
    ----------
    window_min, window_max : float
        Values mapped to the first and last colour (e.g. HU or mm).
    color_node : vtkMRMLColorNode, optional
        Default: the thermal table.
    threshold_below : float, optional
        Voxels below this value are transparent (e.g. 0 outside a map's ROI).
    opacity : float
        Foreground opacity in the slice views.
    background_node : vtkMRMLScalarVolumeNode, optional
        Shown as background (the CT).
    """
    scene = volume_node.GetScene()
    display = color_display(
        volume_node,
        window_min=window_min,
        window_max=window_max,
        color_node=color_node,
        threshold_below=threshold_below,
    )
    composites = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    for i in range(composites.GetNumberOfItems()):
        c = composites.GetItemAsObject(i)
        if background_node is not None:
            c.SetBackgroundVolumeID(background_node.GetID())
        c.SetForegroundVolumeID(volume_node.GetID())
        c.SetForegroundOpacity(float(opacity))
    return display
