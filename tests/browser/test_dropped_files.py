"""site/dropped-files.js in real Chromium: files, folders and zips a learner gives the page, as named Files.

Drops are real: Chrome DevTools' Input.dispatchDragEvent hands the page disk paths (folders too), so
webkitGetAsEntry() sees real directory entries. Oracles: the files on disk (sha256 in Python), zips written by
Python's zipfile.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import zipfile

import pytest

from tests.browser.hf_folders import save_folders

DROP_ZONE_JS = """async () => {
  const m = await import('./dropped-files.js');  // loaded before the drop: its items expire after the event
  document.body.innerHTML = '<div id="zone" style="position:fixed;inset:0"></div>';
  const zone = document.getElementById('zone');
  zone.addEventListener('dragover', (event) => event.preventDefault());
  window.dropped = new Promise((resolve) => zone.addEventListener('drop', (event) => {
    event.preventDefault();
    resolve(m.filesFromDataTransfer(event.dataTransfer));
  }));
}"""

FILE_INPUT_JS = """(directory) => {
  document.body.innerHTML = '<input type="file" multiple id="picker">';
  if (directory) document.getElementById('picker').webkitdirectory = true;
}"""

# files -> {files: [{name, data}], classified: roles as names} or the error
SUMMARY_JS = """async (source) => {
  const m = await import('./dropped-files.js');
  const base64 = (bytes) => {
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  try {
    const files = source === 'drop' ? await window.dropped
                                    : await m.filesFromFileList(document.getElementById('picker').files);
    const out = [];
    for (const file of files) out.push({name: file.name, data: base64(new Uint8Array(await file.arrayBuffer()))});
    let classified;
    try {
      const found = m.classifyFiles(files);
      const name = (file) => file?.name ?? null;
      classified = found.kind === 'weights-zip' ? {kind: found.kind, file: found.file.name} : {kind: found.kind,
        ...Object.fromEntries(Object.entries(found.files).map(([role, value]) =>
          [role, Array.isArray(value) ? value.map(name) : name(value)]))};
    } catch (error) {
      classified = {error: error.name, message: error.message};
    }
    return {ok: true, files: out, classified};
  } catch (error) {
    return {ok: false, name: error.name, message: error.message};
  }
}"""

CLASSIFY_JS = """async (names) => {
  const m = await import('./dropped-files.js');
  try {
    const found = m.classifyFiles(names.map((name) => new File(['x'], name)));
    if (found.kind === 'weights-zip') return {kind: found.kind, file: found.file.name};
    const name = (file) => file?.name ?? null;
    return {kind: found.kind, ...Object.fromEntries(Object.entries(found.files).map(([role, value]) =>
      [role, Array.isArray(value) ? value.map(name) : name(value)]))};
  } catch (error) {
    return {error: error.name, message: error.message};
  }
}"""

MODEL_FILES = {"config.json", "model.safetensors", "model.safetensors.index.json", "vocab.json", "merges.txt",
               "tokenizer.json"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return save_folders(tmp_path_factory.mktemp("hf-folders"))


@pytest.fixture
def origin_page(page, site_url):
    """A page of the site's origin that does not boot Python (the module under test needs no worker)."""
    page.goto(site_url + "build-info.json")
    return page


def drop(page, paths) -> dict:
    page.evaluate(DROP_ZONE_JS)
    cdp = page.context.new_cdp_session(page)
    data = {"items": [], "files": [str(path) for path in paths], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": 50, "y": 50, "data": data})
    return page.evaluate(SUMMARY_JS, "drop")


def choose(page, paths, directory=False) -> dict:
    page.evaluate(FILE_INPUT_JS, directory)
    page.locator("#picker").set_input_files([str(path) for path in paths])
    return page.evaluate(SUMMARY_JS, "input")


def digests(result) -> dict[str, str]:
    assert result["ok"], result
    return {file["name"]: hashlib.sha256(base64.b64decode(file["data"])).hexdigest() for file in result["files"]}


def disk_digests(folder, prefix="", names=None) -> dict[str, str]:
    return {prefix + path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.iterdir()) if path.is_file() and (names is None or path.name in names)}


def zip_folder(folder, out, compression=zipfile.ZIP_DEFLATED, prefix="gpt2/", extras=()):
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        archive.writestr(zipfile.ZipInfo(prefix), b"")  # a directory entry, as zip tools write
        for path in sorted(folder.iterdir()):
            archive.write(path, prefix + path.name)
        for name, data in extras:
            archive.writestr(name, data)
    return out


def test_a_dropped_nested_folder_becomes_its_files_by_path(origin_page, folders, tmp_path):
    outer = tmp_path / "outer"
    shutil.copytree(folders["hub"], outer / "gpt2")
    (outer / "gpt2" / ".git").mkdir()
    (outer / "gpt2" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (outer / ".DS_Store").write_bytes(b"\0")
    onnx = outer / "gpt2" / "onnx"  # as in openai-community/gpt2: an export with its own config and tokenizer
    onnx.mkdir()
    for name in ("config.json", "vocab.json", "merges.txt", "tokenizer.json"):
        shutil.copy(folders["hub"] / name, onnx / name)
    (onnx / "decoder_model.onnx").write_bytes(b"onnx" * 100)
    result = drop(origin_page, [outer])
    assert digests(result) == {**disk_digests(folders["hub"], prefix="outer/gpt2/"),
                               **disk_digests(onnx, prefix="outer/gpt2/onnx/")}
    assert result["classified"] == {
        "kind": "huggingface", "config": "outer/gpt2/config.json", "weights": ["outer/gpt2/model.safetensors"],
        "index": None, "vocab": "outer/gpt2/vocab.json", "merges": "outer/gpt2/merges.txt", "tokenizerJson": None}


def test_dropped_files_and_a_sharded_folder(origin_page, folders):
    names = ["config.json", "model.safetensors", "tokenizer.json"]
    result = drop(origin_page, [folders["tokjson"] / name for name in names])
    assert digests(result) == disk_digests(folders["tokjson"], names=names)
    assert result["classified"] == {"kind": "huggingface", "config": "config.json", "weights": ["model.safetensors"],
                                    "index": None, "vocab": None, "merges": None, "tokenizerJson": "tokenizer.json"}

    result = drop(origin_page, [folders["sharded"]])
    assert digests(result) == disk_digests(folders["sharded"], prefix="sharded/")
    classified = result["classified"]
    assert classified["index"] == "sharded/model.safetensors.index.json"
    shards = json.loads((folders["sharded"] / "model.safetensors.index.json").read_text())["weight_map"].values()
    assert sorted(classified["weights"]) == sorted({f"sharded/{name}" for name in shards})


def test_files_chosen_in_the_picker_one_by_one_or_as_a_folder(origin_page, folders):
    paths = sorted(folders["sharded"].iterdir())
    result = choose(origin_page, paths)
    assert digests(result) == disk_digests(folders["sharded"])
    assert result["classified"]["kind"] == "huggingface"

    result = choose(origin_page, [folders["hub"]], directory=True)
    assert digests(result) == disk_digests(folders["hub"], prefix="hub/")
    assert result["classified"]["vocab"] == "hub/vocab.json"


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
@pytest.mark.parametrize("how", ["drop", "picker"])
def test_a_zipped_folder_unpacks_to_the_same_bytes(origin_page, folders, tmp_path, compression, how):
    extras = [("__MACOSX/gpt2/._config.json", b"mac"), ("gpt2/flax_model.msgpack", b"\x81" * 5000)]
    archive = zip_folder(folders["hub"], tmp_path / "gpt2.zip", compression, extras=extras)
    result = drop(origin_page, [archive]) if how == "drop" else choose(origin_page, [archive])
    # only a GPT-2's files are unpacked: not the other frameworks' weights, not macOS's metadata
    assert digests(result) == disk_digests(folders["hub"], prefix="gpt2/", names=MODEL_FILES)
    assert result["classified"]["kind"] == "huggingface"
    assert result["classified"]["weights"] == ["gpt2/model.safetensors"]


def test_a_weights_zip_is_kept_whole(origin_page, tmp_path):
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as out:
        out.writestr("manifest.json", json.dumps({"format": "gpt2cells-weights", "format_version": 1}))
        out.writestr("tensors/wte.weight.bin", b"\0" * 64)
    result = choose(origin_page, [archive])
    assert digests(result) == {"model.zip": hashlib.sha256(archive.read_bytes()).hexdigest()}
    assert result["classified"] == {"kind": "weights-zip", "file": "model.zip"}


def test_a_file_that_only_looks_like_a_zip_is_left_to_the_weights_import(origin_page, tmp_path):
    fake = tmp_path / "model.zip"
    fake.write_bytes(b"PK\x03\x04 not really a zip")
    result = choose(origin_page, [fake])
    assert result["classified"] == {"kind": "weights-zip", "file": "model.zip"}


def test_a_zip_compressed_another_way_is_refused_by_name(origin_page, folders, tmp_path):
    archive = zip_folder(folders["tokjson"], tmp_path / "gpt2.zip", zipfile.ZIP_BZIP2)
    result = choose(origin_page, [archive])
    assert result["ok"] is False
    assert result["name"] == "ZipFormatError"
    assert "compressed with bzip2, which the page cannot unpack" in result["message"]


def test_a_damaged_deflated_entry_is_refused(origin_page, folders, tmp_path):
    archive = zip_folder(folders["hub"], tmp_path / "gpt2.zip")
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as read:
        info = read.getinfo("gpt2/model.safetensors")
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle:middle + 64] = bytes(64)  # zeros in the middle of the deflate stream
    archive.write_bytes(bytes(data))
    result = choose(origin_page, [archive])
    assert result["ok"] is False
    assert 'zip entry "gpt2/model.safetensors"' in result["message"]
    assert "damaged" in result["message"]


HUB = ["config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer.json"]


@pytest.mark.parametrize("names, expected", [
    (HUB, {"kind": "huggingface", "config": "config.json", "weights": ["model.safetensors"], "index": None,
           "vocab": "vocab.json", "merges": "merges.txt", "tokenizerJson": None}),
    (["m/config.json", "m/model.safetensors", "m/tokenizer.json", "m/generation_config.json"],
     {"kind": "huggingface", "config": "m/config.json", "weights": ["m/model.safetensors"], "index": None,
      "vocab": None, "merges": None, "tokenizerJson": "m/tokenizer.json"}),
    (["config.json", "a.safetensors", "b.safetensors", "model.safetensors.index.json", "tokenizer.json"],
     {"kind": "huggingface", "config": "config.json", "weights": ["a.safetensors", "b.safetensors"],
      "index": "model.safetensors.index.json", "vocab": None, "merges": None, "tokenizerJson": "tokenizer.json"}),
    (["gpt2.zip"], {"kind": "weights-zip", "file": "gpt2.zip"}),
    (["r/onnx/config.json", "r/onnx/tokenizer.json", "r/config.json", "r/model.safetensors", "r/tokenizer.json",
      "r/onnx/sub/config.json", "other.txt"],
     {"kind": "huggingface", "config": "r/config.json", "weights": ["r/model.safetensors"], "index": None,
      "vocab": None, "merges": None, "tokenizerJson": "r/tokenizer.json"}),
])
def test_classify_accepts_each_way_a_model_comes(origin_page, names, expected):
    assert origin_page.evaluate(CLASSIFY_JS, names) == expected


@pytest.mark.parametrize("names, message", [
    (["model.safetensors", "vocab.json", "merges.txt"],
     "no config.json among the dropped files: model.safetensors, vocab.json, merges.txt"),
    (["a/config.json", "a/model.safetensors", "a/tokenizer.json", "b/config.json", "b/model.safetensors"],
     "2 files named config.json (a/config.json, b/config.json): these are files of different models; "
     "drop one model's folder"),
    (["config.json", "pytorch_model.bin", "tokenizer.json"],
     "no .safetensors weights (model.safetensors) among the dropped files: config.json, pytorch_model.bin, "
     "tokenizer.json; the page reads safetensors only (other formats: convert with python -m weights_pack)"),
    (["config.json", "model-1.safetensors", "model-2.safetensors", "tokenizer.json"],
     "2 .safetensors files but no model.safetensors.index.json saying how they make one model among the dropped "
     "files: config.json, model-1.safetensors, model-2.safetensors, tokenizer.json"),
    (["config.json", "model.safetensors", "vocab.json"],
     "vocab.json without merges.txt: GPT-2 needs vocab.json + merges.txt or tokenizer.json, among the dropped "
     "files: config.json, model.safetensors, vocab.json"),
    (["vocab.json", "vocab.json", "config.json", "model.safetensors", "merges.txt"],  # from two folders
     "2 files named vocab.json (vocab.json, vocab.json): these are files of different models; drop one model's "
     "folder"),
    (["config.json", "model.safetensors"],
     "no tokenizer: GPT-2 needs vocab.json + merges.txt or tokenizer.json, among the dropped files: config.json, "
     "model.safetensors"),
    (["model.zip", "config.json"],
     "model.zip dropped together with other files: drop a weights zip (or a zipped model folder) on its own"),
    ([], "no config.json among the dropped files: (none)"),
])
def test_classify_names_what_is_missing_or_doubled(origin_page, names, message):
    assert origin_page.evaluate(CLASSIFY_JS, names) == {"error": "DroppedFilesError", "message": message}
