"""Result tables in the page: a logic's DataFrame -> trame state -> an HTML table.

The logics build the same DataFrames they write into MRML table nodes
(:func:`bonequality.mrml.logic_sacral.corridor_tables`, ...). Here they become a state
entry ``{"columns": [...], "rows": [[text, ...], ...]}`` shown by :func:`table_widget`.
Numbers are shown with :data:`DECIMALS` decimals.
"""

from __future__ import annotations

import math

__all__ = ["DECIMALS", "cell_text", "empty_table", "frame_to_state", "table_widget"]

#: Decimals of the numbers shown (0.01 HU / 0.01 mm).
DECIMALS = 2


def cell_text(value) -> str:
    """One cell as text: floats with :data:`DECIMALS` decimals, booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.{DECIMALS}f}"
    try:  # numpy scalars
        return cell_text(value.item())
    except AttributeError:
        return str(value)


def empty_table() -> dict:
    return {"columns": [], "rows": []}


def frame_to_state(frame) -> dict:
    """A DataFrame as the JSON-able state entry of :func:`table_widget`."""
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[cell_text(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def table_widget(key: str, *, test_id: str) -> None:
    """An HTML table bound to state ``key`` (element id ``test_id``), in the current layout."""
    from trame.widgets import html, vuetify3

    with vuetify3.VTable(
        density="compact", classes="bq-table text-caption", id=test_id, v_show=(f"{key}.rows.length",)
    ):
        with html.Thead(), html.Tr():
            html.Th("{{ c }}", v_for=f"c in {key}.columns", key="c", classes="px-1")
        with html.Tbody(), html.Tr(v_for=f"(r, i) in {key}.rows", key="i"):
            html.Td("{{ v }}", v_for="(v, j) in r", key="j", classes="px-1")
