"""Where the views show what: LPS millimetres <-> view pixels.

The views reach the page as streamed images, so a test (or a tool driving the page)
cannot find a point in them by itself. :func:`view_geometry` publishes, for every slice
view, the slice node's ``XYToRAS`` matrix (view pixel, origin bottom left, -> RAS mm), its
``SliceToRAS`` matrix, the render window size and the slice offset, with the name of the
state entry of the view's slice slider. :func:`lps_to_view_pixel` and
:func:`slice_offset_of` do the inverse mapping; they need numpy only.
"""

from __future__ import annotations

import numpy as np

from ..frames import lps_to_ras, ras_to_lps

__all__ = ["lps_to_view_pixel", "slice_offset_of", "view_geometry", "view_pixel_to_lps"]


def _matrix(m) -> list[float]:
    return [m.GetElement(i, j) for i in range(4) for j in range(4)]


def view_geometry(view_manager, translate=lambda key: key) -> dict:
    """``{view tag: geometry}`` of the slice views (JSON-able).

    Parameters
    ----------
    view_manager : trame_slicer.core.ViewManager
    translate : callable(str) -> str
        The server's state-key translator (view tag -> trame id).

    Returns
    -------
    dict
        Per slice view: ``orientation``, ``xy_to_ras`` and ``slice_to_ras`` (16 floats, row
        major), ``size`` (render window width, height in pixels), ``offset`` (mm along the
        slice normal) and ``slider`` (state key of the slice slider value).
    """
    out = {}
    for view in view_manager.get_slice_views():
        node = view.get_view_node()
        if node is None:
            continue
        tag = node.GetSingletonTag()
        out[tag] = {
            "orientation": node.GetOrientation(),
            "xy_to_ras": _matrix(node.GetXYToRAS()),
            "slice_to_ras": _matrix(node.GetSliceToRAS()),
            "size": list(view.render_window().GetSize()),
            "offset": float(view.get_slice_value()),
            "slider": f"{translate(tag)}__SliderState__value",
            "mapped": bool(node.IsMappedInLayout()),
        }
    return out


def slice_offset_of(geometry: dict, lps) -> float:
    """The slice offset (mm) that puts the plane of a view through ``lps``."""
    m = np.asarray(geometry["slice_to_ras"], dtype=float).reshape(4, 4)
    normal = m[:3, 2] / np.linalg.norm(m[:3, 2])
    return float(normal @ lps_to_ras(lps))


def lps_to_view_pixel(geometry: dict, lps) -> tuple[float, float, float]:
    """``(x, y_from_top, distance_to_plane_mm)`` of an LPS point in a slice view.

    ``x`` and ``y_from_top`` are render-window pixels with the origin at the top left, as
    a mouse event in the page sees them (one CSS pixel per render pixel).
    """
    m = np.asarray(geometry["xy_to_ras"], dtype=float).reshape(4, 4)
    xyz = np.linalg.solve(m, np.append(lps_to_ras(lps), 1.0))[:3]
    s = np.asarray(geometry["slice_to_ras"], dtype=float).reshape(4, 4)
    normal = s[:3, 2] / np.linalg.norm(s[:3, 2])
    distance = float(normal @ lps_to_ras(lps) - geometry["offset"])
    _, height = geometry["size"]
    return float(xyz[0]), float(height - xyz[1]), distance


def view_pixel_to_lps(geometry: dict, x: float, y_from_top: float) -> np.ndarray:
    """The LPS point (mm) on the slice plane under the pixel ``(x, y_from_top)``."""
    m = np.asarray(geometry["xy_to_ras"], dtype=float).reshape(4, 4)
    _, height = geometry["size"]
    ras = m @ np.array([x, height - y_from_top, 0.0, 1.0])
    return ras_to_lps(ras[:3])
