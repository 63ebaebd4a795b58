"""Check the project's uses of Slicer (:mod:`usage`) against the manifest, one Slicer version at a time.

Rules (PythonQt and VTK's Python wrapping decide what Python can reach):

* a property set from Python or a ``.ui`` file must be a writable ``Q_PROPERTY``;
* on Slicer's and CTK's Qt classes a call must be a slot or ``Q_INVOKABLE`` (PythonQt wraps
  nothing else of them); on Qt's own classes any public method (PythonQt_QtAll wraps them);
  on VTK and MRML classes any public method, including the macro accessors;
* enums on Slicer's Qt classes must be registered with ``Q_ENUMS``/``Q_ENUM``;
* ``connect("signal(args)")`` and ``.ui`` connections need that normalized signature;
* calls to Slicer's Python functions and methods must bind to their signature;
* MRML methods called on nodes of unknown type must exist in some Slicer class of that
  version; VTK's own classes, which are not in Slicer's sources, are checked live against the
  installed ``vtk`` package (the one ``slicer-core`` pins).
"""

from __future__ import annotations

import importlib
import json
import unittest
from pathlib import Path

from . import pyapi, usage

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.json"
#: VTK classes whose members the code reaches through MRML objects (checked live).
VTK_BASES = (
    "vtkObject",
    "vtkCommand",
    "vtkDataObject",
    "vtkImageData",
    "vtkPolyData",
    "vtkPointData",
    "vtkDataArray",
    "vtkTable",
    "vtkMatrix4x4",
    "vtkAlgorithm",
    "vtkTubeFilter",
    "vtkLineSource",
    "vtkStringArray",
    "vtkBitArray",
    "vtkCollection",
)


class StaleManifestError(Exception):
    """The manifest was not made for the code as it is: re-run ``extract.py``."""


def load_manifest(path: Path = MANIFEST_PATH) -> dict:
    return json.loads(path.read_text())


class ManifestApi:
    """The ``api`` of :func:`usage.collect` for one Slicer version of the manifest."""

    def __init__(self, manifest: dict, tag: str):
        self.tag = tag
        self.version = manifest["versions"][tag]
        shared = manifest.get("shared", {})
        self.classes = {**manifest["qt"]["classes"], **shared.get("classes", {}), **self.version["classes"]}
        self.python = {**shared.get("python", {}), **self.version["python"]}

    def cxx(self, name: str) -> dict | None:
        return self.classes.get(name)

    def py(self, module: str) -> dict | None:
        return self.python.get(module)


def _vtk():
    try:
        return importlib.import_module("vtk")
    except ImportError:
        return None


class Checker:
    def __init__(self, manifest: dict, tag: str):
        self.api = ManifestApi(manifest, tag)
        self.tag = tag
        self.vtk = _vtk()

    # ------------------------------------------------------------ C++ classes
    def chain(self, name: str) -> list[dict]:
        out, todo, seen = [], [name], set()
        while todo:
            c = todo.pop(0)
            if c in seen:
                continue
            seen.add(c)
            api = self.api.cxx(c)
            if api is None:
                out.append({"name": c, "missing": True})
                continue
            out.append(api)
            todo += api["bases"]
        return out

    def _class_known(self, name: str) -> str | None:
        if self.api.cxx(name) is not None:
            return None
        if name in self.api.version["absent_classes"]:
            return f"Slicer {self.tag} has no class {name}"
        raise StaleManifestError(f"class {name} is not in the manifest")

    def _members(self, name: str) -> dict:
        """What Python can reach on ``name``: properties, callables, signals, enums; and VTK bases."""
        props, calls, signals, enums, outside = {}, set(), set(), set(), []
        for api in self.chain(name):
            if api.get("missing"):
                outside.append(api["name"])
                continue
            qt_own = api["header"].startswith("Qt:")
            is_vtk = api["name"].startswith("vtk")
            for p, writable in api["properties"].items():
                props[p] = props.get(p, False) or writable
            calls |= {s.split("(")[0] for s in api["slots"]} | set(api["invokables"])
            if qt_own or is_vtk:
                calls |= set(api["methods"])
            signals |= set(api["signals"])
            for enum, values in api["enums"].items():
                if qt_own or is_vtk or enum in api["q_enums"]:
                    enums |= set(values)
        return {"props": props, "calls": calls, "signals": signals, "enums": enums, "outside": outside}

    def _live_vtk(self, classes, member: str) -> bool:
        if self.vtk is None:
            return True  # nothing to check against here; the manifest part was checked
        return any(hasattr(getattr(self.vtk, c, None), member) for c in classes)

    def cxx_member(self, cls: str, member: str, mode: str) -> str | None:
        if (problem := self._class_known(cls)) is not None:
            return problem
        m = self._members(cls)
        qobject = not cls.startswith("vtk")
        if mode == "set":
            if member in m["props"]:
                return None if m["props"][member] else f"{cls}.{member} is a read-only property"
            return f"{cls} has no writable property {member}"
        if member in m["props"] and mode == "get":
            return None
        if member in m["calls"] or member in m["enums"]:
            return None
        if qobject and member in usage.PYTHONQT_MEMBERS:
            return None
        if mode == "get" and any(s.split("(")[0] == member for s in m["signals"]):
            return None
        if m["outside"] and self._live_vtk(m["outside"], member):
            return None
        what = "slot or Q_INVOKABLE method" if qobject and mode == "call" else "member"
        return f"{cls} has no {what} {member}"

    def cxx_signal(self, cls: str, sig: str, slot: bool = False) -> str | None:
        if (problem := self._class_known(cls)) is not None:
            return problem
        sigs = set()
        for api in self.chain(cls):
            if not api.get("missing"):
                sigs |= set(api["slots" if slot else "signals"])
        normalized = sig.replace(" ", "").replace("const", "").replace("&", "")
        if normalized in sigs:
            return None
        return f"{cls} has no {'slot' if slot else 'signal'} {sig}"

    # ------------------------------------------------------------ Python
    def _module(self, module: str) -> dict:
        mod = self.api.py(module)
        if mod is None:
            raise StaleManifestError(f"Python module {module} is not in the manifest")
        return mod

    def py_name(self, module: str, name: str) -> str | None:
        return None if name in self._module(module)["public"] else f"{module} has no {name}"

    def py_call(self, module, name, npos, keywords, star, bound) -> str | None:
        mod = self._module(module)
        if name in mod["functions"]:
            why = pyapi.bind(mod["functions"][name], npos, list(keywords), bound=False, star=star)
            return None if why is None else f"{module}.{name}(): {why}"
        if name in mod["classes"]:
            init = self._py_method(mod, [name], "__init__")
            if init is None:
                return None
            why = pyapi.bind(init, npos, list(keywords), bound=True, star=star)
            return None if why is None else f"{module}.{name}(): {why}"
        if name in mod["public"]:
            raise StaleManifestError(f"{module}.{name} is not in the manifest")
        return f"{module} has no {name}"

    def _py_method(self, mod: dict, classes: list[str], member: str):
        """Signature (dict), True for a non-method attribute, or None when not found."""
        todo = list(classes)
        while todo:
            cls = mod["classes"].get(todo.pop(0))
            if cls is None:
                continue
            if member in cls["methods"]:
                return cls["methods"][member]
            if member in cls["attributes"]:
                return True
            todo += cls["bases"]
        return None

    def py_member(self, bases, member, call, via) -> str | None:
        outside = []
        for qual in bases:
            module, cls = qual.split(":")
            mod = self._module(module)
            found = self._py_method(mod, [cls], member)
            if found is True:
                return None
            if isinstance(found, dict):
                if call is None:
                    return None
                npos, keywords, star = call
                bound = via == "self" or found["static"] or found["classmethod"]
                why = pyapi.bind(found, npos, list(keywords), bound=bound, star=star)
                return None if why is None else f"{cls}.{member}(): {why}"
            outside += [b for b in mod["classes"].get(cls, {}).get("bases", []) if b not in mod["classes"]]
        if "TestCase" in outside and hasattr(unittest.TestCase, member):
            return None
        return f"{', '.join(b.split(':')[1] for b in bases)} has no member {member}"

    # ------------------------------------------------------------ dispatch
    def check(self, use: usage.Use) -> str | None:
        t, v = use.target, self.api.version
        if use.kind == "cxx_class":
            return self._class_known(t[0])
        if use.kind == "cxx_member":
            return self.cxx_member(*t)
        if use.kind in ("cxx_signal", "cxx_slot"):
            return self.cxx_signal(t[0], t[1], slot=use.kind == "cxx_slot")
        if use.kind == "ui_connector":
            ok = any(t[0] in widgets for widgets in v["gui_connectors"].values())
            return None if ok else f"no parameterNodeWrapper GUI connector takes a {t[0]}"
        if use.kind == "py_name":
            return self.py_name(*t)
        if use.kind == "py_call":
            return self.py_call(*t)
        if use.kind == "py_member":
            return self.py_member(*t)
        if use.kind == "pnw_member":
            ok = t[0] in v["parameter_node_wrapper_members"]
            return None if ok else f"parameterNodeWrapper has no {t[0]}"
        if use.kind == "vtk_method":
            if t[0] not in v["mrml_methods"]:
                raise StaleManifestError(f"method {t[0]} is not in the manifest")
            if v["mrml_methods"][t[0]] or self._live_vtk(VTK_BASES, t[0]):
                return None
            return f"no MRML or VTK class has a method {t[0]}"
        if use.kind == "vtk_class":
            return None if self.vtk is None or hasattr(self.vtk, t[0]) else f"vtk has no {t[0]}"
        if use.kind == "vtk_member":
            return None if self._live_vtk([t[0]], t[1]) else f"{t[0]} has no {t[1]}"
        raise ValueError(use.kind)


def problems(manifest: dict, tag: str, uses: list[usage.Use]) -> list[str]:
    """``where: problem`` for every use that Slicer ``tag`` does not provide (sorted, unique)."""
    checker = Checker(manifest, tag)
    out = set()
    for use in uses:
        try:
            why = checker.check(use)
        except StaleManifestError as exc:
            why = f"{exc}; re-run Testing/slicer_api/extract.py"
        if why:
            out.add(f"{use.where}: {why}")
    return sorted(out)
