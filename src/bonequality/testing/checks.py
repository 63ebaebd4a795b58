"""Small checks shared by the scenarios: plain ``AssertionError`` with a message (also under ``-O``)."""

from __future__ import annotations

import slicer

from ..errors import BoneQualityError
from ..mrml.results import ResultNodes
from ..mrml.sampledata import load_phantom
from ..mrml.tables import dataframe_from_table_node
from ..phantoms import oblique_direction

__all__ = ["close", "holder", "pelvis", "require", "require_rejected", "table_value"]


def require(condition, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def close(value, expected, rel: float, what: str) -> None:
    require(
        abs(float(value) - float(expected)) <= rel * abs(float(expected)),
        f"{what}: {float(value):.4g} differs from {float(expected):.4g} by more than {rel:.0%}",
    )


def require_rejected(update, label: str, what: str, table, before) -> None:
    """``update()`` raises an error naming ``label``, and ``table`` still holds ``before``."""
    try:
        update()
    except BoneQualityError as exc:
        require(label in str(exc), f"the error does not name {label}: {exc}")
    else:
        raise AssertionError(f"{what} was accepted")
    require(dataframe_from_table_node(table).equals(before), f"results changed after {what} was rejected")


def holder(scene):
    """A parameter-node-like holder for result references."""
    return ResultNodes(scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "BoneQualityTestParameters"))


def table_value(node, measure: str) -> float:
    df = dataframe_from_table_node(node)
    rows = df[df["Measure"] == measure]
    require(len(rows) == 1, f"table '{node.GetName()}' has no row '{measure}'")
    return float(rows["Value"].iloc[0])


def pelvis(scene=None, spacing=(1.5, 1.5, 1.5), oblique=True, **options):
    """The pelvis phantom (oblique, 1.5 mm by default) as nodes in ``scene``."""
    return load_phantom(
        "BoneQualityPelvis",
        scene=scene or slicer.mrmlScene,
        spacing=spacing,
        direction=oblique_direction() if oblique else None,
        **options,
    )
