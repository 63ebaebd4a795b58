"""What the mask-driven panels (CementVolume, FocalDefect) share: body source, Apply, export.

Both panels take the vertebral body from a mask node (a whole-vertebra or a body mask,
loaded from the path in the panel), run one library analysis in a worker thread and
write its files with the result's own ``write`` (the CLI's files). Errors become a
message in the page; the previous results stay.
"""

from __future__ import annotations

from ..errors import InputFileError
from ..mrml.logic_cement import body_source_from_nodes
from .export import Exporter
from .tables import empty_table

__all__ = ["SOURCES", "MaskPanel", "mask_node_for"]

#: Body sources offered (the library's mask kinds; a seed point needs the Slicer module).
SOURCES = {"vertebra mask": "vertebra", "body mask": "body"}


def mask_node_for(web_scene, role: str, path: str):
    """The mask node of ``role``, (re)loaded when the path field names another file."""
    path = str(path or "").strip()
    if not path:
        node = web_scene.mask_nodes.get(role)
        if node is None:
            raise InputFileError(f"{role} mask: type the path of a label map or .seg.nrrd file.")
        return node
    if web_scene.mask_paths.get(role) != path or role not in web_scene.mask_nodes:
        web_scene.load_mask(role, path)
    return web_scene.mask_nodes[role]


class MaskPanel:
    """Base of a panel whose analysis takes the vertebral body from a mask.

    Subclasses set :attr:`PREFIX` (state keys ``<PREFIX>_...``), :attr:`ANALYSIS` (the
    CLI command: the export's subfolder and stamp), :attr:`TABLES` (state keys of the
    result tables) and :attr:`WHAT` (the analysis, for messages), and implement
    ``_inputs()``, ``_compute(inputs, progress)`` and ``_apply(result, inputs)``.
    """

    PREFIX = ""
    ANALYSIS = ""
    TABLES: tuple[str, ...] = ("table",)
    WHAT = "the analysis"

    def __init__(self, server, web_scene, views, jobs, *, source: str = "vertebra mask"):
        self.server, self.state = server, server.state
        self.web_scene, self.views, self.jobs = web_scene, views, jobs
        self.result = None
        self.inputs = None
        self.state[self.key("source")] = source
        self.state[self.key("mask_path")] = web_scene.mask_paths.get(SOURCES[source], "")
        self.exporter = Exporter(self.state, self.PREFIX)
        for name in self.TABLES:
            self.state[self.key(name)] = empty_table()

    def key(self, name: str) -> str:
        """The state key ``<PREFIX>_<name>``."""
        return f"{self.PREFIX}_{name}"

    def ct_changed(self) -> None:
        """A new CT: forget the results and the mask path of the previous one."""
        self.result = self.inputs = None
        with self.state:
            for name in self.TABLES:
                self.state[self.key(name)] = empty_table()
            self.state[self.key("mask_path")] = ""
            self._clear()

    def _clear(self) -> None:
        """Reset the panel's other result state (subclasses)."""

    def body_source(self):
        """The role of the mask, its node's body source on the CT (the library's ``BodySource``)."""
        source = self.state[self.key("source")]
        if source not in SOURCES:
            raise InputFileError(f"vertebral body source '{source}': choose one of {', '.join(SOURCES)}.")
        role = SOURCES[source]
        node = mask_node_for(self.web_scene, role, self.state[self.key("mask_path")])
        return role, body_source_from_nodes(self.web_scene.ct_volume, source, node, "", 0, None)

    def sources(self, role: str) -> dict:
        """The input files, as the CLI records them in ``summary.json``."""
        ws = self.web_scene
        return {"ct": ws.ct_path, f"{role}_mask": ws.mask_paths.get(role, "")}

    async def run(self) -> None:
        """ "Apply": the analysis in a worker thread; result nodes and tables when it succeeds."""
        try:
            inputs = self._inputs()
        except Exception as exc:  # a message in the page; previous results stay
            self.jobs.show_error(exc)
            return

        def apply(result):
            self._apply(result, inputs)
            self.result, self.inputs = result, inputs

        await self.jobs.run(lambda progress: self._compute(inputs, progress), apply, label=self.WHAT)

    async def export(self) -> None:
        """Write the CLI's files (``summary.json``, tables, ``report.png``) to the analysis's subfolder."""
        result, inputs = self.result, self.inputs
        try:
            if result is None:
                raise InputFileError(f"export: run {self.WHAT} first.")
            part = (self.ANALYSIS, lambda stage: result.write(stage, inputs))
            job = self.exporter.job([part], self.web_scene.input_paths())
        except Exception as exc:  # a message in the page
            self.jobs.show_error(exc)
            return
        await self.jobs.run(job, lambda _written: None, label=f"export to {self.exporter.folder}")

    def source_ui(self) -> None:
        """The body source selector and the mask path row with "Apply"."""
        from trame.widgets import vuetify3 as v

        from .widgets import path_row

        v.VSelect(
            v_model=(self.key("source"),),
            items=(f"{self.PREFIX}_sources", list(SOURCES)),
            label="Vertebral body from",
            density="compact",
            hide_details=True,
            classes="mb-2",
            id=f"bq-{self.PREFIX}-source",
        )
        path_row(self.key("mask_path"), "Mask (label map or .seg.nrrd)", [("Apply", self.run)])
