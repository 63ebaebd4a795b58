"""Tables: :class:`pandas.DataFrame` <-> ``vtkMRMLTableNode``.

Columns map by dtype: floats -> ``vtkDoubleArray``, integers -> ``vtkLongLongArray``,
booleans -> ``vtkBitArray``, everything else -> ``vtkStringArray`` (``str()`` of each
value). Reading maps them back, so a round trip keeps names, order, dtypes and values.
Units and descriptions, when given, are stored as Slicer column properties and shown in
the table view's header tooltips.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["dataframe_from_table_node", "dataframe_to_table_node"]


def _vtk_column(name: str, values: pd.Series):
    kind = values.dtype.kind
    if kind == "b":
        col = vtk.vtkBitArray()
        col.SetNumberOfValues(len(values))
        for i, v in enumerate(values):
            col.SetValue(i, int(bool(v)))
    elif kind in "iu":
        col = numpy_support.numpy_to_vtk(
            values.to_numpy(dtype=np.int64), deep=True, array_type=vtk.VTK_LONG_LONG
        )
    elif kind == "f":
        col = numpy_support.numpy_to_vtk(values.to_numpy(dtype=np.float64), deep=True)
    else:
        col = vtk.vtkStringArray()
        col.SetNumberOfValues(len(values))
        for i, v in enumerate(values):
            col.SetValue(i, "" if v is None else str(v))
    col.SetName(str(name))
    return col


def dataframe_to_table_node(
    df: pd.DataFrame,
    node=None,
    *,
    name: str = "Table",
    units: Mapping[str, str] | None = None,
    descriptions: Mapping[str, str] | None = None,
    scene=None,
):
    """Write ``df`` into a table node (replacing its columns); create it when ``node`` is None.

    Parameters
    ----------
    df : DataFrame
        Column names become column headers; the index is not stored.
    units, descriptions : mapping column -> str, optional
        Shown in Slicer's table view.
    scene : vtkMRMLScene, optional
        Default ``slicer.mrmlScene``.
    """
    if node is None:
        scene = scene or slicer.mrmlScene
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table = vtk.vtkTable()
    for column in df.columns:
        table.AddColumn(_vtk_column(column, df[column]))
    was_modifying = node.StartModify()
    node.SetAndObserveTable(table)
    node.SetUseColumnTitleAsColumnHeader(True)
    node.SetLocked(True)
    for column, unit in (units or {}).items():
        node.SetColumnUnitLabel(str(column), unit)
    for column, text in (descriptions or {}).items():
        node.SetColumnDescription(str(column), text)
    node.EndModify(was_modifying)
    return node


def dataframe_from_table_node(node) -> pd.DataFrame:
    """A table node's columns as a :class:`pandas.DataFrame` (dtypes as described above)."""
    import pandas as pd

    table = node.GetTable()
    data = {}
    for c in range(table.GetNumberOfColumns()):
        col = table.GetColumn(c)
        n = col.GetNumberOfTuples()
        if isinstance(col, vtk.vtkBitArray):
            values = np.array([bool(col.GetValue(i)) for i in range(n)], dtype=bool)
        elif isinstance(col, vtk.vtkStringArray):
            values = np.array([col.GetValue(i) for i in range(n)], dtype=object)
        else:
            values = numpy_support.vtk_to_numpy(col).copy()
        data[col.GetName()] = values
    return pd.DataFrame(data)
