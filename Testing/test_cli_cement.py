"""``bonequality cement``: outputs on the phantom, exit 2 and nothing written on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicerio

from bonequality.cli import main
from bonequality.commands import cement as cement_cmd
from bonequality.phantoms import ANISOTROPIC_SPACING, write_phantom
from bonequality.phantoms.cemented import make_cemented_vertebra
from bonequality.segmentation import read_segmentation

KEYS = (
    "vbv_ml",
    "cdv_ml",
    "vf_percent",
    "predicted_extensive",
    "leakage_ml",
    "leakage_by_location",
    "distribution_score",
    "side_fraction",
    "seconds",
)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    phantom = make_cemented_vertebra(spacing=ANISOTROPIC_SPACING)
    folder = tmp_path_factory.mktemp("cemented")
    paths = write_phantom(phantom, folder / "p.nrrd")
    return phantom, paths


def test_vertebra_mask_writes_summary_segments_report(written, tmp_path):
    phantom, paths = written
    out = tmp_path / "out"
    rc = main(
        ["--no-progress", "cement", str(paths["image"]), "--vertebra-mask", str(paths["mask:vertebra"]),
         "--out", str(out)]
    )  # fmt: skip
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".bonequality.json",
        "report.png",
        "segments.seg.nrrd",
        "summary.json",
    ]
    summary = json.loads((out / "summary.json").read_text())
    for key in KEYS:
        assert key in summary
    assert set(summary["distribution_score"]) >= {"coronal", "sagittal", "axial", "total", "group"}
    assert summary["vbv_ml"] == pytest.approx(phantom.truth["vbv_ml"], rel=0.03)
    assert summary["distribution_score"]["total"] == 8
    assert summary["inputs"] == {"ct": str(paths["image"]), "vertebra_mask": str(paths["mask:vertebra"])}
    segs = read_segmentation(out / "segments.seg.nrrd")
    assert set(segs) == {"VertebralBody", "Cement", "Leakage"}
    vv = phantom.volume.voxel_volume_mm3 / 1000
    assert segs["Cement"].array.sum() * vv == pytest.approx(summary["cdv_ml"])
    assert segs["Leakage"].array.sum() * vv == pytest.approx(summary["leakage_ml"])
    assert segs["Cement"].same_grid(phantom.volume)
    raw = slicerio.read_segmentation(str(out / "segments.seg.nrrd"))
    assert [s["name"] for s in raw["segments"]] == ["VertebralBody", "Cement", "Leakage"]
    assert (out / "report.png").stat().st_size > 20_000


def test_seed_and_body_mask_modes(written, tmp_path):
    _, paths = written
    assert (
        main(
            [
                "--no-progress",
                "cement",
                str(paths["image"]),
                "--seed=-5,-3,2",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert main(
        ["--no-progress", "cement", str(paths["image"]), "--body-mask", str(paths["mask:body"]),
         "--cement-hu", "1000,3000", "--min-zone-fraction", "0.05", "--out", str(tmp_path / "b")]
    ) == 0  # fmt: skip
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert a["cdv_ml"] == pytest.approx(b["cdv_ml"], rel=0.01)
    assert a["body_source"] == "seed"
    assert b["body_source"] == "body_mask"


@pytest.mark.parametrize(
    "extra",
    [
        ["--seed=500,0,0"],  # outside the image
        ["--seed=-38,10,20"],  # soft tissue, not bone
        ["--body-mask", "EMPTY"],
        ["--body-mask", "FAR"],
        ["--body-mask", "MISSING"],
        ["--seed=1,2"],  # malformed
        ["--seed=-5,-3,2", "--closing-mm", "50"],  # option out of range
        ["--seed=-5,-3,2", "--cement-hu", "1000,9000"],  # beyond the HU range
        ["--seed=-5,-3,2", "--leak-rule", "mimics"],  # no such rule
    ],
)
def test_bad_input_exit_2_and_nothing_written(written, tmp_path, extra, capsys):
    phantom, paths = written
    vol = phantom.volume
    empty = tmp_path / "empty.nrrd"
    vol.with_array(np.zeros(vol.array.shape, np.uint8)).write(empty)
    far = tmp_path / "far.nrrd"
    type(vol)(phantom.masks["body"].astype(np.uint8), vol.spacing, vol.origin + 500, vol.direction).write(far)
    names = {"EMPTY": str(empty), "FAR": str(far), "MISSING": str(tmp_path / "missing.nrrd")}
    extra = [names.get(e, e) for e in extra]
    out = tmp_path / "out"
    try:
        rc = main(["--no-progress", "cement", str(paths["image"]), *extra, "--out", str(out)])
    except SystemExit as exc:  # argparse rejects malformed arguments itself
        rc = exc.code
    assert rc == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("bonequality: error:")


def test_leak_rule_is_an_option_and_is_recorded(written, tmp_path):
    """``--leak-rule threshold`` keeps Mimics' raw number; summary.json says which rule ran."""
    _, paths = written
    runs = {}
    for rule in ("cement", "threshold"):
        out = tmp_path / rule
        argv = ["--no-progress", "cement", str(paths["image"]), "--body-mask", str(paths["mask:body"])]
        assert main([*argv, "--leak-rule", rule, "--out", str(out)]) == 0
        runs[rule] = json.loads((out / "summary.json").read_text())
    cement, threshold = runs["cement"], runs["threshold"]
    assert (cement["leak_rule"], threshold["leak_rule"]) == ("cement", "threshold")
    assert threshold["options"]["leak_rule"] == "threshold"
    assert cement["cortex"]["cement_level_hu"] >= 1400.0
    assert threshold["cortex"] is None
    # The phantom's cement is denser than its 1200 HU cortex: both rules agree on it.
    assert cement["cdv_ml"] == pytest.approx(threshold["cdv_ml"], rel=0.01)
    assert cement["leakage_ml"] == pytest.approx(threshold["leakage_ml"], rel=0.01)


def test_demo_section(tmp_path):
    sections = cement_cmd.demo(tmp_path, None)
    assert len(sections) == 1
    assert (tmp_path / sections[0].images[0]).exists()
    assert "VBV ml (truth / measured)" in sections[0].table
