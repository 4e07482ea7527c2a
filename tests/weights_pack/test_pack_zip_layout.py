"""The zip as the page will read it, checked with zipfile + struct (not weights_pack's reader), and
`verify` catching damaged or non-conforming zips."""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import weights_pack
from gpt2cells.weights_format import FORMAT_NAME, FORMAT_VERSION, TENSOR_ALIGNMENT, expected_shapes, tensor_entry
from tests.weights_pack.checkpoints import local_data_offset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packed(tiny_folder, tmp_path_factory):
    return weights_pack.convert(tiny_folder, tmp_path_factory.mktemp("layout") / "tiny.zip").path


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "weights_pack", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_entry_stored_and_tensor_data_aligned(packed):
    with zipfile.ZipFile(packed) as archive, open(packed, "rb") as raw:
        infos = archive.infolist()
        assert all(info.compress_type == zipfile.ZIP_STORED for info in infos)
        tensors = [info for info in infos if info.filename.startswith("tensors/")]
        assert len(tensors) == 28
        for info in tensors:
            offset, method = local_data_offset(raw, info)
            assert method == 0, info.filename
            assert offset % TENSOR_ALIGNMENT == 0, (info.filename, offset)
            raw.seek(offset)
            assert raw.read(info.file_size) == archive.read(info.filename)  # the slice IS the entry's data


def test_manifest_follows_the_contract(packed, tiny_model):
    with zipfile.ZipFile(packed) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        config = tiny_model.config
        assert manifest["format"] == FORMAT_NAME and manifest["format_version"] == FORMAT_VERSION
        assert manifest["family"] == "gpt2" and manifest["name"] == "tiny-gpt2"
        assert manifest["config"] == {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
                                      "n_ctx": config.n_positions, "vocab_size": config.vocab_size,
                                      "layer_norm_epsilon": config.layer_norm_epsilon}
        assert manifest["tokenizer"] == {"kind": "bpe", "eos_token": "<|endoftext|>",
                                         "files": {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt"}}
        shapes = expected_shapes(manifest["config"])
        assert [t["name"] for t in manifest["tensors"]] == list(shapes)
        for record in manifest["tensors"]:
            data = archive.read(record["entry"])
            assert record["entry"] == tensor_entry(record["name"])
            assert tuple(record["shape"]) == shapes[record["name"]] and record["dtype"] == "float32"
            assert record["nbytes"] == len(data) == 4 * math.prod(record["shape"])
            assert record["sha256"] == hashlib.sha256(data).hexdigest()


def test_same_input_same_bytes_wherever_it_lives(tiny_folder, packed, tmp_path):
    """Fixed timestamps and no local paths in the manifest: a copy elsewhere packs to identical bytes."""
    moved = shutil.copytree(tiny_folder, tmp_path / "elsewhere" / tiny_folder.name)
    again = weights_pack.convert(moved, tmp_path / "again.zip").path
    assert again.read_bytes() == packed.read_bytes()
    assert str(tiny_folder.parent).encode() not in packed.read_bytes()


def test_verify_and_info_cli_on_a_good_zip(packed):
    verified = cli("verify", packed)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VALID" in verified.stdout and "h.*.attn.c_attn.weight" in verified.stdout
    shown = cli("info", packed)
    assert shown.returncode == 0
    assert "n_layer=2" in shown.stdout and "28 (float32)" in shown.stdout


def flip_byte(path: Path, entry: str, out: Path) -> Path:
    """A copy of the zip with one bit changed in the middle of a tensor's data."""
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        info = archive.getinfo(entry)
        offset, _ = local_data_offset(raw, info)
    data = bytearray(path.read_bytes())
    data[offset + info.file_size // 2] ^= 0x01
    out.write_bytes(data)
    return out


def test_verify_rejects_one_flipped_byte_in_a_tensor(packed, tmp_path):
    damaged = flip_byte(packed, "tensors/h.1.mlp.c_fc.weight.bin", tmp_path / "damaged.zip")
    report = weights_pack.verify(damaged)
    assert not report.ok
    assert report.all_problems() == [next(p for p in report.all_problems() if "h.1.mlp.c_fc.weight" in p)]
    assert "sha256 mismatch" in report.all_problems()[0]
    result = cli("verify", damaged)
    assert result.returncode == 1
    assert "INVALID" in result.stdout and "h.1.mlp.c_fc.weight" in result.stdout and "sha256" in result.stdout


def rewrite(path: Path, out: Path, compression=zipfile.ZIP_STORED, change=None, align=True) -> Path:
    """Copy every entry with plain zipfile, optionally editing entries. align=True pads the local headers
    itself (an independent implementation of the format's alignment); align=False makes a zip as any
    tool would, with an extra entry first so tensor data is surely misaligned."""
    with zipfile.ZipFile(path) as source, open(out, "wb") as raw, zipfile.ZipFile(raw, "w", compression) as target:
        if not align:
            target.writestr("padding-to-misalign.txt", b"x")
        for info in source.infolist():
            data = change(info.filename, source.read(info.filename)) if change else source.read(info.filename)
            if data is None:
                continue
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.compress_type = compression
            pad = -(raw.tell() + 30 + len(info.filename)) % TENSOR_ALIGNMENT
            if align and pad:
                pad += TENSOR_ALIGNMENT if pad < 4 else 0
                copy.extra = struct.pack("<HH", 0xCAFE, pad - 4) + bytes(pad - 4)
            target.writestr(copy, data)
    return out


def test_independent_aligned_rewrite_is_valid(packed, tmp_path):
    """The check of the checks: the test's own aligned copy passes verify, so the cases below fail for
    the one reason each introduces."""
    report = weights_pack.verify(rewrite(packed, tmp_path / "copy.zip"))
    assert report.ok, report.all_problems()


def test_verify_reports_non_finite_values(packed, tmp_path):
    """A NaN with a matching sha256 (the zip is intact, the weights are not) is still invalid."""
    def poison(name, data):
        if name == "tensors/ln_f.weight.bin":
            data = struct.pack("<f", float("nan")) + data[4:]
            poisoned["sha256"] = hashlib.sha256(data).hexdigest()
        return data

    def fix_digest(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        next(t for t in manifest["tensors"] if t["name"] == "ln_f.weight")["sha256"] = poisoned["sha256"]
        return json.dumps(manifest).encode()

    poisoned = {}
    step = rewrite(packed, tmp_path / "nan-step.zip", change=poison)
    problems = weights_pack.verify(rewrite(step, tmp_path / "nan.zip", change=fix_digest)).all_problems()
    assert problems == ["tensor 'ln_f.weight': 1 NaN/Inf value(s)"]


def test_verify_rejects_deflated_entries(packed, tmp_path):
    problems = weights_pack.verify(rewrite(packed, tmp_path / "deflated.zip", zipfile.ZIP_DEFLATED)).all_problems()
    assert any("is compressed (method 8)" in p and "STORED" in p for p in problems)
    assert any("tensor 'wte.weight': local header says compression method 8" in p for p in problems)


def test_verify_rejects_misaligned_tensor_data(packed, tmp_path):
    problems = weights_pack.verify(rewrite(packed, tmp_path / "misaligned.zip", align=False)).all_problems()
    assert problems and all(f"not a multiple of {TENSOR_ALIGNMENT}" in p for p in problems)


def edit_manifest(edit):
    def change(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest).encode()
    return change


def test_verify_names_what_is_wrong_in_the_manifest(packed, tmp_path):
    def newer(manifest):
        manifest["format_version"] = FORMAT_VERSION + 1

    def reshaped(manifest):
        next(t for t in manifest["tensors"] if t["name"] == "h.0.attn.c_attn.weight")["shape"] = [32, 96]

    def missing(manifest):
        del manifest["tensors"][-1]

    def vocab(manifest):
        manifest["config"]["vocab_size"] += 1

    cases = {
        newer: ["format_version 2 is not supported (this verifier reads 1; the zip is from a newer weights_pack)"],
        reshaped: ["tensor 'h.0.attn.c_attn.weight': shape [32, 96] does not match the config: expected [96, 32]"],
        missing: ["manifest lacks 1 tensor(s) the config needs: ln_f.bias",
                  "tensor entries not in the manifest: tensors/ln_f.bias.bin"],
        vocab: ["vocab size mismatch: the tokenizer has 400 tokens but config vocab_size (the rows of "
                "wte.weight) is 401",
                "tensor 'wte.weight': shape [400, 32] does not match the config: expected [401, 32]"],
    }
    assert FORMAT_VERSION == 1
    for edit, expected in cases.items():
        problems = weights_pack.verify(rewrite(packed, tmp_path / f"{edit.__name__}.zip",
                                               change=edit_manifest(edit))).all_problems()
        assert problems == expected, (edit.__name__, problems)


def test_verify_rejects_a_zip_without_manifest_and_a_non_zip(packed, tmp_path):
    no_manifest = rewrite(packed, tmp_path / "no-manifest.zip", change=lambda n, d: None if n == "manifest.json" else d)
    assert "no manifest.json in the zip" in weights_pack.verify(no_manifest).all_problems()
    text = tmp_path / "not.zip"
    text.write_text("hello")
    assert any("not a readable zip" in p for p in weights_pack.verify(text).all_problems())
    assert cli("verify", text).returncode == 1
    assert cli("info", text).returncode == 1
