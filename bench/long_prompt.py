"""Long prompts in the page (issues #18 and #16), `python bench/run.py --long` (add --medium for GPT-2-medium).

One Chromium run, so the ratios compare: for T = 10, 256 and 1024 tokens, the engine's own forward pass
(`Model.logits`) and then the default inference cells (setup … probabilities, a notebook as the page opens it,
with the states the page receives) on the same prompt in the same worker, in five phases: a new prompt (the
run as shown, then the check against the engine that follows it), the same prompt again (the engine's values
known), the same without any reference (no marks, no Δ), GELU → ReLU edited (a Δ in every later cell), and
that without a reference. The wasm memory after each (wasm memory never shrinks: it is the peak so far). Then
run-all through the page (every cell of the notebook as built, whatever groups follow the inference cells)
and the memory after it; at T = 1024 also how long the page's worker takes to show another layer (a block
cell's layer is computed again when shown) or another head, and onnxruntime-web's prompt pass (1 thread).
Wasm memory never shrinks, so the phases' memory is a running peak over all of them; the peak a learner meets is
measured last, in a fresh worker per prompt (the page reloaded: the model loads from IndexedDB): the engine's
forward alone, then the prompt typed, run-all, and the check against the engine that follows.
"""
from __future__ import annotations

import json
import time

import browser
from models import PROMPT_SOURCE, BenchModel, log

LENGTHS = (10, 256, 1024)
SWITCH_WINDOW = (0, 40, 0, 40)  # rows r0..r1, columns c0..c1: about what a grid shows on screen


def text_of_length(model: BenchModel, n_tokens: int) -> tuple[str, list[int]]:
    """The shortest prefix of PROMPT_SOURCE repeated that encodes to exactly n_tokens ids (the page types it)."""
    from model_factory import hf_tokenizer

    tokenizer = hf_tokenizer(model.tokenizer_dir)
    source = " ".join([PROMPT_SOURCE] * (4 + n_tokens // 8))
    low, high = 1, len(source)  # the number of ids grows with the prefix: find the first prefix of n_tokens
    while low < high:
        middle = (low + high) // 2
        if len(tokenizer.encode(source[:middle])) < n_tokens:
            low = middle + 1
        else:
            high = middle
    for end in range(low, min(low + 200, len(source))):
        text = source[:end]
        ids = tokenizer.encode(text)
        if len(ids) == n_tokens and not text.endswith(" "):
            return text, ids
    raise RuntimeError(f"no prefix of the prompt source encodes to exactly {n_tokens} tokens")


def hf_next_token(model: BenchModel, ids: list[int]) -> int:
    import torch
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel.from_pretrained(model.hf_dir, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        return int(hf(torch.tensor([ids])).logits[0, -1].argmax())


def page_run_all(page: browser.OurPage, text: str, repeats: int) -> dict:
    """Run-all through the page (every cell of the notebook as built): type the prompt (Enter runs it), then
    time run-all clicks; the median counts."""
    p = page.page
    browser.wait_notebook_idle(p)
    p.fill('[data-testid="prompt"]', text)
    p.press('[data-testid="prompt"]', "Enter")
    browser.wait_notebook_idle(p)
    times = [browser.click_and_time(p, "run-all", "run-state", ["ok", "failed"]) for _ in range(repeats)]
    best = sorted(times, key=lambda t: t["ms"])[len(times) // 2]
    predicted = p.get_attribute('[data-testid="prediction"]', "data-token-id")
    return {"s": best["ms"] / 1e3, "state": best["state"], "text": best["text"],
            "prediction": int(predicted) if predicted is not None else None}


NOTEBOOK_CODE = """
def _bench_notebook(phase):
    # the default inference cells (setup … probabilities), a notebook as the page opens it, with the states the
    # page receives; phases share the engine's values of the prompt as the page's notebook does
    import json, time
    from gpt2cells.notebook import Notebook
    from gpt2cells.worker import models
    global _bench_reference
    sources = {{"prompt": "prompt = " + repr({text!r})}}
    if phase.startswith("edited"):
        sources["gelu"] = "activated = np.maximum(hidden, 0)  # ReLU\\nactivated"
    notebook = Notebook(models.active_model(), sources)
    notebook.check_later = True  # as gpt2cells.worker.notebook.open makes it
    if phase == "new prompt":
        _bench_reference = None
    elif phase.endswith("without reference"):
        notebook.reference_for = lambda namespace: None  # no engine values: no marks, no Δ
    else:
        notebook.reference = _bench_reference  # the same prompt again: its engine values are known
    start = time.perf_counter()
    notebook.run("to", "probabilities")
    states = json.dumps(notebook.states())  # what the page would receive
    run_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    while notebook.unchecked and not notebook.check(0.2)["done"]:
        pass
    check_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    shown = notebook.deltas_at(notebook.model.config.n_layer // 2)["states"]  # another layer shown after an edit
    show_ms = (time.perf_counter() - start) * 1e3 if shown else None
    marks = sorted({{p["mark"] for s in notebook.states() if s["delta"] for p in s["delta"]["passes"]}})
    if phase == "new prompt":
        _bench_reference = notebook.reference
    prediction = notebook.prediction()
    failed = [s["id"] for s in notebook.states() if s["status"] == "failed"]
    del notebook
    __import__("gc").collect()  # the page keeps one notebook; the phases' notebooks must not pile up
    return json.dumps({{"ms": run_ms, "check_ms": check_ms, "show_ms": show_ms, "marks": marks, "failed": failed,
                        "prediction": prediction and prediction["id"], "state_bytes": len(states)}})
_bench_notebook({phase!r})
"""
# each phase a fresh notebook; the engine's values of the prompt carried over as the page's notebook keeps them
PHASES = ("new prompt", "same prompt", "same prompt without reference", "edited (GELU → ReLU)",
          "edited without reference")


def inference_cells(page: browser.OurPage, text: str, repeats: int) -> dict:
    """Each phase's run of the default inference cells in the page's worker (the median of `repeats` runs, as
    the engine's forward pass beside it is), and the wasm memory after it."""
    results = {}
    for phase in PHASES:
        runs = [json.loads(browser.run_python(page.page, NOTEBOOK_CODE.format(text=text, phase=phase)))
                for _ in range(repeats)]  # each "new prompt" run makes the engine's values anew
        results[phase] = sorted(runs, key=lambda run: run["ms"])[len(runs) // 2]
        results[phase]["wasm_memory_bytes"] = page.wasm_memory()
    return results


SWITCH_CODE = """
def _bench_switch():
    import json, time
    from gpt2cells.worker import notebook
    rows, cols = {window}[1], {window}[3]
    # every grid of the block (each tab of each cell), as the page shows a layer picked
    grids = [(cell["id"], item["name"] if cell["output"]["kind"] == "tabs" else "")
             for cell in notebook._current().states() if cell["group"] and cell["output"]
             for item in (cell["output"]["items"] if cell["output"]["kind"] == "tabs" else [cell["output"]])
             if item.get("kind", item.get("output", {{}}).get("kind")) == "array"]
    def ms(layer, head, r0):
        start = time.perf_counter()
        for cell, path in grids:
            notebook.output_slice(cell, path, layer, head, r0, r0 + rows, 0, cols)
        return (time.perf_counter() - start) * 1e3
    return json.dumps({{
        "layer_ms": ms({layer}, 0, 0),  # another layer: every grid of it, at its first rows
        "head_ms": ms({layer}, 3, 0),  # another head of it
        "layer_last_rows_ms": ms({layer} + 1, 0, {n_seq} - rows),  # another layer again, at its last rows
        "scroll_ms": ms({layer} + 1, 0, {n_seq} // 2),  # that layer's grids scrolled to rows not shown yet
        "grids": len(grids),
    }})
_bench_switch()
"""


def switch_times(page: browser.OurPage, n_layer: int, n_seq: int) -> dict:
    code = SWITCH_CODE.format(window=list(SWITCH_WINDOW), layer=n_layer // 2, n_seq=n_seq)
    return json.loads(browser.run_python(page.page, code))


def wait_checked(page: browser.OurPage) -> None:
    """Until no cell's badge says "checking…" (the page compares a new prompt's values with the engine's after
    showing them)."""
    page.page.wait_for_function("""() => !document.querySelector('[data-delta="checking"]')""", polling=200,
                                timeout=30 * 60_000)


def wait_run_all_enabled(page) -> None:
    """Until the notebook is open and not running (after a reload it runs by itself, or, holding the prompt an
    earlier phase typed, waits for Run all)."""
    page.wait_for_function("""() => {
        const state = document.querySelector('[data-testid="run-state"]')?.dataset.state;
        const runAll = document.querySelector('[data-testid="run-all"]');
        return state !== "running" && runAll && !runAll.disabled;
    }""", polling=50)


def fresh_peaks(page: browser.OurPage, text: str, ids: list[int]) -> dict:
    """In a fresh worker each: the engine's forward pass alone, and the page's run-all with its check."""
    page.reload_to_ready()
    page.engine(f"timing.prompt_ms(model, {ids!r}, 1)")
    engine = page.wasm_memory()
    page.reload_to_ready()
    p = page.page
    wait_run_all_enabled(p)
    p.fill('[data-testid="prompt"]', text)
    p.dispatch_event('[data-testid="prompt"]', "change")  # the prompt set, not run: Run all runs it
    browser.click_and_time(p, "run-all", "run-state", ["ok", "failed"])
    wait_checked(page)
    predicted = p.get_attribute('[data-testid="prediction"]', "data-token-id")
    return {"engine": engine, "run_all": page.wasm_memory(), "prediction": predicted and int(predicted)}


def measure(chromium, site_url: str, base_url: str, model: BenchModel, repeats: int) -> dict:
    results = {}
    page = browser.OurPage(chromium, site_url, model, hf_tokens=[])
    try:
        page.phase("cold_start", page.cold_start)
        page.phase("import", page.import_zip)
        for n_tokens in LENGTHS:
            text, ids = text_of_length(model, n_tokens)
            row = {"tokens": n_tokens, "hf_next": hf_next_token(model, ids)}
            timed_runs = repeats if n_tokens < 1024 else 1
            row["engine_ms"] = page.phase(f"engine_{n_tokens}", lambda: page.engine(
                f"timing.prompt_ms(model, {ids!r}, {timed_runs})"))
            row["wasm_memory_engine"] = page.wasm_memory()
            row["inference"] = page.phase(f"inference_{n_tokens}", lambda: inference_cells(page, text, timed_runs))
            row["run_all"] = page.phase(f"run_all_{n_tokens}", lambda: page_run_all(page, text, timed_runs))
            row["wasm_memory_after_run_all"] = page.phase(f"memory_run_all_{n_tokens}", page.wasm_memory)
            if n_tokens == LENGTHS[-1]:
                row["switch"] = page.phase("switch", lambda: switch_times(page, model.shape.n_layer, len(ids)))
            log(f"long prompts: T={n_tokens}: {row}")
            results[n_tokens] = row
        for n_tokens in LENGTHS:
            text, ids = text_of_length(model, n_tokens)
            results[n_tokens]["fresh"] = page.phase(f"fresh_{n_tokens}", lambda: fresh_peaks(page, text, ids))
            log(f"long prompts: T={n_tokens}, fresh worker: {results[n_tokens]['fresh']}")
    finally:
        page.close()
    text, ids = text_of_length(model, LENGTHS[-1])
    try:
        ort = browser.OnnxruntimeWeb(chromium, base_url, model, threads=1)
        try:
            started = time.monotonic()
            results["ort_web_1_prompt_ms"] = ort.call({"cmd": "prompt", "promptIds": ids, "repeats": 1})["prompt_ms"]
            log(f"onnxruntime-web prompt pass at T={len(ids)}: {results['ort_web_1_prompt_ms']:.0f} ms "
                f"({time.monotonic() - started:.0f} s with its warm-up)")
        finally:
            ort.close()
    except Exception as error:  # noqa: BLE001 - the page's rows stand without the peer
        results["ort_web_1_prompt_ms"] = {"na": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
    return results


def rows(results: dict) -> list[str]:
    """The tables as markdown lines."""
    lines = ["| prompt | engine forward | new prompt: run (shown) | then checked | same prompt | same prompt, no "
             "reference | edited (GELU → ReLU) | edited, no reference | peak wasm (engine → cells) | prediction = HF |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    ratios = ["| prompt | run / engine (#18 goal ≤ 1.3×) | (run + check) / engine | same prompt / engine | "
              "with / without reference, same prompt (#16 goal ≤ 1.2×) | with / without reference, edited |",
              "|---|---|---|---|---|---|"]
    for n_tokens in LENGTHS:
        row = results.get(n_tokens) or {}
        phases, engine = row.get("inference") or {}, row.get("engine_ms")
        ms = {name: phase.get("ms") for name, phase in phases.items()}
        new = phases.get("new prompt") or {}
        same = new.get("prediction") == row.get("hf_next") if "prediction" in new else "n/a"
        failed = sorted({c for phase in phases.values() for c in phase.get("failed", [])})
        if failed:
            same = f"{same} (failed: {', '.join(failed)})"
        peak = max((phase.get("wasm_memory_bytes") or 0 for phase in phases.values()), default=None)
        lines.append(f"| {n_tokens} tokens | {fmt_ms(engine)} | {fmt_ms(new.get('ms'))} | +{fmt_ms(new.get('check_ms'))} "
                     f"| {fmt_ms(ms.get('same prompt'))} | {fmt_ms(ms.get('same prompt without reference'))} | "
                     f"{fmt_ms(ms.get('edited (GELU → ReLU)'))}{then_checked(phases.get('edited (GELU → ReLU)'))} | "
                     f"{fmt_ms(ms.get('edited without reference'))} | "
                     f"{fmt_mib(row.get('wasm_memory_engine'))} → {fmt_mib(peak)} | {same} |")
        checked = (new.get("ms") or 0) + (new.get("check_ms") or 0)
        ratios.append(f"| {n_tokens} tokens | {ratio(new.get('ms'), engine)} | {ratio(checked, engine)} | "
                      f"{ratio(ms.get('same prompt'), engine)} | "
                      f"{ratio(ms.get('same prompt'), ms.get('same prompt without reference'))} | "
                      f"{ratio(ms.get('edited (GELU → ReLU)'), ms.get('edited without reference'))} |")
    lines += [""] + ratios + [""]
    for n_tokens in LENGTHS:
        edited = ((results.get(n_tokens) or {}).get("inference") or {}).get("edited (GELU → ReLU)") or {}
        if edited.get("show_ms") is not None:
            lines.append(f"Edited, {n_tokens} tokens: another layer's Δ computed when shown in {fmt_ms(edited['show_ms'])}")
    lines.append("")
    lines.append("| prompt | page run-all (whole notebook, after the prompt's first run) | peak wasm after it |")
    lines.append("|---|---|---|")
    for n_tokens in LENGTHS:
        row = results.get(n_tokens) or {}
        runs = row.get("run_all") or {}
        run_text = f"{fmt_s(runs.get('s'))} ({runs.get('text')}; prediction = HF: {same_as_hf(runs, row)})" if "s" in runs else "n/a"
        lines.append(f"| {n_tokens} tokens | {run_text} | {fmt_mib(row.get('wasm_memory_after_run_all'))} |")
    lines.append("")
    lines.append("| prompt | peak wasm, fresh worker: engine forward | page run-all + check | prediction = HF |")
    lines.append("|---|---|---|---|")
    for n_tokens in LENGTHS:
        row = results.get(n_tokens) or {}
        fresh = row.get("fresh") or {}
        lines.append(f"| {n_tokens} tokens | {fmt_mib(fresh.get('engine'))} | {fmt_mib(fresh.get('run_all'))} | "
                     f"{same_as_hf(fresh, row)} |")
    ort = results.get("ort_web_1_prompt_ms")
    engine = (results.get(LENGTHS[-1]) or {}).get("engine_ms")
    if isinstance(ort, (int, float)) and isinstance(engine, (int, float)):
        lines.append(f"\nAt {LENGTHS[-1]} tokens: engine forward {engine / 1e3:.2f} s, onnxruntime-web (1 thread) "
                     f"prompt pass {ort / 1e3:.2f} s: {engine / ort:.2f}× (goal ≤ 1.0×)")
    else:
        lines.append(f"\nonnxruntime-web at {LENGTHS[-1]} tokens: {ort}")
    switch = (results.get(LENGTHS[-1]) or {}).get("switch")
    if switch:
        lines.append(f"Switching at {LENGTHS[-1]} tokens (worker time for a {SWITCH_WINDOW[1]}×{SWITCH_WINDOW[3]} window of "
                     f"each of the block's {switch.pop('grids', '?')} grids): "
                     + ", ".join(f"{name} {value:.0f} ms" if isinstance(value, (int, float)) else f"{name} {value}"
                                 for name, value in switch.items()))
    return lines


def same_as_hf(run: dict, row: dict):
    """Whether a run's predicted token is Hugging Face's for the row's prompt ("n/a": the run made none)."""
    return run.get("prediction") == row.get("hf_next") if "prediction" in run else "n/a"


def then_checked(phase) -> str:
    """The time of the check after a phase's run, as ' (+0.90 s)', when the run left values to compare after it
    (a long prompt's edited logits)."""
    check_ms = (phase or {}).get("check_ms")
    return f" (+{fmt_ms(check_ms)})" if isinstance(check_ms, (int, float)) and check_ms > 0 else ""


def ratio(a, b) -> str:
    return f"{a / b:.2f}×" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "n/a"


def fmt_ms(ms) -> str:
    return f"{ms / 1e3:.2f} s" if isinstance(ms, (int, float)) else "n/a"


def fmt_mib(n) -> str:
    return f"{n / 2**20:.0f} MiB" if isinstance(n, int) else "n/a"


def fmt_s(seconds) -> str:
    return f"{seconds:.2f} s" if isinstance(seconds, (int, float)) else "n/a"
