"""One set of bad inputs through every entry point: the CLI, batch and the MRML logics.

Validation lives in each analysis's inputs object, so whoever builds the inputs gets the
same typed error: the CLI (:func:`bonequality.cli.run_command`, and ``main`` exits 2 with
one line, writing nothing), ``bonequality batch`` (the error type in ``failures.csv``) and
the Slicer modules' Qt-free logics on real MRML nodes (slicer-core).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bonequality import errors
from bonequality.cli import main, parse_args, run_command
from bonequality.landmarks import Landmarks, read_mrk_json, write_mrk_json
from bonequality.phantoms import make_phantom
from bonequality.validation import check_bone_threshold
from bonequality.volume import Volume


@dataclass(frozen=True)
class Case:
    """Files of one bad input for one analysis: CT, and landmarks / mask / threshold."""

    analysis: str
    ct: Path
    landmarks: Path | None = None
    mask: Path | None = None
    threshold: float | None = None


def _mr_like(volume: Volume) -> Volume:
    """The phantom rescaled to 0-255 like an MR or unscaled image: no air or fat."""
    a = volume.array.astype(np.float32)
    scaled = (a - a.min()) / max(float(np.ptp(a)), 1.0) * 255.0
    return volume.with_array(scaled.astype(np.uint8))


def _shifted(mask: Volume, mm: float) -> Volume:
    return Volume(mask.array.astype(np.uint8), mask.spacing, mask.origin + mm, mask.direction)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Pelvis (landmarks) and vertebra (body mask) phantoms on coarse grids, good and bad files."""
    d = tmp_path_factory.mktemp("bad-inputs")
    pelvis = make_phantom("pelvis", spacing=(1.5, 1.5, 1.5))
    vertebra = make_phantom("vertebra")
    pelvis.volume.write(d / "pelvis.nrrd")
    _mr_like(pelvis.volume).write(d / "pelvis_mr.nrrd")
    write_mrk_json(d / "pelvis.mrk.json", pelvis.landmarks)
    kept = {
        k: v for k, v in pelvis.landmarks.to_dict().items() if k not in ("S1_corner_AI", "L5_body_center")
    }
    write_mrk_json(d / "missing.mrk.json", Landmarks.from_dict(kept))
    vertebra.volume.write(d / "vertebra.nrrd")
    _mr_like(vertebra.volume).write(d / "vertebra_mr.nrrd")
    body = vertebra.masks["body"]
    body_vol = body if isinstance(body, Volume) else vertebra.volume.with_array(np.asarray(body))
    body_vol.with_array(body_vol.array.astype(np.uint8)).write(d / "body.nrrd")
    _shifted(body_vol, 1000.0).write(d / "body_elsewhere.nrrd")
    return {p.name: p for p in d.iterdir()}


PELVIS = ("corridors", "sacroplasty")
VERTEBRA = ("focal-defect", "cement")

#: (analysis, bad input, expected error, the case's files)
BAD = [
    *[
        row
        for a in PELVIS
        for row in (
            (
                a,
                "mr-like image",
                errors.NotCTError,
                lambda f, a=a: Case(a, f["pelvis_mr.nrrd"], f["pelvis.mrk.json"]),
            ),
            (
                a,
                "threshold 5000 HU",
                errors.OptionError,
                lambda f, a=a: Case(a, f["pelvis.nrrd"], f["pelvis.mrk.json"], threshold=5000.0),
            ),
            (
                a,
                "missing landmarks",
                errors.LandmarkError,
                lambda f, a=a: Case(a, f["pelvis.nrrd"], f["missing.mrk.json"]),
            ),
        )
    ],
    *[
        row
        for a in VERTEBRA
        for row in (
            (
                a,
                "mr-like image",
                errors.NotCTError,
                lambda f, a=a: Case(a, f["vertebra_mr.nrrd"], mask=f["body.nrrd"]),
            ),
            (
                a,
                "mask of another place",
                errors.GeometryMismatchError,
                lambda f, a=a: Case(a, f["vertebra.nrrd"], mask=f["body_elsewhere.nrrd"]),
            ),
        )
    ],
]
IDS = [f"{a}-{what}" for a, what, _, _ in BAD]


def _cli_args(case: Case, out: Path) -> list[str]:
    args = [case.analysis, str(case.ct)]
    if case.landmarks is not None:
        args += ["--landmarks", str(case.landmarks)]
    if case.mask is not None:
        args += ["--mask" if case.analysis == "focal-defect" else "--body-mask", str(case.mask)]
    if case.threshold is not None:
        args += ["--bone-threshold", repr(case.threshold)]
    return ["--no-progress", *args, "--out", str(out)]


def _error_type_from_cli(case: Case, tmp: Path, capsys) -> type:
    """The typed error the CLI's command raises; ``main`` exits 2 with one line, writing nothing.

    A bone threshold is range-checked by argparse when the command line is parsed, with
    the library's own check and message (:func:`bonequality.validation.check_bone_threshold`).
    """
    out = tmp / "cli-out"
    if case.threshold is not None:
        with pytest.raises(errors.OptionError) as info:
            check_bone_threshold(case.threshold)
        with pytest.raises(SystemExit) as exited:
            main(_cli_args(case, out))
        assert exited.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert str(info.value) in err[0]
    else:
        with pytest.raises(errors.BoneQualityError) as info:
            run_command(parse_args(_cli_args(case, out)))
        assert main(_cli_args(case, out)) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
    assert not out.exists()
    return type(info.value)


def _error_type_from_batch(case: Case, tmp: Path, capsys) -> str:
    manifest = tmp / "manifest.csv"
    row = {"case_id": "bad", "ct": str(case.ct)}
    if case.landmarks is not None:
        row["landmarks"] = str(case.landmarks)
    if case.mask is not None:
        row["body_mask"] = str(case.mask)
    if case.threshold is not None:
        row["bone_threshold"] = repr(case.threshold)
    with manifest.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    out = tmp / "batch-out"
    main(
        [
            "--no-progress",
            "batch",
            str(manifest),
            "--analyses",
            case.analysis,
            "--workers",
            "1",
            "--out",
            str(out),
        ]
    )
    capsys.readouterr()
    with (out / "failures.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["analysis"] for r in rows] == [case.analysis]
    return rows[0]["error_type"]


def _run_mrml_logic(case: Case, scene) -> None:
    """What the module's Apply button does, on real MRML nodes made from the case's files."""
    from bonequality.mrml import logic_cement, logic_focal, logic_sacral
    from bonequality.mrml.markups import landmarks_to_node
    from bonequality.mrml.results import ResultNodes
    from bonequality.mrml.volumes import volume_to_node

    ct_node = volume_to_node(Volume.read(case.ct), name="CT", scene=scene)
    results = ResultNodes(scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "params"))
    if case.analysis in PELVIS:
        lm_node = landmarks_to_node(read_mrk_json(case.landmarks), name="L", scene=scene)
        run = (
            logic_sacral.CorridorSession().analyze
            if case.analysis == "corridors"
            else logic_sacral.run_sacroplasty
        )
        run(ct_node, lm_node, results=results, bone_threshold=case.threshold)
        return
    mask_node = volume_to_node(Volume.read(case.mask), name="M", labelmap=True, scene=scene)
    if case.analysis == "cement":
        logic_cement.run_cement(ct_node, results=results, body_source="body mask", mask_node=mask_node)
    else:
        logic_focal.run_focal_defect(ct_node, results=results, mask_node=mask_node)


@pytest.mark.parametrize(("analysis", "what", "expected", "make"), BAD, ids=IDS)
def test_cli_and_batch_refuse_alike(inputs, tmp_path, capsys, analysis, what, expected, make):
    case = make(inputs)
    from_cli = _error_type_from_cli(case, tmp_path, capsys)
    assert issubclass(from_cli, expected)
    assert _error_type_from_batch(case, tmp_path, capsys) == from_cli.__name__


@pytest.mark.mrml
@pytest.mark.parametrize(("analysis", "what", "expected", "make"), BAD, ids=IDS)
def test_mrml_logics_refuse_alike(inputs, tmp_path, capsys, mrml_scene, analysis, what, expected, make):
    case = make(inputs)
    from_cli = _error_type_from_cli(case, tmp_path, capsys)
    with pytest.raises(errors.BoneQualityError) as info:
        _run_mrml_logic(case, mrml_scene)
    assert type(info.value) is from_cli
    assert issubclass(from_cli, expected)
