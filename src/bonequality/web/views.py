"""Slice and 3-D views streamed to the page, their layouts and the overlay on the CT.

trame-slicer's remote view factories create Slicer's own views (``SliceView`` with
``vtkMRMLSliceLogic`` and the markups, model, segmentation displayable managers;
``ThreeDView``), each rendered off screen on the CPU and streamed as JPEG. Multisampling
is turned off: it costs CPU time on every frame for no gain in these views.
"""

from __future__ import annotations

from ..errors import InputFileError

__all__ = ["DEFAULT_LAYOUT", "LAYOUTS", "VIEW_NAMES", "Views"]

#: Layout names offered in the page (trame-slicer's default grid configurations).
LAYOUTS = ("Quad View", "Axial Primary", "3D Primary", "Axial Only", "3D Only")
DEFAULT_LAYOUT = "Quad View"
#: Foreground (overlay) opacity in the slice views.
OVERLAY_OPACITY = 0.5


#: View tag -> the name shown in its corner.
VIEW_NAMES = {"Red": "Axial", "Yellow": "Sagittal", "Green": "Coronal", "ThreeD": "3-D"}


def _view_label(view_id: str, view) -> None:
    """The view's name in its top right corner; the element id ``bq-view-<tag>`` finds the view."""
    from trame.widgets import html

    tag = view.get_singleton_tag() or view_id
    html.Div(
        VIEW_NAMES.get(tag, tag),
        id=f"bq-view-{tag}",
        classes="bq-view-label text-caption",
        style="position: absolute; top: 4px; right: 8px; color: #ddd; pointer-events: none;",
    )


def _slice_view_ui(server, view_id: str, view) -> None:
    from trame_slicer.app.ui import create_vertical_slice_view_gutter_ui

    create_vertical_slice_view_gutter_ui(server, view_id, view)
    _view_label(view_id, view)


def _threed_view_ui(server, view_id: str, view) -> None:
    from trame_slicer.app.ui import create_vertical_view_gutter_ui

    create_vertical_view_gutter_ui(server, view_id, view)
    _view_label(view_id, view)


class Views:
    """The views of one page: layout manager, slice views and the 3-D view.

    Parameters
    ----------
    server : trame Server
    web_scene : bonequality.web.scene.WebScene
    """

    def __init__(self, server, web_scene):
        from trame_slicer.core import LayoutManager
        from trame_slicer.rca_view import register_rca_factories

        self.server = server
        self.web_scene = web_scene
        self.view_manager = web_scene.app.view_manager
        register_rca_factories(
            self.view_manager,
            server,
            slice_view_ui_f=_slice_view_ui,
            three_d_view_ui_f=_threed_view_ui,
        )
        self.layout_manager = LayoutManager(web_scene.scene, self.view_manager, server)
        configurations = LayoutManager.default_grid_configuration()
        self.layout_manager.register_layout_dict({k: configurations[k] for k in LAYOUTS})
        for view in self.view_manager.get_views():
            view.render_window().SetMultiSamples(0)

    def set_layout(self, layout: str) -> None:
        """Switch to one of :data:`LAYOUTS`."""
        if layout not in LAYOUTS:
            raise InputFileError(f"layout '{layout}': choose one of {', '.join(LAYOUTS)}.")
        self.layout_manager.set_layout(layout)
        for view in self.view_manager.get_views():
            view.render_window().SetMultiSamples(0)

    def show_ct(self) -> None:
        """Show the scene's CT in every slice view and fit all views to it."""
        node = self.web_scene.ct_node
        display = self.web_scene.app.display_manager
        display.show_volume_in_slice_background(node)
        display.show_volume_in_slice_foreground(None)
        self.reset()

    def reset(self) -> None:
        for view in self.view_manager.get_views():
            view.reset_view()

    def set_overlay(self, node, opacity: float = OVERLAY_OPACITY) -> None:
        """Show ``node`` (a volume, or None) over the CT in the slice views."""
        for view in self.view_manager.get_slice_views():
            view.set_foreground_volume_id(node.GetID() if node is not None else None)
            view.set_foreground_opacity(opacity if node is not None else 0.0)

    def render_all(self) -> None:
        for view in self.view_manager.get_views():
            view.schedule_render()
