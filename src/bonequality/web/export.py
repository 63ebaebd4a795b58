"""A panel's "Export": the CLI's files in the folder the user names, under the CLI's folder rules.

Each analysis goes to its own subfolder, named after its CLI command (``corridors``,
``sacroplasty``, ``cement``, ``focal_defect``), written as ``bonequality <analysis> --out`` writes it
(:func:`bonequality.outputs.atomic_output_dir`): stamped with the analysis, never into or
inside an input, never over files bonequality did not write, and over an earlier export
only when the panel's "Replace earlier export" switch is on. Every subfolder is checked
before anything is written, so a refused export writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import InputFileError
from ..outputs import atomic_output_dir, prepare_output_dir

__all__ = ["REPLACE_SWITCH", "Exporter"]

#: The switch that allows replacing an earlier export, as messages name it.
REPLACE_SWITCH = "the 'Replace earlier export' switch"

#: One part of an export: (the analysis's CLI command, write(stage folder)).
Part = tuple[str, Callable[[Path], None]]


def subfolder(analysis: str) -> str:
    """The export subfolder of ``analysis`` (its CLI command): ``focal-defect`` -> ``focal_defect``."""
    return analysis.replace("-", "_")


class Exporter:
    """The export folder field (``<prefix>_export_dir``) and its switch (``<prefix>_export_replace``)."""

    def __init__(self, state, prefix: str):
        self.state, self.prefix = state, prefix
        state[self.key("dir")] = ""
        state[self.key("replace")] = False

    def key(self, name: str) -> str:
        return f"{self.prefix}_export_{name}"

    @property
    def folder(self) -> str:
        return str(self.state[self.key("dir")] or "").strip()

    def job(self, parts: Iterable[Part], inputs: Iterable) -> Callable:
        """The checked export as a :class:`~bonequality.web.jobs.JobRunner` compute function.

        Raises
        ------
        InputFileError
            No folder named.
        OutputFolderError
            A subfolder may not receive the results (nothing is written).
        """
        folder, parts = self.folder, list(parts)
        if not folder:
            raise InputFileError("export folder: type the folder to write the results to.")
        checks = {
            "inputs": [Path(p) for p in inputs if p and os.path.exists(p)],
            "overwrite": bool(self.state[self.key("replace")]),
            "option": "export folder",
            "overwrite_option": REPLACE_SWITCH,
        }
        for analysis, _write in parts:
            prepare_output_dir(Path(folder) / subfolder(analysis), analysis, **checks)

        def write_all(progress) -> list[str]:
            for i, (analysis, write) in enumerate(parts):
                progress(i / len(parts), f"writing {subfolder(analysis)}")
                with atomic_output_dir(Path(folder) / subfolder(analysis), analysis, **checks) as stage:
                    write(stage)
            return [subfolder(analysis) for analysis, _w in parts]

        return write_all

    def ui(self, export: Callable) -> None:
        """The folder field, its Export button and the replace switch."""
        from trame.widgets import html
        from trame.widgets import vuetify3 as v

        from .widgets import path_row

        html.Div("Export the CLI's files (summary.json, tables, report.png)", classes="text-subtitle-2 mt-3")
        path_row(self.key("dir"), "Export folder", [("Export", export)])
        v.VSwitch(
            v_model=(self.key("replace"),),
            label="Replace earlier export",
            color="primary",
            density="compact",
            hide_details=True,
            id=f"bq-{self.prefix}-export-replace",
        )
