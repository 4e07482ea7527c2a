"""Check a weights zip against docs/weights-format.md, reading it the way the page does.

Entries come from the central directory, data offsets from each local header; every tensor is read
back raw (not through zipfile) for its size, alignment, sha256 and finiteness.
"""
from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

import numpy as np

from weights_pack.contract import (DTYPES, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY, TENSOR_ALIGNMENT,
                                   check_config, expected_shapes, tensor_entry)
from gpt2cells.errors import WeightsError  # importable once weights_pack.contract has put py/ on sys.path
from gpt2cells.zipdata import local_data_offset
from weights_pack.errors import PackError

READ_CHUNK = 1 << 24  # bytes; a multiple of every itemsize
TOKENIZER_KINDS = {"bpe": ("vocab", "merges"), "char": ("chars",)}


@dataclass
class TensorCheck:
    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    problems: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    path: Path
    problems: list[str] = field(default_factory=list)  # about the file as a whole
    tensors: list[TensorCheck] = field(default_factory=list)
    manifest: dict | None = None
    file_size: int = 0

    @property
    def ok(self) -> bool:
        return not self.all_problems()

    def all_problems(self) -> list[str]:
        return self.problems + [f"tensor {t.name!r}: {p}" for t in self.tensors for p in t.problems]

    def table(self, every_tensor: bool = False) -> str:
        """One row per tensor kind (layers folded into h.*), or per tensor; then the verdict."""
        groups: dict[str, list[TensorCheck]] = {}
        for check in self.tensors:
            key = check.name if every_tensor else re.sub(r"^h\.\d+\.", "h.*.", check.name)
            groups.setdefault(key, []).append(check)
        rows = [("tensor", "dtype", "shape", "count", "MB", "status")]
        for key, checks in groups.items():
            failed = sum(bool(c.problems) for c in checks)
            rows.append((key, checks[0].dtype, "×".join(map(str, checks[0].shape)) or "scalar", str(len(checks)),
                         f"{sum(c.nbytes for c in checks) / 1e6:.2f}", f"FAILED ({failed})" if failed else "ok"))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        problems = self.all_problems()
        lines += [f"  ✗ {p}" for p in problems]
        total = sum(c.nbytes for c in self.tensors)
        verdict = "VALID" if not problems else f"INVALID ({len(problems)} problem{'s' * (len(problems) != 1)})"
        lines.append(f"{verdict}: {self.path} — {len(self.tensors)} tensors, {total / 1e6:,.1f} MB of weights, "
                     f"{self.file_size / 1e6:,.1f} MB file")
        return "\n".join(lines)


def verify(path: str | Path, progress: bool = False) -> VerifyReport:
    """Every check in docs/weights-format.md; problems are collected, not raised. progress: a tqdm bar."""
    from tqdm import tqdm

    report = VerifyReport(Path(path))
    if not report.path.is_file():
        report.problems.append(f"no such file: {report.path}")
        return report
    report.file_size = report.path.stat().st_size
    try:
        with zipfile.ZipFile(report.path) as archive, open(report.path, "rb") as raw, \
                tqdm(total=report.file_size, unit="B", unit_scale=True, desc="verifying", leave=False,
                     disable=not progress) as bar:
            check_archive(archive, raw, report, bar)
    except (zipfile.BadZipFile, WeightsError) as error:  # WeightsError: an entry without its local header
        report.problems.append(f"not a readable zip file: {error}")
    return report


def check_archive(archive: zipfile.ZipFile, raw, report: VerifyReport, bar) -> None:
    infos = archive.infolist()
    entries = {info.filename: info for info in infos}
    if len(entries) != len(infos):
        report.problems.append("the zip holds two entries with the same name")
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED:
            report.problems.append(f"entry {info.filename!r} is compressed (method {info.compress_type}); "
                                   "every entry must be STORED")
    manifest = read_manifest(archive, entries, report)
    if manifest is None:
        return
    report.manifest = manifest
    config = manifest["config"]
    check_tokenizer(archive, entries, manifest, report)
    shapes = expected_shapes(config)
    if not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in manifest["tensors"]):
        report.problems.append("every manifest 'tensors' item must be an object with a string 'name'")
    listed = {t["name"]: t for t in manifest["tensors"] if isinstance(t, dict) and isinstance(t.get("name"), str)}
    if len(listed) != len(manifest["tensors"]):
        report.problems.append("manifest lists a tensor twice")
    missing = [name for name in shapes if name not in listed]
    unexpected = [name for name in listed if name not in shapes]
    if missing:
        report.problems.append(f"manifest lacks {len(missing)} tensor(s) the config needs: {short_list(missing)}")
    if unexpected:
        report.problems.append(f"manifest lists tensor(s) the config does not have: {short_list(unexpected)}")
    for name in shapes:
        if name in listed:
            report.tensors.append(check_tensor(listed[name], shapes[name], entries, raw, bar))
    packed = {tensor_entry(name) for name in listed}
    strays = [name for name in entries if name.startswith("tensors/") and name not in packed]
    if strays:
        report.problems.append(f"tensor entries not in the manifest: {short_list(strays)}")


def read_manifest(archive, entries, report) -> dict | None:
    if MANIFEST_ENTRY not in entries:
        report.problems.append(f"no {MANIFEST_ENTRY} in the zip")
        return None
    try:
        manifest = json.loads(archive.read(MANIFEST_ENTRY).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, zipfile.BadZipFile) as error:
        report.problems.append(f"{MANIFEST_ENTRY} is not valid UTF-8 JSON: {error}")
        return None
    if not isinstance(manifest, dict):
        report.problems.append(f"{MANIFEST_ENTRY} must be a JSON object")
        return None
    if manifest.get("format") != FORMAT_NAME:
        report.problems.append(f"manifest format is {manifest.get('format')!r}, expected {FORMAT_NAME!r}")
        return None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        report.problems.append(f"format_version {version!r} is not supported (this verifier reads "
                               f"{FORMAT_VERSION}{'; the zip is from a newer weights_pack' if newer else ''})")
        return None
    config = manifest.get("config")
    try:
        check_config(config if isinstance(config, dict) else {})
    except ValueError as error:
        report.problems.append(f"manifest {error}")
        return None
    epsilon = config.get("layer_norm_epsilon", 1e-5)
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 < epsilon < 1:
        report.problems.append(f"manifest config['layer_norm_epsilon'] must be a small positive number, "
                               f"got {epsilon!r}")
    if not isinstance(manifest.get("tensors"), list):
        report.problems.append("manifest 'tensors' must be a list")
        return None
    return manifest


def check_tokenizer(archive, entries, manifest, report) -> None:
    tokenizer = manifest.get("tokenizer")
    if not isinstance(tokenizer, dict) or tokenizer.get("kind") not in TOKENIZER_KINDS:
        report.problems.append(f"manifest tokenizer must have kind 'bpe' or 'char', got {tokenizer!r}")
        return
    files = tokenizer.get("files") if isinstance(tokenizer.get("files"), dict) else {}
    for role in TOKENIZER_KINDS[tokenizer["kind"]]:
        if files.get(role) not in entries:
            report.problems.append(f"tokenizer file {role!r} ({files.get(role)!r}) is not in the zip")
            return
    size = tokenizer_size(archive.read(files["vocab" if tokenizer["kind"] == "bpe" else "chars"]), tokenizer["kind"])
    if isinstance(size, str):
        report.problems.append(size)
    elif size != manifest["config"]["vocab_size"]:
        report.problems.append(f"vocab size mismatch: the tokenizer has {size} tokens but config vocab_size "
                               f"(the rows of wte.weight) is {manifest['config']['vocab_size']}")


def tokenizer_size(content: bytes, kind: str) -> int | str:
    """Token count, or a problem message."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"tokenizer file is not valid UTF-8 JSON: {error}"
    if kind == "bpe":
        return len(data) if isinstance(data, dict) else "tokenizer vocab.json must be a JSON object"
    itos = data.get("itos") if isinstance(data, dict) else None
    return len(itos) if isinstance(itos, list) else "tokenizer chars.json must be {\"itos\": [...]}"


def check_tensor(record: dict, expected_shape, entries, raw, bar) -> TensorCheck:
    shape = record.get("shape")
    shape = tuple(shape) if isinstance(shape, list) and all(isinstance(n, int) for n in shape) else ()
    dtype = record.get("dtype")
    check = TensorCheck(record["name"], str(dtype), shape, record.get("nbytes") or 0)
    if dtype not in DTYPES:
        check.problems.append(f"dtype {dtype!r} is not one of {sorted(DTYPES)}")
        return check
    if shape != tuple(expected_shape):
        check.problems.append(f"shape {list(record.get('shape') or [])} does not match the config: "
                              f"expected {list(expected_shape)}")
        return check
    nbytes = prod(shape) * DTYPES[dtype]
    if record.get("nbytes") != nbytes:
        check.problems.append(f"nbytes {record.get('nbytes')!r} ≠ {nbytes} (shape × {DTYPES[dtype]} bytes)")
    entry = record.get("entry")
    if entry != tensor_entry(check.name):
        check.problems.append(f"entry {entry!r} should be {tensor_entry(check.name)!r}")
    if entry not in entries:
        check.problems.append(f"entry {entry!r} is not in the zip")
        return check
    info = entries[entry]
    if info.file_size != nbytes:
        check.problems.append(f"entry holds {info.file_size} bytes, the shape needs {nbytes}")
        return check
    offset, method = local_data_offset(raw, info)
    if method != zipfile.ZIP_STORED:
        check.problems.append(f"local header says compression method {method}; must be STORED (0)")
        return check
    if offset % TENSOR_ALIGNMENT:
        check.problems.append(f"data starts at byte {offset}, not a multiple of {TENSOR_ALIGNMENT}")
    digest, non_finite = scan_data(raw, offset, nbytes, dtype, bar)
    if digest != record.get("sha256"):
        check.problems.append(f"sha256 mismatch: the data hashes to {digest[:16]}…, the manifest says "
                              f"{str(record.get('sha256'))[:16]}… (corrupted)")
    if non_finite:
        check.problems.append(f"{non_finite} NaN/Inf value(s)")
    return check


def scan_data(raw, offset: int, nbytes: int, dtype: str, bar) -> tuple[str, int]:
    """(sha256 hex, count of non-finite values) of nbytes at offset, read in chunks."""
    digest, non_finite = hashlib.sha256(), 0
    raw.seek(offset)
    for start in range(0, nbytes, READ_CHUNK):
        chunk = raw.read(min(READ_CHUNK, nbytes - start))
        digest.update(chunk)
        values = np.frombuffer(chunk[: len(chunk) - len(chunk) % DTYPES[dtype]], dtype=np.dtype(dtype).newbyteorder("<"))
        non_finite += int(values.size - np.count_nonzero(np.isfinite(values)))
        bar.update(len(chunk))
    return digest.hexdigest(), non_finite


def short_list(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def info(path: str | Path) -> dict:
    """The manifest plus the file size, without hashing anything (fast)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST_ENTRY).decode("utf-8"))
    except FileNotFoundError:
        raise PackError(f"no such file: {path}") from None
    except KeyError:
        raise PackError(f"{path} has no {MANIFEST_ENTRY}: not a weights zip") from None
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError, IsADirectoryError) as error:
        raise PackError(f"cannot read {path} as a weights zip: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise PackError(f"{path}: {MANIFEST_ENTRY} is not a {FORMAT_NAME} manifest")
    return manifest | {"file_size": path.stat().st_size}
