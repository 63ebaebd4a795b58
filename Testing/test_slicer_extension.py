"""The extension as Slicer builds and lists it: CMake files, hidden module, metadata, index entry."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from slicer_api import check, describe

REPO = Path(__file__).resolve().parents[1]
MODULES = ("SacralBoneAnalysis", "FocalDefect", "CementVolume")
HIDDEN = "SlicerBoneQuality"
RAW = "https://raw.githubusercontent.com/SlicerBoneQuality/SlicerBoneQuality/main/"


def _cmake(rel: str) -> str:
    return (REPO / rel).read_text(encoding="utf-8")


def _module_class(path: Path) -> ast.ClassDef:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == path.stem)


def _parent_assignments(cls: ast.ClassDef) -> dict[str, str]:
    out = {}
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
            target = node.targets[0]
            if ast.unparse(target.value) == "self.parent":
                out[target.attr] = ast.unparse(node.value)
    return out


def test_metadata_for_the_extensions_index_is_set():
    meta = describe.cmake_metadata(_cmake("CMakeLists.txt"))
    for key in (
        "HOMEPAGE",
        "CATEGORY",
        "CONTRIBUTORS",
        "DESCRIPTION",
        "ICONURL",
        "SCREENSHOTURLS",
        "DEPENDS",
    ):
        assert meta.get(key), key
    for url in (meta["ICONURL"], *meta["SCREENSHOTURLS"].split()):
        assert url.startswith(RAW), url
        assert (REPO / url[len(RAW) :]).is_file(), f"{url} is not a file of this repository"
    png = (REPO / meta["ICONURL"][len(RAW) :]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (128, 128)


def test_the_extensions_index_entry_is_generated_from_the_cmake_metadata():
    manifest = check.load_manifest()
    assert (REPO / f"{HIDDEN}.s4ext").read_text(encoding="utf-8") == describe.s4ext(manifest)
    assert (REPO / f"{HIDDEN}.json").read_text(encoding="utf-8") == describe.catalog_entry(manifest)


def test_the_s4ext_holds_every_keyword_of_slicers_template():
    manifest = check.load_manifest()
    template = list(manifest["versions"].values())[-1]["extension"]["s4ext_template"]
    keywords = re.findall(r"^(\w+) \$\{", template, re.M)
    written = dict(
        line.split(" ", 1) for line in describe.s4ext(manifest).splitlines() if line and line[0] != "#"
    )
    assert keywords == list(written)
    assert written["scmurl"].endswith(".git")
    assert written["category"] == "Quantification"


@pytest.mark.parametrize("module", MODULES)
def test_every_python_file_of_a_module_is_built(module):
    cmake = _cmake(f"{module}/CMakeLists.txt").replace("${MODULE_NAME}", module)
    files = sorted(p.relative_to(REPO / module).as_posix() for p in (REPO / module).rglob("*.py"))
    assert files
    missing = [f for f in files if f not in cmake]
    assert not missing, f"{module}/CMakeLists.txt does not install {missing}"


def test_the_hidden_module_is_built_with_the_whole_library():
    cmake = _cmake("src/CMakeLists.txt")
    assert f"set(MODULE_NAME {HIDDEN})" in cmake
    assert "${MODULE_NAME}.py" in cmake
    assert re.search(
        r"GLOB_RECURSE BONEQUALITY_PYTHON_FILES\s+RELATIVE \$\{CMAKE_CURRENT_SOURCE_DIR\}", cmake
    )
    assert "bonequality/*.py" in cmake
    assert "${BONEQUALITY_PYTHON_FILES}" in cmake
    top = _cmake("CMakeLists.txt")
    order = [m.group(1) for m in re.finditer(r"^add_subdirectory\((\w+)\)", top, re.M)]
    assert order == ["src", *MODULES], "the hidden module first, then the modules that need it"


def test_the_hidden_module_is_hidden_and_the_three_modules_depend_on_it():
    hidden = _parent_assignments(_module_class(REPO / "src" / f"{HIDDEN}.py"))
    assert hidden["hidden"] == "True"
    for module in MODULES:
        parent = _parent_assignments(_module_class(REPO / module / f"{module}.py"))
        assert parent["dependencies"] == f"['{HIDDEN}']", module
