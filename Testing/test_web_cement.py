"""CementVolume in headless Chromium: the cemented phantom with its vertebra mask, checked against the CLI."""

from __future__ import annotations

import json

import pytest
from web_support import chromium_page, require_web, screenshot, table, view_server, wait_until

from bonequality.cli import main
from bonequality.phantoms import make_phantom, write_phantom

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cemented(tmp_path_factory):
    require_web()
    return write_phantom(
        make_phantom("cemented-vertebra"), tmp_path_factory.mktemp("web_cement") / "cemented.nrrd"
    )


def test_cement_table_equals_the_cli(cemented, tmp_path):
    out = tmp_path / "cli"
    args = [str(cemented["image"]), "--vertebra-mask", str(cemented["mask:vertebra"])]
    assert main(["--no-progress", "cement", *args, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    with view_server(*args) as server, chromium_page(server.url) as page:
        page.click("#bq-tab-cement")
        page.click("#bq-cement-mask-path-apply")
        rows = wait_until(lambda: table(page, "bq-cement-table"), timeout=120, what="cement table")
        values = {r["Measure"]: float(r["Value"]) for r in rows}
        assert values["Vertebral body volume (VBV)"] == pytest.approx(summary["vbv_ml"], abs=0.01)
        assert values["Cement inside the body (CDV)"] == pytest.approx(summary["cdv_ml"], abs=0.01)
        assert values["VF %"] == pytest.approx(summary["vf_percent"], abs=0.01)
        assert values["Leakage"] == pytest.approx(summary["leakage_ml"], abs=0.01)
        prediction = page.inner_text("#bq-cement-prediction")
        assert "28.58 %" in prediction
        assert ("not predicted" in prediction) == (not summary["predicted_extensive"])
        legend = page.inner_text("#bq-cement-legend")
        assert all(name in legend for name in ("vertebral body", "cement inside the body", "leakage"))
        screenshot(page, "web_cement", tmp_path)
        # A mask that does not exist: the message, and the table stays.
        page.fill("#bq-cement-mask-path", str(tmp_path / "missing.nrrd"))
        page.click("#bq-cement-mask-path-apply")
        error = page.wait_for_selector("#bq-cement-error", timeout=10_000)
        assert "missing.nrrd" in error.inner_text()
        assert table(page, "bq-cement-table") == rows
        # Export at the bottom of the panel, twice: the refusal is shown where the user is
        # (the panel's messages stick to its top) and the first export's files stay.
        page.fill("#bq-cement-export-dir", str(tmp_path / "export"))
        page.click("#bq-cement-export-dir-export")
        info = page.wait_for_selector("#bq-cement-info:has-text('done')", timeout=60_000)
        assert "export to" in info.inner_text()
        assert (tmp_path / "export" / "cement" / "summary.json").exists()
        page.click("#bq-cement-export-dir-export")
        error = page.wait_for_selector("#bq-cement-error:has-text('Replace earlier export')", timeout=30_000)
        box, export_button = error.bounding_box(), page.locator("#bq-cement-export-dir-export").bounding_box()
        assert box["y"] > 0
        assert box["y"] + box["height"] <= page.viewport_size["height"]
        assert export_button["y"] <= page.viewport_size["height"]
        assert table(page, "bq-cement-table") == rows
