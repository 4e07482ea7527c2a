"""GPT-2 Cells benchmark: our page in Chromium beside onnxruntime-web and native runtimes, in one run.

    python bench/run.py                  GPT-2-small shapes (random weights), everything (~10 min first run)
    python bench/run.py --quick          a tiny model, whole run well under a minute (smoke use, CI)
    python bench/run.py --medium         GPT-2-medium shapes (355M) instead of small
    python bench/run.py --large          GPT-2-large shapes (774M), float16 and float32: the page only (minutes)
    python bench/run.py --xl             GPT-2-XL shapes (1.5B), float16: the page only (minutes; ~7 GB RAM)
    python bench/run.py --long           1024-token prompts: run-all vs the engine's forward, memory, switching
                                         layers, onnxruntime-web's prompt pass (bench/long_prompt.py; + --medium)
    python bench/run.py --skip-browser   native figures only
    python bench/run.py --json out.json  also write the table and the raw measurements as JSON

Models, packed zips and ONNX exports are cached in .cache/bench/. Needs `pip install -e .[bench]`; the first
browser run installs onnxruntime-web (pinned) with `npm ci --prefix bench`. Numbers are measurements, never
test assertions.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import models  # noqa: E402  (puts the repository's py/, tests/ and root on sys.path)
from models import NEW_TOKENS, PROMPT_TOKENS, log  # noqa: E402


def attempt(action, *args):
    """The measurement, or {"na": reason} when it cannot run here; the table shows the reason."""
    try:
        return action(*args)
    except Exception as error:  # noqa: BLE001 - any failure becomes an n/a row, the run goes on
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:160] if str(error).strip() else ''}"
        log(f"{getattr(action, '__name__', action)}: n/a ({reason})")
        return {"na": reason}


def measure_native(model, repeats):
    import native
    import onnx_export

    export = attempt(onnx_export.export, model)
    results = {"onnx": export, "onnx_q8": export if "na" in export else attempt(onnx_export.quantize_q8, model)}
    for threads in (1, 2):
        results[f"hf_{threads}"] = attempt(native.hugging_face, model, threads, repeats)
        results[f"ort_cpu_{threads}"] = (export if "na" in export
                                         else attempt(native.onnxruntime_cpu, model, threads, repeats))
    results["gpt2cells"] = attempt(native.gpt2cells_cpython, model, repeats)
    # float16: HF on the rounded weights (the tokens the float16 page must match), and what rounding costs
    results["hf16_1"] = attempt(native.hugging_face, model, 1, 1, "float16")
    results["float16"] = attempt(native.float16_accuracy, model, (results["hf_1"] or {}).get("tokens", []),
                                 (results["hf16_1"] or {}).get("tokens", []))
    return results


def measure_browser(model, repeats, hf_tokens, hf16_tokens):
    from playwright.sync_api import sync_playwright

    import browser
    import server

    results = {}
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        results["chromium"] = chromium.version
        bench_server, base_url = server.start(model.directory)
        dist_server, site_url = browser.serve_dist()
        page = browser.OurPage(chromium, site_url, model, hf_tokens)
        # the float16 zip in a second page (its own profile), so both pages' engines take turns in the same rounds
        page16 = browser.OurPage(chromium, site_url, model, hf16_tokens, zip_path=model.zip16_path)
        pages = {"page": page, "page16": page16}
        try:
            for key, our_page in pages.items():
                results[key] = our_page.measure_flows(repeats)
            # prompt and decode: ours and onnxruntime-web in turns, in the same minutes
            peers = browser.open_onnxruntime_web(chromium, base_url, model)
            runners = {name: peer for name, peer in peers.items() if isinstance(peer, browser.OnnxruntimeWeb)}
            ours = {("ours" if key == "page" else "ours_f16"): p for key, p in pages.items() if p.model_ready}
            runners = {**ours, **runners}
            rounds = attempt(browser.interleave, runners, max(2, repeats // 2 + 1), repeats) if runners else {}
            for name, peer in peers.items():
                results[name] = peer if isinstance(peer, dict) else {**peer.info, **rounds.get(name, rounds)}
                if not isinstance(peer, dict):
                    peer.close()
            for (key, our_page), name in zip(pages.items(), ("ours", "ours_f16")):
                if our_page.model_ready:
                    results[key]["engine"] = {**rounds.get(name, rounds), "wasm_memory_bytes": our_page.wasm_memory()}
                    # after the rounds, like the engine: right after a reload the first generations run ~15 %
                    # slower while V8 is still optimizing Pyodide's interpreter (docs/benchmark.md)
                    our_page.phase("decode_ui", our_page.decode_ui)
                    if key == "page":
                        our_page.phase("profile", our_page.profile)
                else:
                    results[key]["engine"] = {"na": "the page has no model loaded"}
                    results[key].setdefault("decode_ui", {"na": "the page has no model loaded"})
        finally:
            for our_page in pages.values():
                our_page.close()
            dist_server.shutdown()
        if "na" in results["page"]["engine"]:
            results["bench_worker"] = attempt(browser.engine_in_bench_worker, chromium, base_url, model, repeats)
        bench_server.shutdown()
        chromium.close()
    return results


# ---------------------------------------------------------------- the table

def value(result, key):
    """A number from a measurement dict, or the n/a reason string."""
    if result is None:
        return "not run"
    if "na" in result:
        return f"n/a ({result['na']})"
    return result.get(key, "n/a (not measured)")


def stages_note(result):
    stages = (result or {}).get("stages_s") or {}
    return ", ".join(f"{stage} {seconds:.2f}" for stage, seconds in stages.items())


def number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def ratio(ours, peer):
    return ours / peer if number(ours) and number(peer) and peer else None


def tokens_match(result, hf_tokens):
    if result is None or "na" in result or "tokens" not in result:
        return None
    return result["tokens"] == hf_tokens


def build_rows(native, web):
    web = web or {}
    page = web.get("page") or {}
    # Engine figures come from the page's worker; without a loaded model, from dist/'s runtime in a bench worker.
    engine = page.get("engine")
    engine_source = "page worker"
    if (engine is None or "na" in engine) and web.get("bench_worker"):
        engine, engine_source = web["bench_worker"], "bench worker (page could not load the model)"
    weight_bytes = page.get("weight_bytes")
    hf_tokens = (native.get("hf_1") or {}).get("tokens")

    def native_triple(key, threads):
        return {"hf": value(native.get(f"hf_{threads}"), key), "gpt2cells": value(native.get("gpt2cells"), key),
                "ort_cpu": value(native.get(f"ort_cpu_{threads}"), key)}

    rows = []

    def row(figure, unit, ours, ort_web=None, native_values=None, goal=None, check=None, note="", compare=True):
        """compare: the goal is a ratio to onnxruntime-web, so the ratio column is ours / onnxruntime-web."""
        r = ratio(ours, ort_web) if compare else None
        passed = check(ours, r) if check and number(ours) and (r is not None or not compare) else None
        rows.append({"figure": figure, "unit": unit, "ours": ours, "onnxruntime_web": ort_web,
                     "native": native_values, "ratio": r, "goal": goal, "pass": passed, "note": note})

    memories = [m for m in (value(page.get(k), "wasm_memory_bytes") for k in ("import", "reload", "engine"))
                if number(m)]
    peak_ratio = max(memories) / weight_bytes if memories and weight_bytes else "n/a (not measured)"
    ort_web_1 = web.get("ort_web_1")
    ort_peak = (value(ort_web_1, "wasm_memory_bytes") / ort_web_1["model_bytes"]
                if ort_web_1 and "na" not in ort_web_1 else value(ort_web_1, "wasm_memory_bytes"))

    if web:
        cold = page.get("cold_start")
        row("cold start → runtime ready (empty profile)", "s", value(cold, "s"),
            goal="≤ 5 s", check=lambda v, r: v <= 5, compare=False, note=stages_note(cold))
        imported = page.get("import")
        row("import weights zip (drop → stored in IndexedDB)", "s", value(imported, "stored_s"), goal="≤ 15 s",
            check=lambda v, r: v <= 15, compare=False,
            note=f"ready in Python after {imported['s']:.2f} s" if imported and number(imported.get("s")) else "")
        reload = page.get("reload")
        row("reload → model ready from IndexedDB", "s", value(reload, "s"), goal="≤ 5 s",
            check=lambda v, r: v <= 5, compare=False,
            note=f"runtime ready at {reload['runtime_s']:.2f} s" if reload and "na" not in reload else "")
    for threads in (1, 2):
        peer = value(web.get(f"ort_web_{threads}"), "prompt_ms") if web else "not run"
        row(f"{PROMPT_TOKENS}-token prompt forward, {threads} thread{'s' * (threads > 1)}", "ms",
            value(engine, "prompt_ms") if web else "not run", peer, native_triple("prompt_ms", threads),
            goal="≤ 1.0× onnxruntime-web" if threads == 1 else "info (Pyodide runs one thread)",
            check=(lambda v, r: r <= 1.0) if threads == 1 else None,
            note=f"ours: {engine_source}" if web else "")
    for threads in (1, 2):
        peer = value(web.get(f"ort_web_{threads}"), "decode_tok_s") if web else "not run"
        row(f"decode {NEW_TOKENS} greedy tokens (KV cache), {threads} thread{'s' * (threads > 1)}", "tok/s",
            value(engine, "decode_tok_s") if web else "not run", peer, native_triple("decode_tok_s", threads),
            goal="≥ 1.0× onnxruntime-web" if threads == 1 else "info (Pyodide runs one thread)",
            check=(lambda v, r: r >= 1.0) if threads == 1 else None,
            note=f"ours: {engine_source}" if web else "")
    if web:
        ui = page.get("decode_ui")
        row(f"decode {NEW_TOKENS} tokens via the page's Generate (streamed into the page)", "tok/s",
            value(ui, "decode_tok_s"), value(web.get("ort_web_1"), "decode_tok_s"),
            goal="≥ 1.0× onnxruntime-web", check=lambda v, r: r >= 1.0,
            note=(f"page awaiting worker calls {ui['worker_calls_ms'] / ui['wall_ms'] * 100:.0f}% of the time"
                  if ui and "na" not in ui and ui.get("wall_ms") else ""))
        run_all = page.get("run_all")
        row("run all cells of the default notebook (incl. tables)", "s", value(run_all, "s"), goal="≤ 1.5 s",
            check=lambda v, r: v <= 1.5, compare=False,
            note=("prediction = HF" if run_all.get("prediction_equals_hf") else "prediction ≠ HF")
            if run_all and "na" not in run_all else "")
        row("peak wasm memory / weight bytes", "×", peak_ratio, ort_peak, goal="≤ 1.5×", check=lambda v, r: v <= 1.5, compare=False,
            note=(f"weights {weight_bytes / 2**20:.0f} MiB, peak {max(memories) / 2**20:.0f} MiB; "
                  "onnxruntime-web: its wasm memory ÷ the .onnx size" if memories and weight_bytes else ""))

    def yes_no(result, reference=hf_tokens):
        match = tokens_match(result, reference)
        return "n/a" if match is None else ("yes" if match else "NO")

    if web:
        float16_rows(row, web, native, yes_no)

    row("greedy tokens equal Hugging Face's", "", (f"engine {yes_no(engine)}, page UI {yes_no(page.get('decode_ui'))}"
                                                   if web else "not run"),
        (f"1t {yes_no(web.get('ort_web_1'))}, 2t {yes_no(web.get('ort_web_2'))}" if web else "not run"),
        {"hf": "reference", "gpt2cells": yes_no(native.get("gpt2cells")), "ort_cpu": yes_no(native.get("ort_cpu_1"))},
        compare=False)
    return rows


def float16_rows(row, web, native, yes_no):
    """The float16 zip in the page beside onnxruntime-web 1 thread in float32 and in int8 (q8), same rounds."""
    page = web.get("page16") or {}
    engine = page.get("engine")
    fp32, q8 = web.get("ort_web_1"), web.get("ort_web_1_q8")
    row("float16: import zip → stored", "s", value(page.get("import"), "stored_s"), compare=False,
        note=f"{page['weight_bytes'] / 2**20:.0f} MiB of weights" if page.get("weight_bytes") else "")
    row("float16: reload → model ready", "s", value(page.get("reload"), "s"), compare=False)
    row(f"float16: {PROMPT_TOKENS}-token prompt, 1 thread (vs onnxruntime-web fp32)", "ms", value(engine, "prompt_ms"),
        value(fp32, "prompt_ms"), compare=True, goal="info",
        note=f"onnxruntime-web int8 {fmt(value(q8, 'prompt_ms'))} ms")
    row(f"float16: decode {NEW_TOKENS} tokens, 1 thread (vs onnxruntime-web fp32)", "tok/s",
        value(engine, "decode_tok_s"), value(fp32, "decode_tok_s"), goal="≥ 1.6× onnxruntime-web fp32",
        check=lambda v, r: r >= 1.6)
    row(f"float16: decode {NEW_TOKENS} tokens, 1 thread (vs onnxruntime-web int8, q8)", "tok/s",
        value(engine, "decode_tok_s"), value(q8, "decode_tok_s"), goal="≥ 1.0× onnxruntime-web int8",
        check=lambda v, r: r >= 1.0)
    ui = page.get("decode_ui")
    row(f"float16: decode {NEW_TOKENS} tokens via the page's Generate (vs onnxruntime-web fp32)", "tok/s",
        value(ui, "decode_tok_s"), value(fp32, "decode_tok_s"), goal="info")
    memories = [m for m in (value(page.get(k), "wasm_memory_bytes") for k in ("import", "reload", "engine")) if number(m)]
    q8_peak = (value(q8, "wasm_memory_bytes") / q8["model_bytes"] if q8 and "na" not in q8 and q8.get("model_bytes")
               else value(q8, "wasm_memory_bytes"))
    row("float16: peak wasm memory / weight bytes (int8: / its .onnx)", "×",
        max(memories) / page["weight_bytes"] if memories and page.get("weight_bytes") else "n/a (not measured)",
        q8_peak, goal="≤ 1.5×", check=lambda v, r: v <= 1.5, compare=False,
        note=f"peak {max(memories) / 2**20:.0f} MiB" if memories else "")
    hf16 = (native.get("hf16_1") or {}).get("tokens")
    accuracy = native.get("float16") or {}
    note = ""
    if "float32" in accuracy:
        f32, f16 = accuracy["float32"], accuracy["float16"]
        note = (f"gpt2cells float16 zip vs HF on the rounded weights: relative {f16['relative']:.1e}; vs the float32 "
                f"originals: max |Δlogit| {f32['max_abs_dlogit']:.2e}, greedy agree {f32['greedy_agree']}/{NEW_TOKENS}")
    row("float16: greedy tokens equal HF's on the same rounded weights", "",
        f"engine {yes_no(engine, hf16)}, page UI {yes_no(page.get('decode_ui'), hf16)}",
        f"int8 vs HF float32: {yes_no(q8)}", compare=False, note=note)


def big_rows(results, dtypes):
    """--large / --xl: per dtype, the page's import, reload, prompt, decode and peak memory."""
    rows = []
    for dtype in dtypes:
        page = results.get(dtype) or {}
        engine = page.get("engine")
        weight_bytes = page.get("weight_bytes")
        memories = [m for m in (value(page.get(k), "wasm_memory_bytes") for k in ("import", "reload", "engine"))
                    if number(m)]
        hf = results.get(f"hf_{dtype}") or {}
        tokens = value(engine, "tokens")
        figures = [
            ("import zip → stored in IndexedDB", "s", value(page.get("import"), "stored_s"), ""),
            ("import → ready in Python", "s", value(page.get("import"), "s"), ""),
            ("reload → model ready", "s", value(page.get("reload"), "s"), ""),
            (f"{PROMPT_TOKENS}-token prompt", "ms", value(engine, "prompt_ms"), ""),
            (f"decode {NEW_TOKENS} greedy tokens", "tok/s", value(engine, "decode_tok_s"),
             f"HF (torch CPU, float32, 2 threads, one run) {fmt(value(hf, 'decode_tok_s'))} tok/s"),
            ("peak wasm memory / weight bytes", "×", max(memories) / weight_bytes if memories and weight_bytes
             else "n/a (not measured)",
             f"weights {weight_bytes / 2**20:.0f} MiB, peak {max(memories) / 2**20:.0f} MiB" if memories else ""),
            ("greedy tokens equal HF's (same weights, float32)", "",
             ("yes" if tokens == hf.get("tokens") else "NO") if isinstance(tokens, list) and hf.get("tokens")
             else "n/a", ""),
        ]
        for figure, unit, ours, note in figures:
            rows.append({"figure": f"{dtype}: {figure}", "unit": unit, "ours": ours, "onnxruntime_web": None,
                         "native": None, "ratio": None, "goal": None, "pass": None, "note": note})
    return rows


def measure_big(model, dtypes, repeats):
    """The page alone (onnxruntime-web cannot hold these models in float32), one page per dtype, one after
    another so only one big model is in memory; Hugging Face's greedy tokens on the same weights first."""
    from playwright.sync_api import sync_playwright

    import browser
    import native

    results = {}
    for dtype in dtypes:
        results[f"hf_{dtype}"] = attempt(native.hugging_face_tokens, model, 2, dtype)
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        results["chromium"] = chromium.version
        dist_server, site_url = browser.serve_dist()
        try:
            for dtype in dtypes:
                page = browser.OurPage(chromium, site_url, model, (results[f"hf_{dtype}"] or {}).get("tokens", []),
                                       zip_path=model.zip_for(dtype), stop_auto_run=True)
                try:
                    page.phase("cold_start", page.cold_start)
                    if "na" not in page.phase("import", page.import_zip):
                        page.phase("reload", page.reload_to_ready)
                    if page.model_ready:
                        rounds = attempt(browser.interleave, {"ours": page}, 2, max(1, repeats // 2))
                        page.result["engine"] = {**rounds.get("ours", rounds), "wasm_memory_bytes": page.wasm_memory()}
                finally:
                    page.close()
                results[dtype] = page.result
        finally:
            dist_server.shutdown()
            chromium.close()
    return results


def fmt(x):
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if number(x):
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"
    return str(x)


def format_table(rows):
    header = ["figure", "ours (browser)", "onnxruntime-web", "native HF / gpt2cells / ORT CPU", "ratio", "goal",
              "pass/fail"]
    lines = []
    for r in rows:
        unit = f" ({r['unit']})" if r["unit"] else ""
        native_text = ("—" if not r["native"] else
                       " / ".join(fmt(r["native"][k]) for k in ("hf", "gpt2cells", "ort_cpu")))
        verdict = {True: "pass", False: "FAIL", None: "—"}[r["pass"]]
        ratio_text = f"{r['ratio']:.2f}×" if r["ratio"] is not None else "—"
        figure = r["figure"] + unit + (f" [{r['note']}]" if r["note"] else "")
        lines.append([figure, fmt(r["ours"]), fmt(r["onnxruntime_web"]), native_text, ratio_text,
                      r["goal"] or "—", verdict])
    widths = [max(len(str(line[i])) for line in [header] + lines) for i in range(len(header))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths)) + " |" for line in lines]
    return "\n".join(out)


def format_profile(profile, top=10):
    """The steps that take most of the decode (and prompt) time in the page's Pyodide."""
    lines = [f"Where the time goes in the page's Pyodide (gpt2cells.steps, one run each; prompt "
             f"{profile['prompt_ms']:.0f} ms, generate {NEW_TOKENS} tokens {profile['generate_ms']:.0f} ms):",
             "| phase | step | argument shapes | calls | total ms | share of phase |", "|---|---|---|---|---|---|"]
    for r in profile["steps"][:top]:
        lines.append(f"| {r['phase']} | {r['step']} | {r['shapes']} | {r['calls']} | {r['total_ms']:.0f} | "
                     f"{r['share'] * 100:.0f}% |")
    return "\n".join(lines)


def format_run_all(run_all, top=8):
    """Which notebook cells the run-all time goes to, and how much is outside the cells' own code."""
    cells = [c for c in run_all.get("cells", []) if number(c["ms"])]
    if not cells:
        return ""
    inside = sum(c["ms"] for c in cells)
    wall = run_all["s"] * 1e3
    lines = [f"Run-all {wall:.0f} ms: cells' own Python {inside:.0f} ms; outside the cells (worker calls, outputs, "
             f"tables, rendering) {wall - inside:.0f} ms. Slowest cells:",
             "| cell | ms |", "|---|---|"]
    lines += [f"| {c['cell']} | {c['ms']:.0f} |" for c in sorted(cells, key=lambda c: -c["ms"])[:top]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="tiny model, < 1 minute (smoke use)")
    size.add_argument("--medium", action="store_true", help="GPT-2-medium shapes (355M) instead of small")
    size.add_argument("--large", action="store_true",
                      help="GPT-2-large shapes (774M), float16 and float32 zips: the page's import, reload, prompt, "
                           "decode, peak memory (minutes)")
    size.add_argument("--xl", action="store_true", help="GPT-2-XL shapes (1.5B), float16 zip, as --large")
    parser.add_argument("--long", action="store_true", help="long prompts (T = 10, 256, 1024) in the page")
    parser.add_argument("--skip-browser", action="store_true", help="native figures only (no Chromium)")
    parser.add_argument("--json", type=Path, help="write the table and raw measurements as JSON here")
    parser.add_argument("--repeats", type=int, help="timed runs per figure (default 3 quick, 5 otherwise)")
    args = parser.parse_args(argv)

    shape = "quick" if args.quick else "medium" if args.medium else "large" if args.large else "xl" if args.xl else "small"
    repeats = args.repeats or (3 if args.quick else 5)
    started = time.monotonic()
    if shape in ("large", "xl"):
        return run_big(shape, repeats, args.json, started)
    if args.long:
        return run_long(shape, repeats, args.json, started)
    model = models.prepare(shape)
    log(f"model: {shape} ({model.shape.n_layer} layers, n_embd {model.shape.n_embd}, vocab {model.vocab_size}), "
        f"prompt {model.prompt_text!r} = {model.prompt_ids}")
    native = measure_native(model, repeats)
    hf_tokens = (native.get("hf_1") or {}).get("tokens") or []
    hf16_tokens = (native.get("hf16_1") or {}).get("tokens") or []
    web = None if args.skip_browser else measure_browser(model, repeats, hf_tokens, hf16_tokens)
    rows = build_rows(native, web)

    meta = {"shape": shape, "n_layer": model.shape.n_layer, "n_embd": model.shape.n_embd,
            "vocab_size": model.vocab_size, "weight_bytes": model.weight_bytes,
            "prompt_tokens": PROMPT_TOKENS, "new_tokens": NEW_TOKENS, "repeats": repeats,
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.python_version()}",
            "chromium": (web or {}).get("chromium"), "seconds": round(time.monotonic() - started, 1)}
    print(f"\nGPT-2 Cells benchmark — {shape} shapes ({model.shape.n_layer} layers × {model.shape.n_embd}, "
          f"vocab {model.vocab_size}, {model.weight_bytes / 2**20:.0f} MiB float32); {meta['machine']}; "
          f"Chromium {meta['chromium'] or '—'}; {meta['seconds']} s\n")
    print(format_table(rows))
    profile = ((web or {}).get("page") or {}).get("profile")
    if profile and "na" not in profile:
        print("\n" + format_profile(profile))
    run_all = ((web or {}).get("page") or {}).get("run_all")
    if run_all and "na" not in run_all and format_run_all(run_all):
        print("\n" + format_run_all(run_all))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": rows, "raw": {"native": native, "browser": web}},
                                        indent=1, default=str))
        log(f"wrote {args.json}")
    return 0


def run_big(shape, repeats, json_path, started):
    dtypes = ("float16", "float32") if shape == "large" else ("float16",)
    model = models.prepare(shape, dtypes=dtypes)
    log(f"model: {shape} ({model.shape.n_layer} layers, n_embd {model.shape.n_embd}), dtypes {dtypes}")
    results = measure_big(model, dtypes, repeats)
    rows = big_rows(results, dtypes)
    meta = {"shape": shape, "n_layer": model.shape.n_layer, "n_embd": model.shape.n_embd, "dtypes": dtypes,
            "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, {platform.python_version()}",
            "chromium": results.get("chromium"), "seconds": round(time.monotonic() - started, 1)}
    print(f"\nGPT-2 Cells benchmark — {shape} shapes ({model.shape.n_layer} layers × {model.shape.n_embd}), "
          f"{', '.join(dtypes)}; {meta['machine']}; Chromium {meta['chromium'] or '—'}; {meta['seconds']} s\n")
    print(format_table(rows))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"meta": meta, "rows": rows, "raw": results}, indent=1, default=str))
    return 0


def run_long(shape, repeats, json_path, started):
    from playwright.sync_api import sync_playwright

    import browser
    import long_prompt
    import onnx_export
    import server

    model = models.prepare(shape, dtypes=("float32",))
    attempt(onnx_export.export, model)
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        bench_server, base_url = server.start(model.directory)
        dist_server, site_url = browser.serve_dist()
        try:
            results = long_prompt.measure(chromium, site_url, base_url, model, repeats)
        finally:
            dist_server.shutdown()
            bench_server.shutdown()
            chromium.close()
    print(f"\nGPT-2 Cells long prompts — {shape} shapes ({model.shape.n_layer} layers × {model.shape.n_embd}, vocab "
          f"{model.vocab_size}); {platform.machine()}, {__import__('os').cpu_count()} cores; "
          f"{round(time.monotonic() - started)} s\n")
    print("\n".join(long_prompt.rows(results)))
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
