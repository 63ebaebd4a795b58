"""Markups: :class:`~bonequality.landmarks.Landmarks` <-> markups fiducial nodes, and line nodes.

Slicer's control points are RAS world positions; :class:`Landmarks` are LPS. Points whose
position status is not "defined" (pre-labelled, not yet placed) become unplaced entries,
so :meth:`Landmarks.validate` can name them.

Guided placement: :func:`guided_landmarks_node` fills a fiducial node with one control
point per schema label, each labelled and described but with an *undefined* position
(``AddControlPoint`` then ``UnsetNthControlPointPosition``). Slicer's place widget then
positions the next undefined point on each click, in schema order.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import slicer
import vtk

from ..errors import InputFileError
from ..frames import lps_to_ras, ras_to_lps
from ..landmarks import SCHEMA, Landmarks, required_labels, spec

__all__ = [
    "guided_landmarks_node",
    "landmarks_from_node",
    "landmarks_to_node",
    "line_node",
    "line_points",
    "load_markups",
    "next_unplaced_label",
]

#: Attribute that marks a fiducial node as a BoneQuality landmark set.
LANDMARK_ATTRIBUTE = "BoneQuality.Landmarks"


def _defined(node, i: int) -> bool:
    return node.GetNthControlPointPositionStatus(i) == node.PositionDefined


def _cleared_node(node, class_name: str, name: str, scene):
    """``node`` (or a new ``class_name`` node in ``scene``) emptied of control points, inside
    StartModify; returns ``(node, was_modifying)`` for the caller's EndModify."""
    if node is None:
        scene = scene or slicer.mrmlScene
        node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
        node.CreateDefaultDisplayNodes()
    was_modifying = node.StartModify()
    node.RemoveAllControlPoints()
    return node, was_modifying


def control_point_index(node, label: str) -> int:
    """Index of the first control point labelled ``label`` (ValueError if there is none)."""
    for i in range(node.GetNumberOfControlPoints()):
        if node.GetNthControlPointLabel(i) == label:
            return i
    raise ValueError(f"markups node '{node.GetName()}' has no control point labelled '{label}'")


def landmarks_from_node(node) -> Landmarks:
    """Read a markups node's control points as LPS :class:`Landmarks`.

    World positions are used (a parent transform is applied). Points that are not
    placed yet are kept as unplaced entries (``None``).
    """
    if node is None:
        raise InputFileError("no landmarks node selected; choose or create the landmarks.")
    entries = []
    pos = [0.0, 0.0, 0.0]
    for i in range(node.GetNumberOfControlPoints()):
        label = node.GetNthControlPointLabel(i)
        if not _defined(node, i):
            entries.append((label, None))
            continue
        node.GetNthControlPointPositionWorld(i, pos)
        entries.append((label, ras_to_lps(pos)))
    return Landmarks(entries, source=f"landmarks '{node.GetName()}'")


def _add_point(node, label: str, point_lps) -> int:
    index = node.AddControlPoint(vtk.vtkVector3d(0.0, 0.0, 0.0), label)
    if point_lps is None:
        node.UnsetNthControlPointPosition(index)
    else:
        node.SetNthControlPointPositionWorld(index, *lps_to_ras(point_lps).tolist())
    s = spec(label)
    if s is not None:
        node.SetNthControlPointDescription(index, s.description)
    return index


def landmarks_to_node(
    landmarks: Landmarks,
    node=None,
    *,
    name: str = "Landmarks",
    unplaced: Iterable[str] = (),
    scene=None,
):
    """Write :class:`Landmarks` into a fiducial node (its control points are replaced).

    Parameters
    ----------
    landmarks : Landmarks
        LPS points; unplaced entries become undefined control points.
    node : vtkMRMLMarkupsFiducialNode, optional
        Node to update; created in ``scene`` (default ``slicer.mrmlScene``) when None.
    unplaced : iterable of str
        Extra labels appended as pre-labelled, not yet placed points.
    """
    node, was_modifying = _cleared_node(node, "vtkMRMLMarkupsFiducialNode", name, scene)
    for label, p in [*landmarks.entries, *((lab, None) for lab in unplaced)]:
        _add_point(node, label, p)
    node.SetAttribute(LANDMARK_ATTRIBUTE, "1")
    node.EndModify(was_modifying)
    return node


def guided_landmarks_node(
    analyses: Iterable[str] = ("corridors", "sacroplasty"),
    node=None,
    *,
    landmarks: Landmarks | None = None,
    include_optional: bool = False,
    name: str = "BoneQuality landmarks",
    scene=None,
):
    """A fiducial node pre-labelled for guided placement of the schema's landmarks.

    Each label the ``analyses`` need gets a control point in schema order, with the
    schema description as its description. Labels already present in ``landmarks`` (or
    already placed in ``node``) keep their position; the others are left undefined so
    that each click of Slicer's place widget fills the next one. Points in ``node`` with
    labels outside the schema are kept at the end.
    """
    analyses = tuple(analyses)
    labels = list(required_labels(*analyses))
    if include_optional:
        labels += [s.label for s in SCHEMA if s.optional and set(s.used_by) & set(analyses)]
    existing = landmarks_from_node(node) if node is not None else Landmarks()
    given = landmarks if landmarks is not None else Landmarks()
    # to_dict() holds the placed points only; unplaced labels stay undefined.
    known = {**existing.to_dict(), **given.to_dict()}
    entries = [(label, known.get(label)) for label in labels]
    extra = [(lab, p) for lab, p in existing.entries if lab not in labels]
    return landmarks_to_node(Landmarks(entries + extra), node, name=name, scene=scene)


def next_unplaced_label(node) -> str | None:
    """Label of the first control point not yet placed (None when all are placed)."""
    for i in range(node.GetNumberOfControlPoints()):
        if not _defined(node, i):
            return node.GetNthControlPointLabel(i)
    return None


def line_node(start_lps, end_lps, node=None, *, name: str = "Line", scene=None, locked: bool = True):
    """A ``vtkMRMLMarkupsLineNode`` from two LPS points (updated in place when ``node`` is given).

    Trajectories are shown as locked lines by default, since they are results, not inputs.
    """
    node, was_modifying = _cleared_node(node, "vtkMRMLMarkupsLineNode", name, scene)
    for p in (start_lps, end_lps):
        node.AddControlPointWorld(vtk.vtkVector3d(*lps_to_ras(p).tolist()))
    node.SetLocked(bool(locked))
    node.EndModify(was_modifying)
    return node


def line_points(node) -> tuple[np.ndarray, np.ndarray]:
    """The two LPS end points of a line node."""
    if node is None or node.GetNumberOfDefinedControlPoints() < 2:
        raise InputFileError("the line needs two placed points.")
    pos = [0.0, 0.0, 0.0]
    node.GetNthControlPointPositionWorld(0, pos)
    a = ras_to_lps(pos)
    node.GetNthControlPointPositionWorld(1, pos)
    return a, ras_to_lps(pos)


def load_markups(path, *, name: str | None = None, scene=None):
    """Load a ``.mrk.json`` file with Slicer's own markups storage (whatever its coordinate system).

    This is what Slicer's "Add data" does (``AddNewMarkupsNodeFromFile`` of the JSON storage
    node). Needs the markups logic registered with the scene (Slicer does it; outside Slicer
    use :func:`bonequality.mrml.scene.standalone_scene`).
    """
    scene = scene or slicer.mrmlScene
    storage = slicer.vtkMRMLMarkupsJsonStorageNode()
    scene.AddNode(storage)
    node = storage.AddNewMarkupsNodeFromFile(str(path), name or "")
    if node is None:
        scene.RemoveNode(storage)
        raise InputFileError(f"landmarks file {path}: Slicer's markups reader could not read it.")
    return node
