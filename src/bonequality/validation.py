"""Checks shared by every analysis's inputs object (one definition of each range).

Each check raises :class:`~bonequality.errors.OptionError` (or another
:class:`~bonequality.errors.BoneQualityError`) with a one-line message that names the
input and says what to give instead, so the CLI, batch, the Slicer modules and the
browser refuse the same bad value with the same error.
"""

from __future__ import annotations

import math

from .errors import NotCTError, OptionError
from .volume import Volume

__all__ = ["BONE_THRESHOLD_RANGE_HU", "check_bone_threshold", "check_ct", "check_number"]

#: A bone threshold lies above water and below the top of the CT range (HU).
BONE_THRESHOLD_RANGE_HU = (0.0, 3071.0)


def check_number(
    value,
    *,
    name: str,
    lo: float | None = None,
    hi: float | None = None,
    lo_inclusive: bool = True,
    hi_inclusive: bool = True,
    unit: str = "",
) -> float:
    """``value`` as a finite float within ``[lo, hi]`` (open ends where asked).

    Raises
    ------
    OptionError
        Not a number, not finite, or out of range; the message names ``name`` and the range.
    """
    suffix = f" {unit}" if unit else ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name}: '{value}' is not a number{(' of ' + unit) if unit else ''}") from None
    below = lo is not None and (v < lo or (v == lo and not lo_inclusive))
    above = hi is not None and (v > hi or (v == hi and not hi_inclusive))
    if not math.isfinite(v) or below or above:
        if lo is not None and hi is not None:
            rng = f" between {lo:g} and {hi:g}{suffix}"
        elif lo is not None:
            rng = f" {'at least' if lo_inclusive else 'above'} {lo:g}{suffix}"
        elif hi is not None:
            rng = f" {'at most' if hi_inclusive else 'below'} {hi:g}{suffix}"
        else:
            rng = ""
        raise OptionError(f"{name}: {value!r}{suffix} is out of range; give a finite value{rng}.")
    return v


def check_bone_threshold(value, *, name: str = "bone threshold") -> float | None:
    """A user bone threshold in HU (None = per-scan estimate), strictly inside 0-3071 HU."""
    if value is None:
        return None
    lo, hi = BONE_THRESHOLD_RANGE_HU
    return check_number(value, name=name, lo=lo, hi=hi, lo_inclusive=False, hi_inclusive=False, unit="HU")


def check_ct(volume: Volume, name: str) -> Volume:
    """``volume`` if it looks like a CT in HU, else :class:`~bonequality.errors.NotCTError`."""
    if not isinstance(volume, Volume):
        raise NotCTError(f"{name}: expected a CT image, got {type(volume).__name__}")
    volume.require_ct(name)
    return volume
