"""Batch manifests: one CSV row per case.

A manifest names every case (``case_id``), its CT (``ct``) and the inputs the analyses
need (``landmarks``, ``mask``, ``label``, ``seed``, ...). Every other column is metadata
(age, sex, fracture, group, ...) and is carried into the results unchanged. Paths are
relative to the manifest's folder (absolute paths are kept).

Structural problems (a missing ``case_id`` or ``ct`` column, an empty or duplicate
``case_id``, a value of the wrong type) raise :class:`ManifestError`, naming the row
(the line of the CSV file) and the column. A file that does not exist is *not* a
manifest error: it fails that case only, at run time, so the rest of a cohort completes.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError

__all__ = [
    "INPUT_COLUMNS",
    "Case",
    "ColumnSpec",
    "Manifest",
    "ManifestError",
    "file_state",
    "parse_value",
    "read_manifest",
]


class ManifestError(InputFileError):
    """The manifest CSV is malformed; the message names the row and the column."""


@dataclass(frozen=True)
class ColumnSpec:
    """An input column of the manifest.

    Attributes
    ----------
    kind : {"path", "point", "int", "float", "text"}
        ``path``: a file or folder, relative to the manifest; ``point``: an LPS position
        in mm written ``x,y,z`` or ``x y z``; ``list``: names separated by ``;``; the
        others as named.
    description : str
    """

    kind: str
    description: str


#: The input columns the analyses understand; every other column is metadata.
INPUT_COLUMNS: Mapping[str, ColumnSpec] = {
    "ct": ColumnSpec("path", "CT image (NRRD, NIfTI, MHA or a DICOM folder), HU"),
    "landmarks": ColumnSpec("path", "landmarks .mrk.json (LPS or RAS), CLINICAL.md section 1"),
    "mask": ColumnSpec("path", "vertebral-body mask (label map or .seg.nrrd)"),
    "body_mask": ColumnSpec("path", "vertebral-body mask (label map or .seg.nrrd)"),
    "vertebra_mask": ColumnSpec("path", "whole-vertebra mask; posterior elements are cut automatically"),
    "label": ColumnSpec("int", "label value to select in a label-map mask"),
    "segment": ColumnSpec("text", "segment name to select in a .seg.nrrd mask"),
    "l5_mask": ColumnSpec(
        "path", "L5 vertebral-body mask for the corridors' L5 density (label, segment select)"
    ),
    "sacrum_mask": ColumnSpec(
        "path", "sacrum mask: the sacroplasty envelope; for cement, cement per ala and sacral leakage"
    ),
    "sacrum_label": ColumnSpec("int", "label value of the sacrum in a label-map sacrum_mask"),
    "screws": ColumnSpec("path", "cement: screws .mrk.json (lines or entry/tip pairs), 7 mm unless stated"),
    "seed": ColumnSpec("point", "seed point inside the vertebral body, LPS mm 'x,y,z'"),
    "calibration_slope": ColumnSpec("float", "BMD calibration slope, mg/cm3 per HU"),
    "calibration_intercept": ColumnSpec("float", "BMD calibration intercept, mg/cm3"),
    "bone_threshold": ColumnSpec("float", "bone threshold for the corridors and sacroplasty, HU"),
    "analyses": ColumnSpec(
        "list", "the analyses for this row, separated by ';' (default: all chosen for the run)"
    ),
}

_CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_POINT = re.compile(rf"^\s*({_FLOAT})\s*[, ;]\s*({_FLOAT})\s*[, ;]\s*({_FLOAT})\s*$")


@dataclass(frozen=True)
class Case:
    """One manifest row.

    Attributes
    ----------
    case_id : str
        Unique; also the name of the case's output folder.
    row : int
        Line of the CSV file (the header is line 1), for messages.
    inputs : mapping str -> value
        The non-empty input columns, parsed: ``Path`` (absolute), ``(3,)`` tuple of
        float (LPS mm), int, float or str.
    metadata : mapping str -> str
        Every other column, as written.
    raw : mapping str -> str
        The row as written (inputs and metadata), used to notice edits between runs.
    """

    case_id: str
    row: int
    inputs: Mapping[str, object]
    metadata: Mapping[str, str]
    raw: Mapping[str, str] = field(repr=False, default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """A hash of the row's input cells and of the files they name (see :func:`file_state`).

        Editing a cell, or editing, replacing or deleting an input file in place, makes a
        finished case stale: a rerun redoes it. Computed afresh on every access.
        """
        values = {k: self.raw.get(k, "") for k in sorted(self.inputs)}
        files = {k: file_state(v) for k, v in sorted(self.inputs.items()) if isinstance(v, Path)}
        text = json.dumps({"cells": values, "files": files}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def where(self, column: str | None = None) -> str:
        """``"row 5 (case P007), column 'ct'"`` for messages."""
        text = f"row {self.row} (case {self.case_id})"
        return f"{text}, column '{column}'" if column else text

    def to_dict(self) -> dict:
        return {
            "case_id": self.case_id,
            "row": self.row,
            "inputs": {k: (str(v) if isinstance(v, Path) else v) for k, v in self.inputs.items()},
            "metadata": dict(self.metadata),
        }


def file_state(path: Path) -> list:
    """Size and modification time (ns) of a file, or of each file of a folder (a DICOM series).

    ``["missing"]`` when it does not exist. Cheap (``stat`` only), so it is taken for every
    case on every run; an edit in place changes the time, and almost always the size.
    """
    try:
        st = path.stat()
    except OSError:
        return ["missing"]
    if not path.is_dir():
        return [st.st_size, st.st_mtime_ns]
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return ["unreadable"]
    state: list = []
    for e in entries:
        with contextlib.suppress(OSError):
            if e.is_file():
                est = e.stat()
                state.append([e.name, est.st_size, est.st_mtime_ns])
    return state


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: its path, its columns in file order and its cases in row order."""

    path: Path
    columns: tuple[str, ...]
    cases: tuple[Case, ...]

    @property
    def metadata_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c != "case_id" and c not in INPUT_COLUMNS)

    @property
    def input_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c in INPUT_COLUMNS)

    def __len__(self) -> int:
        return len(self.cases)

    def case(self, case_id: str) -> Case:
        for c in self.cases:
            if c.case_id == case_id:
                return c
        raise KeyError(case_id)


def parse_value(kind: str, text: str, *, base: Path, where: str):
    """Parse one input cell of type ``kind`` (see :class:`ColumnSpec`)."""
    if kind == "path":
        p = Path(os.path.expanduser(text))
        return p if p.is_absolute() else (base / p)
    if kind == "point":
        m = _POINT.match(text)
        if not m:
            raise ManifestError(f"manifest {where}: '{text}' is not a point; write it as x,y,z in LPS mm.")
        return tuple(float(g) for g in m.groups())
    if kind == "list":
        return tuple(p.strip() for p in re.split(r"[;|]", text) if p.strip())
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ManifestError(f"manifest {where}: '{text}' is not a whole number.") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ManifestError(f"manifest {where}: '{text}' is not a number.") from None
    return text


def _read_header(path: Path, required_columns: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    """The header (stripped, checked) and the data rows of the CSV at ``path``."""
    if not path.is_file():
        raise ManifestError(f"manifest {path} not found; give the CSV file listing the cases.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"manifest {path}: cannot be read as CSV ({exc}).") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ManifestError(f"manifest {path} is empty; it needs a header row with case_id and ct.")
    header = [h.strip() for h in rows[0]]
    seen_cols: set[str] = set()
    for n, h in enumerate(header, start=1):
        if not h:
            raise ManifestError(f"manifest {path}: header column {n} has no name.")
        if h in seen_cols:
            raise ManifestError(f"manifest {path}: column '{h}' appears twice in the header.")
        seen_cols.add(h)
    for col in ("case_id", "ct", *required_columns):
        options = col.split("|")
        if not any(o in seen_cols for o in options):
            raise ManifestError(
                f"manifest {path}: no column {' or '.join(repr(o) for o in options)}; "
                f"the header has {', '.join(header)}."
            )
    return header, rows[1:]


def _check_case_id(path: Path, line: int, case_id: str, first_row: dict[str, int]) -> None:
    if not case_id:
        raise ManifestError(f"manifest {path}: row {line}, column 'case_id' is empty.")
    if not _CASE_ID.match(case_id):
        raise ManifestError(
            f"manifest {path}: row {line}, column 'case_id': '{case_id}' must be letters, digits, "
            "'.', '_' or '-' (it names the case's output folder)."
        )
    if case_id in first_row:
        raise ManifestError(
            f"manifest {path}: row {line}, column 'case_id': '{case_id}' repeats row "
            f"{first_row[case_id]}; case ids must be unique."
        )


def _parse_case(path: Path, base: Path, header: list[str], line: int, raw: dict[str, str]) -> Case:
    """One data row (cells stripped) as a :class:`Case`; its ``case_id`` is already checked."""
    case_id = raw["case_id"]
    inputs: dict[str, object] = {}
    metadata: dict[str, str] = {}
    for h in header:
        if h == "case_id":
            continue
        value = raw[h]
        spec = INPUT_COLUMNS.get(h)
        if spec is None:
            metadata[h] = value
        elif value:
            where = f"{path}: row {line} (case {case_id}), column '{h}'"
            inputs[h] = parse_value(spec.kind, value, base=base, where=where)
    if "ct" not in inputs:
        raise ManifestError(f"manifest {path}: row {line} (case {case_id}), column 'ct' is empty.")
    return Case(case_id=case_id, row=line, inputs=inputs, metadata=metadata, raw=raw)


def read_manifest(path: str | os.PathLike, *, required_columns: tuple[str, ...] = ()) -> Manifest:
    """Read and check a manifest CSV.

    Parameters
    ----------
    path : path
        The CSV file (UTF-8, comma-separated, a header row). Relative paths in it are
        relative to its folder.
    required_columns : tuple of str
        Columns that must exist besides ``case_id`` and ``ct`` (what the chosen analyses
        need, e.g. ``("landmarks",)``); a column given as ``"a|b"`` needs one of them.

    Raises
    ------
    ManifestError
        The file is missing or empty; a required column is missing; a ``case_id`` is
        empty, unusable as a folder name or repeated; a cell has the wrong type.
    """
    path = Path(path)
    header, rows = _read_header(path, required_columns)
    base = path.resolve().parent
    cases: list[Case] = []
    first_row: dict[str, int] = {}
    for line, cells in enumerate(rows, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(header):
            raise ManifestError(
                f"manifest {path}: row {line} has {len(cells)} cells but the header has {len(header)}."
            )
        raw = {h: c.strip() for h, c in zip(header, cells)}
        _check_case_id(path, line, raw["case_id"], first_row)
        first_row[raw["case_id"]] = line
        cases.append(_parse_case(path, base, header, line, raw))
    if not cases:
        raise ManifestError(f"manifest {path} lists no cases (only a header).")
    return Manifest(path=path, columns=tuple(header), cases=tuple(cases))
