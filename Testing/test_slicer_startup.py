"""Slicer's start-up of the modules, emulated in a fresh interpreter (``Testing/slicer_api/startup.py``).

``sys.path`` is what Slicer's module factory makes of the README's module paths: the
interpreter's own packages plus each module path, nothing of this checkout otherwise and
not its editable install. Packages Slicer does not bundle (pandas, matplotlib, slicerio,
tqdm, dask, distributed, statsmodels) are blocked. Every module file's top-level imports
must succeed (those only the application provides, such as ``qt`` and
``slicer.ScriptedLoadableModule``, are checked against Slicer's sources by
``test_slicer_api.py``), pandas must be asked for and installed pinned, and the shared
MRML scenarios must pass unless they need a blocked package.
"""

from __future__ import annotations

import ast
import json
import re
import site
import subprocess
import sys
from pathlib import Path

import pytest
from slicer_api import check

REPO = Path(__file__).resolve().parents[1]
STARTUP = REPO / "Testing" / "slicer_api" / "startup.py"
#: The module paths of the README's from-source instructions.
MODULE_PATHS = ("SacralBoneAnalysis", "FocalDefect", "CementVolume", "src")
#: Modules that stand in for what the application provides: slicer-core's MRML (and the
#: package that registers its logics), VTK, and interpreter internals.
PROVIDED = {"slicer", "slicer_core", "slicer_layer_dm", "vtk", "vtkmodules", "bonequality"}
#: Run-time modules of compiled extensions (Cython, SWIG: SimpleITK).
RUNTIME = re.compile(r"^(_|cython_runtime$|swig_runtime_data\d+$)")


def _run(folders) -> dict:
    sitepackages = ":".join(site.getsitepackages())
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(STARTUP), str(REPO), sitepackages, *folders],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "crashed" not in report, report.get("crashed")
    return report


@pytest.fixture(scope="module")
def report():
    pytest.importorskip("slicer", reason="Slicer's MRML (slicer-core) is not installed")
    return _run(MODULE_PATHS)


def _readme_module_paths() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Installing in 3D Slicer", 1)[1].split("\n## ", 1)[0]
    line = next(b for b in section.split("\n*") if "From source" in b)
    return re.findall(r"`([A-Za-z]+)`", line.split("Additional module paths", 1)[1].split(".", 1)[0])


def _is_module_file(path: Path) -> bool:
    """Slicer's rule: a class named after the file deriving from ScriptedLoadableModule.

    ``qSlicerScriptedLoadableModule::setPythonSource`` instantiates that class, and the
    Extension Wizard's ``ModuleInfo.findModules`` looks for the same.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.ClassDef)
        and node.name == path.stem
        and any(getattr(b, "id", None) == "ScriptedLoadableModule" for b in node.bases)
        for node in tree.body
    )


def test_the_readme_adds_exactly_the_emulated_module_paths():
    assert _readme_module_paths() == list(MODULE_PATHS)


def test_every_python_file_in_a_module_path_is_a_slicer_module():
    """Slicer registers every ``.py`` directly in a module path as a module (isValidFile)."""
    found = {
        p.relative_to(REPO).as_posix(): _is_module_file(p)
        for f in MODULE_PATHS
        for p in (REPO / f).glob("*.py")
    }
    assert found
    assert all(found.values()), {k: v for k, v in found.items() if not v}


def test_the_checkout_offers_exactly_these_module_folders():
    """What Slicer's Extension Wizard finds in the checkout ("Select Extension", drag and drop)."""
    folders = sorted(
        p.parent.name
        for p in REPO.glob("*/*.py")
        if not (p.parent / "__init__.py").exists() and _is_module_file(p)
    )
    assert folders == sorted(MODULE_PATHS)


def test_the_slicer_side_parses_with_the_oldest_supported_slicers_python():
    """Slicer 5.8 runs Python 3.9: no newer syntax in the module files or the library (``match``,
    parenthesised context managers, ...). Syntax only; the manifest records each release's Python."""
    pythons = [v["bundled"]["python"] for v in check.load_manifest()["versions"].values()]
    version = min(tuple(int(x) for x in p.split(".")[:2]) for p in pythons)
    assert version == (3, 9)
    files = [p for f in MODULE_PATHS for p in (REPO / f).rglob("*.py") if ".egg-info" not in str(p)]
    assert len(files) > 50
    for path in files:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=version)


@pytest.mark.mrml
def test_module_files_start_without_the_checkout_or_unbundled_packages(report):
    failed = {k: v for k, v in report["imports"].items() if v not in ("ok", "slicer-only")}
    assert not failed, failed
    assert report["bonequality"] == str(REPO / "src" / "bonequality" / "__init__.py")
    ours = [p for p in report["sys_path"] if p.startswith(str(REPO)) and not p.startswith(sys.prefix)]
    assert ours == [str(REPO / f) for f in MODULE_PATHS], "only the module paths of this checkout"
    bundled = None
    for version in check.load_manifest()["versions"].values():
        names = {n.replace("-", "_").lower() for n in version["bundled"]}
        bundled = names if bundled is None else bundled & names
    extra = [m for m in report["loaded"] if not RUNTIME.match(m) and m.lower() not in bundled | PROVIDED]
    assert not extra, f"start-up imports {extra}, which Slicer does not bundle"
    for module in ("numpy", "SimpleITK", "scipy"):
        assert module in report["loaded"]


def test_without_the_hidden_modules_folder_the_library_is_not_found():
    """Point 1 of the issue: the three module folders alone do not reach ``src``."""
    report = _run(MODULE_PATHS[:3])
    assert report["bonequality"] is None
    failed = [k for k, v in report["imports"].items() if ": bonequality" in k]
    assert failed
    assert all("ModuleNotFoundError" in report["imports"][k] for k in failed)


@pytest.mark.mrml
def test_pandas_is_asked_for_and_installed_pinned_on_first_use(report):
    req = report["requirements"]
    assert req["missing"] == ["pandas"]
    assert req["declined_returns"] is False
    assert req["asked_again"] is False, "a refusal must be remembered, not asked again"
    assert "pandas==3.1.1" in req["declined_message"]
    assert "slicer.util.pip_install" in req["declined_message"]
    (call,) = req["pip_install_calls"]
    assert call["args"][:2] == ["pandas==3.1.1", "-c"]
    import numpy

    assert f"numpy=={numpy.__version__}" in call["constraints"].splitlines(), "Slicer's numpy must stay"


@pytest.mark.mrml
def test_mrml_scenarios_pass_where_they_need_no_blocked_package(report):
    results = report["scenarios"]["blocked"]
    assert not {k: v for k, v in results.items() if v not in ("passed", "needs pandas")}
    for name in (
        "segmentation_parent_transform",
        "sacroplasty_cancel_keeps_results",
        "cement_cancel_keeps_results",
    ):
        assert results[name] == "passed", name


@pytest.mark.mrml
def test_pandas_is_the_only_package_the_slicer_side_needs(report):
    """With the first-use install (pandas) and still nothing else unbundled, every scenario passes."""
    needed = [k for k, v in report["scenarios"]["blocked"].items() if v == "needs pandas"]
    assert needed, "no scenario writes a result table?"
    assert report["scenarios"]["with pandas"] == dict.fromkeys(needed, "passed")
