"""Checks shared by every analysis's inputs object (one definition of each range).

Each check raises :class:`~bonequality.errors.OptionError` (or another
:class:`~bonequality.errors.BoneQualityError`) with a one-line message that names the
input and says what to give instead, so the CLI, batch, the Slicer modules and the
browser refuse the same bad value with the same error.

"Inside the image" has one definition, :func:`inside_image`: a point lies inside when its
continuous voxel index ``(i, j, k)`` is in ``[-0.5, n - 0.5)`` along every axis, the
half-open extent of the voxel edges that ITK uses too (``ImageRegion::IsInside`` on a
continuous index). Every nearest-voxel rule (``floor(index + 0.5)``, ``np.round``) then
gives an index in ``0 ... n - 1``, and the trilinear sampler
(:meth:`bonequality.volume.Volume.sample`) reads real voxels; a point on the last voxel's
outer face is outside.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable, Sequence
from numbers import Integral, Real
from pathlib import Path

import numpy as np

from .errors import InputFileError, NotCTError, OptionError, OutsideImageError
from .volume import Volume

__all__ = [
    "BONE_THRESHOLD_RANGE_HU",
    "HU_RANGE",
    "SCREW_DIAMETER_RANGE_MM",
    "check_bone_threshold",
    "check_ct",
    "check_input_file",
    "check_inside",
    "check_integer",
    "check_number",
    "check_screw_diameter",
    "closest_name",
    "inside_image",
    "show",
]

#: A bone threshold lies above water and below the top of the CT range (HU).
BONE_THRESHOLD_RANGE_HU = (0.0, 3071.0)
#: Range of every HU value a user gives (air to beyond the top of the standard CT scale).
HU_RANGE = (-1024.0, 4000.0)
#: Screw diameters, open at 0 (mm); seed 002's screws are 6.5-8 mm.
SCREW_DIAMETER_RANGE_MM = (0.0, 20.0)


def show(value, limit: int = 60) -> str:
    """``repr(value)`` on one line, shortened to about ``limit`` characters (for messages)."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _g(v) -> str:
    """A bound as text: whole numbers in full (``4294967295``), others ``:g``."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e16 else f"{v:g}"


def _range_text(lo, hi, lo_inclusive, hi_inclusive, suffix) -> str:
    if lo is not None and hi is not None:
        excluded = [_g(v) for v, inclusive in ((lo, lo_inclusive), (hi, hi_inclusive)) if not inclusive]
        ends = f", excluding {' and '.join(excluded)}" if excluded else ""
        return f" between {_g(lo)} and {_g(hi)}{suffix}{ends}"
    if lo is not None:
        return f" {'at least' if lo_inclusive else 'above'} {_g(lo)}{suffix}"
    if hi is not None:
        return f" {'at most' if hi_inclusive else 'below'} {_g(hi)}{suffix}"
    return ""


def check_number(
    value,
    *,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_inclusive: bool = True,
    hi_inclusive: bool = True,
    unit: str = "",
    strict: bool = False,
    error: type[Exception] = OptionError,
) -> float:
    """``value`` as a finite float within ``[lo, hi]`` (open ends where asked).

    Parameters
    ----------
    strict : bool
        Accept only real numbers (int, float, numpy numbers; not bool, not text), as a
        field of a JSON file must be; otherwise anything ``float()`` reads (text from a
        command line or a table cell).
    error : BoneQualityError subclass
        What to raise (a file field raises :class:`~bonequality.errors.InputFileError`).

    Raises
    ------
    OptionError (or ``error``)
        Not a number, not finite, or out of range; the message names ``name`` and the range.
    """
    suffix = f" {unit}" if unit else ""
    rng = _range_text(lo, hi, lo_inclusive, hi_inclusive, suffix)
    if isinstance(value, (bool, np.bool_)) or (strict and not isinstance(value, (Real, np.number))):
        raise error(f"{name} must be a number{rng}; got {show(value)}.")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{name}: {show(value)} is not a number{rng}.") from None
    below = lo is not None and (v < lo or (v == lo and not lo_inclusive))
    above = hi is not None and (v > hi or (v == hi and not hi_inclusive))
    if not math.isfinite(v) or below or above:
        raise error(f"{name}: {show(value)}{suffix} is out of range; give a finite value{rng}.")
    return v


def check_integer(
    value,
    *,
    name: str,
    lo: int | None = None,
    hi: int | None = None,
    strict: bool = False,
    error: type[Exception] = OptionError,
) -> int:
    """``value`` as a whole number within ``[lo, hi]`` (``3.0`` passes, ``3.5`` and ``True`` do not)."""
    rng = _range_text(lo, hi, True, True, "")
    if isinstance(value, (bool, np.bool_)) or (strict and not isinstance(value, (Integral, np.integer))):
        raise error(f"{name} must be a whole number{rng}; got {show(value)}.")
    if isinstance(value, (Integral, np.integer)):
        v = int(value)
    else:
        f = check_number(value, name=name, lo=lo, hi=hi, error=error)
        if not f.is_integer():
            raise error(f"{name}: {show(value)} is not a whole number; give one{rng}.")
        v = int(f)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise error(f"{name}: {show(value)} is out of range; give a whole number{rng}.")
    return v


def check_bone_threshold(value, *, name: str = "bone threshold") -> float | None:
    """A user bone threshold in HU (None = per-scan estimate), strictly inside 0-3071 HU."""
    if value is None:
        return None
    lo, hi = BONE_THRESHOLD_RANGE_HU
    return check_number(value, name=name, lo=lo, hi=hi, lo_inclusive=False, hi_inclusive=False, unit="HU")


def check_screw_diameter(value, *, name: str = "screw diameter", **kw) -> float:
    """A screw diameter in mm, in (0, 20] (:data:`SCREW_DIAMETER_RANGE_MM`)."""
    lo, hi = SCREW_DIAMETER_RANGE_MM
    return check_number(value, name=name, lo=lo, hi=hi, lo_inclusive=False, unit="mm", **kw)


def check_ct(volume: Volume, name: str) -> Volume:
    """``volume`` if it looks like a CT in HU, else :class:`~bonequality.errors.NotCTError`."""
    if not isinstance(volume, Volume):
        raise NotCTError(f"{name}: expected a CT image, got {type(volume).__name__}")
    volume.require_ct(name)
    return volume


# ---------------------------------------------------------------------------- inside the image
def inside_image(volume: Volume, points) -> np.ndarray:
    """Whether LPS points ``(..., 3)`` lie inside ``volume`` (the module's one definition).

    Continuous index in ``[-0.5, n - 0.5)`` on every axis; non-finite or astronomically
    far points are outside (no overflow warning).
    """
    pts = np.asarray(points, dtype=float)
    upper = np.asarray(volume.shape_ijk, dtype=float) - 0.5
    with np.errstate(over="ignore", invalid="ignore"):
        idx = volume.physical_to_index(pts)
        ok = (idx >= -0.5) & (idx < upper)
    return np.all(ok, axis=-1) & np.all(np.isfinite(pts), axis=-1)


def check_inside(
    volume: Volume, points, names: Sequence[str], *, what: str = "point", source: str = ""
) -> None:
    """Raise :class:`~bonequality.errors.OutsideImageError` naming every point outside ``volume``.

    Parameters
    ----------
    points : (n, 3) or (3,) float, mm, LPS
    names : sequence of str
        One name per point (the landmark labels, ``"seed"``, ...).
    what : str
        What the points are (``"landmark"``, ``"seed point"``), for the message.
    source : str
        Where they come from (a file name), put in front of the message.
    """
    pts = np.atleast_2d(np.asarray(points, dtype=float))
    names = list(names)
    bad = [n for n, ok in zip(names, inside_image(volume, pts)) if not ok]
    if bad:
        lo, hi = volume.physical_bounds()
        lead = f"{source}: " if source else ""
        raise OutsideImageError(
            f"{lead}{what}(s) outside the image: {', '.join(bad)}. The image spans LPS "
            f"{np.round(lo, 1).tolist()} to {np.round(hi, 1).tolist()} mm (voxel edges; the far "
            "faces excluded); move them onto the anatomy.",
            bad,
        )


# ---------------------------------------------------------------------------- files and names
def check_input_file(path: str | os.PathLike, what: str, *, expect: str = "file") -> Path:
    """``path`` as an existing, readable file; else one line saying what to give.

    Parameters
    ----------
    what : str
        How the input is called (``"--landmarks"``, ``"screws file"``).
    expect : str
        What to give instead of a folder (``"the .mrk.json file"``).

    Raises
    ------
    InputFileError
        Missing, a folder, or unreadable.
    """
    p = Path(path)
    if not str(path).strip():
        raise InputFileError(f"{what}: empty file name; give {expect}.")
    if p.is_dir():
        raise InputFileError(f"{what} {p} is a folder; give {expect}.")
    if not p.exists():
        raise InputFileError(f"{what} {p}: not found; check the path.")
    if not os.access(p, os.R_OK):
        raise InputFileError(f"{what} {p}: cannot be read (permission denied); give a readable file.")
    return p


def closest_name(name: str, choices: Iterable[str]) -> str | None:
    """The choice ``name`` was probably meant to be (for "did you mean 'X'?"), else None.

    A choice equal to ``name`` up to case and surrounding spaces wins; otherwise the
    closest by :func:`difflib.get_close_matches` (similarity 0.8 or more).
    """
    if not isinstance(name, str):
        return None
    others = [c for c in choices if isinstance(c, str) and c != name]
    key = name.strip().casefold()
    for c in others:
        if c.strip().casefold() == key:
            return c
    close = difflib.get_close_matches(name.strip(), others, n=1, cutoff=0.8)
    return close[0] if close else None
