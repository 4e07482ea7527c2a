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


# numpy and regex together, as a notebook cell uses them: GPT-2's pre-tokenizer splits a sentence, numpy
# summarises the pieces; the page's answer must be CPython's for the same code.
SPLIT_AND_SUMMARISE = """import numpy as np
import regex
from gpt2cells.tokenizer import GPT2_SPLIT_PATTERN

pieces = regex.findall(GPT2_SPLIT_PATTERN, "GPT-2 runs in 12 cells, right here! naïve café's Ωmega")
lengths = np.array([len(piece) for piece in pieces])  # [n_pieces]
weights = np.exp(lengths - lengths.max())              # [n_pieces]
softmax = weights / weights.sum()                      # [n_pieces]
[[piece, int(n), int(c), float(p)] for piece, n, c, p in zip(pieces, lengths, np.cumsum(lengths), softmax)]
"""


def test_numpy_and_regex_code_gives_what_cpython_gives(ready_page, run_python):
    *body, last = SPLIT_AND_SUMMARISE.rstrip().split("\n")
    namespace = {}
    exec("\n".join(body), namespace)
    expected = eval(last, namespace)
    in_page = run_python(ready_page, SPLIT_AND_SUMMARISE)
    assert len(in_page) == len(expected) > 3
    for shown, (piece, chars, cumulative, share) in zip(in_page, expected):
        assert shown[:3] == [piece, chars, cumulative]
        assert abs(shown[3] - share) <= 1e-12


def test_no_request_leaves_the_pages_origin(context, site_url, wait_for_ready):
    origin = urlsplit(site_url)[:2]
    routed, seen = [], []
    context.route("**/*", lambda route: (routed.append(route.request.url), route.continue_()))
    page = context.new_page()
    page.on("request", lambda request: seen.append(request.url))
    page.goto(site_url)
    wait_for_ready(page)
    page.locator("#notebook[data-completed-runs]").wait_for()  # the built-in model ran its cells
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


def test_numpy_error_comes_back_with_its_type(ready_page):
    result = ready_page.evaluate("""async () => {
      try { await window.gpt2cells.runtime.exec("import numpy as np\\nnp.zeros(3) @ np.zeros(4)"); return null; }
      catch (e) { return {type: e.pythonType, traceback: e.traceback}; }
    }""")
    assert result["type"] == "ValueError"
    assert "matmul" in result["traceback"]


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
