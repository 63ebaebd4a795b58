"""Typed reading of JSON input files: every error names the file and the field.

The readers of ``.mrk.json`` landmarks and screws (:mod:`bonequality.landmarks`,
:mod:`bonequality.cement.screws`) and of phantom inserts
(:mod:`bonequality.focal_defect.calibration`) take each value through
:class:`JsonFile`, so a file that parses as JSON but has the wrong shape (``null`` where
a list belongs, text where a number belongs, two coordinates instead of three) is refused
with one line such as ``landmarks file L.mrk.json: markups[0].controlPoints[2].position
must be 3 numbers (x, y, z in mm); got [1, 2]. Save the markups node from Slicer as
.mrk.json.`` and never with a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from .errors import InputFileError
from .validation import check_input_file, check_integer, check_number, show

__all__ = ["MISSING", "JsonFile"]

#: Marks a key that is absent (as opposed to present with the value ``null``).
MISSING = object()

#: A JSON input is a small document; anything larger is not the file the option asks for.
MAX_BYTES = 50_000_000


class JsonFile:
    """One JSON input file being read: where it is, what it is called, how to fix it.

    Parameters
    ----------
    path : path-like
        The file, as the user gave it (shown in messages).
    what : str
        What the file is (``"landmarks file"``, ``"phantom inserts"``).
    hint : str
        The sentence that ends every message (what to do about it).
    error : BoneQualityError subclass
        What to raise (default :class:`~bonequality.errors.InputFileError`).
    data : object
        The parsed document (set by :meth:`load`).
    """

    def __init__(
        self, path, what: str, *, hint: str = "", error: type[Exception] = InputFileError, data=None
    ):
        self.path = path
        self.what = what
        self.hint = hint
        self.error = error
        self.data = data

    @classmethod
    def load(
        cls, path: str | os.PathLike, what: str, *, expect: str, hint: str = "", error=InputFileError
    ) -> JsonFile:
        """Read and parse ``path``; a missing file, a folder or invalid JSON is one line.

        ``expect`` names what to give instead of a folder (``"the .mrk.json file"``).
        """
        p = check_input_file(path, what, expect=expect)
        doc = cls(path, what, hint=hint, error=error)
        try:
            if p.stat().st_size > MAX_BYTES:
                raise doc.fail(
                    "the file", f"is larger than {MAX_BYTES // 1_000_000} MB, so it is not {expect}"
                )
            doc.data = json.loads(p.read_bytes().decode("utf-8-sig"))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            text = " ".join(str(exc).split())[:120]
            raise error(
                f"{what} {path}: not valid JSON ({type(exc).__name__}: {text}). {hint}".rstrip()
            ) from None
        except OSError as exc:
            raise error(
                f"{what} {path}: cannot be read ({exc.strerror or exc}); give a readable file."
            ) from None
        return doc

    # ------------------------------------------------------------------ errors
    def name(self, where: str) -> str:
        """``"<what> <path>: <where>"``: how a field is called in messages."""
        return f"{self.what} {self.path}: {where}"

    def fail(self, where: str, problem: str) -> Exception:
        """The error for field ``where`` (to ``raise``): ``"<what> <path>: <where> <problem>. <hint>"``."""
        return self.error(f"{self.name(where)} {problem}. {self.hint}".rstrip())

    # ------------------------------------------------------------------ typed values
    def get(self, obj: dict, key: str, where: str, default=MISSING):
        """``obj[key]``; absent: ``default``, or an error when no default is given."""
        if key in obj:
            return obj[key]
        if default is MISSING:
            raise self.fail(where, f"has no '{key}'")
        return default

    def object(self, value, where: str) -> dict:
        """``value`` if it is a JSON object."""
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object {{...}}; got {show(value)}")
        return value

    def array(self, value, where: str, *, max_items: int = 100_000) -> list:
        """``value`` if it is a JSON list (of at most ``max_items``)."""
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list [...]; got {show(value)}")
        if len(value) > max_items:
            raise self.fail(where, f"has {len(value)} entries; at most {max_items} are read")
        return value

    def string(self, value, where: str, *, choices: Sequence[str] | None = None, casefold=False) -> str:
        """``value`` if it is text (one of ``choices``, ignoring case with ``casefold``)."""
        if not isinstance(value, str):
            raise self.fail(where, f"must be text; got {show(value)}")
        if choices is not None:
            match = [c for c in choices if (c.casefold() == value.casefold() if casefold else c == value)]
            if not match:
                raise self.fail(where, f"is {show(value)}; give one of {', '.join(map(repr, choices))}")
            return match[0]
        return value

    def number(self, value, where: str, **limits) -> float:
        """``value`` if it is a finite JSON number within ``limits`` (:func:`check_number`'s)."""
        try:
            return check_number(value, name=self.name(where), strict=True, error=self.error, **limits)
        except self.error as exc:
            raise self.error(f"{exc} {self.hint}".rstrip()) from None

    def integer(self, value, where: str, **limits) -> int:
        """``value`` if it is a whole JSON number within ``limits`` (:func:`check_integer`'s)."""
        try:
            return check_integer(value, name=self.name(where), strict=True, error=self.error, **limits)
        except self.error as exc:
            raise self.error(f"{exc} {self.hint}".rstrip()) from None

    def point(self, value, where: str) -> np.ndarray:
        """``value`` as a (3,) float array if it is a list of 3 finite numbers (x, y, z in mm)."""
        if (
            not isinstance(value, list)
            or len(value) != 3
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)
        ):
            raise self.fail(where, f"must be 3 numbers (x, y, z in mm); got {show(value)}")
        try:
            p = np.array([float(v) for v in value])
        except OverflowError:
            p = np.full(3, np.inf)
        if not np.all(np.isfinite(p)):
            raise self.fail(where, f"must be 3 finite numbers (x, y, z in mm); got {show(value)}")
        return p
