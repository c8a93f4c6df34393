#!/usr/bin/env python3
"""Check the built book in headless Chromium: no table is wider than the text
column, at 1280 px (desktop) and at 390 px (a phone), and every image (the
diagrams, the performance chart) loads and fits.

Usage (from the repository root, after `mdbook build workbook`):

    python3 workbook/tools/check_rendering.py [--shots DIR]

It serves target/book on 127.0.0.1, loads every chapter page into an iframe
of each width (an iframe's width is its page's viewport), measures every
table against the page's `main` column, and prints one line per overflow.
With --shots it also saves screenshots of the widest-table pages at both
widths, to look at. Exit status: 0 when everything fits, 1 when a table
overflows, 2 when Chromium is missing or printed no result.

Chromium is Debian's (`apt-get install chromium`), started with the flags
this machine needs (no sandbox as root, no background networking).
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOK = os.path.join(ROOT, "target", "book")
WIDTHS = [1280, 390]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

HARNESS = """<!doctype html>
<html><body>
<pre id="out">pending</pre>
<script>
const pages = %(pages)s;
const widths = %(widths)s;
const results = [];
function measure(doc, page, width) {
  const main = doc.querySelector('main');
  const col = main.getBoundingClientRect();
  const tables = doc.querySelectorAll('main table');
  tables.forEach((t, i) => {
    const r = t.getBoundingClientRect();
    const over = Math.max(r.right - col.right, t.scrollWidth - t.clientWidth,
                          doc.documentElement.scrollWidth - doc.documentElement.clientWidth);
    results.push({page, width, table: i, right: r.right, col: col.right,
                  scroll: t.scrollWidth, client: t.clientWidth, over});
  });
  doc.querySelectorAll('main img').forEach((img, i) => {
    const r = img.getBoundingClientRect();
    results.push({page, width, image: img.getAttribute('src'),
                  loaded: img.complete && img.naturalWidth > 0,
                  over: r.right - col.right});
  });
  results.push({page, width, table: -1, tables: tables.length, col: col.right});
}
async function run() {
  for (const w of widths) {
    for (const p of pages) {
      const f = document.createElement('iframe');
      f.style.width = w + 'px';
      f.style.height = '900px';
      f.style.border = '0';
      document.body.appendChild(f);
      await new Promise(ok => { f.onload = ok; f.src = p; });
      await new Promise(ok => setTimeout(ok, 50));
      measure(f.contentDocument, p, w);
      f.remove();
    }
  }
  document.getElementById('out').textContent = 'RESULT ' + JSON.stringify(results);
}
run();
</script>
</body></html>
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def serve(directory):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=directory)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def browser(exe, args):
    profile = tempfile.mkdtemp(prefix="check-rendering-")
    try:
        return subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def main():
    shots = None
    if "--shots" in sys.argv:
        shots = sys.argv[sys.argv.index("--shots") + 1]
        os.makedirs(shots, exist_ok=True)
    exe = chromium()
    if exe is None:
        print("check_rendering: no chromium found (apt-get install chromium)")
        return 2
    if not os.path.exists(os.path.join(BOOK, "index.html")):
        print(f"check_rendering: {BOOK} has no built book (mdbook build workbook)")
        return 2
    pages = sorted(
        f
        for f in os.listdir(BOOK)
        if re.match(r"(ch\d\d_|appendix_|introduction).*\.html$", f)
    )
    harness = os.path.join(BOOK, "_check_rendering.html")
    with open(harness, "w") as f:
        f.write(HARNESS % {"pages": json.dumps(pages), "widths": json.dumps(WIDTHS)})
    httpd = serve(BOOK)
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        run = browser(
            exe,
            [
                "--virtual-time-budget=120000",
                "--window-size=1400,1000",
                "--dump-dom",
                base + "_check_rendering.html",
            ],
        )
        m = re.search(r"RESULT (\[.*?\])</pre>", run.stdout, re.S)
        if not m:
            print("check_rendering: Chromium printed no result")
            print(run.stdout[-2000:], run.stderr[-2000:])
            return 2
        results = json.loads(m.group(1).replace("&quot;", '"'))
        seen = [r for r in results if r.get("table") == -1]
        tables = [r for r in results if r.get("table", -1) >= 0]
        images = [r for r in results if "image" in r]
        bad = [r for r in tables if r["over"] > 1]
        broken = [r for r in images if not r["loaded"] or r["over"] > 1]
        print(
            f"check_rendering: {len(seen)} page loads at {WIDTHS} px, "
            f"{len(tables)} tables measured, {len(bad)} overflowing; "
            f"{len(images)} images, {len(broken)} missing or too wide"
        )
        for r in bad:
            print(
                f"  {r['page']} at {r['width']} px: table {r['table']} "
                f"overflows by {r['over']:.0f} px"
            )
        for r in broken:
            print(
                f"  {r['page']} at {r['width']} px: image {r['image']} "
                f"{'did not load' if not r['loaded'] else 'overflows'}"
            )
        if shots:
            wide = ["appendix_python_to_rust.html", "ch17_communicate.html"]
            for page in wide:
                for w, h in [(1280, 2400), (390, 3000)]:
                    out = os.path.join(shots, f"{page[:-5]}_{w}.png")
                    browser(
                        exe,
                        [f"--window-size={w},{h}", f"--screenshot={out}", base + page],
                    )
                    print(f"  screenshot {out}")
        return 1 if bad or broken else 0
    finally:
        httpd.shutdown()
        os.remove(harness)


if __name__ == "__main__":
    sys.exit(main())
