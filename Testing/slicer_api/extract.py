"""Write ``manifest.json``: the Slicer API this project uses, read from Slicer's own sources.

Run it when the supported Slicer releases change or when the code starts using API the
manifest does not list (the conformance test says so)::

    python Testing/slicer_api/extract.py --slicer ~/src/Slicer --ctk ~/src/CTK \\
        --qt-include /usr/include/x86_64-linux-gnu/qt5 --tags v5.8.1 v5.12.3

``--slicer`` and ``--ctk`` are git checkouts or bare mirrors of Slicer/Slicer and
commontk/CTK (read at the tags, and at the CTK commit each tag's
``SuperBuild/External_CTK.cmake`` pins); ``--qt-include`` is Qt 5.15's include folder (for
example Debian's ``qtbase5-dev``). Nothing is built or imported: headers and Python files
are parsed (:mod:`cxx`, :mod:`pyapi`), and only what :mod:`usage` finds the project using is
kept, with the full members of every class it touches. The test suite reads the JSON only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a script run from the checkout

from slicer_api import cxx, pyapi, usage

HERE = Path(__file__).resolve().parent
#: Where MRML classes live in Slicer's tree (method names the code calls on MRML nodes are
#: looked up in every class of these folders).
MRML_DIRS = re.compile(
    r"^(Libs/MRML/(Core|Logic)|Libs/vtkSegmentationCore|Base/Logic|Modules/Loadable/\w+/(MRML|Logic))/[^/]+\.h$"
)


class Git:
    """Read files of one revision of a git repository (bare or not)."""

    def __init__(self, path: Path, rev: str):
        git_dir = path / ".git" if (path / ".git").exists() else path
        self.base = ["git", f"--git-dir={git_dir}"]
        self.rev = subprocess.run(
            [*self.base, "rev-parse", f"{rev}^{{commit}}"], check=True, capture_output=True, text=True
        ).stdout.strip()
        out = subprocess.run(
            [*self.base, "ls-tree", "-r", "--name-only", self.rev], check=True, capture_output=True, text=True
        )
        self.files = out.stdout.splitlines()

    def read(self, path: str) -> str | None:
        out = subprocess.run([*self.base, "show", f"{self.rev}:{path}"], capture_output=True)
        return out.stdout.decode("utf-8", "replace") if out.returncode == 0 else None

    def read_many(self, paths: list[str]) -> dict[str, str]:
        batch = "".join(f"{self.rev}:{p}\n" for p in paths).encode()
        out = subprocess.run(
            [*self.base, "cat-file", "--batch"], input=batch, capture_output=True, check=True
        ).stdout
        result, pos = {}, 0
        for p in paths:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            if header[-1] == b"missing":
                pos = end + 1
                continue
            size = int(header[2])
            result[p] = out[end + 1 : end + 1 + size].decode("utf-8", "replace")
            pos = end + 1 + size + 1
        return result


class SourceApi:
    """The ``api`` of :func:`usage.collect`, answered from Slicer, CTK and Qt sources."""

    def __init__(self, slicer: Git, ctk: Git, qt_include: Path):
        self.slicer, self.ctk, self.qt = slicer, ctk, qt_include
        self.headers = {Path(f).name: ("Slicer", f) for f in slicer.files if f.endswith(".h")}
        for f in ctk.files:
            if f.endswith(".h") and Path(f).name.startswith("ctk"):
                self.headers.setdefault(Path(f).name, ("CTK", f))
        self.classes: dict[str, dict | None] = {}
        self.modules: dict[str, dict | None] = {}
        self.decorated = _decorators(slicer, ctk)

    def _qt_header(self, name: str) -> Path | None:
        for module in ("QtWidgets", "QtCore", "QtGui"):
            fwd = self.qt / module / name
            if fwd.is_file():
                m = re.search(r'#include "(\w+\.h)"', fwd.read_text())
                return self.qt / module / m.group(1) if m else None
        return None

    def cxx(self, name: str) -> dict | None:
        if name in self.classes:
            return self.classes[name]
        found = None
        if f"{name}.h" in self.headers:
            repo, path = self.headers[f"{name}.h"]
            text = (self.slicer if repo == "Slicer" else self.ctk).read(path)
            found = cxx.parse_header(text).get(name) if text else None
            if found:
                found["header"] = f"{repo}:{path}"
                found["invokables"] = sorted({*found["invokables"], *self.decorated.get(name, ())})
        elif name.startswith("Q") and (header := self._qt_header(name)):
            found = cxx.parse_header(header.read_text(errors="replace")).get(name)
            if found:
                found["header"] = f"Qt:{header.parent.name}/{header.name}"
        self.classes[name] = found
        if found:
            for base in found["bases"]:
                self.cxx(base)
        return found

    def py(self, module: str) -> dict | None:
        if module not in self.modules:
            path = usage.SLICER_PYTHON.get(module)
            self.modules[module] = self._py_path(path) if path else None
        return self.modules[module]

    def _py_path(self, path: str) -> dict | None:
        if not path.endswith("/"):
            text = self.slicer.read(path)
            return pyapi.module_api(text) if text else None
        merged = {"functions": {}, "classes": {}, "names": [], "star": [], "all": None}
        init = self._py_path(path + "__init__.py")
        if init is None:
            return None
        for star in init["star"]:
            sub = self._py_path(path + star.lstrip(".") + ".py")
            if sub is None:
                continue
            names = pyapi.public_names(sub)
            merged["functions"].update({k: v for k, v in sub["functions"].items() if k in names})
            merged["classes"].update({k: v for k, v in sub["classes"].items() if k in names})
            merged["names"] += sorted(
                n for n in names if n not in sub["functions"] and n not in sub["classes"]
            )
        merged["names"] += init["names"]
        return merged


def _decorators(*repos: Git) -> dict[str, set[str]]:
    """Members that PythonQt decorator classes (``*PythonQtDecorators.h``) add to Slicer's and CTK's classes.

    A decorator slot ``static_<Class>_<name>(...)`` adds a static method, and a slot
    ``<name>(<Class>* self, ...)`` an instance method (PythonQt's decorator convention).
    """
    out: dict[str, set[str]] = {}
    for repo in repos:
        paths = [f for f in repo.files if f.endswith("PythonQtDecorators.h")]
        for text in repo.read_many(paths).values():
            for api in cxx.parse_header(text).values():
                for slot in api["slots"]:
                    name, params = slot.split("(", 1)
                    m = re.match(r"static_(q\w+?|ctk\w+?)_(\w+)$", name)
                    if m:
                        out.setdefault(m.group(1), set()).add(m.group(2))
                    elif re.match(r"(q|ctk)\w+\*", params):
                        out.setdefault(params.split("*")[0], set()).add(name)
    return out


def _connectors(slicer: Git) -> dict[str, list[str]]:
    """parameterNodeWrapper GUI connector -> the widget classes its ``canRepresent`` accepts."""
    text = slicer.read("Base/Python/slicer/parameterNodeWrapper/guiConnectors.py") or ""
    out = {}
    for m in re.finditer(r"class (\w+)\(GuiConnector\):.*?def canRepresent\(.*?\n(.*?)\n\n", text, re.S):
        out[m.group(1)] = sorted(set(re.findall(r"\b(?:qt|ctk|slicer)\.(\w+)", m.group(2))))
    return out


def _wrapper_members(slicer: Git) -> list[str]:
    text = slicer.read("Base/Python/slicer/parameterNodeWrapper/wrapper.py") or ""
    return sorted(set(re.findall(r'checkedSetAttr\(classtype, "(\w+)"', text)))


def _bundled(slicer: Git) -> dict[str, str]:
    """Python and the packages Slicer's SuperBuild installs (name -> version)."""
    out = {}
    cmake = slicer.read("CMakeLists.txt") or ""
    m = re.search(r'set\(Slicer_REQUIRED_PYTHON_VERSION "([\d.]+)"\)', cmake)
    out["python"] = m.group(1) if m else "?"
    for f in slicer.files:
        if re.match(r"SuperBuild/External_python-[\w-]+\.cmake$", f):
            for name, version in re.findall(r"^\s*([A-Za-z][\w.-]*)==([\w.]+)", slicer.read(f) or "", re.M):
                out[name.lower()] = version
    for proj, key in (("VTK", "vtk"), ("SimpleITK", "simpleitk")):
        text = slicer.read(f"SuperBuild/External_{proj}.cmake") or ""
        tags = re.findall(r"# slicer-v([\d.]+)", text)
        if tags and key not in out:
            out[key] = " or ".join(sorted(set(tags)))
    return out


def _extension_spec(slicer: Git) -> dict:
    """What Slicer makes of an extension's CMake metadata: the ``.s4ext`` template it fills
    (``SlicerFunctionGenerateExtensionDescription.cmake``), the metadata defaults
    (``SlicerExtensionDescriptionSpec.cmake``) and the newest Extensions Index entry schema."""
    spec = slicer.read("Extensions/CMake/SlicerExtensionDescriptionSpec.cmake") or ""
    defaults = {
        m.group(1): {"required": m.group(2) == "1", "default": m.group(3)}
        for m in re.finditer(r'_define_metadata\(\s*"(\w+)"\s*"[^"]*"\s*(\d)\s*"([^"]*)"\)', spec)
    }
    schemas = sorted(
        f
        for f in slicer.files
        if re.match(r"Schemas/slicer-extension-catalog-entry-schema-v[\d.]+\.json$", f)
    )
    schema = json.loads(slicer.read(schemas[-1]))
    return {
        "s4ext_template": slicer.read("Utilities/Templates/Extensions/extension_description.s4ext.in"),
        "metadata": defaults,
        "catalog_schema": {
            "id": schema["$id"],
            "required": schema["required"],
            "properties": list(schema["properties"]),
        },
    }


def _ctk_commit(slicer: Git) -> str:
    text = slicer.read("SuperBuild/External_CTK.cmake") or ""
    return re.search(r'Slicer_\$\{proj\}_GIT_TAG\s+"([0-9a-f]{40})"', text).group(1)


def _used_python(api: SourceApi, uses) -> dict:
    """The Slicer Python modules, cut to the functions and classes the project uses.

    Every module keeps ``public``: all its public names, so that a name the code uses is
    known to be absent (rather than left out of the manifest).
    """
    used: dict[str, set[str]] = {}
    for u in uses:
        if u.kind in ("py_name", "py_call"):
            used.setdefault(u.target[0], set()).add(u.target[1])
        elif u.kind == "py_member":
            for qual in u.target[0]:
                module, name = qual.split(":")
                used.setdefault(module, set()).add(name)
    out = {}
    for module, names in sorted(used.items()):
        mod = api.py(module)
        if mod is None:
            continue
        classes = set(names) & set(mod["classes"])
        todo = list(classes)
        while todo:  # base classes defined in the same module
            for base in mod["classes"][todo.pop()]["bases"]:
                if base in mod["classes"] and base not in classes:
                    classes.add(base)
                    todo.append(base)
        out[module] = {
            "functions": {k: v for k, v in mod["functions"].items() if k in names},
            "classes": {k: v for k, v in mod["classes"].items() if k in classes},
            "public": sorted(pyapi.public_names(mod) | set(mod["functions"]) | set(mod["classes"])),
        }
    return out


def _mrml_index(slicer: Git, names: set[str]) -> dict[str, list[str]]:
    texts = slicer.read_many([f for f in slicer.files if MRML_DIRS.match(f)])
    index = {n: set() for n in names}
    for text in texts.values():
        for cls_name, api in cxx.parse_header(text).items():
            for member in (*api["methods"], *api["invokables"]):
                if member in index:
                    index[member].add(cls_name)
    return {n: sorted(c) for n, c in sorted(index.items())}


def extract_version(tag: str, slicer_dir: Path, ctk_dir: Path, qt_include: Path) -> tuple[dict, dict]:
    slicer = Git(slicer_dir, tag)
    ctk_rev = _ctk_commit(slicer)
    api = SourceApi(slicer, Git(ctk_dir, ctk_rev), qt_include)
    uses = usage.collect(api)
    for u in uses:  # make sure every class and module a use names is looked up
        if u.kind in ("cxx_class", "cxx_member", "cxx_signal", "cxx_slot", "ui_connector"):
            api.cxx(u.target[0])
        elif u.kind in ("py_name", "py_call"):
            api.py(u.target[0])
        elif u.kind == "py_member":
            for qual in u.target[0]:
                api.py(qual.split(":")[0])
    for module in usage.PARENTS.values():
        api.cxx(module)
    known = {k for k, v in api.classes.items() if v}
    for v in api.classes.values():
        if v:
            v["returns"] = {m: r for m, r in sorted(v["returns"].items()) if r in known}
    qt = {k: v for k, v in api.classes.items() if v and v["header"].startswith("Qt:")}
    version = {
        "slicer_commit": slicer.rev,
        "ctk_commit": ctk_rev,
        "bundled": _bundled(slicer),
        "classes": {k: v for k, v in sorted(api.classes.items()) if v and k not in qt},
        "absent_classes": sorted(k for k, v in api.classes.items() if v is None),
        "python": _used_python(api, uses),
        "absent_python": sorted(k for k, v in api.modules.items() if v is None),
        "gui_connectors": _connectors(slicer),
        "parameter_node_wrapper_members": _wrapper_members(slicer),
        "mrml_methods": _mrml_index(slicer, {u.target[0] for u in uses if u.kind == "vtk_method"}),
        "extension": _extension_spec(slicer),
    }
    return version, qt


def _share(versions: dict) -> dict:
    """Move the classes and Python modules identical at every version to one shared section."""
    shared = {}
    for key in ("classes", "python"):
        tables = [v[key] for v in versions.values()]
        same = {k: t for k, t in tables[0].items() if all(other.get(k) == t for other in tables[1:])}
        for table in tables:
            for k in same:
                del table[k]
        shared[key] = dict(sorted(same.items()))
    return shared


def dump(obj, depth: int = 0, levels: int = 3) -> str:
    """JSON with one line per entry down to ``levels`` (a class or function per line: small, diffable)."""
    if depth >= levels or not isinstance(obj, dict) or not obj:
        return json.dumps(obj, separators=(",", ":"))
    pad = " " * (depth + 1)
    items = [f"{pad}{json.dumps(k)}: {dump(v, depth + 1, levels)}" for k, v in obj.items()]
    return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slicer", type=Path, required=True, help="Slicer/Slicer git checkout or mirror")
    parser.add_argument("--ctk", type=Path, required=True, help="commontk/CTK git checkout or mirror")
    parser.add_argument("--qt-include", type=Path, required=True, help="Qt 5.15 include folder")
    parser.add_argument("--tags", nargs="+", default=["v5.8.1", "v5.12.3"])
    parser.add_argument("--out", type=Path, default=HERE / "manifest.json")
    args = parser.parse_args(argv)
    qconfig = (args.qt_include / "QtCore" / "qconfig.h").read_text()
    manifest = {
        "about": "Slicer API used by SlicerBoneQuality; written by Testing/slicer_api/extract.py",
        "qt": {"version": re.search(r'QT_VERSION_STR "([\d.]+)"', qconfig).group(1), "classes": {}},
        "versions": {},
    }
    for tag in args.tags:
        version, qt = extract_version(tag, args.slicer, args.ctk, args.qt_include)
        manifest["versions"][tag] = version
        manifest["qt"]["classes"].update(qt)
    manifest["qt"]["classes"] = dict(sorted(manifest["qt"]["classes"].items()))
    manifest["shared"] = _share(manifest["versions"])
    args.out.write_text(dump(manifest, levels=4) + "\n")
    print(f"{args.out}: {args.out.stat().st_size // 1024} kB, versions {', '.join(args.tags)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
