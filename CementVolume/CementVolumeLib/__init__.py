"""CementVolume's Python package: code the module imports, kept out of the module folder's top level.

Slicer registers every ``.py`` file directly in a module path as a scripted module
(``qSlicerScriptedLoadableModuleFactory::isValidFile``) and instantiates the class named
after the file with the module's parent (``qSlicerScriptedLoadableModule::setPythonSource``),
so helpers live in this package, as Slicer's ``SegmentStatisticsPlugins`` and
SlicerNNUnet's ``SlicerNNUNetLib`` do.
"""
