"""Make the docs' pictures of the page from a fresh build: docs/images/first-screen.png (the page at
1280 × 800 after the built-in model ran) and docs/images/cell.png (one cell: code over its table).

    python docs/screenshots.py

Uses the tests' Chromium (/usr/bin/chromium, or $GPT2CELLS_CHROMIUM) through Playwright; nothing is drawn by
hand, so the pictures follow the page when it changes.
"""
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import build  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

IMAGES = ROOT / "docs" / "images"
CHROMIUM = os.environ.get("GPT2CELLS_CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 300_000
CELL = "softmax"  # the attention pattern: a table of the prompt against itself


def main():
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as dist:
        build.build(dist)
        server = build.make_server(dist, port=0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(url)
            page.wait_for_function("() => document.querySelector('#notebook').dataset.completedRuns", timeout=WAIT_MS)
            page.wait_for_function("() => document.querySelector('#notebook').dataset.busy !== 'true'", timeout=WAIT_MS)
            page.wait_for_timeout(500)  # the grids draw their visible windows
            page.screenshot(path=str(IMAGES / "first-screen.png"))
            cell = page.get_by_test_id(f"cell-{CELL}")
            cell.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            cell.screenshot(path=str(IMAGES / "cell.png"))
            browser.close()
        server.shutdown()
    for name in ["first-screen.png", "cell.png"]:
        print(f"wrote docs/images/{name} ({(IMAGES / name).stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
