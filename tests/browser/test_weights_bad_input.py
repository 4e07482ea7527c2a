"""Bad weights files: each shows a clear error in the page, stores nothing, and leaves the previous model
stored, active and loaded. One page (one Python boot) serves every case; each case compares the real
IndexedDB before and after.

Quota: two real paths, no hooks in the page. (1) A sparse zip64 file far bigger than the quota that
navigator.storage.estimate() reports is refused before anything is written. (2) The origin's quota is
lowered through the DevTools protocol (Storage.overrideQuotaForOrigin) to leave room for one model and
half of another; estimate() does not see the override, so the import starts, and Chromium's own
IndexedDB fails a write midway with QuotaExceededError.
"""
from __future__ import annotations

import json
import math
import zipfile
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.weights_testkit import (
    choose_file, expect_ready, idb_snapshot, pack_tiny_model, resigned, rewrite_zip, stored_items, tensor_entry,
    wait_idle, write_sparse_zip64,
)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return pack_tiny_model(tmp_path_factory.mktemp("weights-good"), "tiny-good", seed=3)


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    """About 1 MB of tensors: big enough that half of it is far above the quota's rounding."""
    return pack_tiny_model(tmp_path_factory.mktemp("weights-other"), "tiny-other", seed=4, n_layer=4, n_embd=64)


@pytest.fixture(scope="module")
def shared_context(browser):
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture(scope="module")
def loaded_page(shared_context, site_url, good):
    """A page with `good` imported, active and loaded into Python."""
    page = shared_context.new_page()
    page.set_default_timeout(240_000)
    page.goto(site_url)
    wait_idle(page)
    choose_file(page, good.zip_path)
    expect_ready(page, good)
    wait_idle(page)
    return page


def assert_refused(page, good, before, data: bytes | None, name: str, *fragments: str, path=None):
    """Import data (or the file at path); the error names the problem; IndexedDB and the model unchanged."""
    page.evaluate("() => { const e = document.querySelector('[data-testid=\"weights-error\"]'); e.textContent = ''; }")
    if path is not None:
        choose_file(page, path)
    else:
        choose_file(page, name=name, data=data)
    error = page.get_by_test_id("weights-error")
    expect(error).to_be_visible()
    for fragment in fragments:
        expect(error).to_contain_text(fragment)
    wait_idle(page)
    assert idb_snapshot(page) == before
    expect_ready(page, good)
    expect(stored_items(page)).to_have_count(len(before["models"]))


def zip_bytes(tmp_path, good, **changes) -> bytes:
    return rewrite_zip(good.zip_path, tmp_path / "bad.zip", **changes).read_bytes()


def test_not_a_zip(loaded_page, good):
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, b"GPT-2 weights? No, just text.\n" * 100, "weights.zip",
                   "not a zip file", "python -m weights_pack convert")


def test_deflated_tensor(loaded_page, good, tmp_path):
    entry = tensor_entry(good.manifest, "h.0.mlp.c_fc.weight")
    data = zip_bytes(tmp_path, good, deflate={entry})
    with zipfile.ZipFile(tmp_path / "bad.zip") as archive:  # the oracle: zipfile agrees it is deflated
        assert archive.getinfo(entry).compress_type == zipfile.ZIP_DEFLATED
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, data, "deflated.zip", entry, "compressed (deflate)", "STORED",
                   "python -m weights_pack convert")


def test_missing_manifest(loaded_page, good, tmp_path):
    data = zip_bytes(tmp_path, good, drop={"manifest.json"})
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, data, "no-manifest.zip", "no manifest.json")


def test_malformed_manifest(loaded_page, good, tmp_path):
    data = zip_bytes(tmp_path, good, edit_manifest=lambda m: b'{"format": "gpt2cells-weights", "format_version": 1,')
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, data, "bad-json.zip", "manifest.json is not valid JSON")


def test_manifest_of_another_format(loaded_page, good, tmp_path):
    data = zip_bytes(tmp_path, good, edit_manifest=lambda m: m.update(format="safetensors-index"))
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, data, "other-format.zip", '"safetensors-index"', '"gpt2cells-weights"')


def test_unknown_format_version(loaded_page, good, tmp_path):
    data = zip_bytes(tmp_path, good, edit_manifest=lambda m: m.update(format_version=2))
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, data, "v2.zip", "unsupported weights format version 2",
                   "reads version 1")


def test_tensor_with_wrong_byte_count(loaded_page, good, tmp_path):
    name = "h.1.mlp.c_fc.bias"
    entry = tensor_entry(good.manifest, name)
    with zipfile.ZipFile(good.zip_path) as archive:
        short = archive.read(entry)[:-4]
    data = zip_bytes(tmp_path, good, replace={entry: short}, edit_manifest=lambda m: resigned(m, name, short))
    before = idb_snapshot(loaded_page)
    expected = 4 * good.manifest["config"]["n_embd"] * 4
    assert_refused(loaded_page, good, before, data, "short-tensor.zip", f'tensor "{name}"',
                   f"holds {expected - 4} bytes, expected {expected}")


def test_tensor_with_wrong_sha256(loaded_page, good, tmp_path):
    # The last tensor, so every other tensor has been hashed and written (under a pending id) first.
    name = good.manifest["tensors"][-1]["name"]
    entry = tensor_entry(good.manifest, name)
    with zipfile.ZipFile(good.zip_path) as archive:
        flipped = bytearray(archive.read(entry))
    flipped[0] ^= 0x01
    data = zip_bytes(tmp_path, good, replace={entry: bytes(flipped)})
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, data, "bad-sha.zip", f'tensor "{name}"', "sha256")


def test_shape_contradicting_config(loaded_page, good, tmp_path):
    name = "h.0.attn.c_attn.weight"
    d = good.manifest["config"]["n_embd"]

    def transpose(manifest):
        next(t for t in manifest["tensors"] if t["name"] == name)["shape"] = [d, 3 * d]

    data = zip_bytes(tmp_path, good, edit_manifest=transpose)
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, data, "bad-shape.zip", f'tensor "{name}"', f"[{d}, {3 * d}]",
                   f"implies [{3 * d}, {d}]")


def test_config_contradicting_tensors(loaded_page, good, tmp_path):
    d = good.manifest["config"]["n_embd"]
    data = zip_bytes(tmp_path, good, edit_manifest=lambda m: m["config"].update(n_embd=2 * d))
    before = idb_snapshot(loaded_page)
    vocab = good.manifest["config"]["vocab_size"]
    assert_refused(loaded_page, good, before, data, "bad-config.zip", 'tensor "wte.weight"',
                   f"[{vocab}, {d}]", f"implies [{vocab}, {2 * d}]")


def test_config_needing_more_layers(loaded_page, good, tmp_path):
    n_layer = good.manifest["config"]["n_layer"]
    data = zip_bytes(tmp_path, good, edit_manifest=lambda m: m["config"].update(n_layer=n_layer + 1))
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, data, "more-layers.zip", "missing 12 tensor(s)",
                   f'"h.{n_layer}.ln_1.weight"')


def test_truncated_file(loaded_page, good):
    whole = good.zip_path.read_bytes()
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, whole[: len(whole) * 2 // 3], "truncated.zip", "truncated")


def test_file_bigger_than_quota(loaded_page, good, tmp_path):
    estimate = loaded_page.evaluate("navigator.storage.estimate()")
    d = good.manifest["config"]["n_embd"]
    vocab = math.ceil((estimate["quota"] + (1 << 30)) / (4 * d))  # wte alone overflows the quota by 1 GB
    with zipfile.ZipFile(good.zip_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        manifest["config"]["vocab_size"] = vocab
        wte = next(t for t in manifest["tensors"] if t["name"] == "wte.weight")
        wte.update(shape=[vocab, d], nbytes=vocab * d * 4)
        entries = [("manifest.json", json.dumps(manifest).encode())]
        for info in archive.infolist():
            if info.filename == wte["entry"]:
                entries.append((info.filename, wte["nbytes"]))  # a hole: the file is huge but sparse
            elif info.filename != "manifest.json":
                entries.append((info.filename, archive.read(info.filename)))
    huge = write_sparse_zip64(tmp_path / "huge.zip", entries)
    assert huge.stat().st_size > estimate["quota"]
    before = idb_snapshot(loaded_page)
    assert_refused(loaded_page, good, before, None, "huge.zip", "not enough browser storage", "free",
                   path=huge)


def test_quota_exceeded_while_writing(browser, site_url, good, other, loaded_page):
    # Chromium reads an origin's quota when its storage is first used, so the override comes first, in a
    # fresh context: room for `good` (as much IndexedDB as it took in loaded_page's context) plus half of
    # `other`. The fresh context runs no service worker, whose offline copy of the site would take its own,
    # timing-dependent share of the quota.
    usage_with_good = loaded_page.evaluate("navigator.storage.estimate()")["usageDetails"]["indexedDB"]
    other_bytes = sum(t["nbytes"] for t in other.manifest["tensors"])
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(site_url))
    context = browser.new_context(service_workers="block")
    try:
        page = context.new_page()
        page.set_default_timeout(240_000)
        cdp = context.new_cdp_session(page)
        cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": usage_with_good + other_bytes // 2})
        page.goto(site_url)
        wait_idle(page)
        choose_file(page, good.zip_path)
        expect_ready(page, good)
        wait_idle(page)
        before = idb_snapshot(page)
        assert page.evaluate("navigator.storage.estimate()")["quota"] > other_bytes  # estimate() passes it
        choose_file(page, other.zip_path)
        error = page.get_by_test_id("weights-error")
        expect(error).to_contain_text("quota exceeded", timeout=120_000)
        expect(error).to_contain_text("Nothing was kept")
        wait_idle(page)
        assert idb_snapshot(page) == before
        expect_ready(page, good)
    finally:
        context.close()
