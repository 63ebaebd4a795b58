"""SacralBoneAnalysis: S1/S2 screw corridors, 10 mm cylinder probes, L5 density, thermal maps,
and sacroplasty needle planning.

The computations are :func:`bonequality.corridors.analyze_corridors` (with
:func:`~bonequality.corridors.update_corridors` for live updates) and
:func:`bonequality.sacroplasty.plan_sacroplasty`; node handling is
:mod:`bonequality.mrml.logic_sacral`. This file holds the Slicer module, its parameter
node, the widget and the self-test.
"""

# Slicer conventions ruff would flag: camelCase parameter-node fields (they are the
# SlicerParameterName keys of the .ui), typing.Union/Optional (parameterNodeWrapper inspects
# typing.Union, not X | Y), and unittest-style asserts in ScriptedLoadableModuleTest.
# ruff: noqa: N815, UP007, UP045, PT009

from typing import Annotated, Optional, Union

import qt
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
from bonequality.landmarks import spec
from bonequality.mrml import logic_sacral, markups, requirements, sampledata
from bonequality.mrml.results import CancellableProgress, ResultNodes

#: Landmark set choice -> analyses whose landmarks are pre-labelled.
LANDMARK_SETS = {
    "corridors + sacroplasty": ("corridors", "sacroplasty"),
    "corridors": ("corridors",),
    "sacroplasty": ("sacroplasty",),
}


#
# SacralBoneAnalysis
#
class SacralBoneAnalysis(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Sacral Bone Analysis")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["SlicerBoneQuality"]  # the hidden module that carries bonequality
        self.parent.contributors = ["SlicerBoneQuality contributors"]
        self.parent.helpText = _(
            "S1 and transsacral S2 screw corridors sampled with 10 mm cylinder probes in 0.25 mm "
            "segments, HU profiles in 1 % bins with vertebral-body and alar means, L5 trabecular density "
            "(<= 100 HU group), z-scores against the two reference groups, screw fit (6.5, 7.3, 8 mm) and "
            "straightened thermal images, after Thiesen DM, Ntalos D, Berger-Groch J, Petersik A, "
            "Hofstaetter B, Frosch KH, Hartel MJ. The three-dimensional bone mass distribution of the "
            "posterior pelvic ring and its key role in transsacral screw placement. Sci Rep 2020. "
            "Sacroplasty planning: the target at the crossing of the lines between the S1 corners and the "
            "distance to the anterior sacral cortex along three trajectories (seed 001: a fluoroscopic "
            "landmark for sacroplasty needle placement, description and validation with treatment in "
            "13 patients)."
        )
        self.parent.helpText += self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = _(
            "Part of the SlicerBoneQuality extension. Definitions: CLINICAL.md sections 1-3. Reference "
            "cohort: seed 000 Table 1 (324 pelvises); needle distances: seed 001 Table 1 (200 hemisacra)."
        )


#
# SacralBoneAnalysisParameterNode
#
@parameterNodeWrapper
class SacralBoneAnalysisParameterNode:
    """Inputs and options; results are node references kept by bonequality.mrml.results."""

    inputVolume: vtkMRMLScalarVolumeNode
    landmarks: vtkMRMLMarkupsFiducialNode
    landmarkSet: Annotated[str, Choice(list(LANDMARK_SETS))] = "corridors + sacroplasty"
    # Optional sacrum segmentation: the sacroplasty envelope instead of the cortical shell.
    sacrumMask: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]
    sacrumSegment: str = ""
    autoBoneThreshold: bool = True
    # The library's one range (bonequality.validation.BONE_THRESHOLD_RANGE_HU, exclusive ends).
    boneThreshold: Annotated[float, WithinRange(1.0, 3070.0)] = 250.0
    liveUpdate: bool = True
    showOverlay: bool = True
    reformatSide: Annotated[str, Choice(["left", "right"])] = "left"


#
# SacralBoneAnalysisWidget
#
class SacralBoneAnalysisWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedLandmarks = None
        self._progress = None
        self._liveTimer = qt.QTimer()
        self._liveTimer.setSingleShot(True)
        self._liveTimer.setInterval(150)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SacralBoneAnalysis.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SacralBoneAnalysisLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.setupLandmarksButton.connect("clicked(bool)", self.onSetupLandmarks)
        self.ui.analyzeCorridorsButton.connect("clicked(bool)", self.onAnalyzeCorridors)
        self.ui.planSacroplastyButton.connect("clicked(bool)", self.onPlanSacroplasty)
        self.ui.reformatButton.connect("clicked(bool)", self.onReformat)
        self.ui.cancelButton.connect("clicked(bool)", self.onCancel)
        self._liveTimer.connect("timeout()", self.onLiveUpdate)
        self.ui.landmarksPlaceWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.landmarksPlaceWidget.placeMultipleMarkups = (
            slicer.qSlicerMarkupsPlaceWidget.ForcePlaceMultipleMarkups
        )
        self.ui.progressBar.hide()
        self.ui.cancelButton.enabled = False
        self.initializeParameterNode()
        self._requirementsReady()

    def cleanup(self) -> None:
        """Called when the application closes or the module is reloaded: drop every observer."""
        self._liveTimer.stop()
        self.setParameterNode(None)
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        """Leaving the module: stop live updates and stop observing the landmarks and parameters."""
        self._liveTimer.stop()
        self.setParameterNode(None)

    def onReload(self) -> None:
        """Reload the bonequality library too (Slicer's default reloads only this file)."""
        import SlicerBoneQuality

        SlicerBoneQuality.reloadLibrary()
        ScriptedLoadableModuleWidget.onReload(self)

    def _requirementsReady(self) -> bool:
        """True when pandas (result tables) is there; asks to install it on first use."""
        if requirements.ensure(_("Sacral Bone Analysis")):
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

    def setParameterNode(self, inputParameterNode: Optional[SacralBoneAnalysisParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
        self._observeLandmarks(None)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateGui)
            self._updateGui()

    def _observeLandmarks(self, node) -> None:
        if node is self._observedLandmarks:
            return
        if self._observedLandmarks is not None:
            for event in self._landmarkEvents():
                self.removeObserver(self._observedLandmarks, event, self.onLandmarksChanged)
        self._observedLandmarks = node
        if node is not None:
            for event in self._landmarkEvents():
                self.addObserver(node, event, self.onLandmarksChanged)

    @staticmethod
    def _landmarkEvents():
        cls = slicer.vtkMRMLMarkupsNode
        return (cls.PointModifiedEvent, cls.PointPositionDefinedEvent, cls.PointPositionUndefinedEvent)

    def _updateGui(self, caller=None, event=None) -> None:
        p = self._parameterNode
        self._observeLandmarks(p.landmarks)
        self.ui.landmarksPlaceWidget.setCurrentNode(p.landmarks)
        self.ui.boneThresholdSpinBox.enabled = not p.autoBoneThreshold
        idle = self._progress is None
        ready = bool(p.inputVolume and p.landmarks) and idle
        self.ui.analyzeCorridorsButton.enabled = ready
        self.ui.planSacroplastyButton.enabled = ready
        self.ui.setupLandmarksButton.enabled = idle
        self._showNextLandmark()
        results = self.logic.results()
        self.ui.corridorTableView.setMRMLTableNode(results.get("corridors.table"))
        self.ui.corridorSummaryTableView.setMRMLTableNode(results.get("corridors.summary"))
        table = results.get("sacroplasty.table")
        self.ui.sacroplastyTableView.setMRMLTableNode(table)
        warnings = table.GetAttribute("BoneQuality.Warnings") if table is not None else ""
        self.ui.warningsLabel.text = warnings or ""
        self.ui.warningsLabel.visible = bool(warnings)
        self.ui.reformatButton.enabled = self.logic.sacroplasty.plan is not None

    def _showNextLandmark(self) -> None:
        node = self._parameterNode.landmarks if self._parameterNode else None
        label = markups.next_unplaced_label(node) if node is not None else None
        if label is None:
            self.ui.nextLandmarkLabel.text = _("All landmarks placed.") if node is not None else ""
        else:
            row = spec(label)
            self.ui.nextLandmarkLabel.text = _("Next: {label} - {where}").format(
                label=label, where=row.description if row else ""
            )

    def onLandmarksChanged(self, caller=None, event=None) -> None:
        if self._parameterNode is None:
            return
        self._showNextLandmark()
        if self._parameterNode.liveUpdate and self._progress is None and self.logic.hasResults():
            self._liveTimer.start()

    def onLiveUpdate(self) -> None:
        if self._parameterNode is None or self._progress is not None:
            return
        with slicer.util.tryWithErrorDisplay(_("Live update failed."), waitCursor=True):
            try:
                if self.logic.liveUpdate(self._parameterNode):
                    self.ui.statusLabel.text = _("Updated.")
            except BoneQualityError as exc:
                self.ui.statusLabel.text = _("Previous results kept: {error}").format(error=str(exc))
        self._updateGui()

    def onSetupLandmarks(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Could not set up the landmarks."), waitCursor=True):
            p.landmarks = markups.guided_landmarks_node(LANDMARK_SETS[p.landmarkSet], p.landmarks)
            self.ui.landmarksPlaceWidget.setPlaceModeEnabled(True)

    def _run(self, action, done) -> None:
        """A long action with progress and Cancel; errors are shown and earlier results kept."""
        if not self._requirementsReady():
            return
        self._progress = CancellableProgress(self._showProgress)
        self.ui.progressBar.show()
        self.ui.cancelButton.enabled = True
        self._updateGui()
        try:
            with slicer.util.tryWithErrorDisplay(_("Sacral Bone Analysis failed."), waitCursor=True):
                try:
                    done(action(self._progress))
                except OperationCancelled as exc:
                    self.ui.statusLabel.text = str(exc)
                except BoneQualityError as exc:
                    self.ui.statusLabel.text = _("Previous results kept: {error}").format(error=str(exc))
                    slicer.util.errorDisplay(str(exc), windowTitle=_("Sacral Bone Analysis"))
        finally:
            self._progress = None
            self.ui.progressBar.hide()
            self.ui.cancelButton.enabled = False
            self._updateGui()

    def _showProgress(self, fraction: float, message: str) -> None:
        self.ui.progressBar.value = round(100 * fraction)
        self.ui.statusLabel.text = message
        slicer.app.processEvents()

    def onCancel(self) -> None:
        if self._progress is not None:
            self._progress.cancel()

    def onAnalyzeCorridors(self) -> None:
        def done(result):
            self.ui.statusLabel.text = _("S1 body {s1:.0f} HU, L5 {l5:.0f} HU ({group})").format(
                s1=result.s1.region_means["body"], l5=result.l5.mean_hu, group=result.l5.group
            )
            self.logic.showCorridors(self._parameterNode)

        self._run(lambda progress: self.logic.analyzeCorridors(self._parameterNode, progress=progress), done)

    def onPlanSacroplasty(self) -> None:
        def done(plan):
            self.ui.statusLabel.text = _("Sacroplasty planned: {n} warning(s).").format(n=len(plan.warnings))

        self._run(lambda progress: self.logic.planSacroplasty(self._parameterNode, progress=progress), done)

    def onReformat(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not reformat the slice view."), waitCursor=True):
            sliceNode = slicer.app.layoutManager().sliceWidget("Red").mrmlSliceNode()
            self.logic.reformat(sliceNode, self._parameterNode.reformatSide)


#
# SacralBoneAnalysisLogic
#
class SacralBoneAnalysisLogic(ScriptedLoadableModuleLogic):
    """Thin: parameter node -> bonequality.mrml.logic_sacral (one library call per action)."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.session = logic_sacral.CorridorSession()
        self.sacroplasty = logic_sacral.SacroplastySession()

    def getParameterNode(self):
        return SacralBoneAnalysisParameterNode(super().getParameterNode())

    def results(self) -> ResultNodes:
        return ResultNodes(super().getParameterNode())

    @staticmethod
    def _threshold(p):
        return None if p.autoBoneThreshold else p.boneThreshold

    def analyzeCorridors(self, p, progress=None):
        return self.session.analyze(
            p.inputVolume,
            p.landmarks,
            results=self.results(),
            bone_threshold=self._threshold(p),
            progress=progress,
            **self._sacrum(p),
        )

    def updateCorridors(self, p):
        return self.session.update(
            p.inputVolume,
            p.landmarks,
            results=self.results(),
            bone_threshold=self._threshold(p),
            **self._sacrum(p),
        )

    def planSacroplasty(self, p, progress=None):
        return self.sacroplasty.run(
            p.inputVolume,
            p.landmarks,
            results=self.results(),
            bone_threshold=self._threshold(p),
            progress=progress,
            **self._sacrum(p),
        )

    @staticmethod
    def _sacrum(p) -> dict:
        """The optional sacrum mask selection as the sacroplasty logic's keywords."""
        return {"sacrum_mask_node": p.sacrumMask, "sacrum_segment": p.sacrumSegment or None}

    def hasResults(self) -> bool:
        """Whether there are corridor or sacroplasty results for a live update to refresh."""
        return self.session.result is not None or self.sacroplasty.plan is not None

    def liveUpdate(self, p) -> bool:
        """Refresh whichever results exist (corridors, sacroplasty) after a landmark moved."""
        updated = False
        if self.session.result is not None:
            self.updateCorridors(p)
            updated = True
        if self.sacroplasty.plan is not None:
            self.sacroplasty.update(
                p.inputVolume,
                p.landmarks,
                results=self.results(),
                bone_threshold=self._threshold(p),
                **self._sacrum(p),
            )
            updated = True
        return updated

    def reformat(self, sliceNode, side: str) -> None:
        logic_sacral.reformat_slice_node(sliceNode, self.sacroplasty.plan, side)

    def showCorridors(self, p) -> None:
        results = self.results()
        overlay = results.get("corridors.overlay")
        if p.showOverlay and overlay is not None:
            logic_sacral.show_thermal_overlay(overlay, background_node=p.inputVolume)
        chart = results.get("corridors.chart")
        if chart is not None:
            slicer.modules.plots.logic().ShowChartInLayout(chart)


#
# SacralBoneAnalysisTest
#
class SacralBoneAnalysisTest(ScriptedLoadableModuleTest):
    """Runs the scenarios pytest runs (bonequality.testing.scenarios), then the module logic."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from bonequality.testing import scenarios

        if not requirements.ensure(_("Sacral Bone Analysis")):
            self.skipTest(requirements.declined_message())
        for scenario in scenarios.SCENARIOS["SacralBoneAnalysis"]:
            self.setUp()
            self.delayDisplay(f"Scenario {scenario.__name__}")
            scenario()
        self.setUp()
        self.test_ModuleLogicOnPelvis()

    def test_ModuleLogicOnPelvis(self):
        loaded = sampledata.load_phantom("BoneQualityPelvis", spacing=(1.5, 1.5, 1.5))
        logic = SacralBoneAnalysisLogic()
        p = logic.getParameterNode()
        p.inputVolume = loaded.volume
        p.landmarks = loaded.landmarks
        result = logic.analyzeCorridors(p)
        self.assertAlmostEqual(result.l5.mean_hu, loaded.truth["l5"]["trabecular_mean_hu"], delta=5)
        plan = logic.planSacroplasty(p)
        self.assertEqual(len(plan.sides), 2)
        self.assertIsNotNone(logic.results().get("corridors.chart"))
        self.delayDisplay("SacralBoneAnalysis module logic passed")
