"""Browser measurements in headless Debian Chromium (Playwright): our page, and onnxruntime-web beside it.

Our page is the built dist/ served by build.py's server, driven only through its documented hooks:
runtime-status / model-status (data-state="ready"), the weights-drop file input, the notebook's prompt,
run-all, run-state, prediction, gen-* fields, generate, generate-state, generated-text, and
`window.gpt2cells.runtime.exec(code)` (Python in the page's worker) for engine timings and wasm memory.
A hook that is missing turns its figures into "n/a (reason)" instead of stopping the run.
"""
from __future__ import annotations

import json
import os
import statistics
import threading
from pathlib import Path

from models import NEW_TOKENS, ROOT, BenchModel, log, read_manifest, zip_weight_bytes

CHROMIUM = os.environ.get("GPT2CELLS_CHROMIUM", "/usr/bin/chromium")
# The flags every browser run here uses (team notes; tests/browser/conftest.py launches the same way).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
TIMEOUT_MS = 900_000  # a 500 MB import on two shared cores; medium is 1.4 GB
UI_DECODE_RUNS = 3  # timed Generate clicks after the warm-up one; the median counts
HOOK_TIMEOUT_MS = 20_000  # how long a documented element may take to appear before it counts as missing


class NotAvailable(Exception):
    """A figure that cannot be measured in this build of the page; the message says why."""


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def new_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda error: log(f"page error: {error}"))
    return context, page


# ---------------------------------------------------------------- bench pages (bench/server.py)

def in_bench_worker(browser, base_url: str, script: str, message: dict) -> dict:
    context, page = new_page(browser)
    try:
        page.goto(f"{base_url}/index.html")
        page.wait_for_function("() => window.benchReady === true")
        return page.evaluate("([script, message]) => runInWorker(script, message)", [script, message])
    finally:
        context.close()


class OnnxruntimeWeb:
    """onnxruntime-web with the ONNX export loaded in a worker of the bench page, kept open so its runs can
    alternate with ours (see interleave)."""

    def __init__(self, browser, base_url: str, model: BenchModel, threads: int, onnx_path: Path | None = None):
        self.model, self.threads = model, threads
        onnx_path = onnx_path or model.onnx_path
        self.context, self.page = new_page(browser)
        self.page.goto(f"{base_url}/index.html")
        self.page.wait_for_function("() => window.benchReady === true")
        self.worker = self.page.evaluate("() => openWorker('/ort-worker.mjs')")
        shape = model.shape
        self.info = self.call({"cmd": "load", "modelUrl": f"/models/{onnx_path.name}", "threads": threads,
                               "nLayer": shape.n_layer, "nHead": shape.n_head, "headDim": shape.n_embd // shape.n_head})
        self.info["model_bytes"] = onnx_path.stat().st_size
        log(f"onnxruntime-web {onnx_path.name} ({threads} thread{'s' * (threads > 1)}, "
            f"isolated={self.info['crossOriginIsolated']}): session created in {self.info['create_s']:.2f} s")

    def call(self, message):
        return self.page.evaluate("([id, message]) => callWorker(id, message)", [self.worker, message])

    def prompt_ms(self, repeats: int) -> float:
        return self.call({"cmd": "prompt", "promptIds": self.model.prompt_ids, "repeats": repeats})["prompt_ms"]

    def decode(self) -> dict:
        result = self.call({"cmd": "decode", "promptIds": self.model.prompt_ids, "newTokens": NEW_TOKENS})
        self.info["wasm_memory_bytes"] = result.pop("wasm_memory_bytes")
        return result

    def close(self):
        self.context.close()


def open_onnxruntime_web(browser, base_url: str, model: BenchModel) -> dict:
    """{"ort_web_1": runner, "ort_web_2": runner, "ort_web_1_q8": runner (the int8 export, 1 thread)}; a runtime
    that cannot start is {"na": reason} instead. Two threads need a cross-origin-isolated page (bench/server.py
    sends COOP/COEP)."""
    peers = {}
    for key, threads, onnx_path in (("ort_web_1", 1, model.onnx_path), ("ort_web_2", 2, model.onnx_path),
                                    ("ort_web_1_q8", 1, model.q8_onnx_path)):
        try:
            if not onnx_path.exists():
                raise NotAvailable(f"{onnx_path.name} was not made (see the native part's log)")
            peers[key] = OnnxruntimeWeb(browser, base_url, model, threads, onnx_path)
        except Exception as error:  # e.g. a model too large for 4 GB of wasm memory
            peers[key] = {"na": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
            log(f"onnxruntime-web {key}: n/a ({error})")
    return peers


def interleave(runners: dict, rounds: int, prompt_repeats: int) -> dict:
    """Each runner's prompt and decode, taken in turns (A B C A B C ...), so a burst of load on this shared
    machine hits every runtime alike; round 0 warms up and is not counted. Per runner: medians, the last
    tokens, and every round's figures."""
    measured = {name: {"prompt_ms": [], "decode_tok_s": []} for name in runners}
    for round_index in range(rounds + 1):
        for name, runner in runners.items():
            prompt = runner.prompt_ms(prompt_repeats)
            decoded = runner.decode()
            if round_index:
                measured[name]["prompt_ms"].append(prompt)
                measured[name]["decode_tok_s"].append(decoded["decode_tok_s"])
                measured[name]["tokens"] = decoded["tokens"]
        log(f"round {round_index}{' (warm-up)' if not round_index else ''}: " + ", ".join(
            f"{name} {runner_last(measured[name])}" for name in runners))
    return {name: {"prompt_ms": statistics.median(m["prompt_ms"]), "decode_tok_s": statistics.median(m["decode_tok_s"]),
                   "tokens": m["tokens"], "rounds": {"prompt_ms": m["prompt_ms"], "decode_tok_s": m["decode_tok_s"]}}
            for name, m in measured.items()}


def runner_last(measured: dict) -> str:
    if not measured["decode_tok_s"]:
        return "warm"
    return f"{measured['prompt_ms'][-1]:.0f} ms / {measured['decode_tok_s'][-1]:.1f} tok/s"


def engine_in_bench_worker(browser, base_url: str, model: BenchModel, repeats: int) -> dict:
    """gpt2cells in dist/'s Pyodide without the page: the fallback when the page cannot load the model."""
    result = in_bench_worker(browser, base_url, "/engine-worker.mjs", {
        "modelUrl": f"/models/{model.zip_path.name}", "promptIds": model.prompt_ids, "newTokens": NEW_TOKENS,
        "repeats": repeats})
    log(f"gpt2cells in a bench worker (Python {result['python']}): prompt {result['prompt_ms']:.1f} ms, "
        f"decode {result['decode_tok_s']:.1f} tok/s")
    return result


# ---------------------------------------------------------------- our page

def serve_dist():
    import build

    build.build()
    server = build.make_server(ROOT / "dist", host="127.0.0.1", port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def wait_for_state(page, testid: str, accept: str, ready_text: str = "", timeout_ms: int = TIMEOUT_MS) -> float:
    """performance.now() (ms since this navigation started) when [data-testid=testid] has data-state=accept
    and contains ready_text; an "error" state raises with the page's own text."""
    handle = page.wait_for_function(
        """([testid, accept, text]) => {
            const node = document.querySelector(`[data-testid="${testid}"]`);
            if (!node) return false;
            if (node.dataset.state === "error") return {error: node.textContent};
            return node.dataset.state === accept && node.textContent.includes(text) && {t: performance.now()};
        }""", arg=[testid, accept, ready_text], timeout=timeout_ms, polling=20)
    value = handle.json_value()
    if "error" in value:
        raise NotAvailable(f"{testid}: {value['error'].strip()[:200]}")
    return value["t"]


def import_files(page, paths) -> float:
    """Pick files in the drop zone's file input, watching the model status line; returns performance.now()."""
    page.evaluate("""() => {
        const status = document.querySelector('[data-testid="model-status"]');
        window.__benchStatusLog = [];
        new MutationObserver(() => window.__benchStatusLog.push(
            {state: status.dataset.state, text: status.textContent, t: performance.now()}))
          .observe(status, {attributes: true, childList: true, subtree: true, characterData: true});
    }""")
    start = page.evaluate("performance.now()")
    page.set_input_files('[data-testid="weights-drop"] input[type=file]', [str(path) for path in paths])
    return start


def stored_seconds(page, name: str, start: float) -> float | None:
    """Seconds from `start` until the import was stored: the status line first says it loads model `name`."""
    loading = [entry["t"] for entry in page.evaluate("window.__benchStatusLog")
               if entry["state"] == "loading" and name in entry["text"]]
    return (loading[0] - start) / 1e3 if loading else None


def require(page, selector: str, what: str):
    try:
        page.wait_for_selector(selector, state="attached", timeout=HOOK_TIMEOUT_MS)
    except Exception as error:  # Playwright's TimeoutError
        raise NotAvailable(f"no {what} ({selector}) in the page") from error


def run_python(page, code: str):
    """Python in the page's worker through the runtime hook app.js exposes; returns the last value."""
    if not page.evaluate("() => Boolean(window.gpt2cells?.runtime?.exec)"):
        raise NotAvailable("window.gpt2cells.runtime.exec is missing")
    return page.evaluate("async (code) => (await window.gpt2cells.runtime.exec(code)).value", code)


WASM_MEMORY = "__import__('pyodide_js')._module.HEAPU8.buffer.byteLength"


def engine_code(call: str) -> str:
    """engine_timing.py installed as a module in the page's worker, then `call` (an expression over `timing`,
    `gpt2cells` and the page's loaded `model`) as JSON; all inside one function, so the notebook's namespace
    only gains `_bench_measure`."""
    source = (Path(__file__).parent / "engine_timing.py").read_text()
    return (
        "def _bench_measure():\n"
        "    import json, types\n"
        "    import gpt2cells, gpt2cells.worker.models\n"
        "    timing = types.ModuleType('engine_timing')\n"
        f"    exec({source!r}, timing.__dict__)\n"
        "    model = gpt2cells.worker.models.model\n"
        "    if model is None:\n"
        "        raise RuntimeError('no model loaded in the page worker')\n"
        f"    return json.dumps({call})\n"
        "_bench_measure()\n")


CLICK_TIMEOUT_MS = 30 * 60_000  # GPT-2 XL's run-all takes minutes; a click that starts nothing fails the phase


def click_and_time(page, button_testid: str, state_testid: str, done_states: list[str]) -> dict:
    """Click a button; ms until the state element leaves "running" for a done state and two frames have
    been drawn (so tables rendered by that update are on screen)."""
    return page.evaluate(
        """([button, stateId, done, timeout]) => new Promise((resolve, reject) => {
            const state = document.querySelector(`[data-testid="${stateId}"]`);
            let sawRunning = false;
            const start = performance.now();
            setTimeout(() => reject(new Error(`${button}: ${stateId} still "${state.dataset.state}" ` +
                `("${state.textContent}") after ${timeout} ms; saw it running: ${sawRunning}`)), timeout);
            const observer = new MutationObserver(() => {
                if (!done.includes(state.dataset.state)) { sawRunning = true; return; }
                if (!sawRunning) return;
                observer.disconnect();
                const end = performance.now();
                requestAnimationFrame(() => requestAnimationFrame(() => resolve({
                    ms: performance.now() - start, ms_to_result: end - start,
                    state: state.dataset.state, text: state.textContent})));
            });
            observer.observe(state, {attributes: true, childList: true, subtree: true, characterData: true});
            document.querySelector(`[data-testid="${button}"]`).click();
        })""", [button_testid, state_testid, done_states, CLICK_TIMEOUT_MS])


def wait_notebook_idle(page):
    page.wait_for_function(
        """() => {
            const state = document.querySelector('[data-testid="run-state"]')?.dataset.state;
            const runAll = document.querySelector('[data-testid="run-all"]');
            return (state === "ok" || state === "failed") && runAll && !runAll.disabled;
        }""", polling=50)


# Runs before the page's own scripts on every navigation: remembers when each boot stage
# (#runtime-stages li[data-stage]) turned active and done, to split the cold start by stage.
STAGE_RECORDER = """
window.__benchStages = [];
new MutationObserver((records) => {
    for (const record of records) {
        const stage = record.target.dataset?.stage;
        if (stage) window.__benchStages.push({stage, state: record.target.dataset.state, t: performance.now()});
    }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-state"]});
"""


def stage_seconds(page) -> dict:
    """{stage: seconds from turning active to done} for the boot stages seen since this navigation."""
    events = page.evaluate("window.__benchStages || []")
    first = {}
    for event in events:
        first.setdefault((event["stage"], event["state"]), event["t"])
    return {stage: round((first[(stage, "done")] - first[(stage, "active")]) / 1e3, 3)
            for stage, state in first if state == "active" and (stage, "done") in first}


class OurPage:
    """The built page in one fresh profile: its user-visible flows (measure_flows), then its engine as a
    runner for interleave (prompt_ms, decode), timed inside the page's worker."""

    def __init__(self, browser, site_url: str, model: BenchModel, hf_tokens: list[int], zip_path: Path | None = None,
                 stop_auto_run: bool = False):
        """zip_path: which of the model's zips the page imports (default the float32 one); hf_tokens are Hugging
        Face's greedy tokens on the weights that zip holds. stop_auto_run: press the notebook's Stop when it runs
        all cells after a load (on GPT-2 XL that run takes ~27 s, half of it patching the residual stream, and
        would hold the worker the engine is timed in)."""
        self.model, self.site_url, self.hf_tokens = model, site_url, hf_tokens
        self.stop_auto_run = stop_auto_run
        self.zip_path = zip_path or model.zip_path
        self.name = read_manifest(self.zip_path)["name"]
        self.context, self.page = new_page(browser)
        self.context.add_init_script(STAGE_RECORDER)
        self.result: dict = {"weight_bytes": zip_weight_bytes(self.zip_path)}

    def close(self):
        self.context.close()

    def phase(self, key, action):
        """Record action()'s figures under key, or why it could not be measured."""
        try:
            self.result[key] = action()
        except NotAvailable as reason:
            self.result[key] = {"na": str(reason)}
            log(f"{key}: n/a ({reason})")
        except Exception as error:  # a page that breaks mid-run still yields the other figures
            self.result[key] = {"na": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
            log(f"{key}: failed: {error}")
        return self.result[key]

    def measure_flows(self, repeats: int) -> dict:
        self.phase("cold_start", self.cold_start)
        if "na" not in self.phase("import", self.import_zip):
            self.phase("reload", self.reload_to_ready)
            self.phase("run_all", lambda: self.run_all(repeats))
        else:
            for key in ("reload", "run_all", "decode_ui"):
                self.result[key] = {"na": "the model could not be imported"}
        return self.result

    @property
    def model_ready(self) -> bool:
        return "na" not in self.result.get("reload", {"na": "not run"})

    def cold_start(self):
        self.page.goto(self.site_url)
        seconds = wait_for_state(self.page, "runtime-status", "ready") / 1e3
        stages = stage_seconds(self.page)
        log(f"page: cold start to runtime ready {seconds:.2f} s (stages {stages})")
        return {"s": seconds, "stages_s": stages}

    def import_zip(self):
        page = self.page
        require(page, '[data-testid="weights-drop"] input[type=file]', "weights-drop file input")
        require(page, '[data-testid="model-status"]', "model-status line")
        start = import_files(page, [self.zip_path])
        ready = wait_for_state(page, "model-status", "ready", self.name)
        self.stop_notebook_run()
        stored_s = stored_seconds(page, self.name, start) or "n/a (no loading state seen after the import)"
        memory = self.wasm_memory()
        log(f"page: import stored after {stored_s} s, ready {(ready - start) / 1e3:.2f} s, wasm {memory / 2**20:.0f} MiB")
        return {"s": (ready - start) / 1e3, "stored_s": stored_s, "wasm_memory_bytes": memory}

    def reload_to_ready(self):
        self.page.reload()
        runtime = wait_for_state(self.page, "runtime-status", "ready") / 1e3
        seconds = wait_for_state(self.page, "model-status", "ready", self.name) / 1e3
        self.stop_notebook_run()
        memory = self.wasm_memory()
        log(f"page: reload to model ready {seconds:.2f} s (runtime at {runtime:.2f} s), wasm {memory / 2**20:.0f} MiB")
        return {"s": seconds, "runtime_s": runtime, "stages_s": stage_seconds(self.page), "wasm_memory_bytes": memory}

    def stop_notebook_run(self):
        """With stop_auto_run: wait (≤ 60 s) for the notebook's run after a load to start, then press Stop; the
        page restarts Python and loads the model again, and the notebook then waits for Run all."""
        if not self.stop_auto_run:
            return
        try:
            self.page.wait_for_function("""() => {
                const button = document.querySelector('[data-testid="interrupt"]');
                return button && !button.disabled;
            }""", timeout=60_000, polling=100)
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: no run started, nothing to stop
            return
        # Stop restarts Python, which loads the model again (a DOM click: the button need not be on screen)
        self.page.evaluate("""() => document.querySelector('[data-testid="interrupt"]').click()""")
        self.page.wait_for_function("""() => document.querySelector('[data-testid="model-status"]')
            ?.dataset.state !== "ready" """, timeout=60_000, polling=50)
        wait_for_state(self.page, "model-status", "ready", self.name)
        log("page: stopped the notebook's run after the load (Python restarted, the model loaded again)")

    def run_all(self, repeats: int):
        page = self.page
        require(page, '[data-testid="run-all"]', "notebook run-all button")
        require(page, '[data-testid="prompt"]', "notebook prompt input")
        wait_notebook_idle(page)
        page.fill('[data-testid="prompt"]', self.model.prompt_text)
        page.press('[data-testid="prompt"]', "Enter")
        wait_notebook_idle(page)
        times = [click_and_time(page, "run-all", "run-state", ["ok", "failed"]) for _ in range(max(3, repeats // 2))]
        best = sorted(times, key=lambda t: t["ms"])[len(times) // 2]
        predicted = page.get_attribute('[data-testid="prediction"]', "data-token-id")
        # each cell's own Python time, as the page shows it ("ran in 12 ms" / "1.20 s")
        cells = page.evaluate("""() => [...document.querySelectorAll('section.nb-cell')].map((node) => {
            const title = node.querySelector('[data-testid="cell-status"]')?.title || "";
            const match = /ran in (<?)([\\d.]+) (ms|s)/.exec(title);
            return {cell: node.dataset.testid, ms: match ? Number(match[2]) * (match[3] === "s" ? 1000 : 1) : null};
        })""")
        log(f"page: run-all {best['ms']:.0f} ms ({best['text']}), prediction id {predicted}")
        return {"s": best["ms"] / 1e3, "state": best["state"], "text": best["text"],
                "prediction_equals_hf": predicted is not None and int(predicted) == self.hf_tokens[0], "cells": cells}

    def decode_ui(self):
        page = self.page
        require(page, '[data-testid="generate"]', "generate button")
        for testid, value in (("gen-n", NEW_TOKENS), ("gen-temperature", 0), ("gen-top-k", 0), ("gen-top-p", 1)):
            page.fill(f'[data-testid="{testid}"]', str(value))
        # the worker round trips as the page sees them, to split the wall time into worker vs page
        page.evaluate("""() => {
            const runtime = window.gpt2cells.runtime;
            const request = runtime.request.bind(runtime);
            window.__benchCalls = [];
            runtime.request = (message, options) => {
                const start = performance.now();
                const reply = request(message, options);
                reply.finally(() => window.__benchCalls.push({fn: message.fn || message.cmd, ms: performance.now() - start}));
                return reply;
            };
        }""")
        # a warm-up run, as every runner gets (early generations are slower while V8 optimizes Pyodide's interpreter)
        click_and_time(page, "generate", "generate-state", ["done", "failed"])
        runs = []
        for _ in range(UI_DECODE_RUNS):
            page.evaluate("window.__benchCalls = []")
            runs.append({**click_and_time(page, "generate", "generate-state", ["done", "failed"]),
                         "calls": page.evaluate("window.__benchCalls")})
        timing = sorted(runs, key=lambda run: run["ms_to_result"])[len(runs) // 2]  # the median run
        calls = timing["calls"]
        ids = page.get_attribute('[data-testid="generated-text"]', "data-ids") or ""
        tokens = [int(i) for i in ids.split(",") if i]
        rate = len(tokens) / (timing["ms_to_result"] / 1e3)
        in_worker_calls = sum(c["ms"] for c in calls)
        log(f"page: generate via the UI {rate:.1f} tok/s ({timing['text']}); {len(calls)} worker calls took "
            f"{in_worker_calls:.0f} of {timing['ms_to_result']:.0f} ms")
        return {"decode_tok_s": rate, "tokens": tokens, "text": timing["text"], "worker_calls": len(calls),
                "worker_calls_ms": in_worker_calls, "wall_ms": timing["ms_to_result"]}

    # ---- the engine in the page's worker, as a runner for interleave

    def engine(self, call: str):
        return json.loads(run_python(self.page, engine_code(call)))

    def prompt_ms(self, repeats: int) -> float:
        return self.engine(f"timing.prompt_ms(model, {self.model.prompt_ids!r}, {repeats})")

    def decode(self) -> dict:
        return self.engine(f"timing.decode_once(model, {self.model.prompt_ids!r}, {NEW_TOKENS})")

    def wasm_memory(self) -> int:
        return run_python(self.page, WASM_MEMORY)

    def profile(self):
        return self.engine(f"timing.profile_steps(gpt2cells, model, {self.model.prompt_ids!r}, {NEW_TOKENS})")
