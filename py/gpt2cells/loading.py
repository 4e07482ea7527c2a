"""gpt2cells.load: a weights zip (format v1, docs/weights-format.md) or its in-memory mapping → Model.

Every tensor is validated against the config before any tensor data is read, and read with at most one
copy (a float16 model's vectors aside, below): a path or file object is read straight into the final array, a
buffer is viewed in place. Matrices keep the zip's dtype: a float16 model's stay float16 in memory (half the
bytes; the kernel widens what it reads). Its vectors (biases, layer norm gains and shifts: ~0.1 % of the bytes)
are widened to float32 once, here: NumPy adds a float16 vector to float32 activations through a per-value cast,
in the page ~2x the cost of a float32 add (~0.2 ms of a decoded token of GPT-2 small, in the cells' generation
as in the engine's), and the sums are the same (NumPy widens them to float32 either way).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping

import numpy as np

from .config import Config
from .errors import TensorShapeError, WeightsError
from .model import Model, check_tensor_names_and_shapes
from .tokenizer import EOT, BPETokenizer, CharTokenizer
from .weights_format import DTYPES, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY
from .zipdata import local_data_offset

LITTLE_ENDIAN = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}


def load(source, *, verify_sha256: bool = False) -> Model:
    """A Model from a weights zip: a path, a binary file object, the zip's bytes (any buffer), or a mapping

        {"manifest": dict (or its JSON text),
         "tensors": {name: buffer (bytes, memoryview, ...) or np.ndarray},
         "files": {"tokenizer/vocab.json": str | bytes, ...}}

    Buffers may be anything with the buffer protocol (a Pyodide typed-array proxy is copied in once);
    float32 tensors then view the caller's memory without a copy (read-only if the buffer is).
    Tensors named in the manifest must be exactly the ones the config implies (unknown ones are rejected);
    zip entries the manifest does not name are ignored. verify_sha256 also checks every tensor's digest.
    """
    if isinstance(source, Mapping):
        return _load_mapping(source, verify_sha256)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return _load_zip(f, verify_sha256)
    if hasattr(source, "read"):
        return _load_zip(source, verify_sha256)
    return _load_zip(_BufferFile(_as_buffer(source, "the weights zip")), verify_sha256)


# ---- manifest --------------------------------------------------------------------------------------------

def check_manifest(manifest: dict) -> tuple[Config, dict]:
    """Validate format, config and tensor table (names, shapes, dtypes, nbytes) → (config, {name: entry})."""
    if not isinstance(manifest, dict):
        raise WeightsError(f"{MANIFEST_ENTRY} must be a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT_NAME:
        raise WeightsError(f"{MANIFEST_ENTRY}: format must be {FORMAT_NAME!r}, got {manifest.get('format')!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise WeightsError(
            f"{MANIFEST_ENTRY}: format_version {manifest.get('format_version')!r} is not supported (this reader: {FORMAT_VERSION})"
        )
    config = Config.from_dict(manifest.get("config"))
    table = manifest.get("tensors")
    if not isinstance(table, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in table):
        raise WeightsError(f"{MANIFEST_ENTRY}: tensors must be a list of objects with a name")
    entries = {t["name"]: t for t in table}
    if len(entries) != len(table):
        raise WeightsError(f"{MANIFEST_ENTRY}: a tensor is listed twice")
    check_tensor_names_and_shapes({name: t.get("shape", ()) for name, t in entries.items()}, config)
    for name, t in entries.items():
        if t.get("dtype") not in DTYPES:
            raise TensorShapeError(f"tensor {name!r}: dtype must be one of {list(DTYPES)}, got {t.get('dtype')!r}")
        nbytes = int(np.prod(t["shape"])) * DTYPES[t["dtype"]]
        if t.get("nbytes") != nbytes:
            raise TensorShapeError(f"tensor {name!r}: nbytes must be {nbytes} for {t['dtype']} {t['shape']}, got {t.get('nbytes')!r}")
    return config, entries


def _tokenizer(manifest: dict, read_file):
    spec = manifest.get("tokenizer")
    if not isinstance(spec, dict) or not isinstance(spec.get("files"), dict):
        raise WeightsError(f"{MANIFEST_ENTRY}: tokenizer must be an object with kind and files")
    files = spec["files"]
    if spec.get("kind") == "bpe":
        eos = spec.get("eos_token", EOT)
        return BPETokenizer.from_files(read_file(files.get("vocab")), read_file(files.get("merges")), special_tokens=(eos,))
    if spec.get("kind") == "char":
        return CharTokenizer.from_file(read_file(files.get("chars")))
    raise WeightsError(f"{MANIFEST_ENTRY}: tokenizer kind must be 'bpe' or 'char', got {spec.get('kind')!r}")


def _json(data, what: str):
    try:
        return json.loads(data if isinstance(data, str) else bytes(data))
    except ValueError as e:
        raise WeightsError(f"{what} is not valid JSON: {e}") from None


def _tensor_from_buffer(name: str, entry: dict, buffer, verify_sha256: bool) -> np.ndarray:
    """View raw little-endian bytes as the tensor, in the zip's dtype; a misaligned view costs one copy."""
    view = memoryview(buffer).cast("B")
    if view.nbytes != entry["nbytes"]:
        raise TensorShapeError(f"tensor {name!r}: expected {entry['nbytes']} bytes, got {view.nbytes}")
    if verify_sha256 and hashlib.sha256(view).hexdigest() != entry.get("sha256"):
        raise WeightsError(f"tensor {name!r}: sha256 does not match the manifest (corrupted data)")
    array = np.frombuffer(view, dtype=LITTLE_ENDIAN[entry["dtype"]]).reshape(entry["shape"])
    return array if array.flags.aligned else array.copy()


def _model(config, entries, manifest, tensor_data, read_file, verify_sha256):
    params = {name: float32_if_vector(_tensor_from_buffer(name, entry, tensor_data(name, entry), verify_sha256))
              for name, entry in entries.items()}
    return Model(config, params, _tokenizer(manifest, read_file), manifest)


def float32_if_vector(tensor: np.ndarray) -> np.ndarray:
    """A float16 vector widened to float32 (exactly: every float16 value is a float32 value); others as they are."""
    return tensor.astype(np.float32) if tensor.dtype == np.float16 and tensor.ndim == 1 else tensor


# ---- in-memory mapping (the page: IndexedDB buffers) ------------------------------------------------------

def _as_buffer(obj, what: str):
    if hasattr(obj, "to_memoryview"):  # a Pyodide JsProxy of a typed array: one copy into wasm memory
        obj = obj.to_memoryview()
    try:
        memoryview(obj)
    except TypeError:
        raise WeightsError(f"{what}: expected bytes, a memoryview or a numpy array, got {type(obj).__name__}") from None
    return obj


def _load_mapping(source: Mapping, verify_sha256: bool) -> Model:
    for key in ("manifest", "tensors", "files"):
        if key not in source:
            raise WeightsError(f"the weights mapping needs a {key!r} key (has {sorted(source)})")
    manifest = source["manifest"]
    if not isinstance(manifest, dict):  # its JSON text, as str or bytes
        manifest = _json(manifest if isinstance(manifest, str) else _as_buffer(manifest, "manifest"), MANIFEST_ENTRY)
    config, entries = check_manifest(manifest)
    tensors, files = source["tensors"], source["files"]
    missing = [name for name in entries if name not in tensors]
    if missing:
        raise WeightsError(f"tensor {missing[0]!r} is listed in the manifest but absent from the tensors mapping")
    unlisted = [name for name in tensors if name not in entries]
    if unlisted:
        raise WeightsError(f"tensor {unlisted[0]!r} is in the tensors mapping but not listed in the manifest")

    def tensor_data(name, entry):
        data = tensors[name]
        if isinstance(data, np.ndarray) and data.dtype != np.uint8:
            if data.dtype.kind != "f" or tuple(data.shape) != tuple(entry["shape"]):
                raise TensorShapeError(
                    f"tensor {name!r}: expected a {entry['dtype']} array of shape {entry['shape']}, got {data.dtype} {list(data.shape)}"
                )
            data = np.ascontiguousarray(data, dtype=LITTLE_ENDIAN[entry["dtype"]])
        return _as_buffer(data, f"tensor {name!r}")

    def read_file(path):
        if path not in files:
            raise WeightsError(f"tokenizer file {path!r} is absent from the files mapping (has {sorted(files)})")
        data = files[path]
        return data if isinstance(data, str) else _as_buffer(data, path)

    return _model(config, entries, manifest, tensor_data, read_file, verify_sha256)


# ---- zip -------------------------------------------------------------------------------------------------

class _BufferFile(io.RawIOBase):
    """A read-only file over a buffer, so zipfile can parse it without copying the tensors' bytes."""

    def __init__(self, buffer):
        self.buffer = memoryview(buffer).cast("B")
        self.position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = offset + (0, self.position, len(self.buffer))[whence]
        return self.position

    def tell(self):
        return self.position

    def readinto(self, out):
        chunk = self.buffer[self.position:self.position + len(out)]
        out[:len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)


def _read_exact(f, offset: int, nbytes: int, name: str):
    """nbytes at offset: a view for an in-memory zip, else read once into a fresh (writable) buffer."""
    if isinstance(f, _BufferFile):
        return f.buffer[offset:offset + nbytes]
    out = bytearray(nbytes)
    view, filled = memoryview(out), 0
    f.seek(offset)
    while filled < nbytes:
        n = f.readinto(view[filled:]) if hasattr(f, "readinto") else _copy_into(view[filled:], f.read(nbytes - filled))
        if not n:
            raise WeightsError(f"tensor {name!r}: the zip ends {nbytes - filled} bytes early")
        filled += n
    return out


def _copy_into(view, data: bytes) -> int:
    view[:len(data)] = data
    return len(data)


def _load_zip(f, verify_sha256: bool) -> Model:
    try:
        archive = zipfile.ZipFile(f)
    except zipfile.BadZipFile as e:
        raise WeightsError(f"not a weights zip: {e}") from None
    with archive:
        infos = {info.filename: info for info in archive.infolist()}
        if MANIFEST_ENTRY not in infos:
            raise WeightsError(f"the zip has no {MANIFEST_ENTRY}")
        manifest = _json(archive.read(MANIFEST_ENTRY), MANIFEST_ENTRY)
        config, entries = check_manifest(manifest)

        def tensor_data(name, entry):
            info = infos.get(entry.get("entry"))
            if info is None:
                raise WeightsError(f"tensor {name!r}: zip entry {entry.get('entry')!r} is missing")
            if info.compress_type != zipfile.ZIP_STORED:
                raise WeightsError(f"zip entry {info.filename!r} is compressed (method {info.compress_type}); format v1 stores every entry")
            if info.file_size != entry["nbytes"]:
                raise TensorShapeError(f"tensor {name!r}: expected {entry['nbytes']} bytes, zip entry has {info.file_size}")
            offset, _ = local_data_offset(f, info)
            return _read_exact(f, offset, info.file_size, name)

        def read_file(path):
            if path not in infos:
                raise WeightsError(f"tokenizer file {path!r} is missing from the zip")
            return archive.read(path)

        return _model(config, entries, manifest, tensor_data, read_file, verify_sha256)
