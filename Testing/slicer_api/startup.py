"""Start the modules' Python the way Slicer does, in a fresh interpreter, and report what happened.

Run as ``python -I -S startup.py REPO SITE_PACKAGES FOLDER...`` (as
``Testing/test_slicer_startup.py`` does): ``-I -S`` leaves out this checkout, ``PYTHONPATH``
and every ``.pth`` file (so the editable install of ``bonequality`` is not seen); the
interpreter's site-packages (``os.pathsep``-separated SITE_PACKAGES) are added back as
plain folders. Then, as Slicer's module factory does when it registers module paths
(``ctkFactoryScriptedItem::load``), each FOLDER is appended to ``sys.path``. Packages
Slicer does not bundle are blocked. The script imports what every module file imports at
its top level, checks the first-use installation of pandas, runs the shared MRML
scenarios (then again, with pandas allowed, those that needed it), and prints one JSON report.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import json
import os
import sys
import traceback
from pathlib import Path

BLOCKED = ("pandas", "matplotlib", "slicerio", "tqdm", "dask", "distributed", "statsmodels")
#: Python modules only the Slicer application provides (the manifest checks them instead);
#: slicer-core has some of them (slicer.util), and those are imported for real.
SLICER_ONLY = (
    "qt",
    "ctk",
    "slicer.ScriptedLoadableModule",
    "slicer.parameterNodeWrapper",
    "slicer.i18n",
    "slicer.util",
    "SegmentStatistics",
    "SegmentStatisticsPlugins",
    "SampleData",
)


class Blocker(importlib.abc.MetaPathFinder):
    """Refuses the packages Slicer does not bundle, as a Slicer without them would."""

    def __init__(self):
        self.allowed: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in BLOCKED and top not in self.allowed:
            raise ModuleNotFoundError(f"No module named '{name}' (not bundled with Slicer)", name=name)
        return None


def _module_files(repo: Path, folders: list[str]) -> list[Path]:
    """Every ``.py`` directly in a module path: what Slicer registers and runs."""
    return sorted(p for folder in folders for p in (repo / folder).glob("*.py"))


def _top_level_imports(path: Path) -> list[tuple[str, list[str]]]:
    out = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
    return out


def _import(module: str, names: list[str]) -> str:
    """``ok``, ``slicer-only`` (only the application has it: qt, ScriptedLoadableModule), or the error."""
    try:
        mod = importlib.import_module(module)
        for name in names:
            if not hasattr(mod, name):
                importlib.import_module(f"{module}.{name}")
    except Exception as exc:
        if module in SLICER_ONLY or module.split(".")[0] in SLICER_ONLY:
            return "slicer-only"
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _requirements() -> dict:
    from bonequality.mrml import requirements

    calls = []

    def record(args):
        calls.append({"args": args, "constraints": Path(args[args.index("-c") + 1]).read_text()})

    declined = requirements.ensure("Test", ask=lambda question, title: False)
    installed = requirements.ensure("Test 2", ask=lambda question, title: True, pip_install=record)
    return {
        "missing": [r.name for r in requirements.missing()],
        "declined_returns": declined,
        "asked_again": requirements.ensure("Test", ask=lambda q, t: True, pip_install=record),
        "declined_message": requirements.declined_message(),
        "after_install_returns": installed,
        "pip_install_calls": calls,
    }


def _run_scenario(scenario) -> str:
    from bonequality.mrml.scene import standalone_scene

    app = standalone_scene(set_global=True)
    try:
        scenario(app.scene)
        return "passed"
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        return f"needs {top}" if top in BLOCKED else f"failed: {exc}"
    except Exception as exc:
        return f"failed: {type(exc).__name__}: {exc}"
    finally:
        app.close()


def _scenarios(blocker: Blocker) -> dict[str, dict[str, str]]:
    """Each scenario with every unbundled package blocked, then (if it needed pandas) with pandas."""
    from bonequality.testing import scenarios

    out = {"blocked": {}, "with pandas": {}}
    for functions in scenarios.SCENARIOS.values():
        for scenario in functions:
            out["blocked"][scenario.__name__] = _run_scenario(scenario)
    blocker.allowed.add("pandas")  # what the first-use installation adds
    for name, result in out["blocked"].items():
        if result == "needs pandas":
            scenario = next(f for fs in scenarios.SCENARIOS.values() for f in fs if f.__name__ == name)
            out["with pandas"][name] = _run_scenario(scenario)
    return out


def main(argv: list[str]) -> dict:
    repo, site_packages, folders = Path(argv[0]).resolve(), argv[1], argv[2:]
    sys.path += [p for p in site_packages.split(os.pathsep) if p and p not in sys.path]
    blocker = Blocker()
    sys.meta_path.insert(0, blocker)
    sys.path += [str(repo / f) for f in folders]
    report = {"sys_path": list(sys.path), "imports": {}}
    for path in _module_files(repo, folders):
        for module, names in _top_level_imports(path):
            report["imports"][f"{path.relative_to(repo)}: {module}"] = _import(module, names)
    spec = importlib.util.find_spec("bonequality")
    report["bonequality"] = spec.origin if spec else None
    report["loaded"] = sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))
    if spec is not None:
        report["requirements"] = _requirements()
        report["scenarios"] = _scenarios(blocker)
    return report


if __name__ == "__main__":
    try:
        result = main(sys.argv[1:])
    except Exception:
        result = {"crashed": traceback.format_exc()}
    print(json.dumps(result))
