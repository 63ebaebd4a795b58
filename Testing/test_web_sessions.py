"""``bonequality view`` keeps one copy of the CT for its analyses (driven in process, no browser).

The page reads the CT once; its node holds a copy for the views. The corridor and
sacroplasty sessions use the page's Volume instead of converting the node each (two more
copies of a CT: 300 MB for a 512 x 512 x 300 int16 scan), and still give the CLI's numbers.
"""

from __future__ import annotations

import json

import pytest
from web_support import in_process_app

from bonequality.phantoms import write_phantom
from bonequality.phantoms.pelvis import make_pelvis

pytestmark = pytest.mark.slow


def test_the_sacral_sessions_use_the_pages_ct_and_give_the_cli_numbers(tmp_path):
    from bonequality.cli import main

    paths = write_phantom(make_pelvis(spacing=(1.5, 1.5, 1.5)), tmp_path / "pelvis.nrrd")
    app = in_process_app(paths["image"], paths["landmarks"])
    ws, panel = app.web_scene, app.sacral
    assert panel._analyze(live=False) == ["corridors", "sacroplasty"]
    ct = ws.ct_volume
    assert panel.corridors.volume(ws.ct_node) is ct
    assert panel.sacroplasty.volume(ws.ct_node) is ct
    out = tmp_path / "cli"
    assert (
        main(
            [
                "--no-progress",
                "corridors",
                str(paths["image"]),
                "--landmarks",
                str(paths["landmarks"]),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cli = json.loads((out / "summary.json").read_text())
    s1 = panel.corridors.result.s1
    assert s1.region_means["corridor"] == pytest.approx(cli["S1"]["corridor_mean_hu"], abs=0.5)
