"""Browser front end (``bonequality view``): the three modules on Slicer's own MRML views.

`trame-slicer <https://github.com/KitwareMedical/trame-slicer>`_ renders Slicer's slice and
3-D views, markups and their mouse interaction in a web page, on the ``slicer-core`` MRML
that :mod:`bonequality.mrml`'s logics use. Each panel drives the same Qt-free logics as the
Slicer modules, with the scene passed in (there is no ``slicer.mrmlScene`` global here).

Needs the ``[web]`` extra (``pip install 'bonequality[web]'``); nothing here is imported by
``import bonequality``. :func:`require_web` names what is missing.

Modules
-------
scene
    The Slicer application (scene, logics, views), the CT, masks, bone surface and presets.
coordinates
    What each view shows where: LPS mm <-> view pixels (for tests and tools).
jobs
    Long actions in a worker thread with progress and cancel; results applied on the loop.
sacral, cement, focal
    One panel per module.
app
    The trame server, the page layout and :func:`serve`.
"""

from __future__ import annotations

import importlib.util

from ..errors import MissingDependencyError

__all__ = ["WEB_MODULES", "require_web"]

#: Import names the browser front end needs (from the ``[web]`` extra).
WEB_MODULES = ("trame", "trame_slicer", "trame_vuetify", "trame_rca", "slicer")


def require_web() -> None:
    """Raise :class:`~bonequality.errors.MissingDependencyError` when the ``[web]`` extra is missing."""
    missing = [m for m in WEB_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(
            f"bonequality view needs {', '.join(missing)}: install the browser front end with "
            "pip install 'bonequality[web]' (Python 3.11)."
        )
