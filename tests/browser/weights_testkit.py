"""Helpers for the weights tests: tiny model zips made with weights_pack, damaged copies of them, and
page-side actions (real drop events, the file input, reading IndexedDB with the real API).

Every zip here is packed from a random Hugging Face model by weights_pack, the same path a learner takes;
the damaged variants are rewritten from a good zip with Python's zipfile.
"""
from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import expect

import weights_pack
from tests import model_factory

DB_NAME = "gpt2cells-weights"
READY_TIMEOUT_MS = 240_000  # Pyodide boot + load on two shared cores


@dataclass
class PackedModel:
    zip_path: Path
    name: str
    manifest: dict
    hf_model: object  # the Hugging Face oracle

    @property
    def n_tensors(self) -> int:
        return len(self.manifest["tensors"])

    @property
    def n_files(self) -> int:
        return len(self.manifest["tokenizer"]["files"])


def pack_tiny_model(work_dir: Path, name: str, seed: int, **config) -> PackedModel:
    """A random HF GPT-2 with a trained BPE vocabulary, saved as an HF folder and packed by weights_pack."""
    work_dir = Path(work_dir)
    tokenizer_dir = model_factory.train_bpe(work_dir / "tokenizer")
    hf_config = model_factory.gpt2_config(model_factory.vocab_size_of(tokenizer_dir), **config)
    hf_model = model_factory.random_gpt2(hf_config, seed=seed)
    folder = model_factory.save_hf_folder(hf_model, tokenizer_dir, work_dir / f"hf-{name}")
    zip_path = work_dir / f"{name}.zip"
    weights_pack.convert(folder, zip_path, name=name, progress=False)
    with zipfile.ZipFile(zip_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    return PackedModel(zip_path, name, manifest, hf_model)


def rewrite_zip(source: Path, target: Path, *, edit_manifest=None, replace=None, drop=(), deflate=()) -> Path:
    """A copy of a weights zip with a changed manifest / entries; entries in `deflate` are compressed."""
    replace = replace or {}
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as out:
        for info in archive.infolist():
            if info.filename in drop:
                continue
            data = replace.get(info.filename, archive.read(info.filename))
            if info.filename == "manifest.json" and edit_manifest is not None:
                manifest = json.loads(data)
                edited = edit_manifest(manifest)
                data = edited if isinstance(edited, (bytes, str)) else json.dumps(manifest)
            compression = zipfile.ZIP_DEFLATED if info.filename in deflate else zipfile.ZIP_STORED
            out.writestr(info.filename, data, compress_type=compression)
    return target


def tensor_entry(manifest: dict, name: str) -> str:
    return next(t["entry"] for t in manifest["tensors"] if t["name"] == name)


def resigned(manifest: dict, name: str, data: bytes) -> dict:
    """The manifest with tensor `name`'s sha256 matching `data` (to get past the hash to a later check)."""
    for tensor in manifest["tensors"]:
        if tensor["name"] == name:
            tensor["sha256"] = hashlib.sha256(data).hexdigest()
    return manifest


# ---------------------------------------------------------------- page actions

_DROP_JS = """async ([base64, name]) => {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const file = new File([bytes], name, {type: "application/zip"});
  const transfer = new DataTransfer();
  transfer.items.add(file);
  const zone = document.querySelector('[data-testid="weights-drop"]');
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
  }
}"""


def drop_file(page, path: Path) -> None:
    """Drop the file on the drop zone: real DragEvents whose DataTransfer holds a File made in the page."""
    page.get_by_test_id("weights-drop").wait_for()
    page.evaluate(_DROP_JS, [base64.b64encode(Path(path).read_bytes()).decode(), Path(path).name])


def choose_file(page, path: Path | None = None, *, name: str | None = None, data: bytes | None = None) -> None:
    """Pick a file with the drop zone's <input type=file>."""
    if data is not None:
        files = [{"name": name, "mimeType": "application/zip", "buffer": data}]
    else:
        files = str(path)
    page.get_by_test_id("weights-file").set_input_files(files)


def wait_idle(page) -> None:
    """No import or load running (the drop zone is enabled again)."""
    page.wait_for_function("() => window.gpt2cells?.models", timeout=READY_TIMEOUT_MS)
    page.evaluate("() => window.gpt2cells.models.ready")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"weights-drop\"]').getAttribute('aria-disabled') === 'false'",
        timeout=READY_TIMEOUT_MS)


BUILTIN_NAME = "adder"  # site/models/adder.zip, the page's built-in model


def stored_items(page):
    """The model list's entries for stored models (the built-in one is listed too)."""
    return page.locator('[data-testid="model-item"]:not([data-builtin])')


def expect_builtin_ready(page) -> None:
    status = page.get_by_test_id("model-status")
    expect(status).to_contain_text(f"{BUILTIN_NAME} — ", timeout=READY_TIMEOUT_MS)
    expect(status).to_have_attribute("data-state", "ready", timeout=READY_TIMEOUT_MS)


def expect_ready(page, model: PackedModel) -> None:
    status = page.get_by_test_id("model-status")
    expect(status).to_have_attribute("data-state", "ready", timeout=READY_TIMEOUT_MS)
    config = model.manifest["config"]
    expect(status).to_contain_text(model.name)
    expect(status).to_contain_text(f"{config['n_layer']} layers")
    expect(status).to_contain_text(f"n_embd {config['n_embd']}")
    expect(status).to_contain_text("ready")


_SNAPSHOT_JS = """async (dbName) => {
  const names = (await indexedDB.databases()).map((d) => d.name);
  if (!names.includes(dbName)) return null;  // opening it here would create an empty v1 database
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open(dbName);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const all = (store, method) => new Promise((resolve, reject) => {
    const req = db.transaction(store).objectStore(store)[method]();
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const models = (await all("models", "getAll")).map((m) => ({id: m.id, name: m.name, size: m.size, date: m.date,
    n_tensors: m.manifest.tensors.length}));
  const blobs = (await all("blobs", "getAll")).map((b) => [b.modelId, b.key, b.data.size ?? b.data.byteLength,
    b.data.constructor.name]);
  const settingKeys = await all("settings", "getAllKeys");
  const settingValues = await all("settings", "getAll");
  db.close();
  models.sort((a, b) => a.id < b.id ? -1 : 1);
  blobs.sort((a, b) => (a[0] + a[1]) < (b[0] + b[1]) ? -1 : 1);
  return {models, blobs, settings: Object.fromEntries(settingKeys.map((k, i) => [k, settingValues[i]]))};
}"""


def idb_snapshot(page) -> dict | None:
    """Everything in the weights database, read with the real IndexedDB API (None: no database yet)."""
    return page.evaluate(_SNAPSHOT_JS, DB_NAME)


def page_logits(page, text: str):
    """Token ids and logits computed by the Python worker from the loaded model."""
    import numpy as np

    result = page.evaluate("""async (text) => {
      const r = await window.gpt2cells.runtime.call("gpt2cells.worker.models.logits_for", [text]);
      return {ids: r.value.ids, shape: r.value.shape, logits: Array.from(r.value.logits)};
    }""", text)
    logits = np.frombuffer(bytes(result["logits"]), dtype="<f4").reshape(result["shape"])  # [n_seq, vocab]
    return result["ids"], logits


# A real lock on the weights database from a second page of the same origin: a readwrite transaction over
# "blobs" (and "models" when waiting for a half-written import) kept alive until released. The page under test queues behind it, which holds an
# import or load at a known point without touching the code under test.
_HOLD_JS = """async ([dbName, waitForOrphans]) => {
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open(dbName);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  window.__hold = {released: false};
  for (;;) {
    const held = await new Promise((resolve) => {
      // Waiting for orphans needs "models" too; otherwise hold "blobs" only (tensor reads and writes).
      const tx = db.transaction(waitForOrphans ? ["models", "blobs"] : ["blobs"], "readwrite");
      const models = waitForOrphans ? tx.objectStore("models") : null;
      const blobs = tx.objectStore("blobs");
      const check = () => {
        const ids = models ? models.getAllKeys() : blobs.getAllKeys();
        ids.onsuccess = () => {
          const keys = blobs.getAllKeys();
          keys.onsuccess = () => {
            const known = new Set(models ? ids.result : []);
            const orphans = keys.result.filter(([id]) => !known.has(id));
            if (waitForOrphans && !orphans.length) { resolve(false); return; }  // commit; look again
            window.__hold.orphans = orphans.length;
            const spin = () => {  // keep the transaction alive until released
              if (window.__hold.released) { resolve(true); return; }
              blobs.count().onsuccess = spin;
            };
            spin();
          };
        };
      };
      check();
    });
    if (held) break;
    await new Promise((r) => setTimeout(r, 0));
  }
  db.close();
}"""


class DatabaseHold:
    """hold = DatabaseHold(helper_page, wait_for_orphans=True).arm(); <start an import>; hold.wait(); ...;
    hold.release(). Armed before the import starts, the hold's polling transactions interleave with the
    import's writes, so it catches the import right after its first write."""

    def __init__(self, page, wait_for_orphans: bool):
        self.page = page
        self.wait_for_orphans = wait_for_orphans

    def arm(self):
        self.page.evaluate("([fn, args]) => { window.__hold = undefined; window.__holdDone = eval(fn)(args); }",
                           [_HOLD_JS, [DB_NAME, self.wait_for_orphans]])
        return self

    def wait(self):
        self.page.wait_for_function("() => window.__hold && window.__hold.orphans !== undefined",
                                    timeout=READY_TIMEOUT_MS)
        return self

    @property
    def orphans(self) -> int:
        return self.page.evaluate("() => window.__hold.orphans")

    def release(self):
        self.page.evaluate("async () => { window.__hold.released = true; await window.__holdDone; }")


# ---------------------------------------------------------------- a huge (sparse) zip64 weights file

def write_sparse_zip64(path: Path, entries: list[tuple[str, bytes | int]]) -> Path:
    """A STORED zip64 file; an int entry is that many zero bytes left as a hole (sparse: no disk used).

    Lets a test hand the page a weights zip far bigger than the browser's quota without writing it.
    A hole's CRC is 0: the page never checks CRCs (it checks sha256), and no tensor is read before the quota check.
    """
    import struct
    import zlib

    central = []
    with open(path, "wb") as f:
        for name, data in entries:
            encoded = name.encode()
            size = data if isinstance(data, int) else len(data)
            crc = 0 if isinstance(data, int) else zlib.crc32(data)
            offset = f.tell()
            extra = struct.pack("<HHQQ", 0x0001, 16, size, size)
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                                len(encoded), len(extra)) + encoded + extra)
            if isinstance(data, int):
                f.seek(size, 1)
            else:
                f.write(data)
            central.append((encoded, size, crc, offset))
        directory_offset = f.tell()
        for encoded, size, crc, offset in central:
            extra = struct.pack("<HHQQQ", 0x0001, 24, size, size, offset)
            f.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                                0xFFFFFFFF, len(encoded), len(extra), 0, 0, 0, 0, 0xFFFFFFFF) + encoded + extra)
        directory_size = f.tell() - directory_offset
        zip64_end = f.tell()
        f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(central), len(central),
                            directory_size, directory_offset))
        f.write(struct.pack("<IIQI", 0x07064B50, 0, zip64_end, 1))
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    return path


# ---------------------------------------------------------------- GPT-2-small-sized model

def byte_level_alphabet() -> list[str]:
    """GPT-2's 256 printable stand-ins for bytes, in byte order (the published bytes_to_unicode table)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def write_wide_bpe(out_dir: Path, vocab_size: int = 50257) -> Path:
    """vocab.json + merges.txt with GPT-2's vocabulary size: 256 bytes, two-byte merges, <|endoftext|> last.

    The test corpus cannot train 50 000 merges, and a GPT-2-small-sized test needs wte at its real size.
    """
    alphabet = byte_level_alphabet()
    n_merges = vocab_size - 257
    pairs = [(a, b) for a in alphabet for b in alphabet][:n_merges]
    vocab = {token: i for i, token in enumerate(alphabet + [a + b for a, b in pairs] + ["<|endoftext|>"])}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in pairs)
    (out_dir / "merges.txt").write_text(merges, encoding="utf-8")
    return out_dir


def pack_gpt2_small(work_dir: Path, name: str = "gpt2-small-random") -> PackedModel:
    """A random GPT-2-small-shaped model (124M parameters, ~500 MB float32), packed by weights_pack."""
    work_dir = Path(work_dir)
    tokenizer_dir = write_wide_bpe(work_dir / "tokenizer")
    hf_model = model_factory.random_gpt2(model_factory.gpt2_small_config(50257), seed=5)
    folder = model_factory.save_hf_folder(hf_model, tokenizer_dir, work_dir / "hf")
    zip_path = work_dir / f"{name}.zip"
    weights_pack.convert(folder, zip_path, name=name, progress=False)
    with zipfile.ZipFile(zip_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    return PackedModel(zip_path, name, manifest, hf_model)
