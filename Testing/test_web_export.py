"""``bonequality view``: Export writes the CLI's files under the CLI's folder rules; Cancel keeps results.

Driven in process (no browser): the panels' actions are the callbacks the page's buttons call.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from web_support import in_process_app

from bonequality.cli import main
from bonequality.outputs import STAMP
from bonequality.phantoms import make_phantom, write_phantom
from bonequality.phantoms.pelvis import make_pelvis

pytestmark = pytest.mark.slow


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _cancelled_run(panel) -> None:
    """Press Apply, then Cancel as soon as the job is running."""

    async def press():
        task = asyncio.create_task(panel.run())
        while not panel.jobs.busy and not task.done():
            await asyncio.sleep(0)
        panel.jobs.cancel()
        await task

    asyncio.run(press())


def test_cement_export_equals_the_cli_and_cancel_keeps_the_results(tmp_path):

    paths = write_phantom(make_phantom("cemented-vertebra"), tmp_path / "cement" / "cemented.nrrd")
    inputs = _files(paths["image"].parent)
    app = in_process_app(paths["image"])
    state, panel = app.state, app.cement
    state.cement_mask_path = str(paths["mask:vertebra"])
    asyncio.run(panel.run())
    assert state.cement_error == ""
    rows, result = state.cement_table["rows"], panel.result
    assert rows
    segmentation = app.web_scene.results.get("cement.segmentation")
    assert segmentation is not None
    segments = segmentation.GetSegmentation().GetNumberOfSegments()

    # Cancel during a second Apply: a message, the table, result and overlay stay.
    _cancelled_run(panel)
    assert "cancelled" in state.cement_error
    assert "\n" not in state.cement_error
    assert state.cement_table["rows"] == rows
    assert panel.result is result
    assert not panel.jobs.busy
    assert app.web_scene.results.get("cement.segmentation") is segmentation
    assert segmentation.GetSegmentation().GetNumberOfSegments() == segments > 0

    # Export: the CLI's files, the CLI's numbers.
    cli = tmp_path / "cli"
    args = [str(paths["image"]), "--vertebra-mask", str(paths["mask:vertebra"]), "--out", str(cli)]
    assert main(["--no-progress", "cement", *args]) == 0
    state.cement_export_dir = str(tmp_path / "export")
    asyncio.run(panel.export())
    assert state.cement_error == ""
    exported = tmp_path / "export" / "cement"
    assert _files(exported) == _files(cli)
    mine, theirs = (json.loads((f / "summary.json").read_text()) for f in (exported, cli))
    for key in ("vbv_ml", "cdv_ml", "vf_percent", "leakage_ml"):
        assert mine[key] == pytest.approx(theirs[key], abs=1e-9), key

    # Again without the switch: refused in one line naming the folder and the switch; files kept.
    before = {p.name: p.stat().st_mtime_ns for p in exported.iterdir()}
    asyncio.run(panel.export())
    assert "export folder" in state.cement_error
    assert "Replace earlier export" in state.cement_error
    assert "\n" not in state.cement_error
    assert "--overwrite" not in state.cement_error
    assert {p.name: p.stat().st_mtime_ns for p in exported.iterdir()} == before
    state.cement_export_replace = True
    asyncio.run(panel.export())
    assert state.cement_error == ""
    assert _files(exported) == _files(cli)

    # A folder of the user's own files is never written into, even with the switch.
    user = tmp_path / "mine"
    (user / "cement").mkdir(parents=True)
    (user / "cement" / "notes.txt").write_text("keep me")
    state.cement_export_dir = str(user)
    asyncio.run(panel.export())
    assert "notes.txt" in state.cement_error
    assert _files(user / "cement") == ["notes.txt"]
    assert (user / "cement" / "notes.txt").read_text() == "keep me"
    # A folder whose "cement" subfolder holds the inputs: refused, naming the input.
    state.cement_export_dir = str(tmp_path)
    asyncio.run(panel.export())
    assert "holds the input" in state.cement_error
    assert _files(paths["image"].parent) == inputs


def test_sacral_export_writes_both_analyses_or_nothing(tmp_path):

    paths = write_phantom(make_pelvis(spacing=(1.5, 1.5, 1.5)), tmp_path / "pelvis.nrrd")
    app = in_process_app(paths["image"], paths["landmarks"])
    state, panel = app.state, app.sacral
    assert panel._analyze(live=False) == ["corridors", "sacroplasty"]
    clis = {}
    for command in ("corridors", "sacroplasty"):
        clis[command] = tmp_path / f"cli_{command}"
        args = [str(paths["image"]), "--landmarks", str(paths["landmarks"]), "--out", str(clis[command])]
        assert main(["--no-progress", command, *args]) == 0

    # One part refused (user files in sacroplasty/): nothing is written, corridors/ included.
    out = tmp_path / "export"
    (out / "sacroplasty").mkdir(parents=True)
    (out / "sacroplasty" / "plan.docx").write_text("mine")
    state.sacral_export_dir = str(out)
    asyncio.run(panel.export())
    assert "plan.docx" in state.sacral_error
    assert "\n" not in state.sacral_error
    assert _files(out) == ["sacroplasty"]
    (out / "sacroplasty" / "plan.docx").unlink()

    asyncio.run(panel.export())
    assert state.sacral_error == ""
    for command, cli in clis.items():
        assert _files(out / command) == _files(cli), command
        assert json.loads((out / command / STAMP).read_text())["analysis"] == command
    corridors = json.loads((out / "corridors" / "summary.json").read_text())
    cli = json.loads((clis["corridors"] / "summary.json").read_text())
    assert corridors["S1"]["corridor_mean_hu"] == pytest.approx(cli["S1"]["corridor_mean_hu"], abs=0.5)
