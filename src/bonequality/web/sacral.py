"""SacralBoneAnalysis in the page: guided landmarks, live corridors and sacroplasty planning.

The panel drives :mod:`bonequality.mrml.logic_sacral` (the Slicer module's logic) with the
page's scene: a :class:`~bonequality.mrml.logic_sacral.CorridorSession` and a
:class:`~bonequality.mrml.logic_sacral.SacroplastySession` write their result nodes (lines,
probe models, the thermal overlay, tables, target points) into that scene, where the
views draw them.

Guided placement: the landmark node is pre-labelled from the schema
(:func:`bonequality.mrml.markups.guided_landmarks_node`). "Place next" arms Slicer's place
mode on the next unplaced point; a click in a slice view puts it there; a drag moves it.
Every change of a point schedules an analysis :data:`DEBOUNCE_S` later (a drag is many
changes), run on the loop after the event: each analysis runs once its landmarks are all
placed, then follows every move (the corridor update re-samples only what moved).
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..colors import THERMAL_RANGE_HU
from ..errors import InputFileError
from ..landmarks import read_mrk_json, required_labels, write_mrk_json
from ..mrml.logic_sacral import CorridorSession, SacroplastySession, corridor_tables, sacroplasty_table
from ..mrml.markups import control_point_index, guided_landmarks_node, landmarks_from_node
from ..validation import check_bone_threshold
from .export import Exporter
from .plots import profile_png
from .tables import empty_table, frame_to_state, table_widget

__all__ = ["DEBOUNCE_S", "SacralPanel"]

logger = logging.getLogger(__name__)

#: Seconds without a landmark change before the live re-analysis runs.
DEBOUNCE_S = 0.1
#: Seconds after the last analysis before the profile plot is drawn again.
PLOT_DELAY_S = 0.4
PREFIX = "sacral"


def _key(name: str) -> str:
    return f"{PREFIX}_{name}"


def parse_threshold(text) -> float | None:
    """The panel's bone threshold field: blank = per-scan estimate, else HU (library range check)."""
    if text is None or str(text).strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputFileError(f"bone threshold '{text}': type a number of HU or leave it blank.") from None
    return check_bone_threshold(value)


class SacralPanel:
    """State, actions and UI of the SacralBoneAnalysis panel.

    Parameters
    ----------
    server : trame Server
    web_scene : bonequality.web.scene.WebScene
    views : bonequality.web.views.Views
    jobs : bonequality.web.jobs.JobRunner
    landmarks : Landmarks, optional
        Initial positions (from ``--landmarks``); missing labels stay unplaced.
    """

    def __init__(self, server, web_scene, views, jobs, *, landmarks=None, landmarks_path=None):
        self.server, self.state = server, server.state
        self.web_scene, self.views, self.jobs = web_scene, views, jobs
        self.corridors = CorridorSession()
        self.sacroplasty = SacroplastySession()
        self.landmarks_path = landmarks_path
        self._pending = None
        self._last_placed: set[str] = set()
        self._dragging = False
        self._plot = None
        self.node = guided_landmarks_node(landmarks=landmarks, scene=web_scene.scene, name="Sacral landmarks")
        self._observe()
        s = self.state
        s[_key("landmarks")] = []
        s[_key("next_label")] = ""
        s[_key("next_description")] = ""
        s[_key("placing")] = False
        s[_key("threshold")] = ""
        s[_key("live")] = True
        s[_key("thermal")] = True
        s[_key("path")] = str(landmarks_path or "")
        self.exporter = Exporter(s, PREFIX)
        s[_key("regions")] = empty_table()
        s[_key("summary")] = empty_table()
        s[_key("plan")] = empty_table()
        s[_key("warnings")] = []
        s[_key("plot")] = ""
        s[_key("revision")] = 0
        s[_key("update_ms")] = 0.0
        self._refresh_list()
        ctrl = server.controller
        ctrl.sacral_place_next = self.place_next
        ctrl.sacral_analyze = self.analyze
        ctrl.sacral_load = self.load_landmarks
        ctrl.sacral_save = self.save_landmarks
        ctrl.sacral_export = self.export
        server.state.change(_key("thermal"))(self._on_thermal)

    def ct_changed(self) -> None:
        """A new CT: forget the results computed on the previous one."""
        self.corridors, self.sacroplasty = CorridorSession(), SacroplastySession()
        self._last_placed = set()
        with self.state:
            for name in ("regions", "summary", "plan"):
                self.state[_key(name)] = empty_table()
            self.state[_key("warnings")] = []
            self.state[_key("plot")] = ""

    # ---------------------------------------------------------------- observers
    def _observe(self) -> None:
        node = self.node
        for name in (
            "PointModifiedEvent",
            "PointPositionDefinedEvent",
            "PointPositionUndefinedEvent",
            "PointAddedEvent",
            "PointRemovedEvent",
            "PointStartInteractionEvent",
            "PointEndInteractionEvent",
        ):
            # MRML's own event ids reach Python callbacks as "NoEvent": bind the name.
            node.AddObserver(getattr(node, name), lambda n, _e, name=name: self._on_point_changed(n, name))
        interaction = self.web_scene.scene.GetNodeByID("vtkMRMLInteractionNodeSingleton")
        if interaction is not None:
            interaction.AddObserver(interaction.InteractionModeChangedEvent, self._on_mode_changed)

    def _on_mode_changed(self, interaction, _event) -> None:
        with self.state:
            self.state[_key("placing")] = interaction.GetCurrentInteractionMode() == interaction.Place

    def _on_point_changed(self, _node=None, event=None) -> None:
        """A point was placed, moved or removed: analyse after the debounce (at once when a drag ends).

        While a point is dragged, each move only re-arms the debounce; the list of points is
        refreshed with the analysis, so a drag costs the server little per mouse move.
        """
        dragging = event == "PointModifiedEvent" and self._dragging
        if event == "PointStartInteractionEvent":
            self._dragging = True
            return
        if event == "PointEndInteractionEvent":
            self._dragging = False
        if not dragging:
            self._refresh_list()
        if not self.state[_key("live")]:
            return
        if self._pending is not None:
            self._pending.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (scripts, tests): analyse at once
            self._run_pending()
            return
        delay = 0.0 if event == "PointEndInteractionEvent" else DEBOUNCE_S
        self._pending = loop.call_later(delay, self._run_pending)

    def _run_pending(self) -> None:
        self._pending = None
        if self._dragging:
            self._refresh_list()
        self.jobs.run_now(lambda: self._analyze(live=True))

    def _on_thermal(self, **_kwargs) -> None:
        self._show_thermal()

    # ---------------------------------------------------------------- state
    def _refresh_list(self) -> None:
        node = self.node
        rows, pos = [], [0.0, 0.0, 0.0]
        lm = landmarks_from_node(node)
        placed = lm.to_dict()
        for i in range(node.GetNumberOfControlPoints()):
            label = node.GetNthControlPointLabel(i)
            point = placed.get(label)
            node.GetNthControlPointPositionWorld(i, pos)
            rows.append(
                {
                    "label": label,
                    "description": node.GetNthControlPointDescription(i),
                    "placed": point is not None,
                    "lps": [round(float(v), 3) for v in point] if point is not None else None,
                }
            )
        nxt = next((r for r in rows if not r["placed"]), None)
        with self.state:
            self.state[_key("landmarks")] = rows
            self.state[_key("next_label")] = nxt["label"] if nxt else ""
            self.state[_key("next_description")] = nxt["description"] if nxt else ""

    def _publish(self, update_ms: float) -> None:
        corridor, plan = self.corridors.result, self.sacroplasty.plan
        with self.state:
            if corridor is not None:
                regions, summary = corridor_tables(corridor)
                self.state[_key("regions")] = frame_to_state(regions)
                self.state[_key("summary")] = frame_to_state(summary)
            if plan is not None:
                self.state[_key("plan")] = frame_to_state(sacroplasty_table(plan))
                self.state[_key("warnings")] = list(plan.warnings)
            self.state[_key("update_ms")] = round(update_ms, 1)
            self.state[_key("revision")] = self.state[_key("revision")] + 1
        self._show_thermal()
        if corridor is not None:
            self._schedule_plot()

    def _schedule_plot(self) -> None:
        """Draw the profile plot once the points stay still (matplotlib takes ~0.1 s)."""
        if self._plot is not None:
            self._plot.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._draw_plot()
            return
        self._plot = loop.call_later(PLOT_DELAY_S, self._draw_plot)

    def _draw_plot(self) -> None:
        self._plot = None
        if self.corridors.result is not None and not self._dragging:
            with self.state:
                self.state[_key("plot")] = profile_png(self.corridors.result)

    def _show_thermal(self) -> None:
        overlay = self.web_scene.results.get("corridors.overlay")
        self.views.set_overlay(overlay if self.state[_key("thermal")] else None)

    # ---------------------------------------------------------------- actions
    def _threshold(self) -> float | None:
        return parse_threshold(self.state[_key("threshold")])

    def _analyze(self, *, live: bool) -> list[str]:
        """Run each analysis whose landmarks are all placed; returns the analyses run."""
        t0 = time.perf_counter()
        threshold = self._threshold()
        ws = self.web_scene
        placed = set(landmarks_from_node(self.node).to_dict())
        # A point placed or removed changes the inputs (the per-scan threshold uses all the
        # landmarks): a full run; only moves of the same points are live updates.
        live = live and placed == self._last_placed
        self._last_placed = placed
        common = {"results": ws.results, "bone_threshold": threshold}
        for session in (self.corridors, self.sacroplasty):
            session.adopt(ws.ct_node, ws.ct_volume)  # the page's CT, not a copy per analysis
        mask = {"sacrum_mask_node": ws.mask_nodes.get("sacrum")}
        done = []
        if set(required_labels("corridors")) <= placed:
            if live and self.corridors.result is not None:
                self.corridors.update(ws.ct_node, self.node, **common, **mask)
            else:
                self.corridors.analyze(ws.ct_node, self.node, **common, **mask)
            done.append("corridors")
        if set(required_labels("sacroplasty")) <= placed:
            if live and self.sacroplasty.plan is not None:
                self.sacroplasty.update(ws.ct_node, self.node, **common, **mask)
            else:
                self.sacroplasty.run(ws.ct_node, self.node, **common, **mask)
            done.append("sacroplasty")
        if done:
            self._publish(1000.0 * (time.perf_counter() - t0))
        return done

    def analyze(self) -> None:
        """Full run of both analyses ("Analyze"); refused with a message until the landmarks are placed."""

        def run():
            threshold = self._threshold()  # a bad value is refused before anything changes
            if not self._analyze(live=False):
                missing = [r["label"] for r in self.state[_key("landmarks")] if not r["placed"]]
                raise InputFileError(
                    f"landmarks: place {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} first."
                )
            return threshold

        self.jobs.run_now(run, done="corridors and sacroplasty analysed")

    def place_next(self) -> None:
        """Arm place mode on the next unplaced landmark (its label and description are shown)."""

        def arm():
            label = self.state[_key("next_label")]
            if not label:
                raise InputFileError("landmarks: all are placed; drag a point in a view to move it.")
            self.node.SetControlPointPlacementStartIndex(control_point_index(self.node, label))
            self.web_scene.app.markups_logic.place_node(self.node, persistent=False)

        self.jobs.run_now(arm, done=f"click in a slice view to place {self.state[_key('next_label')]}")

    def load_landmarks(self) -> None:
        """Replace the landmark positions with a ``.mrk.json`` file (the CLI's reader)."""

        def load():
            path = str(self.state[_key("path")] or "").strip()
            if not path:
                raise InputFileError("landmarks file: type the path of a .mrk.json file.")
            landmarks = read_mrk_json(path)
            live = self.state[_key("live")]
            self.state[_key("live")] = False  # one analysis after the whole file, not per point
            try:
                guided_landmarks_node(node=self.node, landmarks=landmarks, scene=self.web_scene.scene)
            finally:
                self.state[_key("live")] = live
            self.landmarks_path = path
            self._refresh_list()
            self._analyze(live=False)

        self.jobs.run_now(load, done="landmarks loaded")

    def save_landmarks(self) -> None:
        """Write the landmarks (placed and unplaced) to the ``.mrk.json`` path in the field."""

        def save():
            path = str(self.state[_key("path")] or "").strip()
            if not path.endswith(".mrk.json"):
                raise InputFileError(f"landmarks file '{path}': give a path ending in .mrk.json.")
            lm = landmarks_from_node(self.node)
            placed = lm.to_dict()
            write_mrk_json(path, placed, unplaced=[lab for lab, p in lm.entries if p is None])
            self.landmarks_path = path

        self.jobs.run_now(save, done=f"landmarks saved to {self.state[_key('path')]}")

    def export_inputs(self):
        """The library inputs of the current landmarks (what the CLI would build)."""
        from ..corridors import CorridorInputs
        from ..sacroplasty import SacroplastyInputs
        from ..segmentation import read_mask

        ws = self.web_scene
        landmarks = landmarks_from_node(self.node)
        sources = {"ct": ws.ct_path, "landmarks": self.landmarks_path or "(placed in the browser)"}
        name = f"CT {ws.ct_path}"
        threshold = self._threshold()
        corridors = CorridorInputs(
            ws.ct_volume, landmarks, bone_threshold=threshold, name=name, sources=sources
        )
        sacrum = ws.mask_paths.get("sacrum")
        mask_name = f"--sacrum-mask {sacrum}" if sacrum else "sacrum mask"
        mask = read_mask(sacrum, name=mask_name).mask_on(ws.ct_volume, name=mask_name) if sacrum else None
        sacroplasty = SacroplastyInputs(
            ws.ct_volume,
            landmarks,
            bone_threshold=threshold,
            name=name,
            sources=sources,
            sacrum_mask=mask,
            sacrum_mask_name=mask_name,
        )
        return corridors, sacroplasty

    async def export(self) -> None:
        """Write the CLI's files (``summary.json``, profiles, ``report.png``) under the folder named."""
        corridor, plan = self.corridors.result, self.sacroplasty.plan
        try:
            if corridor is None and plan is None:
                raise InputFileError("export: place the landmarks and analyse first.")
            corridor_inputs, plan_inputs = self.export_inputs()
            parts = [
                (analysis, lambda stage, r=result, i=inp: r.write(stage, i))
                for analysis, result, inp in (
                    ("corridors", corridor, corridor_inputs),
                    ("sacroplasty", plan, plan_inputs),
                )
                if result is not None
            ]
            job = self.exporter.job(parts, [*self.web_scene.input_paths(), self.landmarks_path])
        except Exception as exc:  # a message in the page
            self.jobs.show_error(exc)
            return
        await self.jobs.run(job, lambda _written: None, label=f"export to {self.exporter.folder}")

    # ---------------------------------------------------------------- UI
    def ui(self) -> None:
        """The panel's widgets, in the current layout."""
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        from .widgets import mustache, path_row, status_ui, thermal_legend

        with html.Div(classes="text-body-2 mb-2", id="bq-sacral-next"):
            html.Span("Next landmark: ", v_if=(f"{_key('next_label')}",))
            html.B(mustache(_key("next_label")))
            html.Div(mustache(_key("next_description")), classes="text-caption")
            html.Span("All landmarks placed; drag a point to move it.", v_if=(f"!{_key('next_label')}",))
        with html.Div(classes="d-flex ga-2 mb-2"):
            v.VBtn(
                mustache(f"{_key('placing')} ? 'Click in a slice view' : 'Place next'"),
                click=self.place_next,
                color="primary",
                size="small",
                id="bq-sacral-place",
                disabled=(f"!{_key('next_label')}",),
            )
            v.VBtn("Analyze", click=self.analyze, size="small", id="bq-sacral-analyze")
        with html.Div(classes="d-flex ga-2"):
            for key, label in (("live", "Live update"), ("thermal", "Thermal overlay")):
                # coloured when on: Vuetify's default track is grey either way
                v.VSwitch(
                    v_model=(_key(key),),
                    label=label,
                    color="primary",
                    density="compact",
                    hide_details=True,
                    id=f"bq-sacral-{key}",
                )
        lo, hi = THERMAL_RANGE_HU
        thermal_legend(f"{lo:g} HU", f"{hi:g} HU", element_id="bq-sacral-legend", v_if=_key("thermal"))
        v.VTextField(
            v_model=(_key("threshold"),),
            label="Bone threshold (HU, blank = per scan)",
            density="compact",
            hide_details=True,
            id="bq-sacral-threshold",
            classes="mb-2",
        )
        with (
            html.Div(style="max-height: 180px; overflow-y: auto", classes="mb-2", id="bq-sacral-list"),
            html.Div(v_for=f"p in {_key('landmarks')}", key="p.label", classes="text-caption"),
        ):
            v.VIcon(
                "{{ p.placed ? 'mdi-check-circle' : 'mdi-circle-outline' }}",
                size="x-small",
                color=("p.placed ? 'green' : 'grey'",),
            )
            html.Span(" {{ p.label }}", title=("p.description",))
        path_row(
            _key("path"),
            "Landmarks (.mrk.json)",
            [("Load", self.load_landmarks), ("Save", self.save_landmarks)],
        )
        status_ui(PREFIX, self.jobs.cancel)
        with html.Div(id="bq-sacral-warnings"):
            v.VAlert(
                "{{ w }}",
                v_for=f"w in {_key('warnings')}",
                key="w",
                type="error",
                density="compact",
                classes="mb-1 text-caption",
            )
        html.Div("Corridors: region means and z-scores", classes="text-subtitle-2 mt-2")
        table_widget(_key("regions"), test_id="bq-corridor-regions")
        html.Div("Corridors: summary and screw fit", classes="text-subtitle-2 mt-2")
        table_widget(_key("summary"), test_id="bq-corridor-summary")
        html.Img(src=(_key("plot"),), v_if=(_key("plot"),), style="width: 100%", id="bq-sacral-plot")
        html.Div("Sacroplasty: needle trajectories", classes="text-subtitle-2 mt-2")
        table_widget(_key("plan"), test_id="bq-sacroplasty-table")
        self.exporter.ui(self.export)
