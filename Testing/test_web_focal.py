"""FocalDefect panel of ``bonequality view``, driven in process (no browser): the map, table and errors."""

from __future__ import annotations

import asyncio

import pytest
from web_support import require_web

from bonequality.phantoms import make_phantom, write_phantom

pytestmark = pytest.mark.slow


def test_focal_panel_shows_the_map_table_and_calibration_and_keeps_them_on_bad_input(tmp_path):
    require_web()
    from bonequality.web.app import BoneQualityApp
    from bonequality.web.scene import read_inputs

    paths = write_phantom(make_phantom("vertebra"), tmp_path / "vertebra.nrrd")
    app = BoneQualityApp(read_inputs(paths["image"]))
    state = app.state
    state.focal_source = "body mask"
    state.focal_mask_path = str(paths["mask:body"])
    asyncio.run(app.focal.run())
    assert state.focal_error == ""
    rows = state.focal_table["rows"]
    assert rows[0][0] == "ROI volume"
    assert float(rows[0][1]) > 0
    assert state.focal_calibration_state.startswith("uncalibrated")
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
