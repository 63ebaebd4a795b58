"""The three Slicer modules' code and their Qt Designer ``.ui`` files agree.

Slicer cannot run here, so these checks catch what would otherwise only fail when the
module is opened: a ``self.ui.<name>`` the ``.ui`` lacks, a ``SlicerParameterName`` that
is not a parameter-node field, a widget class that ``connectGui`` cannot bind to the
field's type (the rules of Slicer's ``parameterNodeWrapper/guiConnectors.py``), or an
MRML widget that never receives the scene.
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = ("SacralBoneAnalysis", "FocalDefect", "CementVolume")

#: Widget class -> predicate on the field's annotation text (guiConnectors.py's canRepresent).
CONNECTORS = {
    "QCheckBox": lambda a: a == "bool",
    "QPushButton": lambda a: a == "bool",
    "QSpinBox": lambda a: a == "int" or a.startswith("Annotated[int"),
    "QSlider": lambda a: a.startswith("Annotated[int"),
    "QDoubleSpinBox": lambda a: a == "float" or a.startswith("Annotated[float"),
    "ctkSliderWidget": lambda a: a.startswith("Annotated[float") and "WithinRange" in a,
    "QComboBox": lambda a: "Choice(" in a or a.endswith("Mode") or a.endswith("Enum"),
    "QLineEdit": lambda a: a == "str",
    "qMRMLNodeComboBox": lambda a: "vtkMRML" in a,
}

#: Widgets that need the scene (setMRMLScene) to work.
MRML_WIDGETS = {"qMRMLNodeComboBox", "qMRMLTableView", "qSlicerMarkupsPlaceWidget", "qMRMLPlotWidget"}


def _module_py(module: str) -> ast.Module:
    return ast.parse((REPO / module / f"{module}.py").read_text())


def _ui(module: str) -> ET.Element:
    return ET.parse(REPO / module / "Resources" / "UI" / f"{module}.ui").getroot()


def _ui_names_used(tree: ast.Module) -> set[str]:
    """Every ``<anything>.ui.<name>`` attribute in the module file."""
    names = set()
    for node in ast.walk(tree):
        parent = getattr(node, "value", None)
        if isinstance(node, ast.Attribute) and isinstance(parent, ast.Attribute) and parent.attr == "ui":
            names.add(node.attr)
    return names


def _parameter_fields(tree: ast.Module) -> dict[str, str]:
    """Annotated fields of the ``@parameterNodeWrapper`` class: name -> annotation source."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            (isinstance(d, ast.Name) and d.id == "parameterNodeWrapper") for d in node.decorator_list
        ):
            return {
                item.target.id: ast.unparse(item.annotation)
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
    raise AssertionError("no @parameterNodeWrapper class")


def _widgets(root: ET.Element) -> dict[str, str]:
    return {w.get("name"): w.get("class") for w in root.iter("widget")}


def _parameter_bindings(root: ET.Element) -> dict[str, tuple[str, str]]:
    """widget name -> (widget class, SlicerParameterName)."""
    out = {}
    for w in root.iter("widget"):
        for prop in w.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                out[w.get("name")] = (w.get("class"), prop.findtext("string"))
    return out


@pytest.mark.parametrize("module", MODULES)
def test_every_ui_name_used_in_code_exists_in_the_ui_file(module):
    used = _ui_names_used(_module_py(module))
    assert used, f"{module}.py uses no self.ui widgets"
    missing = sorted(used - set(_widgets(_ui(module))))
    assert not missing, f"{module}.py uses widgets missing from {module}.ui: {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_parameter_names_in_the_ui_are_fields_bindable_by_connect_gui(module):
    fields = _parameter_fields(_module_py(module))
    bindings = _parameter_bindings(_ui(module))
    assert bindings, f"{module}.ui binds no widget to the parameter node"
    problems = []
    for widget, (cls, param) in bindings.items():
        if param not in fields:
            problems.append(f"{widget}: SlicerParameterName '{param}' is not a parameter-node field")
            continue
        ok = CONNECTORS.get(cls)
        if ok is None or not ok(fields[param]):
            problems.append(f"{widget} ({cls}) cannot be bound to {param}: {fields[param]}")
    bound = {param for _, param in bindings.values()}
    duplicated = sorted(p for p in bound if sum(1 for _, q in bindings.values() if q == p) > 1)
    assert not duplicated, f"{module}.ui binds several widgets to {duplicated}"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module", MODULES)
def test_mrml_widgets_receive_the_scene(module):
    root = _ui(module)
    top = root.find("widget")
    assert top.get("class") == "qMRMLWidget"
    assert root.findtext("class") == module
    connected = {
        c.findtext("receiver")
        for c in root.iter("connection")
        if c.findtext("sender") == module and c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"
    }
    need = {name for name, cls in _widgets(root).items() if cls in MRML_WIDGETS}
    assert need, f"{module}.ui has no MRML widgets"
    assert not sorted(need - connected), f"MRML widgets without setMRMLScene: {sorted(need - connected)}"


@pytest.mark.parametrize("module", MODULES)
def test_module_resources_exist_and_are_listed_in_cmake(module):
    folder = REPO / module
    cmake = (folder / "CMakeLists.txt").read_text()
    assert "slicerMacroBuildScriptedModule" in cmake
    for rel in (f"Resources/UI/{module}.ui", f"Resources/Icons/{module}.png"):
        assert (folder / rel).is_file(), rel
        assert rel.replace(module, "${MODULE_NAME}") in cmake, f"{rel} missing from CMakeLists.txt"
    png = (folder / "Resources" / "Icons" / f"{module}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 128


def test_the_connector_rules_are_slicers_at_every_supported_version():
    """Each widget class of :data:`CONNECTORS` has a parameterNodeWrapper connector in Slicer's sources."""
    from slicer_api import check

    for tag, version in check.load_manifest()["versions"].items():
        known = {cls for widgets in version["gui_connectors"].values() for cls in widgets}
        assert not sorted(set(CONNECTORS) - known), (
            f"Slicer {tag} has no connector for {sorted(set(CONNECTORS) - known)}"
        )


def test_checker_catches_a_missing_widget():
    """The name check fails on a module that uses a widget its .ui lacks."""
    tree = ast.parse("def setup(self):\n    self.ui.applyButton.enabled = 1\n    self.ui.ghost.hide()\n")
    ui = ET.fromstring(
        '<ui><widget class="qMRMLWidget" name="M">'
        '<widget class="QPushButton" name="applyButton"/></widget></ui>'
    )
    assert _ui_names_used(tree) - set(_widgets(ui)) == {"ghost"}
