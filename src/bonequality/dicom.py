"""DICOM series folders: choose one series, refuse gaps and unreadable slices, then read it.

A folder is read as one series only when nothing is missing:

* **one series, or the one asked for.** With several series in the folder the message
  lists each (series instance UID, description, number of files) and asks for one
  (``series=`` here; ``--series UID`` or ``FOLDER/UID`` on the command line).
* **every DICOM file readable.** A file that looks like DICOM (``.dcm``, ``.ima``,
  ``.dicom``, or the ``DICM`` preamble) but that GDCM cannot parse (a truncated copy) is
  named; GDCM would silently leave it out. Other files (no ending, no preamble) are
  not taken for DICOM.
* **no missing slice.** Slice positions along the slice normal (image orientation and
  position patient) must be evenly spaced: a gap above :data:`GAP_TOLERANCE` times the
  median spacing, or two slices at one position, is refused naming the slices around it.

Rescale slope and intercept are applied by GDCM (the image is in HU).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputFileError

log = logging.getLogger(__name__)

__all__ = ["GAP_TOLERANCE", "list_series", "series_files"]

#: A slice step above this multiple of the median step (or below 1 - (this - 1)) is a gap.
GAP_TOLERANCE = 1.5

#: File endings of DICOM files (besides none at all).
DICOM_SUFFIXES = (".dcm", ".ima", ".dicom")


class _Quiet:
    """Silence ITK's global warnings (GDCM prints multi-line warnings our errors replace)."""

    def __enter__(self):
        self.shown = sitk.ProcessObject.GetGlobalWarningDisplay()
        sitk.ProcessObject.SetGlobalWarningDisplay(False)

    def __exit__(self, *exc):
        sitk.ProcessObject.SetGlobalWarningDisplay(self.shown)


def _header(path: str) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.ReadImageInformation()
    return reader


def _tag(reader: sitk.ImageFileReader, key: str) -> str:
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def list_series(folder: Path) -> dict[str, list[str]]:
    """``{series UID: sorted file names}`` of every series GDCM finds in ``folder``."""
    reader = sitk.ImageSeriesReader()
    with _Quiet():
        ids = reader.GetGDCMSeriesIDs(str(folder))
        return {s: list(reader.GetGDCMSeriesFileNames(str(folder), s)) for s in ids}


def _looks_like_dicom(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith(".") or name == "dicomdir":
        return False
    if name.endswith(DICOM_SUFFIXES):
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def _describe(folder: Path, series: dict[str, list[str]]) -> str:
    parts = []
    for uid, files in series.items():
        try:
            desc = _tag(_header(files[0]), "0008|103e") or "no description"
        except RuntimeError:
            desc = "no description"
        parts.append(f"'{uid or '(empty UID)'}' ({desc}, {len(files)} files)")
    return "; ".join(parts)


def _require_readable(folder: Path, label: str, series: dict[str, list[str]]) -> None:
    used = {os.path.realpath(f) for files in series.values() for f in files}
    bad = sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and os.path.realpath(p) not in used and _looks_like_dicom(p)
    )
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise InputFileError(
            f"{label}: {len(bad)} DICOM file(s) cannot be read ({shown}); they would be left out of the "
            "series. Copy them again from the scanner or PACS (or remove them if they do not belong)."
        )


def _require_no_gap(label: str, files: list[str]) -> None:
    """Refuse missing slices (uneven positions along the slice normal), naming the slices."""
    pos, names = [], []
    normal = None
    for f in files:
        try:
            r = _header(f)
        except RuntimeError:
            raise InputFileError(f"{label}: slice {Path(f).name} cannot be read; copy it again.") from None
        if normal is None:
            d = np.asarray(r.GetDirection(), dtype=float).reshape(3, 3)
            normal = d[:, 2]
        pos.append(float(np.dot(normal, r.GetOrigin())))
        names.append(Path(f).name)
    order = np.argsort(pos)
    z = np.asarray(pos)[order]
    steps = np.diff(z)
    median = float(np.median(steps))
    if median <= 0:
        raise InputFileError(f"{label}: the slices share one position; a 3-D series is needed.")
    for n, step in enumerate(steps):
        if step > GAP_TOLERANCE * median or step < (2 - GAP_TOLERANCE) * median:
            a, b = names[order[n]], names[order[n + 1]]
            what = "a gap" if step > median else "two slices closer than the others"
            raise InputFileError(
                f"{label}: {what} between slices {a} and {b} ({step:.2f} mm apart at {z[n]:.1f} and "
                f"{z[n + 1]:.1f} mm along the slice normal, the others {median:.2f} mm): a slice is missing "
                "or duplicated. Export the complete series again."
            )


def series_files(folder: Path, label: str, series: str | None = None) -> list[str]:
    """The checked files of one series of ``folder``, sorted by GDCM (module docstring).

    Parameters
    ----------
    folder : Path
    label : str
        How the folder is called in messages.
    series : str, optional
        Series instance UID; required when the folder holds several series.

    Raises
    ------
    InputFileError
        No series, an unknown or missing choice (the series are listed), an unreadable
        file, a single slice, or a missing slice.
    """
    found = list_series(folder)
    if not found:
        raise InputFileError(f"{label}: folder holds no DICOM series; point to a folder of CT slices.")
    if series is not None:
        if series not in found:
            raise InputFileError(
                f"{label}: no series with UID '{series}'; the folder holds {_describe(folder, found)}."
            )
        chosen = series
    elif len(found) > 1:
        raise InputFileError(
            f"{label} holds {len(found)} DICOM series: {_describe(folder, found)}; choose one with "
            "--series UID (or give FOLDER/UID)."
        )
    else:
        chosen = next(iter(found))
    _require_readable(folder, label, found)
    files = found[chosen]
    if len(files) < 2:
        raise InputFileError(f"{label}: the DICOM series has a single slice; a 3-D CT is needed.")
    _require_no_gap(label, files)
    return files


def read_series(files: list[str], label: str) -> sitk.Image:
    """Read checked series files; a slice that fails is named."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    with _Quiet():
        try:
            return reader.Execute()
        except RuntimeError as exc:
            for f in files:
                try:
                    sitk.ReadImage(f)
                except RuntimeError:
                    raise InputFileError(
                        f"{label}: slice {Path(f).name} cannot be read; copy it again."
                    ) from exc
            raise InputFileError(f"{label}: DICOM series cannot be read ({str(exc).strip()[:200]})") from exc
