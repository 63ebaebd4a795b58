"""A standalone MRML scene with the module logics a headless application needs.

Inside Slicer, ``slicer.mrmlScene`` and the module logics already exist. Outside it (tests
and scripts using the ``slicer-core`` package), a bare :class:`vtkMRMLScene` cannot create
markups storage nodes: the markups logic registers the node classes and their storage
(``.mrk.json``). :func:`standalone_scene` does the minimum that trame-slicer's ``SlicerApp``
does for this: an application logic and the markups, segmentations, tables, plots and
colour logics attached to the scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import slicer

__all__ = ["StandaloneScene", "standalone_scene"]

#: Module name -> logic class name, registered on the application logic.
_LOGICS = {
    "Colors": "vtkMRMLColorLogic",  # default colour tables (Grey, Labels, ...)
    "Markups": "vtkSlicerMarkupsLogic",
    "Segmentations": "vtkSlicerSegmentationsModuleLogic",
    "Tables": "vtkSlicerTablesLogic",
    "Plots": "vtkSlicerPlotsLogic",
}


@dataclass
class StandaloneScene:
    """A scene plus the logics that must stay alive as long as it is used."""

    scene: object
    app_logic: object
    logics: dict = field(default_factory=dict)

    def close(self) -> None:
        """Clear the scene and detach the logics."""
        self.scene.Clear(1)
        for logic in self.logics.values():
            logic.SetMRMLScene(None)


def standalone_scene(*, set_global: bool = True) -> StandaloneScene:
    """Create a :class:`vtkMRMLScene` with the markups, segmentations, tables, plots and colour logics.

    Parameters
    ----------
    set_global : bool
        Also set ``slicer.mrmlScene`` (``slicer.util`` functions use it).
    """
    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkMRMLApplicationLogic()
    app_logic.SetMRMLScene(scene)
    logics = {}
    for module, class_name in _LOGICS.items():
        cls = getattr(slicer, class_name, None)
        if cls is None:
            continue
        logic = cls()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(module, logic)
        logics[module] = logic
    if set_global:
        slicer.mrmlScene = scene
    return StandaloneScene(scene, app_logic, logics)
