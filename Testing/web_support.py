"""Helpers of the browser tests: the ``bonequality view`` server, headless Chromium, clicks at LPS points.

The views are streamed images, so a point is found through the geometry the server
publishes (trigger ``bq_view_geometry``, :mod:`bonequality.web.coordinates`): the test sets a
view's slice slider so the plane goes through the point, maps the point to the view's
pixels and clicks there with the mouse, as a user would.

Chromium is Debian's (``/usr/bin/chromium``) driven by Playwright's bundled driver; tests
skip with the reason when trame, Playwright or Chromium are missing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1600, "height": 1000}
#: Seconds to wait for the server to print its URL (the first start imports VTK and MRML).
START_TIMEOUT_S = 120.0
URL = re.compile(r"http://127\.0\.0\.1:(\d+)/")
#: Slice view used to click each landmark: midline points in the sagittal view, foramina in
#: the coronal view, the rest in the axial view (all three are exercised).
SAGITTAL_LABELS = ("S1_body_top", "S2_body_ventral_mid", "L5_body_center")


def missing_web() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    for module in ("trame", "trame_slicer", "playwright", "slicer"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[test,web]')"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def require_web() -> None:
    reason = missing_web()
    if reason:
        pytest.skip(reason)


def in_process_app(image, landmarks=None):
    """``bonequality view``'s application on ``image``, driven in process (no browser, no server loop)."""
    require_web()
    from bonequality.web.app import BoneQualityApp
    from bonequality.web.scene import read_inputs

    return BoneQualityApp(read_inputs(image, landmarks_path=landmarks))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ViewServer:
    """``bonequality view ...`` in a subprocess; ``url`` once it listens."""

    def __init__(self, *args, port: int | None = None):
        self.port = port or free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.command = [
            sys.executable,
            "-m",
            "bonequality.cli",
            "view",
            *map(str, args),
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}/"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            if URL.search(line):
                self._ready.set()
        self._ready.set()

    def wait(self, timeout: float = START_TIMEOUT_S) -> str:
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            raise AssertionError("server did not start:\n" + "".join(self.lines[-30:]))
        return self.url

    def stop(self, sig=signal.SIGTERM, timeout: float = 5.0) -> tuple[int, float]:
        """Send ``sig`` and wait; returns (exit code, seconds it took)."""
        t0 = time.perf_counter()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server did not stop within {timeout} s after {sig!r}") from None
        return code, time.perf_counter() - t0


@contextmanager
def view_server(*args):
    server = ViewServer(*args)
    try:
        server.wait()
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
        server.process.stdout.close()


@contextmanager
def chromium_page(url: str):
    """A fresh headless Chromium (own profile folder) with ``url`` loaded and the first frames in."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="bq-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT
            )
            try:
                page = context.new_page()
                page.goto(url)
                wait_ready(page)
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_ready(page, timeout_ms: float = 60_000) -> None:
    """Wait for the state and a first frame in every slice view."""
    page.wait_for_function(
        "window.trame && window.trame.state && window.trame.state.get('app_panel')", timeout=timeout_ms
    )
    page.wait_for_function(
        "Array.from(document.querySelectorAll('img.image-display-area'))"
        ".filter(i => i.naturalWidth > 0).length >= 4",
        timeout=timeout_ms,
    )


def state(page, key: str):
    return page.evaluate(f"window.trame.state.get({key!r})")


def set_state(page, key: str, value) -> None:
    import json

    page.evaluate(f"window.trame.state.set({key!r}, {json.dumps(value)})")


def geometry(page) -> dict:
    return page.evaluate("window.trame.trigger('bq_view_geometry')")


def view_box(page, tag: str) -> dict:
    """The page box (CSS px) of the streamed image of view ``tag``."""
    return page.evaluate(
        """(tag) => {
            const label = document.getElementById('bq-view-' + tag);
            const area = label.parentElement.querySelector('.remote-controlled-area');
            const r = area.getBoundingClientRect();
            return {x: r.left, y: r.top, width: r.width, height: r.height};
        }""",
        tag,
    )


def wait_until(predicate, timeout: float = 10.0, period: float = 0.05, what: str = "condition"):
    t0 = time.perf_counter()
    while True:
        value = predicate()
        if value:
            return value
        if time.perf_counter() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(period)


def move_slice_to(page, tag: str, lps) -> dict:
    """Set view ``tag``'s slice slider so its plane goes through ``lps``; returns its geometry."""
    from bonequality.web.coordinates import slice_offset_of

    g = geometry(page)[tag]
    offset = slice_offset_of(g, lps)
    set_state(page, g["slider"], offset)
    return wait_until(
        lambda: (lambda g2: g2 if abs(g2["offset"] - offset) < 1e-6 else None)(geometry(page)[tag]),
        what=f"{tag} slice at {offset:.2f} mm",
    )


def pixel_of(page, tag: str, lps, g: dict | None = None) -> tuple[float, float]:
    """Page coordinates (CSS px) of ``lps`` in view ``tag`` (its plane must go through it)."""
    from bonequality.web.coordinates import lps_to_view_pixel

    g = g or geometry(page)[tag]
    x, y, distance = lps_to_view_pixel(g, lps)
    assert abs(distance) < 1e-3, f"{tag} plane is {distance:.2f} mm from the point"
    box = view_box(page, tag)
    w, h = g["size"]
    return box["x"] + x * box["width"] / w, box["y"] + y * box["height"] / h


def click_lps(page, tag: str, lps) -> None:
    g = move_slice_to(page, tag, lps)
    x, y = pixel_of(page, tag, lps, g)
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def pixel_mm(g: dict) -> float:
    """Size (mm) of one pixel of a slice view."""
    import numpy as np

    m = np.asarray(g["xy_to_ras"], dtype=float).reshape(4, 4)
    return float(np.linalg.norm(m[:3, 0]))


def view_for(label: str) -> str:
    if label in SAGITTAL_LABELS or label.startswith("S1_corner"):
        return "Yellow"
    if "foramen" in label:
        return "Green"
    return "Red"


def placed(page) -> dict:
    return {p["label"]: p["lps"] for p in state(page, "sacral_landmarks") if p["placed"]}


def place_by_click(page, label: str, lps) -> tuple[list[float], float]:
    """ "Place next", then a click at ``lps`` in the landmark's view.

    Returns the placed point and the pixel size (mm) of the view it was clicked in.
    """
    assert state(page, "sacral_next_label") == label
    page.click("#bq-sacral-place")
    wait_until(lambda: state(page, "sacral_placing"), what="place mode")
    tag = view_for(label)
    g = move_slice_to(page, tag, lps)
    x, y = pixel_of(page, tag, lps, g)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    return wait_until(lambda: placed(page).get(label), what=f"{label} placed"), pixel_mm(g)


def table(page, element_id: str) -> list[dict]:
    """An HTML table of the page as rows of column -> text."""
    return page.evaluate(
        """(id) => {
            const t = document.getElementById(id);
            if (!t) return [];
            const cols = Array.from(t.querySelectorAll('thead th')).map(c => c.textContent.trim());
            return Array.from(t.querySelectorAll('tbody tr')).map(r => {
                const cells = Array.from(r.querySelectorAll('td')).map(c => c.textContent.trim());
                return Object.fromEntries(cols.map((c, i) => [c, cells[i]]));
            });
        }""",
        element_id,
    )


def screenshot(page, name: str, tmp_path: Path) -> Path:
    """Save a screenshot in ``tmp_path`` and, when ``BQ_DOCS_SCREENSHOTS`` names a folder, there too."""
    out = tmp_path / f"{name}.png"
    page.screenshot(path=str(out))
    docs = os.environ.get("BQ_DOCS_SCREENSHOTS")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(docs) / f"{name}.png")
    return out


def wait_idle(page, key: str = "sacral_revision", quiet: float = 0.5, timeout: float = 5.0) -> None:
    """Wait until ``key`` has not changed for ``quiet`` seconds (the server caught up)."""
    t0 = time.perf_counter()
    last, since = state(page, key), time.perf_counter()
    while time.perf_counter() - since < quiet:
        if time.perf_counter() - t0 > timeout:
            raise AssertionError(f"{key} kept changing for {timeout} s")
        time.sleep(0.05)
        now = state(page, key)
        if now != last:
            last, since = now, time.perf_counter()


def coloured_fraction(page, tag: str) -> float:
    """Fraction of view ``tag``'s pixels that are coloured (the CT alone is grey)."""
    import io

    import numpy as np
    from PIL import Image

    png = page.screenshot(clip=view_box(page, tag))
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    return float(((rgb.max(axis=2) - rgb.min(axis=2)) > 40).mean())


def assert_sacroplasty_table_equals_cli(rows: list[dict], summary: dict, mm_tol: float) -> None:
    """The page's six sacroplasty rows against ``bonequality sacroplasty``'s summary.json."""
    assert len(rows) == 6
    for row in rows:
        cli = summary[row["Side"]][row["Trajectory"].replace(" ", "_")]
        distance = float(row["Distance to anterior cortex (mm)"])
        assert distance == pytest.approx(cli["distance_to_anterior_cortex_mm"], abs=mm_tol)
        assert float(row["Needle depth (mm)"]) == pytest.approx(cli["needle_depth_mm"], abs=mm_tol)
