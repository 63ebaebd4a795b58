"""SlicerBoneQuality: the extension's hidden module; its folder holds the ``bonequality`` library.

Why it exists: Slicer appends the folder of every scripted module it registers to
``sys.path``, and only that folder (``ctkFactoryScriptedItem::load`` in
``Base/QTGUI/qSlicerScriptedLoadableModuleFactory.cxx``). Registration happens for all module
paths, in ``qSlicerAbstractModuleFactoryManager::registerModules``, before
``instantiateModules`` runs any module file, so once this file's folder (``src/``, beside
the library) is a module path, the three modules' ``from bonequality ...`` works. They
declare this module as their dependency, so Slicer loads it first
(``qSlicerModuleFactoryManager::loadModule``). In the CMake-built extension this file and
the library are installed next to the three modules. The module has no widget; at
start-up it registers the phantoms with Sample Data.
"""

import importlib
import sys

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import ScriptedLoadableModule

from bonequality.mrml import sampledata


class SlicerBoneQuality(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Slicer Bone Quality library")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = []
        self.parent.hidden = True
        self.parent.contributors = ["SlicerBoneQuality contributors"]
        self.parent.helpText = _(
            "Carries the bonequality library shared by Sacral Bone Analysis, Focal Defect and Cement Volume."
        )
        self.parent.acknowledgementText = _("Part of the SlicerBoneQuality extension.")
        slicer.app.connect("startupCompleted()", sampledata.register_sample_data)


def reloadLibrary() -> None:
    """Forget the loaded ``bonequality`` modules and import the package again from disk.

    A module's Reload (developer mode) calls this before Slicer re-reads the module file,
    whose ``from bonequality ...`` imports then get the edited library.
    """
    for name in sorted(n for n in sys.modules if n == "bonequality" or n.startswith("bonequality.")):
        del sys.modules[name]
    importlib.invalidate_caches()
    importlib.import_module("bonequality")
