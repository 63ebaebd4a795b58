"""Plots: profiles -> table, plot series and plot chart nodes (Slicer's Plots module).

Each profile curve gets its own table (columns ``x``, the curve and its reference lines)
and a solid line series; each reference value (a cohort mean, say) is drawn as a dashed
horizontal series of the same colour. Calling :func:`profile_chart` again with the same
chart updates the nodes in place, so views showing them stay connected. Seed 000
Figure 6 (HU against % of pelvic width, with cohort means) is the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import slicer

from .tables import dataframe_to_table_node

__all__ = ["ProfileCurve", "chart_series", "profile_chart"]

#: Default colours (RGB 0-1) of successive curves.
CURVE_COLORS = ((0.85, 0.10, 0.10), (0.10, 0.35, 0.85), (0.10, 0.60, 0.20), (0.55, 0.25, 0.70))

_ROLE = "BoneQuality.PlotRole"


@dataclass(frozen=True)
class ProfileCurve:
    """One profile to plot.

    Attributes
    ----------
    name : str
        Legend name, e.g. ``"S1"``.
    x, y : (n,) float arrays
        E.g. % of corridor length and mean HU.
    references : mapping label -> float
        Horizontal reference lines drawn dashed in the curve's colour.
    color : RGB 0-1, optional
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    references: Mapping[str, float] = field(default_factory=dict)
    color: tuple[float, float, float] | None = None


def chart_series(chart) -> dict:
    """``{series name: series node}`` of a chart node."""
    out = {}
    for i in range(chart.GetNumberOfPlotSeriesNodes()):
        s = chart.GetNthPlotSeriesNode(i)
        if s is not None:
            out[s.GetName()] = s
    return out


def _series(scene, chart, existing, name, table, x_col, y_col, color, dashed):
    s = existing.pop(name, None)
    if s is None:
        s = scene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
        s.SetAttribute(_ROLE, "series")
        chart.AddAndObservePlotSeriesNodeID(s.GetID())
    s.SetAndObserveTableNodeID(table.GetID())
    s.SetXColumnName(x_col)
    s.SetYColumnName(y_col)
    s.SetPlotType(s.PlotTypeScatter)
    s.SetMarkerStyle(s.MarkerStyleNone)
    s.SetLineStyle(s.LineStyleDash if dashed else s.LineStyleSolid)
    s.SetLineWidth(1 if dashed else 2)
    s.SetColor(*color)
    return s


def profile_chart(
    curves: Sequence[ProfileCurve],
    chart=None,
    *,
    title: str = "Profile",
    x_title: str = "x",
    y_title: str = "y",
    scene=None,
):
    """Create or update a plot chart showing ``curves`` and their reference lines.

    Returns
    -------
    vtkMRMLPlotChartNode
        Its series are named ``"<curve>"`` and ``"<curve> <reference>"``; each series'
        table is named ``"<title> <curve>"``. Series of an earlier call that are no longer
        wanted are removed with their tables.
    """
    import pandas as pd

    scene = scene or slicer.mrmlScene
    if chart is None:
        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", scene.GenerateUniqueName(title))
    chart.SetTitle(title)
    chart.SetXAxisTitle(x_title)
    chart.SetYAxisTitle(y_title)
    chart.SetLegendVisibility(True)
    existing = chart_series(chart)
    for n, curve in enumerate(curves):
        x = np.asarray(curve.x, dtype=float)
        y = np.asarray(curve.y, dtype=float)
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(f"profile {curve.name}: x {x.shape} and y {y.shape} must be equal 1-D arrays")
        color = curve.color or CURVE_COLORS[n % len(CURVE_COLORS)]
        df = pd.DataFrame({"x": x, curve.name: y})
        for label, value in curve.references.items():
            df[f"{curve.name} {label}"] = np.full(x.shape, float(value))
        old = existing.get(curve.name)
        table = old.GetTableNode() if old is not None else None
        table = dataframe_to_table_node(df, table, name=f"{title} {curve.name}", scene=scene)
        _series(scene, chart, existing, curve.name, table, "x", curve.name, color, False)
        for label in curve.references:
            col = f"{curve.name} {label}"
            _series(scene, chart, existing, col, table, "x", col, color, True)
    for s in existing.values():
        chart.RemovePlotSeriesNodeID(s.GetID())
        table = s.GetTableNode()
        scene.RemoveNode(s)
        if table is not None and not any(t.GetTableNode() is table for t in chart_series(chart).values()):
            scene.RemoveNode(table)
    return chart
