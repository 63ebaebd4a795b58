"""Test scenarios, kept apart from the analyses and the MRML adapters.

:mod:`bonequality.testing.scenarios` needs Slicer's MRML (the application or the
``slicer-core`` package); pytest runs its scenarios on real MRML nodes, and each module's
self-test in Slicer ("Reload and Test") runs the same functions. Nothing in the analyses,
the CLI or the MRML logics imports this package.
"""
