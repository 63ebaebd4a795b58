"""CementVolume in the page: body, cement and leakage segments, the VBV/CDV/VF % table.

Drives :mod:`bonequality.mrml.logic_cement`: the body source comes from the mask node
(:class:`~bonequality.web.panel.MaskPanel`), the analysis is the library's
:func:`bonequality.cement.run` in a worker thread (progress, cancel), and
:func:`~bonequality.mrml.logic_cement.write_cement_results` writes the segmentation and the
tables into the scene, where the slice and 3-D views show the segments.
"""

from __future__ import annotations

from ..cement import LEAK_RULES, CementInputs, CementOptions
from ..mrml.logic_cement import cement_tables, write_cement_results
from .panel import MaskPanel
from .tables import frame_to_state, table_widget

__all__ = ["CementPanel"]


#: How the segments are named in the colour legend.
LEGEND = {"VertebralBody": "vertebral body", "Cement": "cement inside the body", "Leakage": "leakage"}


def prediction_text(result) -> str:
    """Seed 003's rule in words: VF % against the 28.58 % cut-off."""
    above = result.predicted_extensive
    return (
        f"VF {result.vf_percent:.2f} % {'>=' if above else '<'} {result.options.vf_cutoff_percent} %: "
        f"extensive distribution {'predicted' if above else 'not predicted'} (seed 003)"
    )


class CementPanel(MaskPanel):
    """State, actions and UI of the CementVolume panel."""

    PREFIX = "cement"
    ANALYSIS = "cement"
    TABLES = ("table", "zones")
    WHAT = "cement volumetry"

    def __init__(self, server, web_scene, views, jobs):
        super().__init__(server, web_scene, views, jobs, source="vertebra mask")
        self.state[self.key("leak_rule")] = "cement"
        self.state[self.key("prediction")] = ""

    def _clear(self) -> None:
        self.state[self.key("prediction")] = ""

    def _inputs(self) -> CementInputs:
        role, body = self.body_source()
        options = CementOptions(leak_rule=self.state[self.key("leak_rule")])
        ws = self.web_scene
        return CementInputs(
            ws.ct_volume, body, options=options, name=f"CT {ws.ct_path}", sources=self.sources(role)
        )

    def _compute(self, inputs, progress):
        from ..cement import run as run_cement

        return run_cement(inputs, progress=progress)

    def _apply(self, result, inputs) -> None:
        ws = self.web_scene
        write_cement_results(result, inputs.ct, ws.ct_node, ws.results)
        summary, zones = cement_tables(result)
        with self.state:
            self.state[self.key("table")] = frame_to_state(summary)
            self.state[self.key("zones")] = frame_to_state(zones)
            self.state[self.key("prediction")] = prediction_text(result)
        self.views.set_overlay(None)
        self.views.render_all()

    def ui(self) -> None:
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        from ..segmentation import SEGMENT_COLORS
        from .widgets import mustache, segment_legend, status_ui

        self.source_ui()
        v.VSelect(
            v_model=(self.key("leak_rule"),),
            items=("cement_leak_rules", list(LEAK_RULES)),
            label="Leakage rule",
            density="compact",
            hide_details=True,
            classes="my-2",
        )
        status_ui(self.PREFIX, self.jobs.cancel)
        html.Div(mustache(self.key("prediction")), classes="text-body-2 my-2", id="bq-cement-prediction")
        segment_legend(
            {LEGEND.get(k, k): c for k, c in SEGMENT_COLORS.items()},
            element_id="bq-cement-legend",
            v_if=f"{self.key('table')}.rows.length",
        )
        table_widget(self.key("table"), test_id="bq-cement-table")
        html.Div(
            "Distribution score zones",
            classes="text-subtitle-2 mt-2",
            v_if=(f"{self.key('zones')}.rows.length",),
        )
        table_widget(self.key("zones"), test_id="bq-cement-zones")
        self.exporter.ui(self.export)
