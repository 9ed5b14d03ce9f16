"""The built HTML in a real browser: headless Chromium loads pages served on localhost.

Runs with `make check-html` (after `make book`); skipped when there is no build or no Chromium.
Screenshots of each page are saved under results/screenshots/."""

import functools
import http.server
import os
import shutil
import subprocess
import re
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars"]

pytestmark = pytest.mark.skipif(
    not (os.environ.get("PIXELBOOK_CHECK_HTML") and CHROMIUM and (HTML / "index.html").is_file()),
    reason="run `make book` then `make check-html` (needs Chromium and _build/html)")


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def chromium(*args, tmp_path):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("page,needles", [
    ("index.html", ["pixelbook", "bits/dim"]),
    ("_staged/pixelcnn.html", ["Profile:", "colab.research.google.com", "<img"]),
    ("_staged/results.html", ["paper (its own dataset)"]),
])
def test_page_renders_with_its_table_and_images(page, needles, server, tmp_path):
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", f"{server}/{page}", tmp_path=tmp_path).stdout
    for needle in needles:
        assert needle in dom, f"{page}: {needle!r} not in the rendered page"
    if page != "index.html":                               # the bpd table, rendered as a real table
        assert re.search(r"<table.*?test bpd.*?</table>", dom, re.S), f"{page}: no rendered bpd table"
    if page.endswith("pixelcnn.html"):
        images = dom.count("<img")
        assert images >= 5, f"expected the sample grid and figures, found {images} images"
    shots = REPO / "results" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    target = shots / (Path(page).stem + ".png")
    chromium("--window-size=1280,2400", "--virtual-time-budget=5000", f"--screenshot={target}", f"{server}/{page}",
             tmp_path=tmp_path)
    assert target.is_file() and target.stat().st_size > 10_000
