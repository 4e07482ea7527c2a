"""Getting a model into the page: Hugging Face files dropped as they come vs the weights zip, in one run.

    python bench/hf_import.py            # GPT-2-small shapes (random weights, cached in .cache/bench/)
    python bench/hf_import.py --quick    # a tiny model: a smoke run

Each round opens a fresh browser profile (empty IndexedDB), waits for the built-in model, picks the files in
the drop zone's file input and times two moments from the pick: "stored" (the import committed and the model
starts loading into Python) and "ready" (the model is in Python). The two ways alternate, so both see the
same machine; the median of the rounds is printed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser  # noqa: E402
from models import log, prepare, read_manifest  # noqa: E402

HF_FILES = ("config.json", "model.safetensors", "vocab.json", "merges.txt")


def import_once(chromium, site_url: str, paths: list[Path], name: str) -> dict:
    context, page = browser.new_page(chromium)
    try:
        page.goto(site_url)
        browser.wait_for_state(page, "model-status", "ready")
        start = browser.import_files(page, paths)
        ready = browser.wait_for_state(page, "model-status", "ready", name)
        return {"stored_s": browser.stored_seconds(page, name, start), "ready_s": (ready - start) / 1e3,
                "wasm_memory_bytes": browser.run_python(page, browser.WASM_MEMORY)}
    finally:
        context.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny model (smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    model = prepare("quick" if args.quick else "small", dtypes=("float32",))
    ways = {
        "weights zip": ([model.zip_path], read_manifest(model.zip_path)["name"]),
        "Hugging Face files": ([model.hf_dir / name for name in HF_FILES], "huggingface-gpt2"),
    }
    from playwright.sync_api import sync_playwright

    results = {way: [] for way in ways}
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        server, site_url = browser.serve_dist()
        try:
            for round_ in range(args.rounds):
                for way, (paths, name) in ways.items():
                    measured = import_once(chromium, site_url, paths, name)
                    log(f"round {round_ + 1}, {way}: stored {measured['stored_s']:.2f} s, ready "
                        f"{measured['ready_s']:.2f} s, wasm {measured['wasm_memory_bytes'] / 2**20:.0f} MiB")
                    results[way].append(measured)
        finally:
            server.shutdown()
            chromium.close()
    size = sum(path.stat().st_size for path in ways["Hugging Face files"][0])
    print(f"\nImport into the page, {model.shape.name} shapes ({size / 2**20:.0f} MiB of Hugging Face files), "
          f"median of {args.rounds} rounds, alternating:\n")
    print("| way in | → stored | → ready | wasm memory |")
    print("|---|---|---|---|")
    median = {way: {key: statistics.median(r[key] for r in runs) for key in ("stored_s", "ready_s",
                                                                           "wasm_memory_bytes")}
              for way, runs in results.items()}
    for way, m in median.items():
        print(f"| {way} | {m['stored_s']:.2f} s | {m['ready_s']:.2f} s | {m['wasm_memory_bytes'] / 2**20:.0f} MiB |")
    zip_, hf = median["weights zip"], median["Hugging Face files"]
    print(f"\nHugging Face files / weights zip: stored {hf['stored_s'] / zip_['stored_s']:.2f}×, "
          f"ready {hf['ready_s'] / zip_['ready_s']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
