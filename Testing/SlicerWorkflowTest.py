"""In-Slicer workflow test: ``Slicer --python-script Testing/SlicerWorkflowTest.py``.

Needs the Slicer application with the SlicerBoneQuality extension installed (or its module
folders added as additional module paths), so it cannot run under pytest. It:

1. opens each module's GUI (loads the ``.ui``, connects the parameter node), which the
   pytest suite cannot do without Qt;
2. runs every scenario of :data:`bonequality.testing.scenarios.SCENARIOS` (the same ones
   pytest runs against slicer-core) in Slicer's own scene;
3. loads a phantom from Sample Data's registration and runs each module's logic on it;

and exits with status 0 when everything passed, 1 otherwise.
"""

import logging
import sys
import traceback

import slicer

from bonequality.mrml import sampledata
from bonequality.testing import scenarios

MODULES = ("SacralBoneAnalysis", "FocalDefect", "CementVolume")


def open_module_guis() -> None:
    for name in MODULES:
        slicer.util.selectModule(name)
        widget = slicer.util.getModuleWidget(name)
        if widget is None or not hasattr(widget, "ui"):
            raise AssertionError(f"{name}: the module widget did not load its .ui")
        if widget._parameterNode is None:
            raise AssertionError(f"{name}: no parameter node connected to the GUI")


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
    p.inputVolume, p.maskNode = vertebra.volume, vertebra.segmentation
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


def main() -> int:
    try:
        open_module_guis()
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
