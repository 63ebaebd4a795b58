"""CementVolume in the page: body, cement and leakage segments, the VBV/CDV/VF % table.

Drives :mod:`bonequality.mrml.logic_cement`: the body source comes from the mask node
(:func:`~bonequality.mrml.logic_cement.body_source_from_nodes`), the analysis is the
library's :func:`bonequality.cement.run` in a worker thread (progress, cancel), and
:func:`~bonequality.mrml.logic_cement.write_cement_results` writes the segmentation and the
tables into the scene, where the slice and 3-D views show the segments.
"""

from __future__ import annotations

from pathlib import Path

from ..cement import LEAK_RULES, CementInputs, CementOptions
from ..errors import InputFileError
from ..mrml.logic_cement import body_source_from_nodes, cement_tables, write_cement_results
from ..outputs import atomic_output_dir
from .tables import empty_table, frame_to_state, table_widget

__all__ = ["CementPanel", "mask_node_for"]

PREFIX = "cement"
#: Body sources offered (the library's mask kinds; a seed point needs the Slicer module).
SOURCES = {"vertebra mask": "vertebra", "body mask": "body"}


def _key(name: str) -> str:
    return f"{PREFIX}_{name}"


def mask_node_for(web_scene, role: str, path: str):
    """The mask node of ``role``, (re)loaded when the path field names another file."""
    path = str(path or "").strip()
    if not path:
        node = web_scene.mask_nodes.get(role)
        if node is None:
            raise InputFileError(f"{role} mask: type the path of a label map or .seg.nrrd file.")
        return node
    if web_scene.mask_paths.get(role) != path or role not in web_scene.mask_nodes:
        web_scene.load_mask(role, path)
    return web_scene.mask_nodes[role]


class CementPanel:
    """State, actions and UI of the CementVolume panel."""

    def __init__(self, server, web_scene, views, jobs):
        self.server, self.state = server, server.state
        self.web_scene, self.views, self.jobs = web_scene, views, jobs
        self.result = None
        self.inputs = None
        s = self.state
        s[_key("source")] = "vertebra mask"
        s[_key("mask_path")] = web_scene.mask_paths.get("vertebra", "")
        s[_key("leak_rule")] = "cement"
        s[_key("table")] = empty_table()
        s[_key("zones")] = empty_table()
        s[_key("prediction")] = ""
        s[_key("export_dir")] = ""

    def ct_changed(self) -> None:
        self.result = self.inputs = None
        with self.state:
            self.state[_key("table")] = empty_table()
            self.state[_key("zones")] = empty_table()
            self.state[_key("prediction")] = ""
            self.state[_key("mask_path")] = ""

    def _inputs(self) -> CementInputs:
        ws = self.web_scene
        source = self.state[_key("source")]
        if source not in SOURCES:
            raise InputFileError(f"vertebral body source '{source}': choose one of {', '.join(SOURCES)}.")
        node = mask_node_for(ws, SOURCES[source], self.state[_key("mask_path")])
        volume = ws.ct_volume
        body = body_source_from_nodes(volume, source, node, "", 0, None)
        options = CementOptions(leak_rule=self.state[_key("leak_rule")])
        sources = {"ct": ws.ct_path, f"{SOURCES[source]}_mask": ws.mask_paths.get(SOURCES[source], "")}
        return CementInputs(volume, body, options=options, name=f"CT {ws.ct_path}", sources=sources)

    async def run(self) -> None:
        """ "Apply": the volumetry in a worker thread; tables and segments when it succeeds."""
        from ..cement import run as run_cement

        try:
            inputs = self._inputs()
        except Exception as exc:  # a message in the page; previous results stay
            self.jobs.show_error(exc)
            return

        def apply(result):
            ws = self.web_scene
            write_cement_results(result, inputs.ct, ws.ct_node, ws.results)
            summary, zones = cement_tables(result)
            self.result, self.inputs = result, inputs
            with self.state:
                self.state[_key("table")] = frame_to_state(summary)
                self.state[_key("zones")] = frame_to_state(zones)
                self.state[_key("prediction")] = (
                    f"VF {result.vf_percent:.2f} % "
                    + (">=" if result.predicted_extensive else "<")
                    + f" {result.options.vf_cutoff_percent} %: extensive distribution "
                    + ("predicted" if result.predicted_extensive else "not predicted")
                    + " (seed 003)"
                )
            self.views.set_overlay(None)
            self.views.render_all()

        await self.jobs.run(
            lambda progress: run_cement(inputs, progress=progress), apply, label="cement volumetry"
        )

    async def export(self) -> None:
        """Write the CLI's files (summary.json, segments.seg.nrrd, report.png) to ``<folder>/cement``."""
        folder = str(self.state[_key("export_dir")] or "").strip()
        result, inputs = self.result, self.inputs
        if not folder or result is None:
            self.jobs.show_error(
                InputFileError("export: type a folder" if not folder else "export: run the volumetry first.")
            )
            return

        def write(_progress):
            with atomic_output_dir(Path(folder) / "cement") as stage:
                result.write(stage, inputs)

        await self.jobs.run(write, lambda _none: None, label=f"export to {folder}")

    def ui(self) -> None:
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        from .widgets import export_row, mustache, path_row, status_ui

        v.VSelect(
            v_model=(_key("source"),),
            items=("cement_sources", list(SOURCES)),
            label="Vertebral body from",
            density="compact",
            hide_details=True,
            classes="mb-2",
        )
        path_row(_key("mask_path"), "Mask (label map or .seg.nrrd)", [("Apply", self.run)])
        v.VSelect(
            v_model=(_key("leak_rule"),),
            items=("cement_leak_rules", list(LEAK_RULES)),
            label="Leakage rule",
            density="compact",
            hide_details=True,
            classes="my-2",
        )
        status_ui(PREFIX, self.jobs.cancel)
        html.Div(mustache(_key("prediction")), classes="text-body-2 my-2", id="bq-cement-prediction")
        table_widget(_key("table"), test_id="bq-cement-table")
        html.Div(
            "Distribution score zones", classes="text-subtitle-2 mt-2", v_if=(f"{_key('zones')}.rows.length",)
        )
        table_widget(_key("zones"), test_id="bq-cement-zones")
        export_row(_key("export_dir"), self.export)
