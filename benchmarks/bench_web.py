"""Benchmark the browser front end (``bonequality view``) in headless Chromium.

Prints, as ratios against a baseline measured in the same run (a no-op round trip to the
server: the ``bq_view_geometry`` trigger), with the server's memory (RSS):

1. page load -> first frame in all four views;
2. a landmark drag (S1_body_top, 5 mm in the sagittal view) -> the updated tables and the
   next frame of that view after them (target: tables within 1 s), and the server's own
   time for the live re-analysis of each drag (target: 50 ms).

Needs the ``[web]`` extra and Debian's chromium; skipped with a message otherwise. Other
helpers share this 2-core machine, so absolute timings are pessimistic.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _start(image, marks) -> tuple[subprocess.Popen, str, float]:
    port = _port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bonequality.cli",
            "view",
            str(image),
            "--landmarks",
            str(marks),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for line in proc.stdout:
        if re.search(rf"http://127\.0\.0\.1:{port}/", line):
            return proc, f"http://127.0.0.1:{port}/", time.perf_counter() - t0
    raise RuntimeError("the server did not start")


def _drag(page, geometry_of) -> tuple[float, float]:
    from bonequality.web.coordinates import lps_to_view_pixel, slice_offset_of

    start = np.array(next(p["lps"] for p in page.evaluate("window.trame.state.get('sacral_landmarks')")
                          if p["label"] == "S1_body_top"))  # fmt: skip
    g = geometry_of()["Yellow"]
    page.evaluate(f"window.trame.state.set({g['slider']!r}, {slice_offset_of(g, start)})")
    page.wait_for_timeout(500)
    g = geometry_of()["Yellow"]
    box = page.evaluate("(() => { const a = document.getElementById('bq-view-Yellow').parentElement"
                        ".querySelector('.remote-controlled-area').getBoundingClientRect();"
                        " return [a.left, a.top]; })()")  # fmt: skip
    (x0, y0, _), (x1, y1, _) = lps_to_view_pixel(g, start), lps_to_view_pixel(g, np.add(start, [0, 5, 0]))
    page.mouse.move(box[0] + x0 - 3, box[1] + y0)
    page.mouse.move(box[0] + x0, box[1] + y0)
    page.wait_for_timeout(300)
    page.mouse.down()
    for f in np.linspace(0.05, 1.0, 20):
        page.mouse.move(box[0] + x0 + f * (x1 - x0), box[1] + y0 + f * (y1 - y0))
        page.wait_for_timeout(60)
    page.wait_for_timeout(200)
    revision = page.evaluate("window.trame.state.get('sacral_revision')")
    src = page.evaluate("document.getElementById('bq-view-Yellow').parentElement.querySelector('img').src")
    page.mouse.up()
    t0 = time.perf_counter()
    page.wait_for_function(f"window.trame.state.get('sacral_revision') > {revision}", polling=5)
    tables = time.perf_counter() - t0
    page.wait_for_function(
        f"document.getElementById('bq-view-Yellow').parentElement.querySelector('img').src !== {src!r}",
        polling=5,
    )
    return tables, time.perf_counter() - t0


def main() -> int:
    missing = [m for m in ("trame_slicer", "playwright") if importlib.util.find_spec(m) is None]
    if missing or not Path(CHROMIUM).exists():
        need = ", ".join(missing) or CHROMIUM
        print(f"skipped: needs {need} (pip install -e '.[web]', apt-get install chromium)")
        return 0
    from playwright.sync_api import sync_playwright

    from bonequality.phantoms import write_phantom
    from bonequality.phantoms.pelvis import make_pelvis

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_phantom(make_pelvis(spacing=(1.5, 1.5, 1.5)), Path(tmp) / "pelvis.nrrd")
        proc, url, started = _start(paths["image"], paths["landmarks"])
        rss_at_url = _rss_mb(proc.pid)
        try:
            with sync_playwright() as p:
                context = p.chromium.launch_persistent_context(
                    Path(tmp) / "profile", executable_path=CHROMIUM, headless=True, args=ARGS,
                    viewport={"width": 1600, "height": 1000},
                )  # fmt: skip
                page = context.new_page()
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_function(
                    "Array.from(document.querySelectorAll('img.image-display-area'))"
                    ".filter(i => i.naturalWidth > 0).length >= 4",
                    polling=10,
                )
                first_frame = time.perf_counter() - t0
                page.wait_for_function("window.trame.state.get('sacral_revision') > 0")

                def geometry_of():
                    return page.evaluate("window.trame.trigger('bq_view_geometry')")

                trips = []
                for _ in range(20):
                    t = time.perf_counter()
                    geometry_of()
                    trips.append(time.perf_counter() - t)
                baseline = statistics.median(trips)
                drags, update_ms = [], []
                for _ in range(5):
                    drags.append(_drag(page, geometry_of))
                    update_ms.append(float(page.evaluate("window.trame.state.get('sacral_update_ms')")))
                context.close()
            rss = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()
    tables = statistics.median(d[0] for d in drags)
    frame = statistics.median(d[1] for d in drags)
    print(
        f"server start to URL: {started:.1f} s; server RSS at the URL {rss_at_url:.0f} MB, "
        f"after the run {rss:.0f} MB"
    )
    print(f"baseline, no-op server round trip (median of 20): {1000 * baseline:.1f} ms")
    print(f"page load -> first frame in 4 views: {1000 * first_frame:.0f} ms ({first_frame / baseline:.0f}x)")
    print(f"drag end -> tables updated (median of 5): {1000 * tables:.0f} ms ({tables / baseline:.0f}x; "
          f"target < 1000 ms)")  # fmt: skip
    print(f"server live re-analysis (corridors + sacroplasty + result nodes) per drag: median "
          f"{statistics.median(update_ms):.1f} ms, max {max(update_ms):.1f} ms (target < 50 ms); "
          f"in drag order: {', '.join(f'{t:.0f}' for t in update_ms)} ms")  # fmt: skip
    print(f"drag end -> next frame of the dragged view: {1000 * frame:.0f} ms ({frame / baseline:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
