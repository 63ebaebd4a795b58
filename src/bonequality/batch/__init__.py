"""Cohort studies: run the analyses over a manifest of cases on Dask, resumably.

The seed studies measured cohorts (324 pelvises in seed 000, 150 vertebroplasties in
seed 003, 205 vertebrae in seed 004); this package does the same over a manifest CSV:

>>> from bonequality.batch import read_manifest, get_analyses, run_batch   # doctest: +SKIP
>>> analyses = get_analyses("corridors,focal-defect")                       # doctest: +SKIP
>>> result = run_batch(read_manifest("cohort.csv"), analyses, "out", workers=2)  # doctest: +SKIP

Modules: :mod:`.manifest` (the CSV), :mod:`.analysis` and :mod:`.inputs` (what an
analysis is and what it gets), :mod:`.analyses` (the built-in ones), :mod:`.registry`
(:data:`ANALYSES`: built-in and installed entry points, complete at import),
:mod:`.case` (one case on a worker), :mod:`.runner` (Dask, resumable, atomic),
:mod:`.cluster`, :mod:`.tables`, :mod:`.stats` and :mod:`.report` (the seed papers'
tables and figures) and :mod:`.cohort` (a synthetic phantom cohort).
"""

# Analysis and CaseInputs first: a third-party analysis loaded by the registry may
# import them from this package while it is still being imported.
from .analysis import Analysis, AnalysisPluginError
from .inputs import CaseInputs
from .manifest import INPUT_COLUMNS, Case, Manifest, ManifestError, read_manifest
from .registry import ANALYSES, check_manifest, get_analyses, register_analysis

#: Names of :mod:`.runner` (Dask, pandas), imported when first used: ``bonequality``'s
#: argument parser reads the manifest columns from this package, and a command that never
#: runs a batch (``bonequality view``) should not load pandas for them.
_RUNNER = (
    "BatchProgress",
    "BatchResult",
    "CaseOutcome",
    "SchedulerError",
    "build_cohort",
    "run_batch",
    "run_case",
)


def __getattr__(name: str):
    if name in _RUNNER:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ANALYSES",
    "INPUT_COLUMNS",
    "Analysis",
    "AnalysisPluginError",
    "BatchProgress",
    "BatchResult",
    "Case",
    "CaseInputs",
    "CaseOutcome",
    "Manifest",
    "ManifestError",
    "SchedulerError",
    "build_cohort",
    "check_manifest",
    "get_analyses",
    "read_manifest",
    "register_analysis",
    "run_batch",
    "run_case",
]
