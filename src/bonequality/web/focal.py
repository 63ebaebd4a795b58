"""FocalDefect in the page: the focal BMC loss map over the CT, its summary and calibration state.

Drives :mod:`bonequality.mrml.logic_focal`: the body source from the mask node, the
library's :func:`bonequality.focal_defect.run` in a worker thread (progress, cancel), then
:func:`~bonequality.mrml.logic_focal.write_focal_results` writes the maps (thermal colours,
transparent outside the ROI) and the table; the chosen map is shown over the CT.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputFileError
from ..focal_defect import Calibration, FocalDefectInputs
from ..mrml.logic_cement import body_source_from_nodes
from ..mrml.logic_focal import CALIBRATIONS, MAPS, focal_table, write_focal_results
from ..outputs import atomic_output_dir
from ..validation import check_number
from .cement import SOURCES, mask_node_for
from .tables import empty_table, frame_to_state, table_widget

__all__ = ["FocalPanel"]

PREFIX = "focal"


def _key(name: str) -> str:
    return f"{PREFIX}_{name}"


def _number(text, name: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputFileError(f"{name} '{text}': type a number.") from None
    return check_number(value, name=name)


class FocalPanel:
    """State, actions and UI of the FocalDefect panel."""

    def __init__(self, server, web_scene, views, jobs):
        self.server, self.state = server, server.state
        self.web_scene, self.views, self.jobs = web_scene, views, jobs
        self.result = None
        self.inputs = None
        s = self.state
        has_body = "body" in web_scene.mask_paths
        s[_key("source")] = "body mask" if has_body else "vertebra mask"
        s[_key("mask_path")] = web_scene.mask_paths.get("body" if has_body else "vertebra", "")
        s[_key("calibration")] = "uncalibrated"
        s[_key("slope")] = "1.0"
        s[_key("intercept")] = "0.0"
        s[_key("star")] = "2d"
        s[_key("map")] = "focal_bmc_loss"
        s[_key("table")] = empty_table()
        s[_key("calibration_state")] = "not run yet"
        s[_key("export_dir")] = ""
        state = self.state
        state.change(_key("map"))(lambda **_: self._show_map())

    def ct_changed(self) -> None:
        self.result = self.inputs = None
        with self.state:
            self.state[_key("table")] = empty_table()
            self.state[_key("calibration_state")] = "not run yet"
            self.state[_key("mask_path")] = ""

    def _calibration(self) -> Calibration | None:
        choice = self.state[_key("calibration")]
        if choice not in CALIBRATIONS:
            raise InputFileError(f"calibration '{choice}': choose one of {', '.join(CALIBRATIONS)}.")
        if choice == "uncalibrated":
            return None
        return Calibration.from_slope_intercept(
            _number(self.state[_key("slope")], "calibration slope"),
            _number(self.state[_key("intercept")], "calibration intercept"),
        )

    def _inputs(self) -> FocalDefectInputs:
        ws = self.web_scene
        source = self.state[_key("source")]
        if source not in SOURCES:
            raise InputFileError(f"vertebral body source '{source}': choose one of {', '.join(SOURCES)}.")
        node = mask_node_for(ws, SOURCES[source], self.state[_key("mask_path")])
        volume = ws.ct_volume
        body = body_source_from_nodes(volume, source, node, "", 0, None)
        return FocalDefectInputs(
            volume,
            body,
            calibration=self._calibration(),
            star=self.state[_key("star")],
            name=f"CT {ws.ct_path}",
            sources={"ct": ws.ct_path, f"{SOURCES[source]}_mask": ws.mask_paths.get(SOURCES[source], "")},
        )

    def _show_map(self) -> None:
        node = self.web_scene.results.get(f"focal.{self.state[_key('map')]}")
        if node is not None:
            self.views.set_overlay(node, opacity=0.8)

    async def run(self) -> None:
        """ "Apply": the focal-defect analysis in a worker thread; maps and table when it succeeds."""
        from ..focal_defect import run as run_focal

        try:
            inputs = self._inputs()
        except Exception as exc:  # a message in the page; previous results stay
            self.jobs.show_error(exc)
            return

        def apply(result):
            write_focal_results(result, self.web_scene.ct_node.GetName(), self.web_scene.results)
            self.result, self.inputs = result, inputs
            cal = inputs.calibration if self.state[_key("calibration")] != "uncalibrated" else None
            with self.state:
                self.state[_key("table")] = frame_to_state(focal_table(result))
                self.state[_key("calibration_state")] = (
                    f"calibrated: BMD = {cal.slope:g} x HU + {cal.intercept:g} ({result.summary.bmd_units})"
                    if cal is not None
                    else f"uncalibrated: BMD in {result.summary.bmd_units}"
                )
            self._show_map()

        await self.jobs.run(
            lambda progress: run_focal(inputs, progress=progress), apply, label="focal defect"
        )

    async def export(self) -> None:
        """Write the CLI's files to ``<folder>/focal_defect``."""
        folder = str(self.state[_key("export_dir")] or "").strip()
        result, inputs = self.result, self.inputs
        if not folder or result is None:
            self.jobs.show_error(
                InputFileError("export: type a folder" if not folder else "export: run the analysis first.")
            )
            return

        def write(_progress):
            with atomic_output_dir(Path(folder) / "focal_defect") as stage:
                result.write(stage, inputs)

        await self.jobs.run(write, lambda _none: None, label=f"export to {folder}")

    def ui(self) -> None:
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        from .widgets import export_row, mustache, path_row, status_ui

        v.VSelect(
            v_model=(_key("source"),),
            items=("focal_sources", list(SOURCES)),
            label="Vertebral body from",
            density="compact",
            hide_details=True,
            classes="mb-2",
        )
        path_row(_key("mask_path"), "Mask (label map or .seg.nrrd)", [("Apply", self.run)])
        with html.Div(classes="d-flex ga-2 my-2"):
            v.VSelect(
                v_model=(_key("calibration"),),
                items=("focal_calibrations", list(CALIBRATIONS)),
                label="Calibration",
                density="compact",
                hide_details=True,
            )
            v.VSelect(
                v_model=(_key("star"),),
                items=("focal_stars", ["2d", "3d"]),
                label="Star",
                density="compact",
                hide_details=True,
                style="max-width: 90px",
            )
        with html.Div(classes="d-flex ga-2 mb-2", v_if=(f"{_key('calibration')} === 'slope/intercept'",)):
            v.VTextField(
                v_model=(_key("slope"),), label="Slope (mg/cm³ per HU)", density="compact", hide_details=True
            )
            v.VTextField(
                v_model=(_key("intercept"),), label="Intercept (mg/cm³)", density="compact", hide_details=True
            )
        v.VSelect(
            v_model=(_key("map"),),
            items=("focal_maps", [{"title": label, "value": key} for key, (label, _u, _m) in MAPS.items()]),
            label="Map shown",
            density="compact",
            hide_details=True,
            classes="mb-2",
        )
        status_ui(PREFIX, self.jobs.cancel)
        html.Div(
            "Calibration: " + mustache(_key("calibration_state")),
            classes="text-body-2 my-2",
            id="bq-focal-calibration",
        )
        table_widget(_key("table"), test_id="bq-focal-table")
        export_row(_key("export_dir"), self.export)
