"""Atomic output: nothing half-written is ever left behind.

Every writer in the library writes through these helpers. Files are written to a
temporary sibling and renamed into place only when all of them succeeded, so a failure
(bad input, a crash, Ctrl-C) leaves the output location exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_file", "atomic_files", "atomic_output_dir", "json_default", "to_json", "write_json"]


@contextlib.contextmanager
def atomic_files(*targets: str | os.PathLike) -> Iterator[list[Path]]:
    """Yield temporary paths for ``targets``; rename all into place on success.

    On any exception the temporaries are deleted and the targets are untouched.
    The temporaries keep each target's full name (extensions matter to SimpleITK),
    inside a hidden temporary folder next to the first target.
    """
    final = [Path(t) for t in targets]
    for f in final:
        f.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".bq-tmp-", dir=final[0].parent))
    temps = [tmpdir / f"{i}_{f.name}" for i, f in enumerate(final)]
    try:
        yield temps
        missing = [str(f) for f, t in zip(final, temps) if not t.exists()]
        if missing:
            raise RuntimeError(f"internal error: outputs not written: {', '.join(missing)}")
        for t, f in zip(temps, final):
            os.replace(t, f)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Single-file form of :func:`atomic_files`."""
    with atomic_files(target) as (tmp,):
        yield tmp


def json_default(obj: Any) -> Any:
    """JSON encoder fallback for numpy scalars/arrays and paths."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(data: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text: numpy types converted, NaN and infinities written as ``null``.

    Bare ``NaN`` is not JSON, and strict parsers (JavaScript, jq, many databases) reject it.
    """
    plain = json.loads(json.dumps(data, default=json_default, allow_nan=True))
    return json.dumps(_finite(plain), indent=indent, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented, strict JSON to ``path`` (not atomic by itself; see :func:`to_json`)."""
    Path(path).write_text(to_json(data) + "\n")


@contextlib.contextmanager
def atomic_output_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder; on success move its files into ``target``.

    ``target`` is created if needed; existing files there with the same names are
    replaced, others are kept. On any exception nothing in ``target`` changes and a
    ``target`` that did not exist before is not created.
    """
    target = Path(target)
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.bq-tmp-", dir=parent))
    try:
        yield stage
        target.mkdir(parents=True, exist_ok=True)
        for item in sorted(stage.rglob("*")):
            rel = item.relative_to(stage)
            dest = target / rel
            if item.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
