"""The built-in batch analyses: adapters from a manifest row to the analysis libraries.

Each adapter only translates the row (through :class:`~bonequality.batch.inputs.CaseInputs`:
one read of the CT per case, shared by the analyses) into the analysis's inputs object,
calls the analysis's ``run``, writes the result with ``result.write(case_dir, inputs)``
(exactly the files ``bonequality <analysis>`` writes: summary.json, its tables,
report.png, ...) and returns ``result.figures()``, the flat figures of ``cohort.csv``
and of the cohort report (:data:`bonequality.batch.report.COLUMNS`).

Every check of the inputs is the inputs object's own (e.g. an MR-like image is refused
with :class:`~bonequality.errors.NotCTError` by every analysis), so batch refuses what
the CLI and the Slicer modules refuse, with the same error.

:data:`BUILTIN` lists them; :mod:`bonequality.batch.registry` registers them.
"""

from __future__ import annotations

from pathlib import Path

from .analysis import Analysis
from .inputs import CaseInputs

__all__ = [
    "BUILTIN",
    "cement_figures",
    "corridors_figures",
    "focal_defect_figures",
    "sacroplasty_figures",
]

#: Columns that give the vertebral body, in order of precedence, per analysis.
FOCAL_BODY_COLUMNS = ("mask", "body_mask", "vertebra_mask", "seed")
CEMENT_BODY_COLUMNS = ("body_mask", "vertebra_mask", "mask", "seed")


def _write(result, inputs, case_dir: Path) -> dict:
    result.write(Path(case_dir), inputs)
    return result.figures()


def corridors_figures(inputs: CaseInputs, case_dir: Path) -> dict:
    """Seed 000 corridors: ``ct``, ``landmarks``, optional ``bone_threshold`` and ``l5_mask``.

    Writes what ``bonequality corridors`` writes (summary.json, profiles.csv with
    ``corridor``, ``percent``, ``mean_hu``, report.png); the runner gathers profiles.csv
    into ``DIR/profiles.csv``.
    """
    from ..corridors import CorridorInputs, run

    ci = CorridorInputs(
        ct=inputs.ct(),
        landmarks=inputs.landmarks(),
        bone_threshold=inputs.value("bone_threshold"),
        l5_mask=inputs.mask("l5_mask") if inputs.has("l5_mask") else None,
        name=inputs.name("ct"),
        sources=inputs.sources("ct", "landmarks", "l5_mask"),
    )
    return _write(run(ci), ci, case_dir)


def sacroplasty_figures(inputs: CaseInputs, case_dir: Path) -> dict:
    """Seed 001 needle plan: ``ct``, ``landmarks`` (the S1 corners), optional ``bone_threshold``
    and ``sacrum_mask`` (the envelope instead of the cortical shell; ``sacrum_label`` selects
    the sacrum in a label map)."""
    from ..sacroplasty import SacroplastyInputs, run

    sacrum = None
    if inputs.has("sacrum_mask"):
        sacrum = inputs.mask("sacrum_mask", label=inputs.value("sacrum_label"), segment=None)
    si = SacroplastyInputs(
        ct=inputs.ct(),
        landmarks=inputs.landmarks(),
        bone_threshold=inputs.value("bone_threshold"),
        name=inputs.name("ct"),
        sources=inputs.sources("ct", "landmarks", "sacrum_mask"),
        sacrum_mask=sacrum,
        sacrum_mask_name=inputs.name("sacrum_mask") if sacrum is not None else "sacrum mask",
    )
    return _write(run(si), si, case_dir)


def _body(inputs: CaseInputs, columns: tuple[str, ...]):
    """The :class:`~bonequality.imaging.body.BodySource` of the first non-empty of ``columns``."""
    from ..imaging.body import BodySource

    column = next(c for c in columns if inputs.has(c))
    if column == "seed":
        return column, BodySource.seed_point(inputs.value("seed"), name=inputs.case.where("seed"))
    kind = BodySource.vertebra_mask if column == "vertebra_mask" else BodySource.body_mask
    return column, kind(inputs.mask(column), name=inputs.name(column))


def focal_defect_figures(inputs: CaseInputs, case_dir: Path) -> dict:
    """Seed 004 focal BMC loss: ``ct`` and the body (:data:`FOCAL_BODY_COLUMNS`, first given).

    The body is the first of ``mask``, ``body_mask``, ``vertebra_mask`` or ``seed``. The
    calibration comes from ``calibration_slope`` and ``calibration_intercept`` (else
    uncalibrated, HU-equivalent: column ``calibrated`` says which).
    """
    from ..focal_defect import Calibration, FocalDefectInputs, run

    column, body = _body(inputs, FOCAL_BODY_COLUMNS)
    calibration = None
    if inputs.has("calibration_slope") or inputs.has("calibration_intercept"):
        calibration = Calibration.from_slope_intercept(
            inputs.value("calibration_slope", 1.0), inputs.value("calibration_intercept", 0.0)
        )
    fi = FocalDefectInputs(
        ct=inputs.ct(),
        body=body,
        calibration=calibration,
        name=inputs.name("ct"),
        sources=inputs.sources("ct", column, "calibration_slope", "calibration_intercept"),
    )
    return _write(run(fi), fi, case_dir)


def cement_figures(inputs: CaseInputs, case_dir: Path) -> dict:
    """Seed 003 volumetry: ``ct`` and the body (:data:`CEMENT_BODY_COLUMNS`, first given).

    The body is the first of ``body_mask``, ``vertebra_mask``, ``mask`` or ``seed``; a
    ``vertebra_mask`` has its posterior elements cut automatically. An optional
    ``sacrum_mask`` (``sacrum_label`` selects) adds the cement per ala and sacral leakage;
    optional ``screws`` (.mrk.json, 7 mm unless the file says) their cement contact.
    """
    from ..cement import CementInputs, CementOptions, read_screws, run

    column, body = _body(inputs, CEMENT_BODY_COLUMNS)
    sacrum = None
    if inputs.has("sacrum_mask"):
        sacrum = inputs.mask("sacrum_mask", label=inputs.value("sacrum_label"), segment=None)
    options = CementOptions()
    screws = ()
    if inputs.has("screws"):
        screws = read_screws(inputs.path("screws"), diameter_mm=options.screw_diameter_mm)
    ci = CementInputs(
        ct=inputs.ct(),
        body=body,
        sacrum_mask=sacrum,
        screws=screws,
        options=options,
        name=inputs.name("ct"),
        sources=inputs.sources("ct", column, "sacrum_mask", "screws"),
    )
    return _write(run(ci), ci, case_dir)


#: The built-in analyses, in the order they run on a case.
BUILTIN: tuple[Analysis, ...] = (
    Analysis(
        "corridors",
        corridors_figures,
        requires=("ct", "landmarks"),
        tables=("profiles.csv",),
        description="seed 000 screw corridors and L5 density (CLINICAL.md section 2)",
    ),
    Analysis(
        "sacroplasty",
        sacroplasty_figures,
        requires=("ct", "landmarks"),
        description="seed 001 needle planning (CLINICAL.md section 3)",
    ),
    Analysis(
        "focal-defect",
        focal_defect_figures,
        requires=("ct", "|".join(FOCAL_BODY_COLUMNS)),
        description="seed 004 focal BMC loss (CLINICAL.md section 4)",
    ),
    Analysis(
        "cement",
        cement_figures,
        requires=("ct", "|".join(CEMENT_BODY_COLUMNS)),
        description="seed 003 cement volumetry (CLINICAL.md section 5)",
    ),
)
