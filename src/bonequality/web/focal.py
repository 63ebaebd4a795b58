"""FocalDefect in the page: the focal BMC loss map over the CT, its summary and calibration state.

Drives :mod:`bonequality.mrml.logic_focal`: the body source from the mask node
(:class:`~bonequality.web.panel.MaskPanel`), the library's
:func:`bonequality.focal_defect.run` in a worker thread (progress, cancel), then
:func:`~bonequality.mrml.logic_focal.write_focal_results` writes the maps (thermal colours,
transparent outside the ROI) and the table; the chosen map is shown over the CT.
"""

from __future__ import annotations

from ..errors import InputFileError
from ..focal_defect import Calibration, FocalDefectInputs
from ..mrml.logic_focal import CALIBRATIONS, MAPS, focal_table, write_focal_results
from ..validation import check_number
from .panel import MaskPanel
from .tables import frame_to_state, table_widget

__all__ = ["FocalPanel", "calibration_text"]

#: Opacity of the focal map over the CT (the map is transparent outside the body).
MAP_OPACITY = 0.8


def _number(text, name: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputFileError(f"{name} '{text}': type a number.") from None
    return check_number(value, name=name)


def calibration_text(calibration: Calibration | None, units: str) -> str:
    """The calibration state shown in the panel."""
    if calibration is None or not calibration.calibrated:
        return f"uncalibrated: BMD in {units}"
    return f"calibrated: BMD = {calibration.slope:g} x HU + {calibration.intercept:g} ({units})"


class FocalPanel(MaskPanel):
    """State, actions and UI of the FocalDefect panel."""

    PREFIX = "focal"
    ANALYSIS = "focal-defect"
    WHAT = "the focal-defect analysis"

    def __init__(self, server, web_scene, views, jobs):
        source = "body mask" if "body" in web_scene.mask_paths else "vertebra mask"
        super().__init__(server, web_scene, views, jobs, source=source)
        s = self.state
        s[self.key("calibration")] = "uncalibrated"
        s[self.key("slope")] = "1.0"
        s[self.key("intercept")] = "0.0"
        s[self.key("star")] = "2d"
        s[self.key("map")] = "focal_bmc_loss"
        s[self.key("calibration_state")] = "not run yet"
        s["focal_map_ranges"] = {key: f"{vmax:g} {unit}" for key, (_label, unit, vmax) in MAPS.items()}
        s.change(self.key("map"))(lambda **_: self._show_map())

    def _clear(self) -> None:
        self.state[self.key("calibration_state")] = "not run yet"

    def _calibration(self) -> Calibration | None:
        choice = self.state[self.key("calibration")]
        if choice not in CALIBRATIONS:
            raise InputFileError(f"calibration '{choice}': choose one of {', '.join(CALIBRATIONS)}.")
        if choice == "uncalibrated":
            return None
        return Calibration.from_slope_intercept(
            _number(self.state[self.key("slope")], "calibration slope"),
            _number(self.state[self.key("intercept")], "calibration intercept"),
        )

    def _inputs(self) -> FocalDefectInputs:
        role, body = self.body_source()
        ws = self.web_scene
        return FocalDefectInputs(
            ws.ct_volume,
            body,
            calibration=self._calibration(),
            star=self.state[self.key("star")],
            name=f"CT {ws.ct_path}",
            sources=self.sources(role),
        )

    def _compute(self, inputs, progress):
        from ..focal_defect import run as run_focal

        return run_focal(inputs, progress=progress)

    def _apply(self, result, inputs) -> None:
        write_focal_results(result, self.web_scene.ct_node.GetName(), self.web_scene.results)
        with self.state:
            self.state[self.key("table")] = frame_to_state(focal_table(result))
            self.state[self.key("calibration_state")] = calibration_text(
                inputs.calibration, result.summary.bmd_units
            )
        self._show_map()

    def _show_map(self) -> None:
        node = self.web_scene.results.get(f"focal.{self.state[self.key('map')]}")
        if node is not None:
            self.views.set_overlay(node, opacity=MAP_OPACITY)

    def ui(self) -> None:
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        from .widgets import mustache, status_ui, thermal_legend

        self.source_ui()
        with html.Div(classes="d-flex ga-2 my-2"):
            v.VSelect(
                v_model=(self.key("calibration"),),
                items=("focal_calibrations", list(CALIBRATIONS)),
                label="Calibration",
                density="compact",
                hide_details=True,
                id="bq-focal-calibration-choice",
            )
            v.VSelect(
                v_model=(self.key("star"),),
                items=("focal_stars", ["2d", "3d"]),
                label="Star",
                density="compact",
                hide_details=True,
                style="max-width: 90px",
            )
        calibrated = f"{self.key('calibration')} === 'slope/intercept'"
        with html.Div(classes="d-flex ga-2 mb-2", v_if=(calibrated,)):
            v.VTextField(
                v_model=(self.key("slope"),),
                label="Slope (mg/cm³ per HU)",
                density="compact",
                hide_details=True,
                id="bq-focal-slope",
            )
            v.VTextField(
                v_model=(self.key("intercept"),),
                label="Intercept (mg/cm³)",
                density="compact",
                hide_details=True,
                id="bq-focal-intercept",
            )
        v.VSelect(
            v_model=(self.key("map"),),
            items=("focal_maps", [{"title": label, "value": key} for key, (label, _u, _m) in MAPS.items()]),
            label="Map shown",
            density="compact",
            hide_details=True,
            classes="mb-2",
        )
        thermal_legend(
            "0",
            mustache(f"focal_map_ranges[{self.key('map')}]"),
            element_id="bq-focal-legend",
            v_if=f"{self.key('table')}.rows.length",
        )
        status_ui(self.PREFIX, self.jobs.cancel)
        html.Div(
            "Calibration: " + mustache(self.key("calibration_state")),
            classes="text-body-2 my-2",
            id="bq-focal-calibration",
        )
        table_widget(self.key("table"), test_id="bq-focal-table")
        self.exporter.ui(self.export)
