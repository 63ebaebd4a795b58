"""What this project uses of Slicer, read from its source (module files, ``.ui`` files, ``bonequality.mrml``).

:func:`collect` walks the code with :mod:`ast` and returns one :class:`Use` per call,
attribute, property, signal, enum, keyword argument or class name that Slicer must
provide. Receivers are typed where the code says what they are: ``self.ui.<name>`` (the
``.ui`` file's widget class), ``slicer.app`` (``qSlicerApplication``), ``slicer.mrmlScene``,
``slicer.modules.<m>.logic()``, ``slicer.<Class>``, ``qt.<Class>()`` stored on ``self``,
``self.parent`` of a scripted module or widget, and methods inherited from Slicer's Python
classes; call chains follow the C++ return types. Other ``Obj.Method(...)`` calls (MRML
nodes passed as arguments) are checked by name. ``api`` answers ``cxx(class)`` and
``py(module)`` from a manifest (tests) or from Slicer's sources (``extract.py``).
"""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES = ("SacralBoneAnalysis", "FocalDefect", "CementVolume")
MODULE_FILES = (
    *(f"{m}/{m}.py" for m in MODULES),
    "CementVolume/CementVolumeLib/SegmentStatisticsPlugin.py",
    "src/SlicerBoneQuality.py",
    "Testing/SlicerWorkflowTest.py",
)
LIBRARY_GLOBS = ("src/bonequality/mrml/*.py", "src/bonequality/testing/*.py")
UI_FILES = tuple(f"{m}/Resources/UI/{m}.ui" for m in MODULES)

#: Slicer's Python modules the code imports -> their sources in the Slicer repository.
SLICER_PYTHON = {
    "slicer.util": "Base/Python/slicer/util.py",
    "slicer.ScriptedLoadableModule": "Base/Python/slicer/ScriptedLoadableModule.py",
    "slicer.i18n": "Base/Python/slicer/i18n.py",
    "slicer.packaging": "Base/Python/slicer/packaging.py",
    "slicer.parameterNodeWrapper": "Base/Python/slicer/parameterNodeWrapper/",
    "SegmentStatistics": "Modules/Scripted/SegmentStatistics/SegmentStatistics.py",
    "SegmentStatisticsPlugins": "Modules/Scripted/SegmentStatistics/SegmentStatisticsPlugins/",
    "SampleData": "Modules/Scripted/SampleData/SampleData.py",
}
#: ``slicer.<name>`` objects the application creates (Base/Python/slicer/slicerqt.py,
#: qSlicerCorePythonManager): the application and the scene.
ROOTS = {"app": "qSlicerApplication", "mrmlScene": "vtkMRMLScene"}
#: ``slicer.modules.<name>.logic()`` -> the logic class that module's C++ creates.
MODULE_LOGICS = {
    "plots": "vtkSlicerPlotsLogic",
    "colors": "vtkSlicerColorLogic",
    "markups": "vtkSlicerMarkupsLogic",
    "segmentations": "vtkSlicerSegmentationsModuleLogic",
}
#: ``self.parent`` of a ScriptedLoadableModule / ...Widget (qSlicerScriptedLoadableModule*.cxx).
PARENTS = {
    "ScriptedLoadableModule": "qSlicerScriptedLoadableModule",
    "ScriptedLoadableModuleWidget": "qSlicerScriptedLoadableModuleWidget",
}
#: Members PythonQt adds to every wrapped QObject (PythonQtInstanceWrapper / PythonQtSlot.cpp).
PYTHONQT_MEMBERS = {"connect", "disconnect", "className", "help", "delete"}
#: Members the parameterNodeWrapper decorator adds (wrapper.py checkedSetAttr).
PNW_MEMBERS = {"connectGui", "disconnectGui", "connectParametersToGui", "getValue", "setValue", "isCached"}
_CLASS_NAME = re.compile(r"^(vtkMRML|vtkSlicer|qSlicer|qMRML)\w+$")
_SIGNAL = re.compile(r"^\w+\([\w:<>,*& ]*\)$")


@dataclass(frozen=True)
class Use:
    kind: str
    where: str
    target: tuple


def _is_slicer_module(name: str) -> bool:
    return name in SLICER_PYTHON


class _Walker(ast.NodeVisitor):
    def __init__(self, rel: str, api, ui_classes: dict[str, str]):
        self.rel, self.api, self.ui = rel, api, ui_classes
        self.uses: list[Use] = []
        self.env: dict[str, tuple] = {}
        self.cls_stack: list[dict] = []

    # --------------------------------------------------------------- recording
    def add(self, kind: str, node, *target) -> None:
        self.uses.append(Use(kind, f"{self.rel}:{getattr(node, 'lineno', 0)}", tuple(target)))

    # --------------------------------------------------------------- imports
    def visit_Import(self, node):
        for a in node.names:
            top = a.name.split(".")[0]
            if top in ("slicer", "qt", "ctk", "vtk"):
                self.env[a.asname or top] = (top,)
            elif _is_slicer_module(a.name):
                self.env[a.asname or a.name] = ("pymod", a.name)
            else:
                self.env[a.asname or top] = ("ext",)

    def visit_ImportFrom(self, node):
        mod = node.module or ""
        for a in node.names:
            name = a.asname or a.name
            if _is_slicer_module(mod):
                self.add("py_name", node, mod, a.name)
                self.env[name] = ("pyobj", mod, a.name)
            elif mod == "slicer" and _is_slicer_module(f"slicer.{a.name}"):
                self.env[name] = ("pymod", f"slicer.{a.name}")
            elif mod == "slicer":
                self.add("cxx_class", node, a.name)
                self.env[name] = ("cxxcls", a.name)
            elif mod.split(".")[0] in ("vtk", "qt", "ctk"):
                self.env[name] = (
                    ("vtkcls", a.name) if mod.startswith("vtk") and a.name.startswith("vtk") else ("ext",)
                )
            else:
                self.env[name] = ("ext",)

    # --------------------------------------------------------------- classes
    def visit_ClassDef(self, node):
        bases = [self.resolve(b) for b in node.bases]
        slicer_bases = [b for b in bases if b and b[0] == "pyobj"]
        own = {i.name for i in node.body if isinstance(i, (ast.FunctionDef, ast.AsyncFunctionDef))}
        typed = {}
        for sub in ast.walk(node):
            stored = isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)
            if stored and isinstance(sub.value, ast.Name) and sub.value.id == "self":
                own.add(sub.attr)
            if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
                t = sub.targets[0]
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                    kind = self.resolve(sub.value)
                    if kind and kind[0] == "cxx":
                        typed[t.attr] = kind
        parent = next((PARENTS[b[2]] for b in slicer_bases if b[2] in PARENTS), None)
        self.cls_stack.append({"bases": slicer_bases, "own": own, "typed": typed, "parent": parent})
        for d in node.decorator_list:
            self.visit(d)
        for item in node.body:
            self.visit(item)
        self.cls_stack.pop()

    # --------------------------------------------------------------- local names
    def visit_FunctionDef(self, node):
        saved = dict(self.env)
        self.generic_visit(node)
        self.env = saved

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - ast.NodeVisitor's method name

    def visit_Assign(self, node):
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            kind = self.resolve(node.value)
            if kind and kind[0] in ("cxx", "vtkobj"):
                self.env[node.targets[0].id] = kind  # a local of a known class (function scope)
            else:
                self.env.pop(node.targets[0].id, None)

    # --------------------------------------------------------------- typing
    def _cxx_kind(self, cls: str, member: str) -> tuple | None:
        """The type of ``cls.member`` when it returns a known class pointer."""
        seen, todo = set(), [cls]
        while todo:
            c = todo.pop(0)
            if c in seen:
                continue
            seen.add(c)
            api = self.api.cxx(c)
            if api is None:
                continue
            if member in api["returns"]:
                ret = api["returns"][member]
                return ("cxx", ret) if self.api.cxx(ret) is not None else None
            todo += api["bases"]
        return None

    def resolve(self, node) -> tuple | None:
        if isinstance(node, ast.Name):
            return self.env.get(node.id)
        if isinstance(node, ast.Call):
            f = node.func
            kind = self.resolve(f)
            if kind and kind[0] in ("cxxcls", "qtcls"):
                return ("cxx", kind[1])
            if kind and kind[0] == "vtkcls":
                return ("vtkobj", kind[1])
            if kind and kind[0] == "module" and isinstance(f, ast.Attribute) and f.attr == "logic":
                return None
            if isinstance(f, ast.Attribute) and f.attr == "logic":
                owner = self.resolve(f.value)
                if owner and owner[0] == "module" and owner[1] in MODULE_LOGICS:
                    return ("cxx", MODULE_LOGICS[owner[1]])
            if isinstance(f, ast.Attribute):
                owner = self.resolve(f.value)
                if owner and owner[0] == "cxx":
                    return self._cxx_kind(owner[1], f.attr)
            return kind if kind and kind[0] == "ext" else None
        if not isinstance(node, ast.Attribute):
            return None
        v = node.value
        if isinstance(v, ast.Name) and v.id == "self" and self.cls_stack:
            ctx = self.cls_stack[-1]
            if node.attr == "ui":
                return ("ui",)
            if node.attr == "parent" and ctx["parent"]:
                return ("cxx", ctx["parent"])
            return ctx["typed"].get(node.attr)
        owner = self.resolve(v)
        if owner is None:
            return None
        tag = owner[0]
        if tag == "ext":
            return owner
        if tag == "slicer":
            if _is_slicer_module(f"slicer.{node.attr}"):
                return ("pymod", f"slicer.{node.attr}")
            if node.attr in ROOTS:
                return ("cxx", ROOTS[node.attr])
            if node.attr == "modules":
                return ("modules",)
            if _CLASS_NAME.match(node.attr) or node.attr.startswith("vtk"):
                return ("cxxcls", node.attr)
            return None
        if tag == "qt":
            return ("qtcls", node.attr)
        if tag == "vtk":
            return ("vtkcls", node.attr)
        if tag == "modules":
            return ("module", node.attr)
        if tag == "pymod":
            return ("pyobj", owner[1], node.attr)
        if tag == "ui":
            cls = self.ui.get(node.attr)
            return ("cxx", cls) if cls else None
        return None

    # --------------------------------------------------------------- uses
    def _member(self, node: ast.Attribute, mode: str, call=None) -> None:
        v = node.value
        is_super = isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "super"
        if ((isinstance(v, ast.Name) and v.id == "self") or is_super) and self.cls_stack:
            ctx = self.cls_stack[-1]
            if ctx["bases"] and (is_super or node.attr not in ctx["own"]) and mode != "set":
                bases = [f"{b[1]}:{b[2]}" for b in ctx["bases"]]
                self.add("py_member", node, tuple(bases), node.attr, call, "self")
            return
        owner = self.resolve(v)
        if owner is None:
            if mode == "call" and node.attr[:1].isupper() and not node.attr.isupper():
                self.add("vtk_method", node, node.attr)
            if node.attr in PNW_MEMBERS and mode == "call":
                self.add("pnw_member", node, node.attr)
            return
        tag = owner[0]
        if tag == "vtk":
            self.add("vtk_class", node, node.attr)
        elif tag == "qt" or (tag == "slicer" and (self.resolve(node) or ("",))[0] == "cxxcls"):
            self.add("cxx_class", node, node.attr)
        elif tag in ("cxx", "cxxcls", "qtcls"):
            if tag == "cxxcls" or tag == "qtcls":
                self.add("cxx_class", node, owner[1])
            self.add("cxx_member", node, owner[1], node.attr, mode)
        elif tag == "pymod":
            self.add("py_name", node, owner[1], node.attr)
            if call is not None:
                self.add("py_call", node, owner[1], node.attr, *call, False)
        elif tag == "pyobj":
            self.add("py_member", node, (f"{owner[1]}:{owner[2]}",), node.attr, call, "class")
        elif tag == "vtkcls":
            self.add("vtk_class", node, owner[1])
            self.add("vtk_member", node, owner[1], node.attr)
        elif tag == "vtkobj" and mode == "call":
            self.add("vtk_method", node, node.attr)

    @staticmethod
    def _call_info(node: ast.Call) -> tuple:
        star = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        npos = sum(1 for a in node.args if not isinstance(a, ast.Starred))
        return (npos, tuple(k.arg for k in node.keywords if k.arg), star)

    def visit_Call(self, node):
        f = node.func
        info = self._call_info(node)
        if isinstance(f, ast.Attribute):
            self._member(f, "call", info)
            if f.attr == "connect" and node.args and isinstance(node.args[0], ast.Constant):
                owner = self.resolve(f.value)
                sig = node.args[0].value
                if owner and owner[0] == "cxx" and isinstance(sig, str) and _SIGNAL.match(sig):
                    self.add("cxx_signal", node, owner[1], sig.replace(" ", ""))
            self.visit(f.value)
        elif isinstance(f, ast.Name):
            kind = self.env.get(f.id)
            if kind and kind[0] == "pyobj":
                self.add("py_call", node, kind[1], kind[2], *info, False)
            elif kind and kind[0] == "cxxcls":
                self.add("cxx_class", node, kind[1])
        for a in (*node.args, *(k.value for k in node.keywords)):
            self.visit(a)

    def visit_Attribute(self, node):
        self._member(node, "set" if isinstance(node.ctx, ast.Store) else "get")
        self.visit(node.value)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and _CLASS_NAME.match(node.value):
            self.add("cxx_class", node, node.value)


def _read(rel: str, overrides: dict[str, str]) -> str:
    return overrides[rel] if rel in overrides else (REPO / rel).read_text(encoding="utf-8")


def _ui_uses(rel: str, text: str) -> tuple[list[Use], dict[str, str]]:
    root = ET.fromstring(text)
    uses, classes = [], {}
    for w in root.iter("widget"):
        cls, name = w.get("class"), w.get("name")
        classes[name] = cls
        where = f"{rel}:{name}"
        uses.append(Use("cxx_class", where, (cls,)))
        for prop in w.findall("property"):
            if prop.get("stdset") == "0":  # a dynamic property (SlicerParameterName), not a Q_PROPERTY
                if prop.get("name") == "SlicerParameterName":
                    uses.append(Use("ui_connector", where, (cls,)))
                continue
            uses.append(Use("cxx_member", where, (cls, prop.get("name"), "set")))
            value = prop.findtext("enum") or ""
            if "::" in value and not value.startswith("Qt::"):  # Designer writes Class::Value
                owner, _, member = value.partition("::")
                uses.append(Use("cxx_member", where, (owner, member, "get")))
    for c in root.iter("connection"):
        sender, receiver = c.findtext("sender"), c.findtext("receiver")
        where = f"{rel}:{sender}->{receiver}"
        uses.append(Use("cxx_signal", where, (classes.get(sender, sender), c.findtext("signal"))))
        uses.append(Use("cxx_slot", where, (classes.get(receiver, receiver), c.findtext("slot"))))
    return uses, classes


def project_files() -> list[str]:
    files = [f for f in MODULE_FILES if (REPO / f).is_file()]
    for pattern in LIBRARY_GLOBS:
        files += sorted(str(p.relative_to(REPO)) for p in REPO.glob(pattern))
    return files


def collect(api, overrides: dict[str, str] | None = None) -> list[Use]:
    """Every use of Slicer's API in the project (see the module docstring).

    ``overrides`` maps repository-relative paths to source text used instead of the file's
    (the tests seed mistakes this way).
    """
    overrides = overrides or {}
    uses, ui_of = [], {}
    for rel in UI_FILES:
        found, classes = _ui_uses(rel, _read(rel, overrides))
        uses += found
        ui_of[rel.split("/")[0]] = classes
    for rel in project_files():
        walker = _Walker(rel, api, ui_of.get(rel.split("/")[0], {}))
        walker.visit(ast.parse(_read(rel, overrides)))
        uses += walker.uses
    return uses
