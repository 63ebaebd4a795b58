"""CementVolume: vertebral body volume, cement volume, VF %, leakage and distribution score.

The computation is :func:`bonequality.cement.analyze_cement`; the node handling is
:mod:`bonequality.mrml.logic_cement`; this file holds only the Slicer module, its
parameter node, the widget and the self-test.
"""

# Slicer conventions ruff would flag: camelCase parameter-node fields (they are the
# SlicerParameterName keys of the .ui), typing.Union/Optional (parameterNodeWrapper inspects
# typing.Union, not X | Y), and unittest-style asserts in ScriptedLoadableModuleTest.
# ruff: noqa: N815, UP007, UP045, PT009

import logging
from typing import Annotated, Optional, Union

import slicer
import vtk
from slicer import (
    vtkMRMLLabelMapVolumeNode,
    vtkMRMLMarkupsFiducialNode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
)
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from bonequality.cement import LEAK_RULES, CementOptions
from bonequality.errors import BoneQualityError, OperationCancelled
from bonequality.mrml import logic_cement, requirements, sampledata
from bonequality.mrml.results import CancellableProgress, ResultNodes


#
# CementVolume
#
class CementVolume(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Cement Volume")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["SlicerBoneQuality"]  # the hidden module that carries bonequality
        self.parent.contributors = ["SlicerBoneQuality contributors"]
        self.parent.helpText = _(
            "Mimics-like volumetry after vertebroplasty: vertebral body volume (VBV, bone 226-3071 HU, "
            "posterior elements cut at the spinal canal, voids filled), cement inside the body (CDV, "
            "1000-3000 HU), VF % = CDV / VBV with the 28.58 % cut-off for extensive distribution, leakage "
            "per location, and the 0-10 spatial distribution score computed in 3-D. Method: seed 003 "
            "(optimal volume fraction of bone cement in percutaneous vertebroplasty for osteoporotic "
            "vertebral compression fractures, 150 patients, Mimics reconstruction); screw contact after "
            "seed 002: Cox EP et al. Sacroplasty with or without screw fixation for sacral metastatic "
            "tumors. Front Oncol 2025;15:1494377."
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = _(
            "Part of the SlicerBoneQuality extension. Definitions: CLINICAL.md section 5. "
            "Cox EP, Tutton S, Scheidt M, et al. Front Oncol 2025;15:1494377 (doi:10.3389/fonc.2025.1494377)."
        )
        slicer.app.connect("startupCompleted()", _registerSegmentStatisticsPlugin)


def _registerSegmentStatisticsPlugin() -> None:
    from CementVolumeLib import SegmentStatisticsPlugin

    SegmentStatisticsPlugin.register()


#
# CementVolumeParameterNode
#
@parameterNodeWrapper
class CementVolumeParameterNode:
    """Inputs and options; results are node references kept by bonequality.mrml.results."""

    inputVolume: vtkMRMLScalarVolumeNode
    bodySource: Annotated[str, Choice(list(logic_cement.BODY_SOURCES))] = "vertebra mask"
    maskNode: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]
    maskSegment: str = ""
    maskLabel: Annotated[int, WithinRange(0, 10000)] = 0
    seedPoint: vtkMRMLMarkupsFiducialNode
    screwPoints: vtkMRMLMarkupsFiducialNode
    screwDiameter: Annotated[float, WithinRange(2.0, 12.0)] = 7.0
    cementLowHU: Annotated[float, WithinRange(300.0, 3000.0)] = 1000.0
    cementHighHU: Annotated[float, WithinRange(1000.0, 4000.0)] = 3000.0  # cement.HU_RANGE tops at 4000
    boneLowHU: Annotated[float, WithinRange(-200.0, 1000.0)] = 226.0
    corticalCheck: bool = True
    leakRule: Annotated[str, Choice(list(LEAK_RULES))] = "cement"


#
# CementVolumeWidget
#
class CementVolumeWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._progress = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CementVolume.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = CementVolumeLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.seedPlaceWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.screwPlaceWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.progressBar.hide()
        self.ui.cancelButton.enabled = False
        self.initializeParameterNode()
        self._requirementsReady()

    def cleanup(self) -> None:
        """Called when the application closes or the module is reloaded: drop every observer."""
        self.setParameterNode(None)
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self.setParameterNode(None)

    def onReload(self) -> None:
        """Reload the bonequality library too (Slicer's default reloads only this file)."""
        import SlicerBoneQuality

        SlicerBoneQuality.reloadLibrary()
        ScriptedLoadableModuleWidget.onReload(self)

    def _requirementsReady(self) -> bool:
        """True when pandas (result tables) is there; asks to install it on first use."""
        if requirements.ensure(_("Cement Volume")):
            return True
        self.ui.statusLabel.text = requirements.declined_message()
        return False

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, inputParameterNode: Optional[CementVolumeParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
            self._updateGui()

    def _updateGui(self, caller=None, event=None) -> None:
        p = self._parameterNode
        seedMode = p.bodySource == "seed point"
        self.ui.maskGroupBox.visible = not seedMode
        self.ui.seedGroupBox.visible = seedMode
        self.ui.seedPlaceWidget.setCurrentNode(p.seedPoint)
        self.ui.screwPlaceWidget.setCurrentNode(p.screwPoints)
        ready = p.inputVolume and (p.seedPoint if seedMode else p.maskNode)
        self.ui.applyButton.enabled = bool(ready) and self._progress is None
        self.ui.applyButton.toolTip = (
            _("Compute the volumetry") if ready else _("Select the CT and the body input")
        )
        results = self.logic.results()
        self.ui.resultsTableView.setMRMLTableNode(results.get("cement.table"))
        self.ui.zonesTableView.setMRMLTableNode(results.get("cement.zones"))

    def _showProgress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = round(100 * fraction)
        self.ui.statusLabel.text = message
        slicer.app.processEvents()

    def onCancelButton(self) -> None:
        if self._progress is not None:
            self._progress.cancel()

    def onApplyButton(self) -> None:
        """Run the volumetry with progress and Cancel; errors are shown and earlier results kept."""
        if not self._requirementsReady():
            return
        self._progress = CancellableProgress(self._showProgress)
        self.ui.progressBar.show()
        self.ui.cancelButton.enabled = True
        self.ui.applyButton.enabled = False
        try:
            with slicer.util.tryWithErrorDisplay(_("Cement Volume failed."), waitCursor=True):
                try:
                    result = self.logic.process(self._parameterNode, progress=self._progress)
                    self.ui.statusLabel.text = _("VF {vf:.1f} %, score {score}").format(
                        vf=result.vf_percent,
                        score=result.distribution_score.total if result.distribution_score else "n/a",
                    )
                    self.logic.showResults()
                except OperationCancelled as exc:
                    self.ui.statusLabel.text = str(exc)
                except BoneQualityError as exc:
                    self.ui.statusLabel.text = _("Previous results kept: {error}").format(error=str(exc))
                    slicer.util.errorDisplay(str(exc), windowTitle=_("Cement Volume"))
        finally:
            self._progress = None
            self.ui.progressBar.hide()
            self.ui.cancelButton.enabled = False
            self._updateGui()


#
# CementVolumeLogic
#
class CementVolumeLogic(ScriptedLoadableModuleLogic):
    """Thin: parameter node -> bonequality.mrml.logic_cement.run_cement (one library call)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return CementVolumeParameterNode(super().getParameterNode())

    def results(self) -> ResultNodes:
        return ResultNodes(super().getParameterNode())

    def process(self, p: CementVolumeParameterNode, progress=None):
        options = CementOptions(
            bone_hu=(p.boneLowHU, 3071.0),
            cement_hu=(p.cementLowHU, p.cementHighHU),
            cement_peak_hu=1400.0 if p.corticalCheck else None,
            min_cement_thickness_mm=2.0 if p.corticalCheck else 0.0,
            leak_rule=p.leakRule,
        )
        return logic_cement.run_cement(
            p.inputVolume,
            results=self.results(),
            body_source=p.bodySource,
            mask_node=p.maskNode,
            mask_segment=p.maskSegment,
            mask_label=p.maskLabel,
            seed_node=p.seedPoint,
            screws_node=p.screwPoints,
            screw_diameter_mm=p.screwDiameter,
            options=options,
            progress=progress,
        )

    def showResults(self) -> None:
        seg = self.results().get("cement.segmentation")
        if seg is not None:
            seg.CreateClosedSurfaceRepresentation()
            seg.GetDisplayNode().SetVisibility(True)
        table = self.results().get("cement.table")
        if table is not None:
            slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(table.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()
        logging.info("CementVolume: results shown")


#
# CementVolumeTest
#
class CementVolumeTest(ScriptedLoadableModuleTest):
    """Runs the scenarios pytest runs (bonequality.testing.scenarios), then the module logic."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from bonequality.testing import scenarios

        if not requirements.ensure(_("Cement Volume")):
            self.skipTest(requirements.declined_message())
        for scenario in scenarios.SCENARIOS["CementVolume"]:
            self.setUp()
            self.delayDisplay(f"Scenario {scenario.__name__}")
            scenario()
        self.setUp()
        self.test_ModuleLogicOnPhantom()

    def test_ModuleLogicOnPhantom(self):
        loaded = sampledata.load_phantom("BoneQualityCementedVertebra", spacing=(1.0, 1.0, 1.0))
        logic = CementVolumeLogic()
        p = logic.getParameterNode()
        p.inputVolume = loaded.volume
        p.maskNode = loaded.segmentation
        p.maskSegment = "vertebra"
        result = logic.process(p)
        self.assertAlmostEqual(result.vf_percent, loaded.truth["vf_percent"], delta=1.5)
        self.assertIsNotNone(logic.results().get("cement.segmentation"))
        self.delayDisplay("CementVolume module logic passed")
