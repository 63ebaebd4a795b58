"""The batch analysis registry: analysis name -> function of one case.

A batch analysis is a function ``func(inputs, case_dir) -> mapping`` that runs one
analysis library on one manifest row and returns its flat summary figures (numbers or
short strings). ``inputs`` is a :class:`CaseInputs` (the row, with cached loaders for
the CT, the landmarks and the masks, so analyses of the same case share one read);
``case_dir`` is an empty folder, inside the case's staging folder, for the analysis's
own files (profiles, tables). Like Slicer's SegmentStatistics plugins, analyses are
added with :func:`register_analysis`; the built-in ones live in
:mod:`bonequality.batch.analyses`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileError
from .manifest import Case, Manifest, ManifestError

__all__ = [
    "ANALYSES",
    "Analysis",
    "CaseInputs",
    "case_analyses",
    "check_manifest",
    "get_analyses",
    "register_analysis",
    "required_columns",
]


class CaseInputs:
    """A manifest row with cached loaders for its files.

    Every loader raises :class:`~bonequality.errors.InputFileError` naming the row, the
    column and the path when the cell is empty or the file does not exist.
    """

    def __init__(self, case: Case):
        self.case = case
        self._cache: dict[tuple, object] = {}

    @property
    def case_id(self) -> str:
        return self.case.case_id

    def has(self, column: str) -> bool:
        """True when the row has a non-empty ``column``."""
        return column in self.case.inputs

    def value(self, column: str, default=None):
        """The parsed cell (point, number, text or path), or ``default`` when empty."""
        return self.case.inputs.get(column, default)

    def path(self, column: str) -> Path:
        """The existing file or folder named in ``column``."""
        if column not in self.case.inputs:
            raise InputFileError(f"{self.case.where(column)} is empty; this analysis needs it.")
        p = Path(self.case.inputs[column])
        if not p.exists():
            raise InputFileError(f"{self.case.where(column)}: file {p} not found.")
        return p

    def _cached(self, key: tuple, load: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def ct(self):
        """The CT as a :class:`~bonequality.volume.Volume` (read once per case)."""
        from ..volume import Volume

        p = self.path("ct")
        return self._cached(("ct",), lambda: Volume.read(p, name=f"{self.case.where('ct')} ({p.name})"))

    def landmarks(self):
        """The :class:`~bonequality.landmarks.Landmarks` of column ``landmarks``."""
        from ..landmarks import read_mrk_json

        p = self.path("landmarks")
        return self._cached(("landmarks",), lambda: read_mrk_json(p))

    def mask(self, column: str = "mask"):
        """The bool mask Volume in ``column`` (``label`` / ``segment`` columns select)."""
        from ..segmentation import read_mask

        p = self.path(column)
        label, segment = self.value("label"), self.value("segment")
        return self._cached(
            ("mask", column),
            lambda: read_mask(p, label=label, segment=segment, name=f"{self.case.where(column)} ({p.name})"),
        )


@dataclass(frozen=True)
class Analysis:
    """A registered batch analysis.

    Attributes
    ----------
    name : str
        As given to ``--analyses`` (e.g. ``"focal-defect"``).
    func : callable
        ``func(inputs: CaseInputs, case_dir: Path) -> Mapping[str, number | str]``.
    requires : tuple of str
        Manifest columns it needs; ``"a|b"`` means either. Checked on the header before
        the run (a missing column is a manifest error) and per row (an empty cell fails
        that case).
    prefix : str
        Prefix of its columns in ``cohort.csv`` (``<prefix>_<figure>``); default: the
        name with ``-`` replaced by ``_``.
    tables : tuple of str
        CSV files it writes into ``case_dir`` that the runner concatenates over the
        cohort into ``DIR/<table>`` with a ``case_id`` column (e.g. ``profiles.csv``).
    description : str
    """

    name: str
    func: Callable[[CaseInputs, Path], Mapping[str, object]]
    requires: tuple[str, ...] = ("ct",)
    prefix: str = ""
    tables: tuple[str, ...] = ()
    description: str = ""

    def column(self, figure: str) -> str:
        return f"{self.prefix or self.name.replace('-', '_')}_{figure}"

    def check_row(self, inputs: CaseInputs) -> None:
        """Raise InputFileError naming the row and column when a required cell is empty."""
        for req in self.requires:
            options = req.split("|")
            if not any(inputs.has(o) for o in options):
                raise InputFileError(
                    f"{inputs.case.where(' or '.join(options))} is empty; analysis '{self.name}' needs it."
                )
            for o in options:
                p = inputs.value(o)
                if isinstance(p, os.PathLike) and not Path(p).exists():
                    raise InputFileError(f"{inputs.case.where(o)}: file {p} not found.")


#: name -> Analysis; filled by :func:`register_analysis`.
ANALYSES: dict[str, Analysis] = {}


def register_analysis(analysis: Analysis) -> Analysis:
    """Add (or replace) ``analysis`` in :data:`ANALYSES`; returns it."""
    ANALYSES[analysis.name] = analysis
    return analysis


def get_analyses(names) -> tuple[Analysis, ...]:
    """The registered analyses named in ``names`` (a list or a comma-separated string)."""
    from . import analyses as _builtin  # noqa: F401  (registers the built-in analyses)

    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise InputFileError(f"no analyses chosen; choose from {', '.join(ANALYSES) or '(none registered)'}.")
    out = []
    for n in names:
        if n not in ANALYSES:
            raise InputFileError(
                f"unknown analysis '{n}'; choose from {', '.join(ANALYSES) or '(none registered)'}."
            )
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


def case_analyses(case: Case, analyses: tuple[Analysis, ...]) -> tuple[Analysis, ...]:
    """The analyses of the run that apply to ``case`` (its ``analyses`` cell selects; empty: all)."""
    chosen = case.inputs.get("analyses")
    if not chosen:
        return analyses
    return tuple(a for a in analyses if a.name in chosen)


def check_manifest(manifest: Manifest, analyses: tuple[Analysis, ...]) -> None:
    """Check the manifest against the chosen analyses before running anything.

    Raises
    ------
    ManifestError
        A row's ``analyses`` cell names an unknown analysis, or a column that a chosen
        analysis needs is missing from the header (named with the analysis).
    """
    from . import analyses as _builtin  # noqa: F401  (registers the built-in analyses)

    used: list[Analysis] = []
    for case in manifest.cases:
        for name in case.inputs.get("analyses", ()):
            if name not in ANALYSES:
                raise ManifestError(
                    f"manifest {manifest.path}: {case.where('analyses')}: unknown analysis '{name}'; "
                    f"choose from {', '.join(ANALYSES)}."
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
