"""Argument parsing helpers shared by the command modules.

They turn text into numbers or tuples and nothing more: every range is checked by the
library (:mod:`bonequality.validation` and the analyses' inputs and options objects), so
the CLI, batch and the Slicer modules refuse the same value with the same message.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import OptionError
from ..validation import check_bone_threshold

__all__ = ["bone_threshold_hu", "point_lps", "two_floats"]


def point_lps(text: str) -> np.ndarray:
    """``"x,y,z"`` (LPS mm) to a (3,) array; argparse reports a bad value with exit 2."""
    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not x,y,z in mm (three numbers separated by commas)"
        ) from None
    if len(vals) != 3 or not np.all(np.isfinite(vals)):
        raise argparse.ArgumentTypeError(f"'{text}' is not x,y,z in mm (three finite numbers)")
    return np.array(vals)


def two_floats(text: str) -> tuple[float, float]:
    """``"a,b"`` to two floats."""
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not two numbers separated by a comma") from None
    return a, b


def bone_threshold_hu(text: str) -> float:
    """A bone threshold: the library's one range check, with its message, at parse time."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of HU") from None
    try:
        return check_bone_threshold(v)
    except OptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
