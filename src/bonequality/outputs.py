"""Atomic output: nothing half-written is ever left behind.

Every writer in the library writes through these helpers. Files are written to a
temporary sibling and renamed into place only when all of them succeeded, so a failure
(bad input, a crash, Ctrl-C) leaves the output location exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_file", "atomic_files", "atomic_output_dir", "json_default", "write_json"]


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


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` (not atomic by itself)."""
    Path(path).write_text(json.dumps(data, indent=2, default=json_default, allow_nan=True) + "\n")


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
