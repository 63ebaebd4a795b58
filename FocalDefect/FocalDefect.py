"""FocalDefect: focal BMC loss, focal BMD loss and intercept-width maps of a vertebral body.

The computation is :func:`bonequality.focal_defect.analyze_focal_defect`; node handling
is :mod:`bonequality.mrml.logic_focal`. This file holds the Slicer module, its parameter
node, the widget and the self-test.
"""

# Slicer conventions ruff would flag: camelCase parameter-node fields (they are the
# SlicerParameterName keys of the .ui), typing.Union/Optional (parameterNodeWrapper inspects
# typing.Union, not X | Y), and unittest-style asserts in ScriptedLoadableModuleTest.
# ruff: noqa: N815, UP007, UP045, PT009

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

from bonequality.errors import BoneQualityError, OperationCancelled
from bonequality.mrml import logic_cement, logic_focal, requirements, sampledata
from bonequality.mrml.colors import show_overlay
from bonequality.mrml.results import CancellableProgress, ResultNodes


#
# FocalDefect
#
class FocalDefect(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Focal Defect")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["SlicerBoneQuality"]  # the hidden module that carries bonequality
        self.parent.contributors = ["SlicerBoneQuality contributors"]
        self.parent.helpText = _(
            "Voxel-wise maps of focal bone mineral content (BMC) loss, focal BMD loss and intercept width "
            "in a vertebral body: ROI eroded by 6 mm, BMD calibration, resampling to 0.3 mm with Gaussian "
            "smoothing, 15 axial star-line orientations with half-maximum void detection, summaries with "
            "z-scores against the fracture and control groups. Method: Li C, Ma C, Zhuo X, Li L, Li B, "
            "Li S, Lu WW. Focal osteoporosis defect is associated with vertebral compression fracture "
            "prevalence in a bone mineral density-independent manner. JOR Spine 2022;5(1):e1195."
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = _(
            "Part of the SlicerBoneQuality extension. Definitions: CLINICAL.md section 4. "
            "Li C et al. JOR Spine 2022;5(1):e1195, doi:10.1002/jsp2.1195."
        )


#
# FocalDefectParameterNode
#
@parameterNodeWrapper
class FocalDefectParameterNode:
    """Inputs and options; results are node references kept by bonequality.mrml.results."""

    inputVolume: vtkMRMLScalarVolumeNode
    # The vertebral-body source shared with CementVolume (bonequality.imaging.body).
    bodySource: Annotated[str, Choice(list(logic_cement.BODY_SOURCES))] = "body mask"
    maskNode: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]
    maskSegment: str = ""
    maskLabel: Annotated[int, WithinRange(0, 10000)] = 0
    seedPoint: vtkMRMLMarkupsFiducialNode
    calibration: Annotated[str, Choice(list(logic_focal.CALIBRATIONS))] = "uncalibrated"
    slope: Annotated[float, WithinRange(0.01, 10.0)] = 1.0
    intercept: Annotated[float, WithinRange(-1000.0, 1000.0)] = 0.0
    star: Annotated[str, Choice(["2d", "3d"])] = "2d"
    shownMap: Annotated[str, Choice(list(logic_focal.MAPS))] = "focal_bmc_loss"


#
# FocalDefectWidget
#
class FocalDefectWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._progress = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/FocalDefect.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = FocalDefectLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancelButton)
        self.ui.showMapButton.connect("clicked(bool)", self.onShowMap)
        self.ui.seedPlaceWidget.setMRMLScene(slicer.mrmlScene)
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
        if requirements.ensure(_("Focal Defect")):
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

    def setParameterNode(self, inputParameterNode: Optional[FocalDefectParameterNode]) -> None:
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
        calibrated = p.calibration == "slope/intercept"
        self.ui.slopeSpinBox.enabled = calibrated
        self.ui.interceptSpinBox.enabled = calibrated
        ready = bool(p.inputVolume and (p.seedPoint if seedMode else p.maskNode))
        self.ui.applyButton.enabled = ready and self._progress is None
        self.ui.applyButton.toolTip = (
            _("Compute the focal defect maps") if ready else _("Select the CT and the vertebral body input")
        )
        results = self.logic.results()
        self.ui.resultsTableView.setMRMLTableNode(results.get("focal.table"))
        self.ui.showMapButton.enabled = results.get(f"focal.{p.shownMap}") is not None

    def _showProgress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = round(100 * fraction)
        self.ui.statusLabel.text = message
        slicer.app.processEvents()

    def onCancelButton(self) -> None:
        if self._progress is not None:
            self._progress.cancel()

    def onApplyButton(self) -> None:
        """Run the analysis with progress and Cancel; errors are shown and earlier results kept."""
        if not self._requirementsReady():
            return
        self._progress = CancellableProgress(self._showProgress)
        self.ui.progressBar.show()
        self.ui.cancelButton.enabled = True
        self.ui.applyButton.enabled = False
        try:
            with slicer.util.tryWithErrorDisplay(_("Focal Defect failed."), waitCursor=True):
                try:
                    self._showSummary(self.logic.process(self._parameterNode, progress=self._progress))
                    self.logic.showMap(self._parameterNode)
                except OperationCancelled as exc:
                    self.ui.statusLabel.text = str(exc)
                except BoneQualityError as exc:
                    self.ui.statusLabel.text = _("Previous results kept: {error}").format(error=str(exc))
                    slicer.util.errorDisplay(str(exc), windowTitle=_("Focal Defect"))
        finally:
            self._progress = None
            self.ui.progressBar.hide()
            self.ui.cancelButton.enabled = False
            self._updateGui()

    def _showSummary(self, result) -> None:
        s = result.summary
        self.ui.statusLabel.text = _("Focal BMC loss {bmc:.2f} mm in {t:.1f} s{cal}{warn}").format(
            bmc=s.focal_bmc_loss_mm,
            t=s.seconds,
            cal="" if s.calibrated else _(" (uncalibrated)"),
            warn="" if not s.warnings else " - " + "; ".join(s.warnings),
        )

    def onShowMap(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not show the map."), waitCursor=True):
            self.logic.showMap(self._parameterNode)


#
# FocalDefectLogic
#
class FocalDefectLogic(ScriptedLoadableModuleLogic):
    """Thin: parameter node -> bonequality.mrml.logic_focal.run_focal_defect (one library call)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return FocalDefectParameterNode(super().getParameterNode())

    def results(self) -> ResultNodes:
        return ResultNodes(super().getParameterNode())

    def process(self, p: FocalDefectParameterNode, progress=None):
        return logic_focal.run_focal_defect(
            p.inputVolume,
            results=self.results(),
            body_source=p.bodySource,
            mask_node=p.maskNode,
            mask_segment=p.maskSegment,
            mask_label=p.maskLabel,
            seed_node=p.seedPoint,
            calibration=p.calibration,
            slope=p.slope,
            intercept=p.intercept,
            star=p.star,
            progress=progress,
        )

    def showMap(self, p: FocalDefectParameterNode) -> None:
        """The chosen map as a thermal overlay on the CT with a colour legend (like seed 004 Figure 7)."""
        node = self.results().get(f"focal.{p.shownMap}")
        if node is None:
            return
        _label, _unit, vmax = logic_focal.MAPS[p.shownMap]
        show_overlay(
            node,
            window_min=0.0,
            window_max=vmax,
            threshold_below=1e-6,
            opacity=0.6,
            background_node=p.inputVolume,
        )
        slicer.modules.colors.logic().AddDefaultColorLegendDisplayNode(node)
        slicer.util.resetSliceViews()


#
# FocalDefectTest
#
class FocalDefectTest(ScriptedLoadableModuleTest):
    """Runs the scenarios pytest runs (bonequality.testing.scenarios), then the module logic."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from bonequality.testing import scenarios

        if not requirements.ensure(_("Focal Defect")):
            self.skipTest(requirements.declined_message())
        for scenario in scenarios.SCENARIOS["FocalDefect"]:
            self.setUp()
            self.delayDisplay(f"Scenario {scenario.__name__}")
            scenario()
        self.setUp()
        self.test_ModuleLogicOnVertebra()

    def test_ModuleLogicOnVertebra(self):
        loaded = sampledata.load_phantom("BoneQualityVertebra", spacing=(0.6, 0.6, 1.0))
        logic = FocalDefectLogic()
        p = logic.getParameterNode()
        p.inputVolume = loaded.volume
        p.maskNode = loaded.segmentation
        result = logic.process(p)
        self.assertGreater(result.summary.roi_volume_ml, 0.0)
        for name in logic_focal.MAPS:
            self.assertIsNotNone(logic.results().get(f"focal.{name}"))
        self.delayDisplay("FocalDefect module logic passed")
