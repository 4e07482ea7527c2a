"""Hugging Face GPT-2 files straight into the page (issue #15), in real Chromium with real IndexedDB.

Each model is a random-weight GPT-2 written by transformers' own save_pretrained (tests/browser/hf_folders.py);
Hugging Face is the oracle: the page's token ids and logits for a prompt equal HF's tokenizer and model run on
the same files. Drops are real (Chrome DevTools drag events carrying disk paths, so folders arrive as
directory entries); downloads go to a local stand-in for the Hub (tests/browser/hub_server.py).
"""
from __future__ import annotations

import json
import re
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser.hf_folders import save_folders
from tests.browser import hub_server
from tests.browser.hub_server import HubServer
from tests.browser.weights_testkit import (
    READY_TIMEOUT_MS, expect_builtin_ready, idb_snapshot, page_logits, stored_items, wait_idle,
)

PROMPT = "Hello world, the quick brown fox: 12345."


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    work = tmp_path_factory.mktemp("hf-import")
    found = save_folders(work)
    f16 = work / "f16"  # the same model saved in float16, as many Hub repos are
    from transformers import GPT2LMHeadModel

    GPT2LMHeadModel.from_pretrained(found["hub"]).half().save_pretrained(f16)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(found["hub"] / name, f16 / name)
    return {**found, "f16": f16}


def hf_reference(folder: Path, text: str = PROMPT):
    """Token ids and float32 logits from Hugging Face itself, reading the folder (float16 weights widened)."""
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    ids = AutoTokenizer.from_pretrained(folder)(text)["input_ids"]
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].numpy()  # [n_seq, vocab]
    return ids, logits


def expect_model_ready(page, name: str) -> None:
    status = page.get_by_test_id("model-status")
    expect(status).to_contain_text(f"{name} — ", timeout=READY_TIMEOUT_MS)
    expect(status).to_have_attribute("data-state", "ready", timeout=READY_TIMEOUT_MS)


def expect_equal_to_hf(page, folder: Path) -> None:
    ids, logits = page_logits(page, PROMPT)
    hf_ids, hf_logits = hf_reference(folder)
    assert ids == hf_ids
    assert np.abs(logits - hf_logits).max() <= 1e-4


def drop_paths(page, paths) -> None:
    """A real drag and drop of files or folders from disk onto the drop zone (dropped again if it missed)."""
    cdp = page.context.new_cdp_session(page)
    data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
    for _ in range(5):
        # The zone's centre once it is in view, has stopped moving (the outline beside it grows as the notebook
        # opens) and nothing covers it: the drag lands on whatever is at the point.
        x, y = page.wait_for_function("""() => {
          const zone = document.querySelector('[data-testid="weights-drop"]');
          zone.scrollIntoView({block: "center"});
          const box = zone.getBoundingClientRect();
          const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
          const steady = window.__dropAt && window.__dropAt[0] === x && window.__dropAt[1] === y;
          window.__dropAt = [x, y];
          return steady && zone.contains(document.elementFromPoint(x, y)) && [x, y];
        }""", polling=200).json_value()
        page.evaluate("""() => { window.__dropped = false; document.querySelector('[data-testid="weights-drop"]')
          .addEventListener("drop", () => { window.__dropped = true; }, {once: true}); }""")
        for kind in ("dragEnter", "dragOver", "drop"):
            cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
        if page.evaluate("window.__dropped"):
            return
    raise AssertionError("the drop never reached the drop zone")


def open_page(page, site_url, query: str = ""):
    page.goto(site_url + query)
    wait_idle(page)
    expect_builtin_ready(page)
    return page


def test_files_dropped_together_import_and_equal_hf_then_reload(page, site_url, folders):
    open_page(page, site_url)
    folder = folders["tokjson"]  # transformers 5: tokenizer.json is the only tokenizer file
    drop_paths(page, sorted(folder.iterdir()))
    expect_model_ready(page, "huggingface-gpt2")
    expect_equal_to_hf(page, folder)
    assert stored_items(page).count() == 1
    page.reload()
    expect_model_ready(page, "huggingface-gpt2")
    expect_equal_to_hf(page, folder)


@pytest.mark.parametrize("kind", ["hub", "sharded", "f16"])
def test_a_dropped_folder_imports_and_equals_hf(page, site_url, folders, kind):
    open_page(page, site_url)
    drop_paths(page, [folders[kind]])
    expect_model_ready(page, kind)
    expect_equal_to_hf(page, folders[kind])


def test_files_picked_together_and_a_deflated_zip_of_the_folder(page, site_url, folders, tmp_path):
    open_page(page, site_url)
    picker = page.get_by_test_id("weights-file")
    picker.set_input_files([str(path) for path in sorted(folders["hub"].iterdir())])
    expect_model_ready(page, "huggingface-gpt2")
    expect_equal_to_hf(page, folders["hub"])

    archive = tmp_path / "gpt2-folder.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(folders["sharded"].iterdir()):
            out.write(path, f"my-gpt2/{path.name}")
    wait_idle(page)
    picker.set_input_files(str(archive))
    expect_model_ready(page, "my-gpt2")
    expect_equal_to_hf(page, folders["sharded"])
    assert stored_items(page).count() == 2


@pytest.fixture
def hub(folders, monkeypatch):
    # A cut connection lets the page read what was sent first (Chromium drops a failed stream's queued bytes):
    # seconds, not the stand-in's half second, on a loaded machine, so there is something to resume from.
    monkeypatch.setattr(hub_server, "CUT_PAUSE_S", 3.0)
    with HubServer({"org/tiny": folders["hub"], "org/sharded": folders["sharded"]}) as server:
        yield server


def download(page, repo: str) -> None:
    page.get_by_test_id("hub-repo").fill(repo)
    page.get_by_test_id("hub-download").click()


def test_download_from_the_hub_shows_the_size_resumes_a_cut_and_equals_hf(page, site_url, folders, hub):
    served = folders["hub"] / "model.safetensors"
    hub.cut_after["model.safetensors"] = served.stat().st_size // 2
    open_page(page, site_url, f"?hub={hub.url}")
    expect(page.get_by_test_id("hub-host")).to_contain_text(hub.url.split("//")[1])
    assert hub.log == []  # nothing contacted before the click
    download(page, "org/tiny")
    total = sum((folders["hub"] / name).stat().st_size
                for name in ("config.json", "vocab.json", "merges.txt", "model.safetensors"))
    # the size shows while the files arrive (the repo's name shows only until the file list is in: too brief to
    # catch on a loaded machine)
    expect(page.get_by_test_id("hub-progress")).to_contain_text(re.compile(r"of \d+(\.\d+)? [KM]B"),
                                                                timeout=READY_TIMEOUT_MS)
    expect_model_ready(page, "org/tiny")
    ranges = [entry[3] for entry in hub.requests_for("model.safetensors") if entry[3]]
    assert ranges and ranges[0].startswith("bytes=") and not ranges[0].startswith("bytes=0-"), hub.log
    expect_equal_to_hf(page, folders["hub"])
    record = page.evaluate("""async () => {
      const library = window.gpt2cells.models.library;
      return library.getModel(await library.activeId());
    }""")
    assert record["name"] == "org/tiny"
    assert total > record["size"] * 0.5  # the listing's total is what was downloaded, the record what is stored


def test_cancel_during_a_download_keeps_nothing(page, site_url, hub, folders):
    hub.hold_after["model.safetensors"] = 1000
    open_page(page, site_url, f"?hub={hub.url}")
    before = idb_snapshot(page)
    download(page, "org/tiny")  # its model.safetensors stops after 1000 bytes until the hub stops
    expect(page.get_by_test_id("hub-progress")).to_contain_text("Downloading model.safetensors",
                                                                timeout=READY_TIMEOUT_MS)
    page.get_by_test_id("hub-cancel").click()
    expect(page.get_by_test_id("weights-notice")).to_contain_text("cancelled; nothing was stored",
                                                                  timeout=READY_TIMEOUT_MS)
    wait_idle(page)
    assert idb_snapshot(page) == before
    expect_builtin_ready(page)


# ---- bad input: a specific message, nothing stored, the previous model still active -------------------------

def safetensors_parts(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length]), raw[8 + length:]


def safetensors_bytes(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def variant(source: Path, target: Path, files: dict) -> Path:
    """A copy of a model folder with some files replaced (bytes) or removed (None)."""
    shutil.copytree(source, target)
    for name, content in files.items():
        if content is None:
            (target / name).unlink()
        else:
            (target / name).write_bytes(content)
    return target


def bad_inputs(folders, work: Path):
    """(name, folder or paths to drop, words the message must contain)."""
    good = folders["hub"]
    header, data = safetensors_parts(good / "model.safetensors")
    config = json.loads((good / "config.json").read_text())
    first_key = next(key for key in header if key != "__metadata__")

    def edited_header(edit):
        changed = json.loads(json.dumps(header))
        edit(changed)
        return safetensors_bytes(changed, data)

    def with_config(**changes):
        return json.dumps({**config, **changes}).encode()

    wte_key = next(key for key in header if key.endswith("wte.weight"))
    other = save_folders(work / "other", n_embd=64)["hub"]
    vocab = json.loads((good / "vocab.json").read_text())
    smaller_vocab = json.dumps(dict(list(vocab.items())[:-3])).encode()
    cases = [
        ("length", {"model.safetensors": struct.pack("<Q", 10 ** 9) + b"{}"}, ["header length", "past the end"]),
        ("not-json", {"model.safetensors": struct.pack("<Q", 6) + b"{nope}" + data}, ["not JSON"]),
        ("out-of-range", {"model.safetensors": edited_header(
            lambda h: h[first_key].update(data_offsets=[0, len(data) + 64]))}, [first_key]),
        ("overlap", {"model.safetensors": edited_header(
            lambda h: [h[key].update(data_offsets=h[first_key]["data_offsets"])
                       for key in h if key != "__metadata__" and key != first_key
                       and h[key]["shape"] == h[first_key]["shape"]][:1])}, ["overlap"]),
        ("dtype", {"model.safetensors": edited_header(lambda h: h[wte_key].update(dtype="I32"))}, ["I32"]),
        ("missing", {"model.safetensors": safetensors_bytes(
            {key: value for key, value in header.items() if not key.endswith("ln_f.bias")}, data)}, ["ln_f.bias"]),
        ("unexpected", {"model.safetensors": edited_header(lambda h: h.update({"transformer.h.9.mlp.c_fc.bias": {
            "dtype": "F32", "shape": [0], "data_offsets": [len(data), len(data)]}}))}, ["h.9.mlp.c_fc.bias"]),
        ("not-gpt2", {"config.json": with_config(model_type="llama")}, ["llama"]),
        ("activation", {"config.json": with_config(activation_function="relu")}, ["relu"]),
        ("n-inner", {"config.json": with_config(n_inner=7)}, ["n_inner"]),
        ("contradicts", {"config.json": with_config(n_embd=config["n_embd"] * 2)}, ["shape", "same model"]),
        ("vocab-size", {"vocab.json": smaller_vocab}, ["vocab", str(config["vocab_size"])]),
        ("no-tokenizer", {"vocab.json": None, "merges.txt": None, "tokenizer.json": None}, ["tokenizer"]),
        ("two-models", {"model.safetensors": (other / "model.safetensors").read_bytes()}, ["same model"]),
    ]
    return [(name, variant(good, work / name, files), words) for name, files, words in cases]


def test_every_bad_input_is_refused_by_name_and_changes_nothing(page, site_url, folders, tmp_path):
    open_page(page, site_url)
    drop_paths(page, [folders["hub"]])
    expect_model_ready(page, "hub")
    wait_idle(page)
    before = idb_snapshot(page)
    for name, folder, words in bad_inputs(folders, tmp_path):
        drop_paths(page, [folder])
        error = page.get_by_test_id("weights-error")
        expect(error).to_be_visible(timeout=READY_TIMEOUT_MS)
        wait_idle(page)
        message = error.text_content()
        assert message.startswith("Could not import "), (name, message)
        for word in words:
            assert word.lower() in message.lower(), (name, word, message)
        assert idb_snapshot(page) == before, name
        expect_model_ready(page, "hub")
    expect_equal_to_hf(page, folders["hub"])


def test_unknown_repo_and_a_cut_that_cannot_resume_are_refused(page, site_url, hub, folders):
    open_page(page, site_url, f"?hub={hub.url}")
    before = idb_snapshot(page)
    download(page, "org/nothing-here")
    error = page.get_by_test_id("weights-error")
    expect(error).to_contain_text("no model org/nothing-here", timeout=READY_TIMEOUT_MS)
    wait_idle(page)
    hub.cut_after["model.safetensors"] = (folders["hub"] / "model.safetensors").stat().st_size // 2
    hub.ignore_range = True
    download(page, "org/tiny")
    expect(error).to_contain_text("cannot resume", timeout=READY_TIMEOUT_MS)
    wait_idle(page)
    assert idb_snapshot(page) == before
    expect_builtin_ready(page)
