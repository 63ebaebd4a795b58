"""The trame server of ``bonequality view``: state, page layout, panels and :func:`serve`.

One server holds one :class:`~bonequality.web.scene.WebScene` (trame-slicer's scene and
logics), the :class:`~bonequality.web.views.Views` and one panel per module. The page has
an app bar (open a CT, layout, window/level preset), a drawer with the three panels, and
the view grid. The trigger ``bq_view_geometry`` returns
:func:`bonequality.web.coordinates.view_geometry` (LPS <-> pixel per slice view), for
tests and tools that click in the streamed views.
"""

from __future__ import annotations

import logging
import os
import sys

from .cement import CementPanel
from .coordinates import view_geometry
from .focal import FocalPanel
from .jobs import JobRunner
from .sacral import SacralPanel
from .scene import WINDOW_PRESETS, WebScene, read_ct
from .views import DEFAULT_LAYOUT, LAYOUTS, Views

__all__ = ["BoneQualityApp", "serve"]

logger = logging.getLogger(__name__)

#: Panels: state value -> tab title (the Slicer module names).
PANELS = {"sacral": "SacralBoneAnalysis", "cement": "CementVolume", "focal": "FocalDefect"}


class BoneQualityApp:
    """The page and its server.

    Parameters
    ----------
    inputs : bonequality.web.scene.LoadedInputs
        The CT (and landmarks, masks) read and checked before the server starts.
    server : trame Server, optional
    """

    def __init__(self, inputs, server=None):
        from trame.app import get_server
        from trame_slicer import module as trame_slicer_module

        self.server = server or get_server(name="bonequality", client_type="vue3")
        self.server.enable_module(trame_slicer_module)
        state = self.state = self.server.state
        state.trame__title = "SlicerBoneQuality"
        self.web_scene = WebScene()
        self.views = Views(self.server, self.web_scene)
        self.web_scene.set_ct(inputs.ct, inputs.ct_path)
        for role, (mask, path) in (inputs.masks or {}).items():
            self.web_scene.set_mask(role, mask, path)
        self.jobs = JobRunner(state, "app")
        self.sacral = SacralPanel(
            self.server,
            self.web_scene,
            self.views,
            JobRunner(state, "sacral"),
            landmarks=inputs.landmarks,
            landmarks_path=inputs.landmarks_path,
        )
        self.cement = CementPanel(self.server, self.web_scene, self.views, JobRunner(state, "cement"))
        self.focal = FocalPanel(self.server, self.web_scene, self.views, JobRunner(state, "focal"))
        state.app_layout = DEFAULT_LAYOUT
        state.app_preset = "Bone"
        state.app_panel = "sacral"
        state.app_ct_path = inputs.ct_path
        state.change("app_layout")(self._on_layout)
        state.change("app_preset")(self._on_preset)
        self.server.trigger("bq_view_geometry")(self.view_geometry)
        self._build_ui()
        self.views.set_layout(DEFAULT_LAYOUT)
        self.views.show_ct()
        if inputs.landmarks is not None:
            self.sacral.jobs.run_now(lambda: self.sacral._analyze(live=False))

    # ---------------------------------------------------------------- actions
    def view_geometry(self) -> dict:
        """LPS <-> pixel geometry of every slice view (see :mod:`bonequality.web.coordinates`)."""
        return view_geometry(self.views.view_manager, self.server.translator.translate_key)

    def _on_layout(self, app_layout, **_kwargs) -> None:
        self.jobs.run_now(lambda: self.views.set_layout(app_layout))

    def _on_preset(self, app_preset, **_kwargs) -> None:
        self.jobs.run_now(lambda: self.web_scene.apply_window_preset(app_preset))
        self.views.render_all()

    async def open_ct(self) -> None:
        """Open the CT named in the app bar (read in a worker thread; a bad file keeps the current CT)."""
        path = str(self.state.app_ct_path or "").strip()

        def apply(volume):
            self.web_scene.set_ct(volume, path)
            self.web_scene.apply_window_preset(self.state.app_preset)
            for panel in (self.sacral, self.cement, self.focal):
                panel.ct_changed()
            self.views.show_ct()

        await self.jobs.run(lambda _progress: read_ct(path), apply, label=f"opening {path}")

    # ---------------------------------------------------------------- page
    def _build_ui(self) -> None:
        from trame.ui.vuetify3 import SinglePageWithDrawerLayout
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        from .widgets import status_ui

        with SinglePageWithDrawerLayout(self.server, theme="dark") as layout:
            layout.title.set_text("SlicerBoneQuality")
            with layout.toolbar:
                v.VSpacer()
                v.VTextField(
                    v_model=("app_ct_path",),
                    label="CT",
                    density="compact",
                    hide_details=True,
                    style="max-width: 380px",
                    id="bq-app-ct-path",
                )
                v.VBtn("Open", click=self.open_ct, size="small", id="bq-app-open", classes="mx-1")
                v.VSelect(
                    v_model=("app_layout",),
                    items=("app_layouts", list(LAYOUTS)),
                    label="Layout",
                    density="compact",
                    hide_details=True,
                    style="max-width: 170px",
                    id="bq-app-layout",
                    classes="mx-1",
                )
                v.VSelect(
                    v_model=("app_preset",),
                    items=("app_presets", list(WINDOW_PRESETS)),
                    label="Window/level",
                    density="compact",
                    hide_details=True,
                    style="max-width: 160px",
                    id="bq-app-preset",
                    classes="mx-1",
                )
                v.VBtn("Reset views", click=self.views.reset, size="small", variant="text")
            with layout.drawer as drawer:
                drawer.width = 430
                with html.Div(classes="pa-2"):
                    status_ui("app", self.jobs.cancel)
                    with v.VTabs(v_model=("app_panel",), density="compact", grow=True):
                        for value, title in PANELS.items():
                            v.VTab(title, value=value, id=f"bq-tab-{value}", classes="text-none text-caption")
                    for value, panel in (
                        ("sacral", self.sacral),
                        ("cement", self.cement),
                        ("focal", self.focal),
                    ):
                        with html.Div(
                            v_show=(f"app_panel === '{value}'",), classes="pt-2", id=f"bq-panel-{value}"
                        ):
                            panel.ui()
            with layout.content, html.Div(style="height: calc(100vh - 64px); position: relative"):
                self.views.layout_manager.initialize_layout_grid(layout)
        self.layout = layout


def serve(inputs, *, host: str = "127.0.0.1", port: int = 8080) -> dict:
    """Run the page until SIGINT or SIGTERM (trame prints the URL); returns what was served.

    Parameters
    ----------
    inputs : bonequality.web.scene.LoadedInputs
    host : str
        Interface to bind (default 127.0.0.1: this machine only).
    port : int
        0 picks a free port.
    """
    if not os.environ.get("DISPLAY"):  # no X server: render through EGL without trying X first
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    app = BoneQualityApp(inputs)
    argv, sys.argv = sys.argv, sys.argv[:1]  # trame parses sys.argv; ours are not its options
    try:
        app.server.start(port=port, host=host, open_browser=False, timeout=0, show_connection_info=True)
    finally:
        sys.argv = argv
    return {"url": f"http://{host}:{app.server.port}/", "ct": inputs.ct_path, "stopped": True}
