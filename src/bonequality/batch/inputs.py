"""A manifest row with cached loaders for its files (:class:`CaseInputs`).

The analyses of one case share one :class:`CaseInputs`, so the CT is read once per case
however many analyses run on it. A loader that fails keeps its error: the next analysis
asking for the same file gets the same error without reading the file again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import InputFileError
from .manifest import Case

__all__ = ["CaseInputs"]

_FROM_ROW = object()


class CaseInputs:
    """A manifest row with cached loaders for its files.

    Every loader raises :class:`~bonequality.errors.InputFileError` naming the row, the
    column and the path when the cell is empty or the file does not exist.
    """

    def __init__(self, case: Case):
        self.case = case
        self._cache: dict[tuple, tuple[bool, object]] = {}

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

    def name(self, column: str) -> str:
        """How the file of ``column`` is called in messages: ``row 2 (case P1), column 'ct' (a.nrrd)``."""
        p = self.case.inputs.get(column)
        return f"{self.case.where(column)} ({Path(p).name})" if p is not None else self.case.where(column)

    def sources(self, *columns: str) -> dict[str, str]:
        """The non-empty cells of ``columns`` as written in the manifest (provenance for summary.json)."""
        return {c: self.case.raw.get(c, str(self.case.inputs[c])) for c in columns if c in self.case.inputs}

    def _cached(self, key: tuple, load: Callable[[], object]):
        if key not in self._cache:
            try:
                self._cache[key] = (True, load())
            except Exception as exc:
                self._cache[key] = (False, exc)
        ok, value = self._cache[key]
        if not ok:
            raise value
        return value

    def ct(self):
        """The CT as a :class:`~bonequality.volume.Volume` (read once per case), named by :meth:`name`."""
        from ..volume import Volume

        p = self.path("ct")
        return self._cached(("ct",), lambda: Volume.read(p, name=self.name("ct")))

    def landmarks(self, column: str = "landmarks"):
        """The :class:`~bonequality.landmarks.Landmarks` of ``column``."""
        from ..landmarks import read_mrk_json

        p = self.path(column)
        return self._cached(("landmarks", column), lambda: read_mrk_json(p))

    def mask(self, column: str = "mask", *, label=_FROM_ROW, segment=_FROM_ROW):
        """The bool mask Volume in ``column``.

        ``label`` and ``segment`` select part of a label map or a ``.seg.nrrd``; by
        default the row's ``label`` and ``segment`` columns.
        """
        from ..segmentation import read_mask

        p = self.path(column)
        label = self.value("label") if label is _FROM_ROW else label
        segment = self.value("segment") if segment is _FROM_ROW else segment
        return self._cached(
            ("mask", column, label, segment),
            lambda: read_mask(p, label=label, segment=segment, name=self.name(column)),
        )
