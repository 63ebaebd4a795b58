"""In-Slicer workflow test: ``Slicer --python-script Testing/SlicerWorkflowTest.py``.

Needs the Slicer application with the SlicerBoneQuality extension installed, or the four
module paths of the README added (``SacralBoneAnalysis``, ``FocalDefect``, ``CementVolume``,
``src``), so it cannot run under pytest. It checks what only the application can show:

1. the hidden ``SlicerBoneQuality`` module and the three modules are loaded, and pandas is
   there (installed on first use when missing: ``bonequality.mrml.requirements``);
2. each module's GUI opens (loads its ``.ui``, connects the parameter node), and leaving
   SacralBoneAnalysis drops its landmark observers, so moving a point afterwards is harmless;
3. every scenario of :data:`bonequality.testing.scenarios.SCENARIOS` (the ones pytest runs
   against slicer-core) passes in Slicer's own scene;
4. each module's logic runs on a phantom, and the CementVolume Segment Statistics plugin
   reports VF % through Slicer's Segment Statistics module;

and exits with status 0 when everything passed, 1 otherwise.
"""

import logging
import sys
import traceback

import slicer

from bonequality.mrml import requirements, sampledata
from bonequality.testing import scenarios

MODULES = ("SacralBoneAnalysis", "FocalDefect", "CementVolume")


def check_modules_loaded() -> None:
    manager = slicer.app.moduleManager()
    for name in ("SlicerBoneQuality", *MODULES):
        if manager.module(name) is None:
            raise AssertionError(f"module {name} is not loaded")
    if not manager.module("SlicerBoneQuality").hidden:
        raise AssertionError("SlicerBoneQuality should be hidden")
    if not requirements.ensure("SlicerWorkflowTest"):
        raise AssertionError(requirements.declined_message())


def open_module_guis() -> None:
    for name in MODULES:
        slicer.util.selectModule(name)
        widget = slicer.util.getModuleWidget(name)
        if widget is None or not hasattr(widget, "ui"):
            raise AssertionError(f"{name}: the module widget did not load its .ui")
        if widget._parameterNode is None:
            raise AssertionError(f"{name}: no parameter node connected to the GUI")


def check_observers_dropped_on_exit() -> None:
    slicer.mrmlScene.Clear()
    pelvis = sampledata.load_phantom("BoneQualityPelvis", spacing=(2.0, 2.0, 2.0))
    slicer.util.selectModule("SacralBoneAnalysis")
    widget = slicer.util.getModuleWidget("SacralBoneAnalysis")
    widget._parameterNode.landmarks = pelvis.landmarks
    if widget._observedLandmarks is not pelvis.landmarks:
        raise AssertionError("SacralBoneAnalysis does not observe its landmarks")
    slicer.util.selectModule("Data")
    if widget._observedLandmarks is not None or widget._parameterNode is not None:
        raise AssertionError("SacralBoneAnalysis kept observers after exit()")
    pelvis.landmarks.SetNthControlPointPosition(0, 1.0, 2.0, 3.0)  # must not reach the widget
    slicer.app.processEvents()


def run_scenarios() -> None:
    for module, functions in scenarios.SCENARIOS.items():
        for scenario in functions:
            slicer.mrmlScene.Clear()
            logging.info("%s: %s -> %s", module, scenario.__name__, scenario())


def run_module_logics() -> None:
    slicer.mrmlScene.Clear()
    pelvis = sampledata.load_phantom("BoneQualityPelvis", spacing=(1.5, 1.5, 1.5))
    sacral = slicer.util.getModuleLogic("SacralBoneAnalysis")
    p = sacral.getParameterNode()
    p.inputVolume, p.landmarks = pelvis.volume, pelvis.landmarks
    result = sacral.analyzeCorridors(p)
    if abs(result.l5.mean_hu - pelvis.truth["l5"]["trabecular_mean_hu"]) > 5:
        raise AssertionError(f"L5 mean {result.l5.mean_hu:.1f} HU")
    sacral.planSacroplasty(p)
    sacral.showCorridors(p)

    vertebra = sampledata.load_phantom("BoneQualityVertebra", spacing=(0.6, 0.6, 1.0))
    focal = slicer.util.getModuleLogic("FocalDefect")
    p = focal.getParameterNode()
    p.inputVolume, p.bodySource, p.maskNode = vertebra.volume, "body mask", vertebra.segmentation
    focal.process(p)
    focal.showMap(p)

    cemented = sampledata.load_phantom("BoneQualityCementedVertebra", spacing=(1.0, 1.0, 1.0))
    cement = slicer.util.getModuleLogic("CementVolume")
    p = cement.getParameterNode()
    p.inputVolume, p.maskNode, p.maskSegment = cemented.volume, cemented.segmentation, "vertebra"
    result = cement.process(p)
    if abs(result.vf_percent - cemented.truth["vf_percent"]) > 1.5:
        raise AssertionError(f"VF {result.vf_percent:.2f} % vs {cemented.truth['vf_percent']:.2f} %")
    cement.showResults()
    check_segment_statistics_plugin(cement.results().get("cement.segmentation"), result.vf_percent)


def check_segment_statistics_plugin(segmentation, vf_percent: float) -> None:
    """Slicer's Segment Statistics module, with the CementVolume plugin, reports the same VF %."""
    from SegmentStatistics import SegmentStatisticsLogic

    logic = SegmentStatisticsLogic()
    logic.getParameterNode().SetParameter("Segmentation", segmentation.GetID())
    logic.computeStatistics()
    cement = segmentation.GetSegmentation().GetSegmentIdBySegmentName("Cement")
    value = logic.getStatistics()[cement, "Cement VF.vf_percent"]
    if abs(float(value) - vf_percent) > 1e-6:
        raise AssertionError(f"Segment Statistics VF {value} % vs {vf_percent} %")


def main() -> int:
    try:
        check_modules_loaded()
        open_module_guis()
        check_observers_dropped_on_exit()
        run_scenarios()
        run_module_logics()
    except Exception:
        traceback.print_exc()
        return 1
    logging.info("SlicerWorkflowTest passed")
    return 0


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    slicer.util.exit(status)
