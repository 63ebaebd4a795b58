"""FocalDefect panel of ``bonequality view``, driven in process (no browser): the map, table and errors."""

from __future__ import annotations

import asyncio

import pytest
from web_support import in_process_app, require_web

from bonequality.phantoms import make_phantom, write_phantom

pytestmark = pytest.mark.slow


def test_focal_panel_shows_the_map_table_and_calibration_and_keeps_them_on_bad_input(tmp_path):

    paths = write_phantom(make_phantom("vertebra"), tmp_path / "vertebra.nrrd")
    app = in_process_app(paths["image"])
    state = app.state
    state.focal_source = "body mask"
    state.focal_mask_path = str(paths["mask:body"])
    asyncio.run(app.focal.run())
    assert state.focal_error == ""
    rows = state.focal_table["rows"]
    assert rows[0][0] == "ROI volume"
    assert float(rows[0][1]) > 0
    assert state.focal_calibration_state.startswith("uncalibrated")
    # Uncalibrated: BMD is HU-equivalent, so its z-scores against seed 004's mg/cm3 groups are
    # left empty; the intercept width (not BMD-scaled) keeps them.
    columns = state.focal_table["columns"]
    by_measure = {r[0]: dict(zip(columns, r, strict=True)) for r in rows}
    assert by_measure["BMD"]["z vs fracture"] == by_measure["BMD"]["z vs control"] == ""
    assert by_measure["BMD"]["Unit"].startswith("HU-equivalent")
    assert float(by_measure["intercept width"]["z vs control"]) != 0
    overlay = app.web_scene.results.get("focal.focal_bmc_loss")
    assert overlay is not None
    assert all(
        v.get_foreground_volume_id() == overlay.GetID() for v in app.views.view_manager.get_slice_views()
    )
    # A calibration slope that is not a number: one line naming it; the table stays.
    state.focal_calibration = "slope/intercept"
    state.focal_slope = "abc"
    asyncio.run(app.focal.run())
    assert "calibration slope" in state.focal_error
    assert "\n" not in state.focal_error
    assert state.focal_table["rows"] == rows
    out = tmp_path / "export"
    state.focal_export_dir = str(out)
    asyncio.run(app.focal.export())
    assert (out / "focal_defect" / "summary.json").exists()


def _focal_values(page) -> dict:
    from web_support import table

    return {r["Measure"]: r["Value"] for r in table(page, "bq-focal-table")}


#: Table rows and the CLI's summary.json keys they show.
ROWS = {
    "ROI volume": "roi_volume_ml",
    "Void fraction": "void_fraction",
    "Mean BMD": "bmd_mg_cm3",
    "Focal BMC loss (void voxels)": "focal_bmc_loss_mm_void",
    "Focal BMD loss (void voxels)": "focal_bmd_loss_void",
    "Intercept width (void voxels)": "intercept_width_mm_void",
}


def _cli_summary(paths, tmp_path, *extra) -> dict:
    import json

    from bonequality.cli import main

    out = tmp_path / ("cli" + "_".join(extra).replace(",", "_"))
    args = [str(paths["image"]), "--mask", str(paths["mask:body"]), *extra, "--out", str(out)]
    assert main(["--no-progress", "focal-defect", *args]) == 0
    return json.loads((out / "summary.json").read_text())


def _wait_table(page, previous=None) -> dict:
    from web_support import wait_until

    return wait_until(
        lambda: (lambda v: v if v and v != previous else None)(_focal_values(page)),
        timeout=120,
        what="focal table",
    )


def _assert_equal_to_cli(values: dict, summary: dict) -> None:
    for row, key in ROWS.items():
        assert float(values[row]) == pytest.approx(summary[key], abs=0.006), row


def test_focal_panel_in_chromium_equals_the_cli_shows_the_map_and_keeps_the_table_on_bad_input(tmp_path):
    """Body mask typed in the page, uncalibrated then slope/intercept, against ``focal-defect``."""
    require_web()
    from web_support import (
        chromium_page,
        coloured_fraction,
        screenshot,
        set_state,
        table,
        view_server,
        wait_until,
    )

    paths = write_phantom(make_phantom("vertebra"), tmp_path / "vertebra.nrrd")
    plain = _cli_summary(paths, tmp_path)
    calibrated = _cli_summary(paths, tmp_path, "--calibration", "0.8,5")
    with view_server(paths["image"]) as server, chromium_page(server.url) as page:
        page.click("#bq-tab-focal")
        before = coloured_fraction(page, "Red")
        set_state(page, "focal_source", "body mask")
        page.fill("#bq-focal-mask-path", str(paths["mask:body"]))
        page.click("#bq-focal-mask-path-apply")
        values = _wait_table(page)
        _assert_equal_to_cli(values, plain)
        assert page.inner_text("#bq-focal-calibration").startswith("Calibration: uncalibrated")
        # The map is drawn over the CT: coloured pixels in the axial view, none before.
        after = wait_until(
            lambda: (lambda f: f if f > 0.01 else None)(coloured_fraction(page, "Red")),
            what="the focal map in the axial view",
        )
        assert before < 0.001 < after
        assert page.inner_text("#bq-focal-legend").split() == ["0", "3", "mm"]
        screenshot(page, "web_focal", tmp_path)
        # Calibrated: slope 0.8 mg/cm3 per HU, intercept 5 mg/cm3, as --calibration 0.8,5.
        set_state(page, "focal_calibration", "slope/intercept")
        page.fill("#bq-focal-slope", "0.8")
        page.fill("#bq-focal-intercept", "5")
        page.click("#bq-focal-mask-path-apply")
        values = _wait_table(page, previous=values)
        _assert_equal_to_cli(values, calibrated)
        assert "calibrated: BMD = 0.8 x HU + 5" in page.inner_text("#bq-focal-calibration")
        bmd = next(r for r in table(page, "bq-focal-table") if r["Measure"] == "BMD")
        assert float(bmd["z vs control"]) == pytest.approx(
            (calibrated["bmd_mg_cm3"] - 124.0) / 71.0, abs=0.006
        )
        # A slope that is not a number: one line naming it in the page; the table stays.
        page.fill("#bq-focal-slope", "abc")
        page.click("#bq-focal-mask-path-apply")
        error = page.wait_for_selector("#bq-focal-error", timeout=10_000).inner_text()
        assert "calibration slope" in error
        assert "abc" in error
        assert _focal_values(page) == values
