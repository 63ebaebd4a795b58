"""Masks: label map or segmentation nodes <-> boolean masks on a reference grid.

A mask node is read as a boolean array on the grid of a reference :class:`Volume` (the
CT being analysed), resampled by nearest neighbour when its own grid differs (the same
rule as :meth:`Volume.mask_on`). Segments are read from their binary labelmap
representation as oriented image data; no temporary nodes are added to the scene.
Results go back as a segmentation node with named, coloured segments.

Geometry is in world coordinates, as for volumes (:func:`~.volumes.ijk_to_ras_of_node`)
and markups: a segmentation under a linear parent transform is read through it, and
masks written into such a node are mapped back into its own coordinates. A warping
transform must be hardened first.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..errors import GeometryError, MaskError
from ..frames import ijk_to_ras_matrix, volume_geometry_from_ijk_to_ras
from ..masks import select_label
from ..segmentation import SEGMENT_COLORS
from ..volume import Volume
from .volumes import matrix_from_vtk, node_to_volume, vtk_matrix

__all__ = [
    "mask_from_node",
    "node_to_world",
    "segment_names",
    "segment_volume",
    "segmentation_node_from_masks",
]

_BINARY_LABELMAP = "Binary labelmap"


def segment_names(node) -> list[str]:
    """Names of a segmentation node's segments, in order."""
    seg = node.GetSegmentation()
    return [seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments())]


def node_to_world(node) -> np.ndarray:
    """(4, 4) RAS matrix from a node's own coordinates to the world (its parent transforms).

    Raises
    ------
    GeometryError
        When a parent transform is not linear.
    """
    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        raise GeometryError(
            f"'{node.GetName()}' is under the non-linear transform '{parent.GetName()}'; "
            "harden the transform (Data module) before the analysis."
        )
    m = vtk.vtkMatrix4x4()
    parent.GetMatrixTransformToWorld(m)
    return matrix_from_vtk(m)


def _oriented_to_volume(image, to_world: np.ndarray | None = None) -> Volume:
    """``vtkOrientedImageData`` (segment labelmap) -> boolean :class:`Volume` over its extent.

    ``to_world``: (4, 4) RAS matrix from the segmentation's coordinates to the world.
    """
    m = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(m)
    ijk_to_ras = matrix_from_vtk(m)
    if to_world is not None:
        ijk_to_ras = to_world @ ijk_to_ras
    x0, x1, y0, y1, z0, z1 = image.GetExtent()
    shape = (z1 - z0 + 1, y1 - y0 + 1, x1 - x0 + 1)
    if min(shape) <= 0 or image.GetPointData().GetScalars() is None:
        return None
    array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(shape) != 0
    # The extent may start away from index 0: move the origin to its first voxel.
    ijk_to_ras[:3, 3] = ijk_to_ras[:3, :3] @ np.array([x0, y0, z0], dtype=float) + ijk_to_ras[:3, 3]
    spacing, origin, direction = volume_geometry_from_ijk_to_ras(ijk_to_ras)
    return Volume(array, spacing, origin, direction)


def segment_volume(node, segment: str) -> Volume:
    """One segment (by name or ID) as a boolean :class:`Volume` on its own labelmap grid, in world LPS."""
    seg = node.GetSegmentation()
    segment_id = seg.GetSegmentIdBySegmentName(segment) or (segment if seg.GetSegment(segment) else "")
    if not segment_id:
        raise MaskError(
            f"segmentation '{node.GetName()}': no segment named '{segment}'; "
            f"it has {', '.join(segment_names(node)) or 'no segments'}."
        )
    if not node.CreateBinaryLabelmapRepresentation():
        raise MaskError(f"segmentation '{node.GetName()}': cannot make a binary labelmap of its segments.")
    to_world = node_to_world(node)
    image = slicer.vtkOrientedImageData()
    node.GetBinaryLabelmapRepresentation(segment_id, image)
    vol = _oriented_to_volume(image, to_world)
    if vol is None or not vol.array.any():
        raise MaskError(f"segment '{segment}' of '{node.GetName()}' is empty; paint it first.")
    return vol


def mask_from_node(
    node, reference: Volume, *, segment: str | None = None, label: int | None = None
) -> np.ndarray:
    """A label map or segmentation node as a boolean mask on ``reference``'s grid.

    Parameters
    ----------
    node : vtkMRMLLabelMapVolumeNode, vtkMRMLScalarVolumeNode or vtkMRMLSegmentationNode
    reference : Volume
        The grid of the result (the CT).
    segment : str, optional
        Segment name (or ID) for segmentation nodes; default: the only segment, or the
        union of all segments.
    label : int, optional
        Label value for label maps; default: every nonzero voxel.

    Returns
    -------
    (nk, nj, ni) bool ndarray on ``reference``'s grid.

    Raises
    ------
    MaskError, GeometryMismatchError
        Empty mask, unknown segment or label, or no overlap with ``reference``.
    """
    if node is None:
        raise MaskError("no mask selected; choose a segmentation or label map.")
    name = f"mask '{node.GetName()}'"
    if node.IsA("vtkMRMLSegmentationNode"):
        names = [segment] if segment is not None else segment_names(node)
        if not names:
            raise MaskError(f"segmentation '{node.GetName()}' has no segments; add one.")
        out = np.zeros(reference.array.shape, dtype=bool)
        for n in names:
            out |= segment_volume(node, n).mask_on(reference, name=f"segment '{n}'")
        return out
    vol = node_to_volume(node)
    if label is not None:  # label 0 or a missing label is refused (bonequality.masks)
        vol = select_label(vol, label, name)
    return vol.mask_on(reference, name=name)


def _oriented_from_mask(mask: np.ndarray, reference: Volume, from_world: np.ndarray):
    """A mask on ``reference``'s (world) grid as oriented image data in the node's coordinates."""
    image = slicer.vtkOrientedImageData()
    nk, nj, ni = mask.shape
    image.SetDimensions(ni, nj, nk)
    scalars = numpy_support.numpy_to_vtk(np.ascontiguousarray(mask, dtype=np.uint8).ravel(), deep=True)
    image.GetPointData().SetScalars(scalars)
    ijk_to_world = ijk_to_ras_matrix(reference.spacing, reference.origin, reference.direction)
    image.SetImageToWorldMatrix(vtk_matrix(from_world @ ijk_to_world))
    return image


def segmentation_node_from_masks(
    masks: Mapping[str, np.ndarray],
    reference: Volume,
    node=None,
    *,
    name: str = "Segmentation",
    colors: Mapping[str, tuple[float, float, float]] | None = None,
    reference_node=None,
    scene=None,
):
    """Write boolean masks on ``reference``'s grid as named, coloured segments.

    Parameters
    ----------
    masks : mapping name -> (nk, nj, ni) bool ndarray
        One segment per entry, in order. Segments of ``node`` with the same names are
        replaced; other segments are kept.
    reference : Volume
        Grid of the masks (world LPS).
    node : vtkMRMLSegmentationNode, optional
        Updated in place (through the inverse of its parent transform, if it has one);
        created in ``scene`` (default ``slicer.mrmlScene``) when None.
    colors : mapping name -> RGB 0-1, optional
        Defaults: :data:`bonequality.segmentation.SEGMENT_COLORS`, grey otherwise.
    reference_node : vtkMRMLScalarVolumeNode, optional
        The CT node, set as the segmentation's reference geometry (for editing in Slicer).
    """
    colors = {**SEGMENT_COLORS, **(colors or {})}
    for n, m in masks.items():
        if np.shape(m) != reference.array.shape:
            raise MaskError(
                f"segment {n}: shape {np.shape(m)} does not match the reference {reference.array.shape}"
            )
    if node is None:
        scene = scene or slicer.mrmlScene
        node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
        node.CreateDefaultDisplayNodes()
    if reference_node is not None:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_node)
    from_world = np.linalg.inv(node_to_world(node))
    seg = node.GetSegmentation()
    was_modifying = node.StartModify()
    for n, m in masks.items():
        old = seg.GetSegmentIdBySegmentName(n)
        if old:
            seg.RemoveSegment(old)
        color = [float(c) for c in colors.get(n, (0.5, 0.5, 0.5))]
        segment_id = node.AddSegmentFromBinaryLabelmapRepresentation(
            _oriented_from_mask(m, reference, from_world), n, color
        )
        seg.GetSegment(segment_id).SetColor(*color)
    node.EndModify(was_modifying)
    return node
