"""The built HTML in a real browser: headless Chromium loads every page served on localhost.

Runs with `make check-html` (after `make book`); skipped when there is no build or no Chromium.
Each chapter page is loaded inside a same-origin harness page, whose script reads the rendered
chapter: MathJax's output elements, any raw \\( or \\[ left in the text, every image's natural
size and the rows of every table. Chromium dumps the harness, so the test reads what a browser
really rendered. A full-page screenshot of each chapter lands in results/screenshots/."""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
SHOTS = REPO / "results" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars"]
PAGES = sorted(p.stem for p in (HTML / "book").glob("*.html")) if (HTML / "book").is_dir() else []
TRAINS = {"pixelcnn", "pixelrnn", "gated_pixelcnn", "pixelcnn_pp", "auxiliary", "imagegpt", "leaderboard", "results"}

pytestmark = pytest.mark.skipif(
    not (os.environ.get("PIXELBOOK_CHECK_HTML") and CHROMIUM and (HTML / "index.html").is_file()),
    reason="run `make book` then `make check-html` (needs Chromium and _build/html)")

HARNESS = """<!doctype html><html><body><pre id="report">pending</pre>
<iframe id="page" src="/book/{page}.html" style="width:1280px;height:900px;border:0"></iframe>
<script>
const frame = document.getElementById("page");
frame.onload = () => setTimeout(() => {{
  const d = frame.contentDocument;
  const text = d.body.innerText;
  document.getElementById("report").textContent = JSON.stringify({{
    images: [...d.images].map(i => [i.getAttribute("src"), i.complete && i.naturalWidth > 0]),
    math_sources: d.querySelectorAll(".math").length,
    rendered_math: d.querySelectorAll("mjx-container").length,
    raw_math: (text.match(/\\\\\\(|\\\\\\[/g) || []).length,
    tables: [...d.querySelectorAll("table")].map(t => [t.querySelector("thead") ? t.querySelector("thead").innerText : "",
                                                       t.querySelectorAll("tbody tr").length]),
    height: d.documentElement.scrollHeight,
  }});
}}, 4000);
</script></body></html>"""


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        found = re.fullmatch(r"/__check/(\w+)", self.path)
        if not found:
            return super().do_GET()
        body = HARNESS.format(page=found.group(1)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(HTML)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def chromium(*args, tmp_path):
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=180)


def rendered(server, page, tmp_path) -> dict:
    dom = chromium("--virtual-time-budget=15000", "--dump-dom", f"{server}/__check/{page}", tmp_path=tmp_path).stdout
    found = re.search(r'<pre id="report">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "pending", f"{page}: the harness never read the page"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))


def test_every_chapter_is_built():
    chapters = {p.stem for p in (REPO / "book").glob("*.md")}
    assert chapters <= set(PAGES), f"chapters without a page: {sorted(chapters - set(PAGES))}"


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_its_formulas_images_and_tables(page, server, tmp_path):
    report = rendered(server, page, tmp_path)
    broken = [src for src, ok in report["images"] if not ok]
    assert not broken, f"{page}: images that did not load: {broken}"
    assert report["raw_math"] == 0, f"{page}: {report['raw_math']} formulas left as raw \\( or \\["
    if report["math_sources"]:
        assert report["rendered_math"] >= report["math_sources"], (
            f"{page}: {report['rendered_math']} of {report['math_sources']} formulas rendered by MathJax")
    if page in TRAINS:
        bpd = [rows for head, rows in report["tables"] if "test bpd" in head or "mean" in head]
        assert bpd and all(rows > 0 for rows in bpd), f"{page}: no bpd table with rows ({report['tables']})"
        assert report["images"], f"{page}: no figures"
    screenshot(server, page, report, tmp_path)


def screenshot(server, page, report, tmp_path):
    """results/screenshots/<page>.jpg, the whole page as a small JPEG (the set stays near 2 MB),
    written only when the page's HTML changed since the last one (its hash is in pages.json), so a
    rerun that changes nothing commits nothing. Sphinx's cache-busting ``?v=<hash>`` on static links,
    which an incremental build adds and a clean one leaves out, is not part of the hash."""
    import hashlib
    import json
    import re

    from PIL import Image
    SHOTS.mkdir(parents=True, exist_ok=True)
    target, hashes = SHOTS / f"{page}.jpg", SHOTS / "pages.json"
    known = json.loads(hashes.read_text()) if hashes.is_file() else {}
    html = re.sub(rb"\?v=[0-9a-f]{8}\b", b"", (HTML / "book" / f"{page}.html").read_bytes())
    digest = hashlib.sha256(html).hexdigest()[:16]
    if target.is_file() and known.get(page) == digest:
        return
    height = min(max(int(report["height"]), 900), 12_000)                 # the whole page, within reason
    png = tmp_path / f"{page}.png"
    chromium(f"--window-size=1280,{height}", "--virtual-time-budget=15000", f"--screenshot={png}",
             f"{server}/book/{page}.html", tmp_path=tmp_path)
    image = Image.open(png).convert("RGB")
    image.thumbnail((640, 640 * image.height // image.width))           # 640 pixels wide: a set of about 2 MB
    image.save(target, "JPEG", quality=45, optimize=True)
    assert target.stat().st_size > 5_000
    hashes.write_text(json.dumps({**known, page: digest}, indent=1, sort_keys=True) + "\n")
