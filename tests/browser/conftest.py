"""Browser fixtures shared by every test in tests/browser/: the built site, a static server, Chromium.

Fixtures
    dist_dir        session   a fresh build of the site (build.build into a session temp dir)
    site_url        session   "http://127.0.0.1:<port>/" serving dist_dir
    browser         session   headless Debian Chromium (/usr/bin/chromium, or $GPT2CELLS_CHROMIUM)
    context         function  a fresh BrowserContext: empty IndexedDB, no cache shared with other tests
    page            function  a page in that context; page errors are collected and shown on failure
    ready_page      function  `page` opened at site_url with the Python runtime ready
    wait_for_ready  function  wait_for_ready(page) -> versions dict; fails with the page's own error text
    run_python      function  run_python(page, code) -> value of the last expression (via the worker)
    call_python     function  call_python(page, "gpt2cells.mod.fn", args, kwargs) -> return value

pytest-playwright's plugin is disabled in pyproject (-p no:playwright): these names are ours.
"""

import os
import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

import build

CHROMIUM = os.environ.get("GPT2CELLS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
BOOT_TIMEOUT_MS = 180_000  # two shared cores: Pyodide + numpy can take a while under load
PYTHON_TIMEOUT_MS = 300_000


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory):
    """Build once per session into a private directory (parallel sessions never share a dist/)."""
    out_dir = tmp_path_factory.mktemp("dist")
    build.build(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def site_url(dist_dir):
    server = build.make_server(dist_dir, host="127.0.0.1", port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `bash tests/run.sh` (installs Debian chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield context
    context.close()


@pytest.fixture
def page(context, request):
    page = context.new_page()
    page.set_default_timeout(PYTHON_TIMEOUT_MS)
    errors = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on("console", lambda message: errors.append(f"console.{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and errors:
        print("\n--- browser console (errors/warnings) ---\n" + "\n".join(errors))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets `page` print console errors after a failed test
    return report


def _wait_for_ready(page, timeout_ms=BOOT_TIMEOUT_MS):
    status = page.get_by_test_id("runtime-status")
    page.wait_for_function(
        "() => ['ready', 'error'].includes(document.getElementById('runtime-status')?.dataset.state)",
        timeout=timeout_ms,
    )
    if status.get_attribute("data-state") != "ready":
        detail = page.get_by_test_id("runtime-error").text_content()
        raise AssertionError(f"runtime failed to boot: {status.text_content()}\n{detail}")
    return page.evaluate("() => window.gpt2cells.runtime.ready")


@pytest.fixture
def wait_for_ready():
    return _wait_for_ready


@pytest.fixture
def ready_page(page, site_url):
    page.goto(site_url)
    _wait_for_ready(page)
    return page


_REQUEST_JS = """async ([kind, payload]) => {
  const runtime = window.gpt2cells.runtime;
  try {
    const result = kind === "exec" ? await runtime.exec(payload.code)
                                   : await runtime.call(payload.fn, payload.args, payload.kwargs);
    return {ok: true, value: result.value, repr: result.repr, stdout: result.stdout};
  } catch (error) {
    return {ok: false, type: error.pythonType || error.name, traceback: error.traceback || String(error)};
  }
}"""


def _python_request(page, kind, payload):
    result = page.evaluate(_REQUEST_JS, [kind, payload])
    if not result["ok"]:
        raise AssertionError(f"Python raised {result['type']} in the page:\n{result['traceback']}")
    return result["value"] if result["repr"] is None else result["repr"]


@pytest.fixture
def run_python():
    """run_python(page, code): the value of code's last expression, converted by the worker to JS and back."""
    return lambda page, code: _python_request(page, "exec", {"code": code})


@pytest.fixture
def call_python():
    """call_python(page, "module.function", args=[], kwargs={}): the function's return value."""
    return lambda page, fn, args=(), kwargs=None: _python_request(
        page, "call", {"fn": fn, "args": list(args), "kwargs": kwargs or {}})
