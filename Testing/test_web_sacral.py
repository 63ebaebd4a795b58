"""``bonequality view`` in headless Chromium: SacralBoneAnalysis placed by clicks, checked against the CLI.

Every corridor and sacroplasty landmark of the pelvis phantom is placed by "Place next"
and a click in a slice view at the phantom's truth position; the page's corridor and
sacroplasty tables must then equal the CLI's numbers for the same (saved) landmarks. A
landmark dragged 5 mm must update the tables within 1 s, and a bad bone threshold must
show its message while the previous tables stay.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from web_support import (
    assert_sacroplasty_table_equals_cli,
    chromium_page,
    coloured_fraction,
    geometry,
    move_slice_to,
    pixel_of,
    place_by_click,
    require_web,
    screenshot,
    set_state,
    state,
    table,
    view_server,
    wait_idle,
    wait_until,
)

from bonequality.cli import main
from bonequality.landmarks import read_mrk_json
from bonequality.phantoms import write_phantom
from bonequality.phantoms.pelvis import make_pelvis

pytestmark = pytest.mark.slow

HU_TOL = 0.5
MM_TOL = 0.2


@pytest.fixture(scope="module")
def pelvis(tmp_path_factory):
    require_web()
    folder = tmp_path_factory.mktemp("web_pelvis")
    phantom = make_pelvis(spacing=(1.5, 1.5, 1.5))
    paths = write_phantom(phantom, folder / "pelvis.nrrd", coordinate_system="RAS")
    return phantom, paths


@pytest.fixture(scope="module")
def page(pelvis):
    _, paths = pelvis
    with view_server(paths["image"]) as server, chromium_page(server.url) as page:
        yield page


@pytest.fixture(scope="module")
def placed_page(page, pelvis):
    """The page with every landmark placed by a click at its truth position."""
    phantom, _ = pelvis
    truth = phantom.landmarks.to_dict()
    errors = {}
    for row in state(page, "sacral_landmarks"):
        label = row["label"]
        point, pixel = place_by_click(page, label, truth[label])
        # The plane goes through the point exactly; in-plane, a click lands within one pixel.
        errors[label] = float(np.linalg.norm(np.subtract(point, truth[label]))) / pixel
    assert max(errors.values()) < np.sqrt(2.0), errors
    wait_until(lambda: table(page, "bq-sacroplasty-table"), timeout=20, what="sacroplasty table")
    return page


def _number(text: str) -> float:
    return float(text)


def _cli(tmp_path, page, command: str) -> dict:
    """Save the page's landmarks, run the CLI on them and return its summary.json."""
    marks = tmp_path / "placed.mrk.json"
    page.fill("#bq-sacral-path", str(marks))
    page.click("#bq-sacral-path-save")
    wait_until(lambda: marks.exists(), what="landmarks saved")
    out = tmp_path / command
    image = state(page, "app_ct_path")
    assert main(["--no-progress", command, image, "--landmarks", str(marks), "--out", str(out)]) == 0
    return json.loads((out / "summary.json").read_text())


def test_clicked_landmarks_give_the_cli_corridor_numbers(placed_page, tmp_path):
    page = placed_page
    summary = _cli(tmp_path, page, "corridors")
    regions = {r["Measure"]: r for r in table(page, "bq-corridor-regions")}
    assert _number(regions["L5"]["Mean HU"]) == pytest.approx(summary["l5"]["mean_hu"], abs=HU_TOL)
    checked = 1
    for corridor in ("S1", "S2"):
        for region in ("corridor", "body", "alae"):
            cli = summary[corridor][f"{region}_mean_hu"]
            assert _number(regions[f"{corridor} {region}"]["Mean HU"]) == pytest.approx(cli, abs=HU_TOL)
            checked += 1
    rows = {r["Measure"]: r for r in table(page, "bq-corridor-summary")}
    assert _number(rows["Bone threshold"]["Value"]) == pytest.approx(summary["bone_threshold_hu"], abs=HU_TOL)
    for corridor in ("S1", "S2"):
        length = _number(rows[f"{corridor} length"]["Value"])
        assert length == pytest.approx(summary[corridor]["length_mm"], abs=MM_TOL)
    assert checked == 7


def test_clicked_landmarks_give_the_cli_sacroplasty_numbers(placed_page, tmp_path):
    page = placed_page
    summary = _cli(tmp_path, page, "sacroplasty")
    assert_sacroplasty_table_equals_cli(table(page, "bq-sacroplasty-table"), summary, MM_TOL)


def test_screenshot_of_the_sacral_panel(placed_page, tmp_path):
    out = screenshot(placed_page, "web_sacral", tmp_path)
    assert out.stat().st_size > 50_000


def test_thermal_overlay_colours_the_bone_and_switches_off(placed_page):
    """The overlay colours the bone inside its cortex (much more than the landmark glyphs)."""
    page = placed_page
    move_slice_to(page, "Red", state(page, "sacral_landmarks")[0]["lps"])  # through S1
    assert state(page, "sacral_thermal")
    on = wait_until(
        lambda: (lambda f: f if f > 0.05 else None)(coloured_fraction(page, "Red")),
        timeout=30,  # the next frames may be slow on a loaded machine; returns once shown
        what="overlay",
    )
    assert page.inner_text("#bq-sacral-legend").split() == ["-100", "HU", "700", "HU"]
    set_state(page, "sacral_thermal", False)
    try:
        off = wait_until(
            lambda: (lambda f: f if f < on / 5 else None)(coloured_fraction(page, "Red")),
            timeout=30,
            what="no overlay",
        )
        assert not page.query_selector("#bq-sacral-legend")
    finally:
        set_state(page, "sacral_thermal", True)
    assert on > 5 * off


def test_dragging_a_landmark_5_mm_updates_the_tables_within_1_s(placed_page):
    page = placed_page
    label, tag = "S1_body_top", "Yellow"
    start = np.array(next(p["lps"] for p in state(page, "sacral_landmarks") if p["label"] == label))
    target = start + np.array([0.0, 5.0, 0.0])  # 5 mm posterior, in the sagittal plane
    g = move_slice_to(page, tag, start)
    x0, y0 = pixel_of(page, tag, start, g)
    x1, y1 = pixel_of(page, tag, target, g)
    before = table(page, "bq-corridor-regions"), table(page, "bq-sacroplasty-table")
    revision = state(page, "sacral_revision")
    page.mouse.move(x0 - 3, y0)
    page.mouse.move(x0, y0)
    page.wait_for_timeout(300)  # the widget highlights the point under the mouse
    page.mouse.down()
    page.wait_for_timeout(200)
    for f in np.linspace(0.05, 1.0, 20):  # a hand's pace: the server renders each move
        page.mouse.move(x0 + f * (x1 - x0), y0 + f * (y1 - y0))
        page.wait_for_timeout(60)
    page.wait_for_timeout(200)
    page.mouse.up()
    t0 = time.perf_counter()
    wait_until(
        lambda: (table(page, "bq-corridor-regions"), table(page, "bq-sacroplasty-table")) != before,
        timeout=1.0,
        period=0.02,
        what="tables updated after the drag",
    )
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    assert state(page, "sacral_revision") > revision
    wait_idle(page)
    moved = np.array(next(p["lps"] for p in state(page, "sacral_landmarks") if p["label"] == label))
    assert np.linalg.norm(moved - target) < 0.8, (moved, target)
    assert state(page, "sacral_update_ms") < 1000


def test_bad_threshold_shows_a_message_and_keeps_the_tables(placed_page):
    page = placed_page
    wait_idle(page)
    before = table(page, "bq-corridor-regions"), table(page, "bq-sacroplasty-table")
    page.fill("#bq-sacral-threshold", "5000")
    page.click("#bq-sacral-analyze")
    error = page.wait_for_selector("#bq-sacral-error", timeout=5000)
    text = error.inner_text()
    assert "bone threshold" in text
    assert "5000" in text
    assert (table(page, "bq-corridor-regions"), table(page, "bq-sacroplasty-table")) == before
    page.fill("#bq-sacral-threshold", "")


def test_unreadable_ct_shows_a_message_and_keeps_the_ct(placed_page, tmp_path):
    page = placed_page
    ct = state(page, "app_ct_path")
    before = table(page, "bq-corridor-regions")
    page.fill("#bq-app-ct-path", str(tmp_path / "missing.nrrd"))
    page.click("#bq-app-open")
    error = page.wait_for_selector("#bq-app-error", timeout=10_000)
    assert "missing.nrrd" in error.inner_text()
    assert table(page, "bq-corridor-regions") == before
    assert len(geometry(page)) == 3
    page.fill("#bq-app-ct-path", ct)


def test_saved_landmarks_read_back(placed_page, tmp_path):
    page = placed_page
    path = tmp_path / "saved.mrk.json"
    page.fill("#bq-sacral-path", str(path))
    page.click("#bq-sacral-path-save")
    wait_until(lambda: path.exists(), what="saved file")
    saved = read_mrk_json(path).to_dict()
    shown = {p["label"]: p["lps"] for p in state(page, "sacral_landmarks") if p["placed"]}
    assert set(saved) == set(shown)
    for label, point in shown.items():
        assert np.allclose(saved[label], point, atol=1e-3)
