"""Widgets shared by the panels: status line (progress, cancel, messages), path and export rows."""

from __future__ import annotations

__all__ = [
    "mustache",
    "path_row",
    "segment_legend",
    "status_ui",
    "thermal_gradient_css",
    "thermal_legend",
]


def mustache(expression: str) -> str:
    """``{{ expression }}``: a state expression shown as text in the page."""
    return "{{ " + expression + " }}"


def status_ui(prefix: str, cancel) -> None:
    """Progress bar with Cancel while ``<prefix>_busy``; the error (red) and info messages.

    They stick to the top of the panel as it scrolls, so the message of an action at the
    bottom (Export) is seen where the user is.
    """
    from trame.widgets import html
    from trame.widgets import vuetify3 as v

    with html.Div(
        classes="bg-surface", style="position: sticky; top: 0; z-index: 3", id=f"bq-{prefix}-status"
    ):
        with html.Div(v_if=(f"{prefix}_busy",), classes="py-2", id=f"bq-{prefix}-progress"):
            html.Div(mustache(f"{prefix}_progress_text"), classes="text-caption")
            with html.Div(classes="d-flex align-center ga-2"):
                v.VProgressLinear(model_value=(f"{prefix}_progress",), height=6, color="primary")
                v.VBtn("Cancel", click=cancel, size="x-small", id=f"bq-{prefix}-cancel")
        v.VAlert(
            mustache(f"{prefix}_error"),
            v_if=(f"{prefix}_error",),
            type="error",
            density="compact",
            classes="my-2 text-caption",
            id=f"bq-{prefix}-error",
        )
        v.VAlert(
            mustache(f"{prefix}_info"),
            v_if=(f"{prefix}_info",),
            type="info",
            density="compact",
            variant="tonal",
            classes="my-2 text-caption",
            id=f"bq-{prefix}-info",
        )


def path_row(key: str, label: str, buttons) -> None:
    """A server-side path field with buttons ``[(text, callback), ...]``."""
    from trame.widgets import html
    from trame.widgets import vuetify3 as v

    element = key.replace("_", "-")
    v.VTextField(v_model=(key,), label=label, density="compact", hide_details=True, id=f"bq-{element}")
    with html.Div(classes="d-flex ga-2 my-1"):
        for text, callback in buttons:
            v.VBtn(text, click=callback, size="small", id=f"bq-{element}-{text.lower()}")


def thermal_gradient_css() -> str:
    """The thermal scale (:data:`bonequality.colors.THERMAL_STOPS`) as a CSS gradient, cold to hot."""
    from ..colors import THERMAL_STOPS

    stops = ", ".join(
        f"rgb({round(r * 255)}, {round(g * 255)}, {round(b * 255)}) {p * 100:g}%"
        for p, (r, g, b) in THERMAL_STOPS
    )
    return f"linear-gradient(to right, {stops})"


def thermal_legend(low: str, high: str, *, element_id: str, v_if: str | None = None) -> None:
    """A colour bar of the thermal scale with the values of its ends (text or ``{{ }}`` expressions)."""
    from trame.widgets import html

    with html.Div(classes="d-flex align-center ga-2 my-1 text-caption", id=element_id, v_if=v_if):
        html.Span(low, classes="bq-legend-low")
        html.Div(style=f"flex: 1; height: 10px; border-radius: 2px; background: {thermal_gradient_css()}")
        html.Span(high, classes="bq-legend-high")


def segment_legend(colors: dict, *, element_id: str, v_if: str | None = None) -> None:
    """Colour chips naming segments: ``{name: (r, g, b) 0-1}`` (the segmentation's own colours)."""
    from trame.widgets import html

    with html.Div(classes="d-flex flex-wrap align-center ga-3 my-1 text-caption", id=element_id, v_if=v_if):
        for name, (r, g, b) in colors.items():
            with html.Span(classes="d-flex align-center ga-1"):
                rgb = f"rgb({round(r * 255)}, {round(g * 255)}, {round(b * 255)})"
                html.Span(style=f"width: 12px; height: 12px; border-radius: 2px; background: {rgb}")
                html.Span(name)
