"""``bonequality view`` on the real 3 mm pelvic CT with TotalSegmentator's sacrum mask, in Chromium.

The scan is ``../shared/data/totalsegmentator_example_ct`` (fatty alae, dense cortex), the
mask ``totalsegmentator_example_seg/sacrum.nii.gz`` of the same scan. The hand-placed
landmarks of the real-data tests (``Testing/data/example_ct_*.mrk.json``) are given on the
command line (corridors) and then loaded in the page (sacroplasty). The page's tables must
equal the CLI's numbers for the same files (0.5 HU, 0.2 mm), the thermal overlay must be
shown over the sacrum, and a screenshot is saved (``web_sacral_real``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web_support import (
    assert_sacroplasty_table_equals_cli,
    chromium_page,
    coloured_fraction,
    move_slice_to,
    require_web,
    screenshot,
    state,
    table,
    view_server,
    wait_until,
)

from bonequality.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

DATA = Path(__file__).parent / "data"
CORRIDORS = DATA / "example_ct_corridors.mrk.json"
SACROPLASTY = DATA / "example_ct_sacroplasty.mrk.json"
HU_TOL = 0.5
MM_TOL = 0.2


@pytest.fixture(scope="module")
def page(example_ct_path, example_sacrum_mask_path):
    require_web()
    args = (example_ct_path, "--landmarks", CORRIDORS, "--sacrum-mask", example_sacrum_mask_path)
    with view_server(*args) as server, chromium_page(server.url) as page:
        wait_until(lambda: table(page, "bq-corridor-regions"), timeout=120, what="corridor table")
        yield page


def _cli(command: str, ct: Path, landmarks: Path, out: Path, *extra) -> dict:
    args = [
        "--no-progress",
        command,
        str(ct),
        "--landmarks",
        str(landmarks),
        *map(str, extra),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    return json.loads((out / "summary.json").read_text())


def test_real_ct_corridor_tables_equal_the_cli_and_the_overlay_covers_the_sacrum(
    page, example_ct_path, tmp_path
):
    summary = _cli("corridors", example_ct_path, CORRIDORS, tmp_path / "corridors")
    regions = {r["Measure"]: r for r in table(page, "bq-corridor-regions")}
    assert float(regions["L5"]["Mean HU"]) == pytest.approx(summary["l5"]["mean_hu"], abs=HU_TOL)
    for corridor in ("S1", "S2"):
        for region in ("corridor", "body", "alae"):
            shown = float(regions[f"{corridor} {region}"]["Mean HU"])
            assert shown == pytest.approx(summary[corridor][f"{region}_mean_hu"], abs=HU_TOL)
    rows = {r["Measure"]: r for r in table(page, "bq-corridor-summary")}
    for corridor in ("S1", "S2"):
        length = float(rows[f"{corridor} length"]["Value"])
        assert length == pytest.approx(summary[corridor]["length_mm"], abs=MM_TOL)
    # The overlay (HU inside the sacrum mask) colours the axial slice through S1.
    s1 = next(p["lps"] for p in state(page, "sacral_landmarks") if p["label"] == "S1_body_top")
    move_slice_to(page, "Red", s1)
    fraction = wait_until(
        lambda: (lambda f: f if f > 0.01 else None)(coloured_fraction(page, "Red")), what="overlay"
    )
    assert fraction < 0.5  # the sacrum, not the whole slice
    screenshot(page, "web_sacral_real", tmp_path)


def test_real_ct_sacroplasty_with_the_sacrum_mask_equals_the_cli(
    page, example_ct_path, example_sacrum_mask_path, tmp_path
):
    page.fill("#bq-sacral-path", str(SACROPLASTY))
    page.click("#bq-sacral-path-load")
    rows = wait_until(lambda: table(page, "bq-sacroplasty-table"), timeout=120, what="sacroplasty table")
    mask = ("--sacrum-mask", example_sacrum_mask_path)
    summary = _cli("sacroplasty", example_ct_path, SACROPLASTY, tmp_path / "sacroplasty", *mask)
    assert_sacroplasty_table_equals_cli(rows, summary, MM_TOL)
