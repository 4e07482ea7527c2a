"""The Analysis part in a real Chromium, on a random GPT-2 and on the built-in adder: the cells run after
generation, their heatmaps and head patterns render, and a click on a head shows that layer and head in the
attention cells.

Oracles: gpt2cells.analysis run natively on the same zip (itself checked against Hugging Face in
tests/engine/test_analysis.py), the model's shape, and the page's own layer/head choosers.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

import gpt2cells
import weights_pack
from gpt2cells import analysis
from tests import model_factory
from tests.browser.test_notebook import RUN_TIMEOUT_MS, cell, open_with_model, statuses, wait_notebook

ANALYSIS_CELLS = ["logit_lens", "logit_attribution", "attention_overview", "head_scores", "patching_prompts",
                  "patch_resid", "patch_heads", "steering"]
ADDER_ZIP = Path(__file__).resolve().parents[2] / "site" / "models" / "adder.zip"
PROMPT = "The quick brown fox jumps over the lazy"  # the default prompt cell's


@pytest.fixture(scope="module")
def random_gpt2(tmp_path_factory):
    """(zip path, native model): a random GPT-2 with 3 layers and 4 heads and a trained BPE vocabulary."""
    work = tmp_path_factory.mktemp("analysis-model")
    tokenizer_dir = model_factory.train_bpe(work / "tokenizer")
    config = model_factory.gpt2_config(model_factory.vocab_size_of(tokenizer_dir), n_layer=3, n_head=4, n_embd=32)
    folder = model_factory.save_hf_folder(model_factory.random_gpt2(config, seed=11, init_std=0.2), tokenizer_dir,
                                          work / "hf")
    zip_path = work / "analysis.zip"
    weights_pack.convert(folder, zip_path, name="analysis-test", progress=False)
    return zip_path, gpt2cells.load(zip_path)


def shown(text: str) -> str:
    """How the page writes a token in a table (grid.js showToken), spelled out here."""
    return text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")


def heatmap_texts(page, step, tab=None) -> list[list[str]]:
    if tab is not None:
        cell(page, step).get_by_test_id(f"tab-{tab}").click()
    return page.evaluate("""(step) => [...document.querySelectorAll(
        `[data-testid='cell-${step}'] [data-testid='heatmap'] tbody tr`)].map((row) =>
        [...row.querySelectorAll('td')].map((td) => td.textContent))""", step)


def expect_selected(page, layer, head):
    expect(page.get_by_test_id("layer-select")).to_have_value(str(layer))
    expect(page.get_by_test_id("head-select")).to_have_value(str(head))
    expect(cell(page, "softmax").get_by_test_id("view-of")).to_have_text(f"showing layer {layer}, head {head}")


def test_analysis_part_runs_renders_and_a_click_opens_the_head(page, site_url, random_gpt2):
    zip_path, model = random_gpt2
    open_with_model(page, site_url, zip_path)
    state = statuses(page)
    assert {step: state[step] for step in ANALYSIS_CELLS} == {step: "ok" for step in ANALYSIS_CELLS}, state

    # the part's heading sits above its first cell, after generation
    order = page.evaluate("() => [...document.querySelectorAll('.nb-part, .nb-cell')].map((n) => n.dataset.testid)")
    assert order.index("part-analysis") == order.index("cell-generation") + 1 == order.index("cell-logit_lens") - 1

    # logit lens: one row per residual stream, the top tokens as gpt2cells.analysis finds them natively
    ids = model.encode(PROMPT)
    lens = analysis.logit_lens(model, ids)
    texts = heatmap_texts(page, "logit_lens")
    assert texts == [[shown(model.decode([int(i)])) for i in row] for row in lens["top_ids"]]
    headers = cell(page, "logit_lens").locator("[data-testid='heatmap'] tbody th").all_text_contents()
    assert headers == ["0_pre", "1_pre", "2_pre", "final_post"]

    # direct logit attribution: the printed sum and the heads' numbers
    parts = analysis.logit_attribution(model, ids)
    stdout = cell(page, "logit_attribution").get_by_test_id("cell-stdout").text_content()
    total, logit = map(float, re.search(r"= (-?[\d.]+); the logit itself: (-?[\d.]+)", stdout).groups())
    assert total == pytest.approx(float(parts["logit"]), abs=1e-3) and logit == pytest.approx(total, abs=1e-3)
    values = [[float(v) for v in row[:4]] for row in heatmap_texts(page, "logit_attribution")]
    assert np.allclose(values, parts["heads"], atol=2e-3, rtol=1e-2)

    # every head's pattern, drawn once fetched; a click shows that layer and head in the attention cells
    overview = cell(page, "attention_overview").get_by_test_id("head-patterns")
    expect(overview).to_have_attribute("data-loaded", "true", timeout=RUN_TIMEOUT_MS)
    expect(overview.get_by_test_id("head-pattern")).to_have_count(3 * 4)
    overview.locator("[data-testid='head-pattern'][data-layer='2'][data-head='3']").click()
    expect_selected(page, 2, 3)
    expect(overview.locator("[aria-pressed='true']")).to_have_attribute("data-head", "3")

    # a head in a layers × heads heatmap is a control too
    cell(page, "head_scores").get_by_test_id("tab-induction").click()
    cell(page, "head_scores").locator("[data-testid='heatmap-head'][data-layer='1'][data-head='0']").click()
    expect_selected(page, 1, 0)
    scores = analysis.head_scores(model, ids)["induction_head"]
    texts = heatmap_texts(page, "head_scores")
    assert np.allclose([[float(v) for v in row] for row in texts], scores, atol=2e-3)

    # patching: one column per patched position, one row per block
    recovered = cell(page, "patch_resid").locator("[data-testid='heatmap'] tbody tr")
    expect(recovered).to_have_count(3)
    expect(cell(page, "steering").get_by_test_id("table")).to_contain_text("steered at layer 2")


def test_builtin_adder_runs_the_analysis_part(page, site_url):
    page.goto(site_url)
    wait_notebook(page)
    state = statuses(page)
    assert {step: state[step] for step in ANALYSIS_CELLS} == {step: "ok" for step in ANALYSIS_CELLS}, state
    adder = gpt2cells.load(ADDER_ZIP)
    clean, corrupt = adder.encode("12+35="), adder.encode("12+36=")
    answer, wrong = analysis.answer_and_wrong(adder.logits(clean)[-1], adder.logits(corrupt)[-1])
    expected = analysis.patch_resid_pre(adder, clean, corrupt, answer, wrong, [4, 5])  # the changed digit, the "="
    texts = heatmap_texts(page, "patch_resid")
    assert np.allclose([[float(v) for v in row] for row in texts], expected, atol=2e-3, rtol=1e-2)
