"""CLI subcommands, one module each.

A command module defines ``NAME`` (the subcommand), ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args, progress) -> dict`` (does the work, writes its
outputs atomically, returns a JSON-able summary that the CLI prints). It may also define
``demo(out_dir, progress) -> list[DemoSection]`` to contribute to ``bonequality demo``.

Commands raise :class:`~bonequality.errors.BoneQualityError` for bad input; only
:mod:`bonequality.cli` prints or exits.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Module names under ``bonequality.commands``, in ``--help`` and demo order.
COMMAND_MODULES = (
    "phantom",
    "corridors",
    "sacroplasty",
    "focal_defect",
    "cement",
    "batch",
    "phantom_cohort",
    "demo",
)


def load_commands() -> list[ModuleType]:
    """Import every command module; one that fails to import is an error, never skipped."""
    return [importlib.import_module(f"{__name__}.{name}") for name in COMMAND_MODULES]
