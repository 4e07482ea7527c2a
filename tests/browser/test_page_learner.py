"""The page a learner lives in (issue #19), in a real Chromium: first screen, multi-line prompt, offline use,
update notice, subpath, share links, Content-Security-Policy.

Oracles: Hugging Face transformers (a tiny random GPT-2 whose BPE is trained by the test) for the multi-line
prompt, Chromium's own CSP enforcement, the served files for the service worker's cache.
"""
from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

import build
import weights_pack
from tests import model_factory
from tests.browser.test_notebook import cell, completed_runs, run_and_wait, set_code, wait_idle, wait_notebook

HTML_NAME = '<b id="html-name">tiny</b><img src=x onerror="window.__pwned = 1">'
HTML_TEXT = '<img src=x onerror="window.__pwned = 2"><b>bold</b>'
MULTILINE = "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def tiny_html(tmp_path_factory):
    """(zip path, HF model, HF tokenizer): a tiny GPT-2 whose name and vocabulary hold HTML."""
    work = tmp_path_factory.mktemp("learner-model")
    corpus = model_factory.CORPUS + [HTML_TEXT, MULTILINE] * 30
    tokenizer_dir = model_factory.train_bpe(work / "tokenizer", corpus=corpus)
    config = model_factory.gpt2_config(model_factory.vocab_size_of(tokenizer_dir), n_layer=2, n_head=4, n_embd=32)
    hf_model = model_factory.random_gpt2(config, seed=3, init_std=0.3)
    folder = model_factory.save_hf_folder(hf_model, tokenizer_dir, work / "hf")
    zip_path = work / "tiny-html.zip"
    weights_pack.convert(folder, zip_path, name=HTML_NAME, progress=False)
    return zip_path, hf_model, model_factory.hf_tokenizer(tokenizer_dir)


def import_model(page, zip_path):
    page.get_by_test_id("weights-file").set_input_files(str(zip_path))
    expect(page.get_by_test_id("model-status")).to_contain_text("tiny</b>", timeout=240_000)
    wait_notebook(page)


def serve(directory, base="/"):
    server = build.make_server(directory, port=0, quiet=True, base=base)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{base}"


def in_viewport(page, testid):
    box = page.get_by_test_id(testid).bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and \
        box["x"] >= 0 and box["x"] + box["width"] <= size["width"]


def wait_offline_ready(page):
    """The service worker controls the page and its cache holds the build (install finished)."""
    page.wait_for_function("""async () => {
      await navigator.serviceWorker.ready;
      return Boolean(navigator.serviceWorker.controller);
    }""", timeout=240_000)


# ---------------------------------------------------------------- first screen

def test_first_screen_shows_prompt_prediction_and_model_at_1280x800(browser, site_url):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(site_url)
        wait_notebook(page)
        expect(page.get_by_test_id("prediction-text")).to_be_visible(timeout=240_000)
        for testid in ["prompt", "run-all", "prediction", "model-status"]:
            assert in_viewport(page, testid), testid
        expect(page.get_by_test_id("model-status")).to_contain_text("— ready")
        expect(page.get_by_test_id("status-model")).to_have_text(page.get_by_test_id("model-status").text_content())
        # scrolled far down, the prompt bar and the prediction are still on screen
        page.get_by_test_id("cell-logits").scroll_into_view_if_needed()
        page.mouse.wheel(0, 3000)
        page.wait_for_timeout(300)
        assert in_viewport(page, "prompt") and in_viewport(page, "prediction")
        # the outline jumps to a cell
        page.get_by_test_id("outline-logits").locator("a").click()
        page.wait_for_function("() => document.activeElement?.closest('[data-testid=cell-logits]')")
        assert in_viewport(page, "cell-logits") or page.get_by_test_id("cell-logits").bounding_box()["y"] < 800

        # Generate in the prompt bar continues the prompt with the generation cell's settings
        page.get_by_test_id("gen-n").fill("3")  # the built-in model's context is 16 tokens
        page.evaluate("() => window.scrollTo(0, 0)")
        run_and_wait(page, lambda: page.get_by_test_id("toolbar-generate").click())
        expect(page.get_by_test_id("generate-state")).to_contain_text("done", timeout=240_000)
        assert len(page.get_by_test_id("generated-text").get_attribute("data-ids").split(",")) == 3

        page.set_viewport_size({"width": 800, "height": 700})
        assert page.evaluate("() => document.scrollingElement.scrollWidth") <= 800  # no sideways page scroll
        page.evaluate("() => window.scrollTo(0, 0)")
        for testid in ["prompt", "run-all", "prediction"]:
            assert in_viewport(page, testid), testid
        page.get_by_test_id("status-details").click()
        expect(page.get_by_test_id("model-status")).to_be_visible()
    finally:
        context.close()


def test_outline_marks_edited_and_failed_cells(page, site_url):
    page.goto(site_url)
    wait_notebook(page)
    set_code(page, "token_embeddings", "raise ValueError('on purpose')")
    expect(page.get_by_test_id("outline-token_embeddings")).to_contain_text("edited")
    run_and_wait(page, lambda: page.keyboard.press("ControlOrMeta+Enter"))
    expect(page.get_by_test_id("outline-token_embeddings")).to_have_attribute("data-status", "failed")
    expect(page.get_by_test_id("outline-token_embeddings")).to_contain_text("failed")
    # Esc leaves the editor: the cell keeps the focus; then ? lists the shortcuts
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.activeElement?.dataset.testid") == "cell-token_embeddings"
    page.keyboard.press("?")
    expect(page.get_by_test_id("shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("shortcuts")).to_be_hidden()


# ---------------------------------------------------------------- multi-line prompt

def test_multiline_prompt_keeps_its_newlines_and_predicts_as_hugging_face(page, site_url, tiny_html):
    zip_path, hf_model, hf_tok = tiny_html
    page.goto(site_url)
    import_model(page, zip_path)
    box = page.get_by_test_id("prompt")
    box.fill(MULTILINE)
    run_and_wait(page, lambda: box.press("Enter"))
    assert box.input_value() == MULTILINE
    assert page.evaluate("() => document.querySelector('[data-testid=cell-prompt] .nb-editor').editor.getValue()") \
        == f"prompt = {json.dumps(MULTILINE)}"
    ids = hf_tok(MULTILINE)["input_ids"]
    with torch.no_grad():
        logits = hf_model(torch.tensor([ids])).logits[0, -1].numpy()
    expect(page.get_by_test_id("token-count")).to_have_text(f"{len(ids)} tokens")
    assert int(page.get_by_test_id("prediction").get_attribute("data-token-id")) == int(np.argmax(logits))
    # Shift+Enter in the box starts a new line instead of running
    before = completed_runs(page)
    box.press("End")
    box.press("Shift+Enter")
    page.wait_for_timeout(300)
    assert box.input_value().endswith("\n\n") and completed_runs(page) == before


# ---------------------------------------------------------------- HTML from a model is text

def test_model_name_and_token_text_with_html_show_as_text(page, site_url, tiny_html):
    zip_path, _, hf_tok = tiny_html
    page.goto(site_url)
    import_model(page, zip_path)
    assert HTML_NAME in page.get_by_test_id("model-status").text_content()
    assert HTML_NAME in page.get_by_test_id("status-model").text_content()
    box = page.get_by_test_id("prompt")
    box.fill(HTML_TEXT)
    run_and_wait(page, lambda: box.press("Enter"))
    assert len(hf_tok(HTML_TEXT)["input_ids"]) < len(HTML_TEXT)  # BPE merged HTML into tokens the page shows
    output = cell(page, "token_ids").get_by_test_id("output")
    expect(output).to_contain_text('"><')  # a token made of HTML's characters, shown as they are
    assert output.locator("b, img").count() == 0
    assert page.locator("#html-name").count() == 0
    assert page.locator("main img, aside img, header img").count() == 0
    assert page.evaluate("() => window.__pwned") is None


# ---------------------------------------------------------------- Content-Security-Policy

def test_csp_blocks_an_injected_inline_script(ready_page):
    violations = ready_page.evaluate("""() => new Promise((resolve) => {
      const seen = [];
      document.addEventListener("securitypolicyviolation", (e) => seen.push(e.violatedDirective));
      const script = document.createElement("script");
      script.textContent = "window.__injected = true";
      document.body.append(script);
      const img = document.createElement("img");
      img.src = "https://example.com/pixel.png";
      document.body.append(img);
      setTimeout(() => resolve({ran: window.__injected === true, seen}), 500);
    })""")
    assert violations["ran"] is False
    assert any(v.startswith("script-src") for v in violations["seen"])
    assert any(v.startswith("img-src") for v in violations["seen"])


# ---------------------------------------------------------------- offline, update notice, subpath

def test_offline_reload_loads_the_stored_model_and_runs(context, site_url, tiny_html):
    zip_path, hf_model, hf_tok = tiny_html
    page = context.new_page()
    page.goto(site_url)
    import_model(page, zip_path)
    wait_offline_ready(page)
    context.set_offline(True)
    try:
        page.reload()
        expect(page.get_by_test_id("model-status")).to_contain_text("tiny</b>", timeout=240_000)
        wait_notebook(page)
        box = page.get_by_test_id("prompt")
        box.fill("Hello, world")
        run_and_wait(page, lambda: box.press("Enter"))
        run_and_wait(page, lambda: page.get_by_test_id("run-all").click())
        ids = hf_tok("Hello, world")["input_ids"]
        with torch.no_grad():
            expected = int(torch.argmax(hf_model(torch.tensor([ids])).logits[0, -1]))
        assert int(page.get_by_test_id("prediction").get_attribute("data-token-id")) == expected
        assert page.evaluate("() => fetch('index.html').then(() => 'served', () => 'failed')") == "served"
    finally:
        context.set_offline(False)


def test_new_build_shows_the_update_notice(browser, dist_dir, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(dist_dir, site)
    server, url = serve(site)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        wait_notebook(page)
        wait_offline_ready(page)
        expect(page.get_by_test_id("update-notice")).to_be_hidden()
        with open(site / "style.css", "a") as f:  # a new deploy: one file changed, sw.js stamped again
            f.write("\n/* deploy 2 */\n")
        old_id = build.write_service_worker(dist_dir)
        new_id = build.write_service_worker(site)
        assert new_id != old_id
        page.reload()
        expect(page.get_by_test_id("update-notice")).to_contain_text("new version", timeout=120_000)
        with page.expect_navigation(timeout=120_000):
            page.get_by_test_id("update-reload").click()
        wait_notebook(page)
        assert "deploy 2" in page.evaluate("() => fetch('style.css').then((r) => r.text())")
        expect(page.get_by_test_id("update-notice")).to_be_hidden()
    finally:
        context.close()
        server.shutdown()
        server.server_close()


def test_site_works_under_a_subpath(browser, dist_dir):
    server, url = serve(dist_dir, base="/gpt2-cells/")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        wait_notebook(page)
        expect(page.get_by_test_id("prediction-text")).to_be_visible(timeout=240_000)
        wait_offline_ready(page)
        scope = page.evaluate("() => navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == url
        context.set_offline(True)
        page.reload()
        wait_notebook(page)
        expect(page.get_by_test_id("prediction-text")).to_be_visible(timeout=240_000)
    finally:
        context.set_offline(False)
        context.close()
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- share links

def notebook_sources(page):
    return page.evaluate("() => window.gpt2cells.notebook.sources()")


def test_share_link_round_trips_after_consent(browser, site_url):
    sender = browser.new_context()
    receiver = browser.new_context()
    try:
        page = sender.new_page()
        page.goto(site_url)
        wait_notebook(page)
        box = page.get_by_test_id("prompt")
        box.fill("1+2=\n")
        run_and_wait(page, lambda: box.press("Enter"))
        set_code(page, "token_ids", "ids = tokenizer.encode(prompt)  # shared\n"
                                    "tokens = [tokenizer.decode([i]) for i in ids]\nT = len(ids)\nids")
        sent = notebook_sources(page)
        page.get_by_test_id("copy-link").click()
        link = page.get_by_test_id("share-link").input_value()
        assert link.startswith(site_url) and "#share=" in link and "shared" not in link  # compressed

        # the receiver has edits of their own
        own = receiver.new_page()
        own.goto(site_url)
        wait_notebook(own)
        default = own.evaluate("() => window.gpt2cells.notebook.defaultSources()")["token_embeddings"]
        set_code(own, "token_embeddings", "# my own edit\n" + default)
        wait_idle(own)
        own.evaluate("() => window.gpt2cells.notebook.edits.saveNow()")
        mine = notebook_sources(own)
        own.close()

        declined = receiver.new_page()
        declined.goto(link)
        expect(declined.get_by_test_id("share-offer")).to_be_visible(timeout=240_000)
        expect(declined.get_by_test_id("share-diff")).to_contain_text("+ ids = tokenizer.encode(prompt)  # shared")
        assert declined.locator("#notebook").get_attribute("data-completed-runs") is None  # nothing ran
        declined.get_by_test_id("share-decline").click()
        expect(declined.get_by_test_id("share-offer")).to_be_hidden()
        assert notebook_sources(declined) == mine
        declined.close()

        accepted = receiver.new_page()
        accepted.goto(link)
        expect(accepted.get_by_test_id("share-offer")).to_be_visible(timeout=240_000)
        assert accepted.locator("#notebook").get_attribute("data-completed-runs") is None
        assert all(n.get_attribute("data-runs") == "0" for n in accepted.locator(".nb-cell").all())
        run_and_wait(accepted, lambda: accepted.get_by_test_id("share-accept").click())
        assert notebook_sources(accepted) == sent
        assert accepted.get_by_test_id("prompt").input_value() == "1+2=\n"
        assert "#share=" not in accepted.url
    finally:
        sender.close()
        receiver.close()
