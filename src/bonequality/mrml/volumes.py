"""Volumes: :class:`~bonequality.volume.Volume` <-> ``vtkMRMLScalarVolumeNode``.

Slicer stores a volume as ``vtkImageData`` (points ordered ``i`` fastest, as numpy's
``[k, j, i]`` C order) plus an IJK-to-RAS matrix that holds spacing, origin and the
(possibly oblique) axis directions. The library's :class:`Volume` holds the same grid in
LPS. The conversion of the matrix is :func:`bonequality.frames.ijk_to_ras_matrix` and its
inverse; voxel values are copied unchanged, so a round trip is exact. Slicer's
``sitkUtils.py`` is the model.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from ..errors import GeometryError, InputFileError
from ..frames import ijk_to_ras_matrix, volume_geometry_from_ijk_to_ras
from ..volume import Volume, check_geometry, check_layout

__all__ = [
    "ijk_to_ras_of_node",
    "matrix_from_vtk",
    "node_to_volume",
    "update_node_from_volume",
    "volume_to_node",
    "vtk_matrix",
]

#: Node class by kind of volume.
NODE_CLASSES = {False: "vtkMRMLScalarVolumeNode", True: "vtkMRMLLabelMapVolumeNode"}


def vtk_matrix(m) -> vtk.vtkMatrix4x4:
    """(4, 4) array-like -> ``vtkMatrix4x4``."""
    out = vtk.vtkMatrix4x4()
    m = np.asarray(m, dtype=float)
    for r in range(4):
        for c in range(4):
            out.SetElement(r, c, float(m[r, c]))
    return out


def matrix_from_vtk(m: vtk.vtkMatrix4x4) -> np.ndarray:
    """``vtkMatrix4x4`` -> (4, 4) float ndarray."""
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def ijk_to_ras_of_node(node, *, world: bool = True) -> np.ndarray:
    """(4, 4) IJK-to-RAS matrix of a volume node.

    Parameters
    ----------
    world : bool
        Include the node's parent transform (it must be linear; a warping transform
        must be hardened first).
    """
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    ijk_to_ras = matrix_from_vtk(m)
    parent = node.GetParentTransformNode() if world else None
    if parent is not None:
        if not parent.IsTransformToWorldLinear():
            raise GeometryError(
                f"volume '{node.GetName()}' is under the non-linear transform '{parent.GetName()}'; "
                "harden the transform (Data module) before the analysis."
            )
        to_world = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(to_world)
        ijk_to_ras = matrix_from_vtk(to_world) @ ijk_to_ras
    return ijk_to_ras


def node_to_volume(node, *, world: bool = True) -> Volume:
    """A copy of a scalar (or label map) volume node as an LPS :class:`Volume`.

    Parameters
    ----------
    node : vtkMRMLScalarVolumeNode or vtkMRMLLabelMapVolumeNode
    world : bool
        Apply a linear parent transform to the geometry (default), as Slicer displays it.

    Raises
    ------
    InputFileError
        When the node has no image data, more than one component per voxel (RGB), or a
        non-orthonormal (sheared) grid; the message names the node. Its voxels are checked
        where every CT enters an analysis (:meth:`Volume.require_ct`: NaN or infinite
        voxels are refused).
    """
    if node is None:
        raise InputFileError("no volume selected; choose the CT volume.")
    image = node.GetImageData()
    if image is None or image.GetPointData().GetScalars() is None:
        raise InputFileError(f"volume '{node.GetName()}' has no image data; load the image again.")
    scalars = image.GetPointData().GetScalars()
    if scalars.GetNumberOfComponents() != 1:
        check_layout(f"volume '{node.GetName()}'", 3, image.GetDimensions(), scalars.GetNumberOfComponents())
    ni, nj, nk = image.GetDimensions()
    spacing, origin, direction = volume_geometry_from_ijk_to_ras(ijk_to_ras_of_node(node, world=world))
    check_geometry(spacing, origin, direction, name=f"volume '{node.GetName()}'")
    array = numpy_support.vtk_to_numpy(scalars).reshape(nk, nj, ni).copy()
    return Volume(array, spacing, origin, direction)


def update_node_from_volume(node, volume: Volume) -> None:
    """Replace a volume node's voxels and geometry by ``volume``'s (arrays are copied)."""
    array = np.ascontiguousarray(volume.array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    nk, nj, ni = array.shape
    image = vtk.vtkImageData()
    image.SetDimensions(ni, nj, nk)
    scalars = numpy_support.numpy_to_vtk(array.ravel(), deep=True)
    scalars.SetName("ImageScalars")
    image.GetPointData().SetScalars(scalars)
    was_modifying = node.StartModify()
    node.SetIJKToRASMatrix(vtk_matrix(ijk_to_ras_matrix(volume.spacing, volume.origin, volume.direction)))
    node.SetAndObserveImageData(image)
    node.EndModify(was_modifying)


def volume_to_node(
    volume: Volume,
    node=None,
    *,
    name: str = "Volume",
    labelmap: bool = False,
    scene=None,
):
    """Write ``volume`` into a volume node (created in ``scene`` when ``node`` is None).

    Parameters
    ----------
    volume : Volume
        LPS geometry; boolean arrays are stored as ``uint8``.
    node : vtkMRMLScalarVolumeNode, optional
        Node to update in place (its display settings are kept).
    name : str
        Name of a newly created node (made unique in the scene).
    labelmap : bool
        Create a ``vtkMRMLLabelMapVolumeNode`` instead of a scalar volume.
    scene : vtkMRMLScene, optional
        Default ``slicer.mrmlScene``.

    Returns
    -------
    The node, with default display nodes.
    """
    if node is None:
        scene = scene or slicer.mrmlScene
        node = scene.AddNewNodeByClass(NODE_CLASSES[bool(labelmap)], scene.GenerateUniqueName(name))
    update_node_from_volume(node, volume)
    if node.GetScene() is not None and node.GetDisplayNode() is None:
        node.CreateDefaultDisplayNodes()
    return node
