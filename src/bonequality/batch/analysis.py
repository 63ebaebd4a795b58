"""What a batch analysis is: :class:`Analysis`, a named function of one manifest row.

A batch analysis is a function ``func(inputs, case_dir) -> mapping`` that runs one
analysis on one manifest row and returns its flat summary figures (numbers, booleans or
short strings). ``inputs`` is a :class:`~bonequality.batch.inputs.CaseInputs` (the row,
with cached loaders for the CT, the landmarks and the masks, so the analyses of one case
share one read); ``case_dir`` is an empty folder, inside the case's staging folder, for
the analysis's own files (summary.json, tables, report.png).

This module imports nothing of the registry (:mod:`bonequality.batch.registry`), so
third-party analyses, loaded by the registry from the ``bonequality.analyses`` entry
points, can import :class:`Analysis` from here (or from :mod:`bonequality.batch`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import BoneQualityError, InputFileError
from .inputs import CaseInputs
from .manifest import Case

__all__ = ["Analysis", "AnalysisPluginError", "case_analyses"]


class AnalysisPluginError(BoneQualityError):
    """A third-party analysis (entry point of group ``bonequality.analyses``) is broken."""


@dataclass(frozen=True)
class Analysis:
    """A batch analysis.

    Attributes
    ----------
    name : str
        As given to ``--analyses`` (e.g. ``"focal-defect"``); also the name of its folder
        ``DIR/cases/<case_id>/<name>/``.
    func : callable
        ``func(inputs: CaseInputs, case_dir: Path) -> Mapping[str, number | str | bool]``.
    requires : tuple of str
        Manifest columns it needs; ``"a|b"`` means either. Checked on the header before
        the run (a missing column is a manifest error) and per row (an empty cell fails
        this analysis of that case).
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


def case_analyses(case: Case, analyses: tuple[Analysis, ...]) -> tuple[Analysis, ...]:
    """The analyses of the run that apply to ``case`` (its ``analyses`` cell selects; empty: all)."""
    chosen = case.inputs.get("analyses")
    if not chosen:
        return analyses
    return tuple(a for a in analyses if a.name in chosen)
