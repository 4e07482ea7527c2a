"""The built page boots Pyodide in a worker, offline, and runs numpy + regex Python in real Chromium."""

import json
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import regex

ROOT = Path(__file__).resolve().parents[2]
LOCK = json.loads((ROOT / "node_modules" / "pyodide" / "pyodide-lock.json").read_text())


def test_page_reports_ready_with_python_314_and_numpy_from_the_lock(ready_page):
    status = ready_page.get_by_test_id("runtime-status").text_content()
    assert status.strip().endswith("ready")
    lock_python = LOCK["info"]["python"].rsplit(".", 1)[0]  # "3.14"
    python_shown = ready_page.get_by_test_id("python-version").text_content()
    assert python_shown.startswith(lock_python + "."), (python_shown, lock_python)
    assert ready_page.get_by_test_id("numpy-version").text_content() == LOCK["packages"]["numpy"]["version"]
    assert ready_page.get_by_test_id("regex-version").text_content() == LOCK["packages"]["regex"]["version"]
    assert LOCK["packages"]["numpy"]["version"] == "2.4.3"
    assert lock_python == "3.14"


def test_python_in_the_page_is_pyodide_314(ready_page, run_python):
    info = run_python(ready_page, "import sys, numpy\n"
                                  "{'platform': sys.platform, 'version': list(sys.version_info[:2]),"
                                  " 'numpy': numpy.__version__}")
    assert info == {"platform": "emscripten", "version": [3, 14], "numpy": "2.4.3"}


def test_page_imports_numpy_from_the_bytecode_build_py_compiled(ready_page, run_python):
    loaded = run_python(ready_page, "import os, sys\n"
                                    "[(name, os.path.exists(module.__cached__)) for name, module in sys.modules.items()\n"
                                    " if name.split('.')[0] in ('numpy', 'regex') and getattr(module, '__cached__', None)]")
    assert len(loaded) > 20 and all(found for _, found in loaded), loaded


def test_regex_unicode_classes_match_cpython_regex(ready_page, run_python):
    text = "naïve café: 12 Ωmega-tests, Ünïcödé!"
    pattern = r" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+"  # \p{..} is what the stdlib re lacks
    in_page = run_python(ready_page, f"import regex\nregex.findall({pattern!r}, {text!r})")
    assert in_page == regex.findall(pattern, text)


def test_numpy_math_matches_host_numpy(ready_page, run_python):
    code = ("import numpy as np\n"
            "x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)\n"
            "e = np.exp(x - x.max(axis=-1, keepdims=True))\n"
            "(e / e.sum(axis=-1, keepdims=True)).astype(np.float64).tolist()")
    in_page = np.array(run_python(ready_page, code))
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(in_page, e / e.sum(axis=-1, keepdims=True), rtol=1e-6)


def test_first_cell_table_equals_the_same_code_run_by_cpython(ready_page):
    output = ready_page.get_by_test_id("first-cell-output")
    output.locator("table").wait_for()
    code = ready_page.get_by_test_id("first-cell-code").input_value()
    *body, last = code.rstrip().split("\n\n")
    namespace = {}
    exec("\n\n".join(body), namespace)
    expected = eval(last, namespace)
    headers = output.locator("thead th").all_text_contents()
    rows = [row.locator("td").all_text_contents() for row in output.locator("tbody tr").all()]
    assert headers == expected["columns"]
    assert len(rows) == len(expected["rows"]) > 3
    for shown, (piece, chars, cumulative, share) in zip(rows, expected["rows"]):
        assert shown[:3] == [piece, str(chars), str(cumulative)]
        assert float(shown[3]) == round(share, 4)


def test_no_request_leaves_the_pages_origin(context, site_url, wait_for_ready):
    origin = urlsplit(site_url)[:2]
    routed, seen = [], []
    context.route("**/*", lambda route: (routed.append(route.request.url), route.continue_()))
    page = context.new_page()
    page.on("request", lambda request: seen.append(request.url))
    page.goto(site_url)
    wait_for_ready(page)
    page.get_by_test_id("first-cell-output").locator("table").wait_for()
    requested = set(routed) | set(seen)
    foreign = sorted(url for url in requested
                     if not url.startswith("data:") and urlsplit(url)[:2] != origin)
    assert foreign == []
    # the worker's fetches went through the same checks (proves the recording covered them)
    assert any(url.endswith("/pyodide/pyodide.asm.wasm") for url in routed)
    assert any(url.endswith(".whl") for url in routed)
    assert any(url.endswith("/gpt2cells.zip") for url in routed)


def test_python_error_comes_back_with_its_traceback(ready_page):
    result = ready_page.evaluate("""async () => {
      try { await window.gpt2cells.runtime.exec("def f():\\n    return 1 / 0\\nf()"); return null; }
      catch (e) { return {name: e.name, type: e.pythonType, message: e.message, traceback: e.traceback}; }
    }""")
    assert result["name"] == "PythonError"
    assert result["type"] == "ZeroDivisionError"
    assert result["message"] == "ZeroDivisionError: division by zero"
    assert 'File "<exec>", line 2, in f' in result["traceback"]
    assert "_pyodide" not in result["traceback"]


def test_first_cell_error_is_shown_in_the_page(ready_page):
    ready_page.get_by_test_id("first-cell-output").locator("table").wait_for()
    ready_page.get_by_test_id("first-cell-code").fill("import numpy as np\nnp.zeros(3) @ np.zeros(4)")
    ready_page.get_by_test_id("first-cell-run").click()
    traceback = ready_page.get_by_test_id("first-cell-output").locator(".traceback")
    traceback.wait_for()
    assert "ValueError" in traceback.text_content()
    assert "ValueError" in ready_page.get_by_test_id("first-cell-state").text_content()


def test_call_transfers_buffers_and_reports_progress(ready_page, run_python):
    run_python(ready_page, """
import sys, types
demo = types.ModuleType("demo_progress")
def checksum(data, scale, progress=None):
    values = memoryview(data).cast("f")
    for i in range(len(values)):
        progress({"done": i + 1, "total": len(values)})
    return {"sum": sum(values) * scale, "kind": type(data).__name__}
demo.checksum = checksum
sys.modules["demo_progress"] = demo
""")
    result = ready_page.evaluate("""async () => {
      const data = new Float32Array([1.5, 2.5, 4]);
      const progress = [];
      const r = await window.gpt2cells.runtime.call("demo_progress.checksum", [data.buffer], {scale: 2},
                                                     {transfer: [data.buffer], onProgress: (p) => progress.push(p)});
      return {value: r.value, progress, lengthAfterTransfer: data.length};
    }""")
    assert result["value"] == {"sum": 16.0, "kind": "memoryview"}
    assert result["progress"] == [{"done": i, "total": 3} for i in (1, 2, 3)]
    assert result["lengthAfterTransfer"] == 0  # the buffer moved to the worker instead of being copied


def test_restart_interrupts_a_runaway_cell(ready_page, wait_for_ready, run_python):
    run_python(ready_page, "state = 'before restart'")
    outcome = ready_page.evaluate("""async () => {
      const runtime = window.gpt2cells.runtime;
      const runaway = runtime.exec("while True:\\n    pass").then(() => "finished", (e) => e.pythonType);
      await new Promise((resolve) => setTimeout(resolve, 500));
      runtime.restart();
      return await runaway;
    }""")
    assert outcome == "RuntimeRestarted"
    wait_for_ready(ready_page)
    assert run_python(ready_page, "'state' in globals()") is False  # a fresh interpreter
    assert run_python(ready_page, "import numpy\nint(numpy.arange(5).sum())") == 10


def test_boot_failure_is_reported_in_the_page(context, site_url):
    context.route("**/gpt2cells.zip", lambda route: route.fulfill(status=404, body="gone"))
    page = context.new_page()
    page.goto(site_url)
    status = page.get_by_test_id("runtime-status")
    page.wait_for_function("() => document.getElementById('runtime-status').dataset.state === 'error'")
    assert "gpt2cells" in status.text_content()
    assert "404" in status.text_content()
    assert page.get_by_test_id("runtime-error").is_visible()
    assert page.locator('#runtime-stages li[data-stage="gpt2cells"]').get_attribute("data-state") == "failed"
    assert page.locator('#runtime-stages li[data-stage="numpy"]').get_attribute("data-state") == "done"


def test_page_multiplies_with_the_wasm_simd_kernel(ready_page, run_python):
    assert ready_page.get_by_test_id("matmul-version").text_content() == "wasm SIMD kernel (fused multiply-add)"
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 768)).astype(np.float32)
    w = rng.standard_normal((50, 768)).astype(np.float32)
    got = run_python(ready_page, "import numpy as np\nfrom gpt2cells.matmul import matmul_nt\n"
                                 f"x = np.array({x.tolist()}, dtype=np.float32)\n"
                                 f"w = np.array({w.tolist()}, dtype=np.float32)\n"
                                 "matmul_nt(x, w).tolist()")
    expected = x.astype(np.float64) @ w.astype(np.float64).T
    assert np.abs(np.array(got) - expected).max() <= 1e-5 * np.abs(expected).max()
