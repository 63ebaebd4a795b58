"""The Slicer application of the browser front end: scene, logics, CT, masks and bone surface.

:class:`WebScene` holds trame-slicer's :class:`~trame_slicer.core.SlicerApp` (a
``vtkMRMLScene`` with the application logic and the module logics registered, as in
Slicer), the CT node, mask nodes and the result holder node whose references keep the
logics' result nodes (:class:`~bonequality.mrml.results.ResultNodes`). Nothing here needs
the trame server, so it is usable from tests and scripts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileError
from ..mrml.results import ResultNodes
from ..mrml.volumes import volume_to_node
from ..segmentation import read_mask
from ..validation import check_ct
from ..volume import Volume

__all__ = ["BONE_SURFACE_HU", "WINDOW_PRESETS", "LoadedInputs", "WebScene", "read_inputs"]

logger = logging.getLogger(__name__)

#: Window/level presets (window, level in HU), bone first.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "Bone": (1800.0, 400.0),
    "Cortical bone": (3000.0, 1000.0),
    "Cement": (4000.0, 1500.0),
    "Soft tissue": (400.0, 40.0),
}
#: Iso-value (HU) of the 3-D bone surface model (a surface, not volume rendering: CPU only).
BONE_SURFACE_HU = 200.0
#: The surface is extracted on a grid about this coarse (mm) to keep the model small.
SURFACE_VOXEL_MM = 3.0
#: Grid of the vertex clustering that bounds the surface's size (a few 10 000 triangles).
SURFACE_DIVISIONS = (96, 96, 96)
#: Mask roles: command-line option -> what the mask is used for.
MASK_ROLES = {"vertebra": "--vertebra-mask", "sacrum": "--sacrum-mask", "body": "--body-mask"}


@dataclass(frozen=True)
class LoadedInputs:
    """What ``bonequality view`` was given, read and validated before the server starts.

    Attributes
    ----------
    ct : Volume
        The CT in HU (checked with :func:`bonequality.validation.check_ct`).
    ct_path : str
    landmarks : Landmarks or None
    landmarks_path : str or None
    masks : dict role -> (Volume, path)
        Boolean masks checked against the CT grid (``"vertebra"``, ``"sacrum"``).
    """

    ct: Volume
    ct_path: str
    landmarks: object | None = None
    landmarks_path: str | None = None
    masks: dict | None = None


def read_ct(path) -> Volume:
    """Read and check a CT with the library's readers (the same one-line errors as the CLI)."""
    name = f"CT {path}"
    return check_ct(Volume.read(path, name=name), name)


def read_role_mask(role: str, path, ct: Volume) -> Volume:
    """A mask file for ``role`` (label map or ``.seg.nrrd``), checked to overlap the CT."""
    if role not in MASK_ROLES:
        raise InputFileError(f"mask role '{role}': use one of {', '.join(MASK_ROLES)}.")
    name = f"{MASK_ROLES[role]} {path}"
    mask = read_mask(path, name=name)
    mask.mask_on(ct, name=name)  # GeometryMismatchError when it does not overlap the CT
    return mask


def read_inputs(ct_path, *, landmarks_path=None, masks: dict | None = None) -> LoadedInputs:
    """Read everything ``bonequality view`` was given; a bad file raises before any server starts."""
    from ..landmarks import read_mrk_json

    ct = read_ct(ct_path)
    landmarks = read_mrk_json(landmarks_path) if landmarks_path else None
    read = {role: (read_role_mask(role, p, ct), str(p)) for role, p in (masks or {}).items() if p}
    return LoadedInputs(ct, str(ct_path), landmarks, str(landmarks_path) if landmarks_path else None, read)


class WebScene:
    """trame-slicer's application (scene + logics) with the CT, masks and the result holder."""

    def __init__(self):
        from trame_slicer.core import SlicerApp

        self.app = SlicerApp()
        self.scene = self.app.scene
        holder = self.scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "BoneQuality web")
        self.results = ResultNodes(holder)
        self.ct_node = None
        self.ct_path: str | None = None
        self.mask_nodes: dict[str, object] = {}
        self.mask_paths: dict[str, str] = {}
        self.surface_node = None
        self._ct_volume: Volume | None = None

    def input_paths(self) -> list[str]:
        """The files the page read: the CT and the masks (exports never go into or over them)."""
        return [p for p in (self.ct_path, *self.mask_paths.values()) if p]

    # ------------------------------------------------------------------ CT
    @property
    def ct_volume(self) -> Volume:
        """The CT as a :class:`Volume` (LPS): the one read (:meth:`set_ct`), which the node holds."""
        if self.ct_node is None:
            raise InputFileError("no CT loaded; open a CT first.")
        return self._ct_volume

    def set_ct(self, volume: Volume, path: str) -> object:
        """Show ``volume`` as the CT (replacing the previous one and its masks)."""
        for node in [self.ct_node, self.surface_node, *self.mask_nodes.values()]:
            if node is not None:
                self.scene.RemoveNode(node)
        self.mask_nodes, self.mask_paths = {}, {}
        self.ct_node = volume_to_node(volume, name=Path(path).name.split(".")[0] or "CT", scene=self.scene)
        self.ct_path = str(path)
        self._ct_volume = volume  # the node holds a copy of these voxels: one more copy, not two
        self.apply_window_preset("Bone")
        self.surface_node = self._bone_surface()
        return self.ct_node

    def load_ct(self, path) -> object:
        """Read a CT file and show it (a bad file raises and leaves the current CT)."""
        return self.set_ct(read_ct(path), str(path))

    def set_mask(self, role: str, mask: Volume, path: str) -> object:
        """Add a checked mask as a label map node for ``role``."""
        old = self.mask_nodes.get(role)
        if old is not None:
            self.scene.RemoveNode(old)
        node = volume_to_node(mask, name=f"{role} mask", labelmap=True, scene=self.scene)
        display = node.GetDisplayNode()
        if display is not None:
            display.SetVisibility(False)
        self.mask_nodes[role], self.mask_paths[role] = node, str(path)
        return node

    def load_mask(self, role: str, path) -> object:
        """Read a mask file for ``role`` against the current CT and add it."""
        return self.set_mask(role, read_role_mask(role, path, self.ct_volume), str(path))

    def apply_window_preset(self, preset: str) -> None:
        """Set the CT's window/level to one of :data:`WINDOW_PRESETS`."""
        if preset not in WINDOW_PRESETS:
            raise InputFileError(f"window preset '{preset}': choose one of {', '.join(WINDOW_PRESETS)}.")
        if self.ct_node is None:
            return
        window, level = WINDOW_PRESETS[preset]
        display = self.ct_node.GetDisplayNode()
        display.SetAutoWindowLevel(False)
        display.SetWindowLevel(window, level)

    def _bone_surface(self):
        """A model of the bone surface at :data:`BONE_SURFACE_HU` (3-D view only)."""
        import vtk

        image = self.ct_node.GetImageData()
        spacing = min(self.ct_node.GetSpacing())
        factor = max(1, round(SURFACE_VOXEL_MM / spacing))
        shrink = vtk.vtkImageShrink3D()
        shrink.SetInputData(image)
        shrink.SetShrinkFactors(factor, factor, factor)
        shrink.AveragingOn()
        contour = vtk.vtkFlyingEdges3D()
        contour.SetInputConnection(shrink.GetOutputPort())
        contour.SetValue(0, BONE_SURFACE_HU)
        matrix = vtk.vtkMatrix4x4()
        self.ct_node.GetIJKToRASMatrix(matrix)
        transform = vtk.vtkTransform()
        transform.SetMatrix(matrix)
        to_ras = vtk.vtkTransformPolyDataFilter()
        to_ras.SetInputConnection(contour.GetOutputPort())
        to_ras.SetTransform(transform)
        decimate = vtk.vtkQuadricClustering()  # fast, bounded triangle count
        decimate.SetInputConnection(to_ras.GetOutputPort())
        decimate.SetNumberOfDivisions(*SURFACE_DIVISIONS)
        normals = vtk.vtkPolyDataNormals()
        normals.SetInputConnection(decimate.GetOutputPort())
        normals.Update()
        model = self.scene.AddNewNodeByClass("vtkMRMLModelNode", "bone surface")
        model.SetAndObservePolyData(normals.GetOutput())
        model.CreateDefaultDisplayNodes()
        display = model.GetDisplayNode()
        display.SetColor(0.93, 0.88, 0.78)
        display.SetVisibility2D(False)
        logger.info("bone surface: %d triangles", model.GetPolyData().GetNumberOfCells())
        return model
