"""Report building blocks: demo/report sections and a self-contained HTML page."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DemoSection", "figure", "write_html_report"]


@dataclass(frozen=True)
class DemoSection:
    """One section of an HTML report.

    Attributes
    ----------
    title : str
    text : str
        Plain text paragraph(s) (escaped; blank lines separate paragraphs).
    table : dict or pandas.DataFrame, optional
        Key/value figures or a table.
    images : tuple of str
        Image paths relative to the report's folder.
    """

    title: str
    text: str = ""
    table: object = None
    images: tuple[str, ...] = field(default_factory=tuple)


def figure(*args, **kwargs):
    """A matplotlib figure from the non-interactive Agg backend (safe without a display)."""
    from matplotlib.figure import Figure

    return Figure(*args, **kwargs)


def _table_html(table) -> str:
    if table is None:
        return ""
    if hasattr(table, "to_html"):
        return table.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, classes="t")
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in dict(table).items()
    )
    return f'<table class="t">{rows}</table>'


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_html_report(
    path: str | os.PathLike, title: str, sections: list[DemoSection], *, intro: str = ""
) -> None:
    """Write a self-contained HTML page (images referenced relative to ``path``)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "img{max-width:100%;border:1px solid #ccc;margin:.5em 0}"
        "table.t{border-collapse:collapse;margin:.5em 0}"
        "table.t td,table.t th{border:1px solid #ccc;padding:2px 8px;text-align:left;font-size:90%}"
        "h2{border-bottom:2px solid #c33;padding-bottom:.2em}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        for para in s.text.split("\n\n"):
            if para.strip():
                parts.append(f"<p>{html.escape(para.strip())}</p>")
        parts.append(_table_html(s.table))
        for img in s.images:
            parts.append(f"<img src='{html.escape(img)}' alt='{html.escape(Path(img).stem)}'>")
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts), encoding="utf-8")
