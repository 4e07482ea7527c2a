"""Dropping a weights zip: stored in the real IndexedDB, loaded into the Python worker, back after a reload.

Oracles: gpt2cells run natively on the same zip (and Hugging Face on the model it was packed from) for the
logits; the real IndexedDB, read with its own API, for what is stored.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

import gpt2cells
from tests.browser.weights_testkit import (
    DatabaseHold, choose_file, drop_file, expect_builtin_ready, expect_ready, idb_snapshot, pack_tiny_model,
    page_logits, stored_items, wait_idle,
)

PROMPT = "Hello, world! The quick brown fox."


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    work = tmp_path_factory.mktemp("weights-import")
    return {
        "alpha": pack_tiny_model(work / "a", "tiny-alpha", seed=1),
        "beta": pack_tiny_model(work / "b", "tiny-beta", seed=2, n_layer=3, n_embd=48, n_head=6),
    }


def check_logits(page, model) -> None:
    ids, logits = page_logits(page, PROMPT)  # [n_seq, vocab]
    native = gpt2cells.load(model.zip_path)
    assert ids == native.encode(PROMPT)
    expected = native.logits(ids)  # [n_seq, vocab]
    assert logits.shape == expected.shape
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)
    with torch.no_grad():
        hf = model.hf_model(torch.tensor([ids])).logits[0].numpy()  # [n_seq, vocab]
    np.testing.assert_allclose(logits, hf, atol=1e-4, rtol=0)


def stored_ids(snapshot) -> dict:
    return {m["name"]: m["id"] for m in snapshot["models"]}


def test_drop_stores_loads_and_survives_reload(page, site_url, models):
    alpha = models["alpha"]
    page.goto(site_url)
    wait_idle(page)
    expect_builtin_ready(page)  # before any drop, the built-in model, which is not stored
    assert idb_snapshot(page) == {"models": [], "blobs": [], "settings": {}}

    drop_file(page, alpha.zip_path)
    expect_ready(page, alpha)
    wait_idle(page)

    snapshot = idb_snapshot(page)
    (record,) = snapshot["models"]
    assert record["name"] == alpha.name and record["n_tensors"] == alpha.n_tensors
    assert snapshot["settings"] == {"active": record["id"]}
    tensor_bytes = {f"tensor:{t['name']}": t["nbytes"] for t in alpha.manifest["tensors"]}
    stored = {key: size for model_id, key, size, _ in snapshot["blobs"] if model_id == record["id"]}
    assert len(snapshot["blobs"]) == alpha.n_tensors + alpha.n_files
    assert {k: v for k, v in stored.items() if k.startswith("tensor:")} == tensor_bytes
    assert {kind for *_, kind in snapshot["blobs"]} == {"Blob"}
    item = stored_items(page)
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("model-name")).to_have_text(alpha.name)
    expect(item.get_by_test_id("model-size")).not_to_be_empty()
    expect(item.get_by_test_id("model-date")).not_to_be_empty()
    expect(item).to_have_attribute("data-active", "true")
    expect(page.get_by_test_id("storage-usage")).to_contain_text("used of")
    check_logits(page, alpha)

    page.reload()
    expect_ready(page, alpha)  # from IndexedDB, no drop
    wait_idle(page)
    assert idb_snapshot(page) == snapshot
    check_logits(page, alpha)


def test_file_input_two_models_switch_and_delete(page, site_url, models):
    alpha, beta = models["alpha"], models["beta"]
    page.goto(site_url)
    wait_idle(page)
    choose_file(page, alpha.zip_path)
    expect_ready(page, alpha)
    wait_idle(page)
    choose_file(page, beta.zip_path)
    expect_ready(page, beta)  # the newest import becomes active
    wait_idle(page)
    check_logits(page, beta)

    snapshot = idb_snapshot(page)
    ids = stored_ids(snapshot)
    assert set(ids) == {alpha.name, beta.name}
    assert snapshot["settings"] == {"active": ids[beta.name]}
    expect(stored_items(page)).to_have_count(2)

    alpha_item = page.locator(f'[data-testid="model-item"][data-model-id="{ids[alpha.name]}"]')
    alpha_item.get_by_test_id("model-use").click()
    expect_ready(page, alpha)
    wait_idle(page)
    check_logits(page, alpha)
    assert idb_snapshot(page)["settings"] == {"active": ids[alpha.name]}

    page.reload()
    expect_ready(page, alpha)  # the choice survives a reload
    wait_idle(page)

    beta_item = page.locator(f'[data-testid="model-item"][data-model-id="{ids[beta.name]}"]')
    beta_item.get_by_test_id("model-delete").click()
    expect(stored_items(page)).to_have_count(1)
    after = idb_snapshot(page)
    assert stored_ids(after) == {alpha.name: ids[alpha.name]}
    assert {model_id for model_id, *_ in after["blobs"]} == {ids[alpha.name]}
    assert after["settings"] == {"active": ids[alpha.name]}
    expect_ready(page, alpha)  # deleting another model leaves the loaded one alone
    check_logits(page, alpha)

    alpha_item.get_by_test_id("model-delete").click()
    expect_builtin_ready(page)  # with no stored model left, the built-in one is active again
    assert idb_snapshot(page) == {"models": [], "blobs": [], "settings": {}}
    page.reload()
    wait_idle(page)
    expect_builtin_ready(page)


def test_drop_zone_is_keyboard_accessible(page, site_url):
    page.goto(site_url)
    zone = page.get_by_test_id("weights-drop")
    expect(zone).to_have_attribute("role", "button")
    expect(zone).to_have_accessible_description(re.compile("choose one"))
    assert zone.locator('input[type="file"]').count() == 1
    wait_idle(page)
    zone.focus()
    expect(zone).to_be_focused()  # reachable with the keyboard (tabindex 0)
    with page.expect_file_chooser() as chooser:
        zone.press("Enter")
    assert chooser.value.is_multiple()  # a Hugging Face model is several files, chosen together
    chooser.value.set_files([])  # the learner closes the dialog
    with page.expect_file_chooser():
        zone.press(" ")


def test_cancel_import_keeps_store_and_active_model(page, context, site_url, models):
    alpha, beta = models["alpha"], models["beta"]
    page.goto(site_url)
    wait_idle(page)
    choose_file(page, alpha.zip_path)
    expect_ready(page, alpha)
    wait_idle(page)
    before = idb_snapshot(page)

    helper = context.new_page()
    helper.goto(site_url + "build-info.json")  # same origin, no app running
    hold = DatabaseHold(helper, wait_for_orphans=True).arm()
    choose_file(page, beta.zip_path)
    hold.wait()  # beta is half written, held mid-import
    assert hold.orphans >= 1
    expect(page.get_by_test_id("weights-progress")).to_be_visible()
    expect(page.get_by_test_id("weights-progress-bytes")).to_contain_text("%")
    page.get_by_test_id("weights-cancel").click()
    hold.release()
    expect(page.get_by_test_id("weights-notice")).to_contain_text("cancelled; nothing was stored")
    wait_idle(page)
    assert idb_snapshot(page) == before
    expect_ready(page, alpha)
    check_logits(page, alpha)


def test_tab_closed_mid_import_leaves_no_half_model(context, site_url, models):
    alpha, beta = models["alpha"], models["beta"]
    first = context.new_page()
    first.goto(site_url)
    wait_idle(first)
    choose_file(first, alpha.zip_path)
    expect_ready(first, alpha)
    wait_idle(first)
    before = idb_snapshot(first)

    helper = context.new_page()
    helper.goto(site_url + "build-info.json")
    hold = DatabaseHold(helper, wait_for_orphans=True).arm()
    choose_file(first, beta.zip_path)
    hold.wait()
    assert hold.orphans >= 1
    first.close()  # the tab dies with beta half written
    hold.release()
    during = idb_snapshot(helper)
    assert stored_ids(during) == stored_ids(before)  # the half model is invisible
    assert len(during["blobs"]) > len(before["blobs"])  # its orphan tensors are still on disk

    second = context.new_page()
    second.goto(site_url)
    expect_ready(second, alpha)  # previous model still active
    wait_idle(second)
    assert idb_snapshot(second) == before  # orphans cleaned at start
    check_logits(second, alpha)


def test_cancel_load(page, site_url, models):
    alpha = models["alpha"]
    page.goto(site_url)
    wait_idle(page)
    choose_file(page, alpha.zip_path)
    expect_ready(page, alpha)
    wait_idle(page)
    before = idb_snapshot(page)

    # Python is busy with a cell, so the load waits in the worker's queue while we press Cancel.
    page.evaluate("() => { window.__busy = window.gpt2cells.runtime.exec('import time; time.sleep(8)'); }")
    stored_items(page).get_by_test_id("model-use").click()  # "Reload"
    expect(page.get_by_test_id("model-status")).to_have_attribute("data-state", "loading")
    expect(page.get_by_test_id("weights-progress")).to_be_visible()
    page.get_by_test_id("weights-cancel").click()
    page.evaluate("() => window.__busy")
    expect(page.get_by_test_id("model-status")).to_contain_text("cancelled")
    wait_idle(page)
    assert idb_snapshot(page) == before  # cancelling a load changes nothing stored
    assert page.evaluate("""async () => (await window.gpt2cells.runtime.call(
        "gpt2cells.worker.models.loaded")).value""") is None
    stored_items(page).get_by_test_id("model-use").click()  # "Load"
    expect_ready(page, alpha)
    check_logits(page, alpha)
