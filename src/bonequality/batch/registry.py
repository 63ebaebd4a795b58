"""The batch analysis registry: analysis name -> :class:`~bonequality.batch.analysis.Analysis`.

:data:`ANALYSES` is complete as soon as this module is imported: the built-in analyses
(:data:`bonequality.batch.analyses.BUILTIN`) and then every analysis installed by another
package under the entry-point group ``bonequality.analyses``, like Slicer's
SegmentStatistics plugins. A package adds one in its ``pyproject.toml``::

    [project.entry-points."bonequality.analyses"]
    bone-age = "mypackage.batch:BONE_AGE"     # an Analysis, or a function returning one

An entry point that cannot be loaded, is not an Analysis or takes a built-in name raises
:class:`~bonequality.batch.analysis.AnalysisPluginError` naming it (never a silent skip).
:func:`register_analysis` adds one from code (tests, notebooks).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from ..errors import InputFileError
from .analyses import BUILTIN
from .analysis import Analysis, AnalysisPluginError, case_analyses
from .manifest import Manifest, ManifestError

__all__ = [
    "ANALYSES",
    "ENTRY_POINT_GROUP",
    "check_manifest",
    "get_analyses",
    "register_analysis",
    "required_columns",
]

#: The entry-point group of third-party batch analyses.
ENTRY_POINT_GROUP = "bonequality.analyses"


def _load_entry_point(ep) -> Analysis:
    where = f"entry point '{ep.name}' = '{ep.value}' (group {ENTRY_POINT_GROUP}"
    where += f", package {ep.dist.name})" if getattr(ep, "dist", None) is not None else ")"
    try:
        obj = ep.load()
        if callable(obj) and not isinstance(obj, Analysis):
            obj = obj()
    except Exception as exc:
        raise AnalysisPluginError(
            f"batch analysis {where} cannot be loaded: {type(exc).__name__}: {exc}. "
            "Fix or uninstall that package."
        ) from exc
    if not isinstance(obj, Analysis):
        raise AnalysisPluginError(
            f"batch analysis {where} is a {type(obj).__name__}, not a bonequality.batch.Analysis."
        )
    return obj


def _installed() -> dict[str, Analysis]:
    """The built-in analyses, then the entry points' (a built-in name cannot be taken)."""
    found = {a.name: a for a in BUILTIN}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        a = _load_entry_point(ep)
        if a.name in found:
            kind = "built-in" if any(b.name == a.name for b in BUILTIN) else "another entry point's"
            raise AnalysisPluginError(
                f"batch analysis entry point '{ep.name}' = '{ep.value}' (group {ENTRY_POINT_GROUP}) "
                f"is named '{a.name}', the name of a {kind} analysis; give it another name."
            )
        found[a.name] = a
    return found


#: name -> Analysis: the built-in ones and the installed entry points, at import.
ANALYSES: dict[str, Analysis] = _installed()


def register_analysis(analysis: Analysis) -> Analysis:
    """Add (or replace) ``analysis`` in :data:`ANALYSES`; returns it."""
    if not isinstance(analysis, Analysis):
        raise TypeError(f"register_analysis: expected an Analysis, got {type(analysis).__name__}")
    ANALYSES[analysis.name] = analysis
    return analysis


def _choices() -> str:
    return ", ".join(ANALYSES) or "(none registered)"


def get_analyses(names) -> tuple[Analysis, ...]:
    """The registered analyses named in ``names`` (a list or a comma-separated string)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise InputFileError(f"no analyses chosen; choose from {_choices()}.")
    out = []
    for n in names:
        if n not in ANALYSES:
            raise InputFileError(f"unknown analysis '{n}'; choose from {_choices()}.")
        if ANALYSES[n] not in out:
            out.append(ANALYSES[n])
    return tuple(out)


def required_columns(analyses: tuple[Analysis, ...]) -> tuple[str, ...]:
    """The manifest columns (``"a|b"`` alternatives) the analyses need, without duplicates."""
    cols: list[str] = []
    for a in analyses:
        for r in a.requires:
            if r not in cols:
                cols.append(r)
    return tuple(cols)


def check_manifest(manifest: Manifest, analyses: tuple[Analysis, ...]) -> None:
    """Check the manifest against the chosen analyses before running anything.

    Raises
    ------
    ManifestError
        A row's ``analyses`` cell names an unknown analysis, or a column that a chosen
        analysis needs is missing from the header (named with the analysis).
    """
    used: list[Analysis] = []
    for case in manifest.cases:
        for name in case.inputs.get("analyses", ()):
            if name not in ANALYSES:
                raise ManifestError(
                    f"manifest {manifest.path}: {case.where('analyses')}: unknown analysis '{name}'; "
                    f"choose from {_choices()}."
                )
        for a in case_analyses(case, analyses):
            if a not in used:
                used.append(a)
    header = set(manifest.columns)
    for a in used:
        for req in a.requires:
            options = req.split("|")
            if not header & set(options):
                raise ManifestError(
                    f"manifest {manifest.path}: analysis '{a.name}' needs a column "
                    f"{' or '.join(repr(o) for o in options)}; the header has {', '.join(manifest.columns)}."
                )
