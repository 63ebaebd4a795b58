"""Slicer's API as this project uses it: a manifest read from Slicer's sources, and the code walk.

``extract.py`` writes ``manifest.json`` from Slicer, CTK and Qt sources at the supported
Slicer release tags; ``usage.py`` finds what the project calls; ``Testing/test_slicer_api.py``
checks every use against the manifest at every version.
"""
