"""The built-in adder (site/models/adder.zip): a fresh profile runs the notebook with no drop at all.

Oracles: gpt2cells run natively on the same zip (itself checked against held-out sums in tests/adder), and
the real IndexedDB for what is stored.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

import gpt2cells
from tests.browser.test_notebook import RUN_TIMEOUT_MS, run_and_wait, set_prompt, statuses, wait_notebook
from tests.browser.weights_testkit import (
    BUILTIN_NAME, choose_file, expect_builtin_ready, expect_ready, idb_snapshot, pack_tiny_model, stored_items,
    wait_idle,
)

ADDER_ZIP = Path(__file__).resolve().parents[2] / "site" / "models" / "adder.zip"


@pytest.fixture(scope="module")
def adder():
    return gpt2cells.load(ADDER_ZIP)


def builtin_item(page):
    return page.locator('[data-testid="model-item"][data-builtin="true"]')


def test_fresh_profile_gets_the_builtin_model_listed_but_not_stored(page, site_url):
    page.goto(site_url)
    expect_builtin_ready(page)
    wait_idle(page)
    expect(builtin_item(page)).to_have_count(1)
    expect(builtin_item(page).get_by_test_id("model-name")).to_have_text(BUILTIN_NAME)
    expect(builtin_item(page)).to_have_attribute("data-active", "true")
    expect(builtin_item(page).get_by_test_id("model-delete")).to_have_count(0)  # cannot be deleted
    expect(stored_items(page)).to_have_count(0)
    assert idb_snapshot(page) in (None, {"models": [], "blobs": [], "settings": {}})  # read from the site

    page.reload()
    expect_builtin_ready(page)
    wait_idle(page)
    expect(builtin_item(page)).to_have_count(1)  # never twice
    assert idb_snapshot(page) in (None, {"models": [], "blobs": [], "settings": {}})


def test_notebook_adds_a_sum_the_test_picks(page, site_url, adder):
    a, b = 47, 385
    prompt = f"{a}+{b}="
    answer = str(a + b)[::-1] + "\n"  # the adder writes the sum's digits least significant first
    ids = adder.encode(prompt)
    assert adder.decode(adder.generate(ids, len(answer))) == answer  # the oracle knows this sum

    page.goto(site_url)
    expect_builtin_ready(page)
    wait_notebook(page)
    # the character tokenizer's cells replace the regex and BPE ones
    expect(page.get_by_test_id("cell-chars")).to_have_count(1)
    expect(page.get_by_test_id("cell-bpe")).to_have_count(0)
    set_prompt(page, prompt)
    run_and_wait(page, lambda: page.get_by_test_id("run-all").click())
    assert set(statuses(page).values()) == {"ok"}, statuses(page)
    expect(page.get_by_test_id("prediction")).to_contain_text(f"id {adder.generate(ids, 1)[0]}")

    page.get_by_test_id("gen-n").fill(str(len(answer)))
    page.get_by_test_id("gen-temperature").fill("0")
    run_and_wait(page, lambda: page.get_by_test_id("generate").click())
    expect(page.get_by_test_id("generate-state")).to_contain_text("done", timeout=RUN_TIMEOUT_MS)
    assert page.get_by_test_id("generated-text").get_attribute("data-text") == prompt + answer


def test_a_dropped_model_becomes_active_and_the_builtin_comes_back(page, site_url, tmp_path):
    tiny = pack_tiny_model(tmp_path, "tiny-dropped", seed=7)
    page.goto(site_url)
    expect_builtin_ready(page)
    choose_file(page, tiny.zip_path)
    expect_ready(page, tiny)
    wait_idle(page)
    expect(builtin_item(page)).to_have_attribute("data-active", "false")
    stored_id = idb_snapshot(page)["models"][0]["id"]

    builtin_item(page).get_by_test_id("model-use").click()
    expect_builtin_ready(page)
    wait_idle(page)
    assert idb_snapshot(page)["settings"] == {}  # no stored model is active: the built-in one is
    page.reload()
    expect_builtin_ready(page)  # the choice survives a reload
    wait_idle(page)
    assert [m["id"] for m in idb_snapshot(page)["models"]] == [stored_id]  # the dropped model is kept
