"""CLI subcommands, one module each.

A command module defines ``NAME`` (the subcommand), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args, progress) -> dict`` (does the work, writes its
outputs atomically, returns a JSON-able summary that the CLI prints). It may also define
``demo(out_dir, progress) -> list[DemoSection]`` to contribute to ``bonequality demo``.

A command whose ``--out`` is a results folder sets ``OUTPUT_FOLDER = True``: the CLI then
adds ``--overwrite`` and checks the folder before the command runs
(:func:`check_output_dir`), and the command writes it with :func:`output_dir`; the rules
are :func:`bonequality.outputs.prepare_output_dir`'s.

Commands raise :class:`~bonequality.errors.BoneQualityError` for bad input; only
:mod:`bonequality.cli` prints or exits.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from ..outputs import atomic_output_dir, prepare_output_dir

__all__ = ["COMMAND_MODULES", "check_output_dir", "input_paths", "load_commands", "output_dir"]

#: Module names under ``bonequality.commands``, in ``--help`` and demo order.
COMMAND_MODULES = (
    "phantom",
    "corridors",
    "sacroplasty",
    "focal_defect",
    "cement",
    "batch",
    "phantom_cohort",
    "view",
    "demo",
)


def load_commands() -> list[ModuleType]:
    """Import every command module; one that fails to import is an error, never skipped."""
    return [importlib.import_module(f"{__name__}.{name}") for name in COMMAND_MODULES]


def input_paths(args) -> list[Path]:
    """Every existing file or folder named by an argument other than ``--out``: the run's inputs."""
    found = []
    for key, value in vars(args).items():
        if key in ("out", "command") or key.startswith("_"):
            continue
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(v, (str, os.PathLike)) and str(v).strip() and os.path.exists(v):
                found.append(Path(v))
    return found


def check_output_dir(args) -> Path:
    """Refuse a bad ``--out`` before the work starts (the same check runs again when writing)."""
    return prepare_output_dir(
        args.out, args.command, inputs=input_paths(args), overwrite=getattr(args, "overwrite", False)
    )


def output_dir(args, analysis: str):
    """:func:`~bonequality.outputs.atomic_output_dir` for ``args.out``, its inputs and ``--overwrite``."""
    return atomic_output_dir(
        args.out, analysis, inputs=input_paths(args), overwrite=getattr(args, "overwrite", False)
    )
