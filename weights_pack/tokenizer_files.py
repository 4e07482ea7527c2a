"""Find a model's tokenizer files and turn them into the zip's `tokenizer/` entries.

GPT-2 byte-level BPE comes as vocab.json + merges.txt (Hugging Face) or encoder.json + vocab.bpe (OpenAI,
same content, renamed at pack time), or as a Hugging Face tokenizer.json alone (what transformers 5's
save_pretrained writes), turned into the same two files. Character models come as nanoGPT's meta.pkl
(stoi/itos) or a chars.json; both are packed as tokenizer/chars.json = {"itos": [...]}.
"""
from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import weights_pack.contract  # noqa: F401 (puts py/ on sys.path for gpt2cells when run from a checkout)
from weights_pack.errors import PackError

from gpt2cells import hf_checkpoint  # isort: skip
from gpt2cells.errors import GPT2CellsError  # isort: skip

BPE_LAYOUTS = (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe"))
FAST_TOKENIZER = "tokenizer.json"  # used only when the folder has no vocab.json + merges.txt
CHAR_FILES = ("meta.pkl", "chars.json")
EOS_TOKEN = "<|endoftext|>"
LOOKED_FOR = "vocab.json + merges.txt, encoder.json + vocab.bpe, tokenizer.json, meta.pkl or chars.json"


@dataclass(frozen=True)
class TokenizerFiles:
    kind: str  # "bpe" or "char"
    entries: dict[str, bytes]  # zip entry name -> content
    files: dict[str, str]  # manifest role -> zip entry name
    vocab_size: int
    eos_token: str | None
    origin: str  # the file(s) it came from, full paths, for messages
    source_names: tuple[str, ...]  # the same files' bare names, for the manifest (no local paths in a shared zip)

    def manifest(self) -> dict:
        return {"kind": self.kind, "files": dict(self.files), "eos_token": self.eos_token}


def find_tokenizer(path: Path) -> TokenizerFiles:
    """The tokenizer in a folder, or in a single meta.pkl / chars.json file."""
    path = Path(path)
    if path.is_file():
        return read_char_file(path)
    if not path.is_dir():
        raise PackError(f"tokenizer path {path} does not exist")
    bpe = [(path / a, path / b) for a, b in BPE_LAYOUTS if (path / a).is_file() or (path / b).is_file()]
    fast = path / FAST_TOKENIZER if (path / FAST_TOKENIZER).is_file() else None
    chars = [path / name for name in CHAR_FILES if (path / name).is_file()]
    if (bpe or fast) and chars:
        bpe_found = [p.name for pair in bpe for p in pair if p.is_file()] + ([fast.name] if fast else [])
        found = ", ".join(bpe_found) + ", " + ", ".join(p.name for p in chars)
        raise PackError(f"{path} holds both a BPE and a character tokenizer ({found}); "
                        "remove one or point --tokenizer at the right one")
    if bpe:
        vocab, merges = bpe[0]
        for needed in (vocab, merges):
            if not needed.is_file():
                present = merges if needed is vocab else vocab
                raise PackError(f"missing tokenizer file {needed} (found {present.name} without it)")
        return read_bpe(vocab, merges)
    if fast:
        return read_tokenizer_json(fast)
    if chars:
        return read_char_file(chars[0])
    raise PackError(f"no tokenizer files in {path}: looked for {LOOKED_FOR} "
                    "(use --tokenizer to point at them)")


def read_bpe(vocab_path: Path, merges_path: Path) -> TokenizerFiles:
    vocab_bytes, merges_bytes = vocab_path.read_bytes(), merges_path.read_bytes()
    try:
        vocab = hf_checkpoint.bpe_vocab(vocab_bytes, str(vocab_path))
        hf_checkpoint.check_merges(utf8(merges_bytes, merges_path), str(merges_path))
    except GPT2CellsError as error:
        raise PackError(str(error)) from None
    return bpe_files(vocab_bytes, merges_bytes, vocab, origin=f"{vocab_path.name} + {merges_path.name} in "
                     f"{vocab_path.parent}", source_names=(vocab_path.name, merges_path.name))


def utf8(content: bytes, path: Path) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PackError(f"{path} is not valid UTF-8: {error}") from None


def read_tokenizer_json(path: Path) -> TokenizerFiles:
    """A Hugging Face fast-tokenizer file → the same vocab.json + merges.txt the page derives from it."""
    try:
        vocab_text, merges_text = hf_checkpoint.bpe_files_from_tokenizer_json(path.read_bytes(), str(path))
    except GPT2CellsError as error:
        raise PackError(str(error)) from None
    vocab = hf_checkpoint.bpe_vocab(vocab_text, str(path))
    return bpe_files(vocab_text.encode("utf-8"), merges_text.encode("utf-8"), vocab,
                     origin=f"{path.name} in {path.parent}", source_names=(path.name,))


def bpe_files(vocab_bytes: bytes, merges_bytes: bytes, vocab: dict, origin: str, source_names: tuple) -> TokenizerFiles:
    return TokenizerFiles(
        kind="bpe",
        entries={"tokenizer/vocab.json": vocab_bytes, "tokenizer/merges.txt": merges_bytes},
        files={"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt"},
        vocab_size=len(vocab),
        eos_token=EOS_TOKEN if EOS_TOKEN in vocab else None,
        origin=origin,
        source_names=source_names,
    )


def read_char_file(path: Path) -> TokenizerFiles:
    if path.suffix == ".pkl":
        itos = itos_from_mapping(load_plain_pickle(path), path)
    elif path.suffix == ".json":
        try:
            itos = itos_from_mapping(json.loads(path.read_text(encoding="utf-8")), path)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise PackError(f"{path} is not valid UTF-8 JSON: {error}") from None
    else:
        raise PackError(f"unknown tokenizer file {path}: expected meta.pkl or chars.json, or a folder with "
                        f"{LOOKED_FOR}")
    content = json.dumps({"itos": itos}, ensure_ascii=False).encode("utf-8")
    return TokenizerFiles(
        kind="char",
        entries={"tokenizer/chars.json": content},
        files={"chars": "tokenizer/chars.json"},
        vocab_size=len(itos),
        eos_token=None,
        origin=str(path),
        source_names=(path.name,),
    )


class PlainDataUnpickler(pickle.Unpickler):
    """meta.pkl is a dict of ints and strings; refusing every class keeps a hostile pickle from running code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: meta.pkl should hold only plain data")


def load_plain_pickle(path: Path):
    try:
        return PlainDataUnpickler(io.BytesIO(path.read_bytes())).load()
    except Exception as error:  # a broken pickle can raise almost anything
        raise PackError(f"cannot read {path} as nanoGPT meta.pkl: {error}") from None


def itos_from_mapping(meta, path: Path) -> list[str]:
    """id -> character list from {"itos": list | {id: ch}} or {"stoi": {ch: id}} (nanoGPT's meta.pkl keys)."""
    if isinstance(meta, list):
        meta = {"itos": meta}
    if not isinstance(meta, dict) or not ({"itos", "stoi"} & meta.keys()):
        raise PackError(f"{path}: expected a mapping with 'itos' or 'stoi' (nanoGPT char tokenizer)")
    if "itos" in meta and isinstance(meta["itos"], list):
        pairs = list(enumerate(meta["itos"]))
    elif "itos" in meta and isinstance(meta["itos"], dict):
        if not all(isinstance(i, int) or (isinstance(i, str) and i.isdigit()) for i in meta["itos"]):
            raise PackError(f"{path}: 'itos' keys must be integer ids")
        pairs = [(int(i), ch) for i, ch in meta["itos"].items()]
    elif isinstance(meta.get("stoi"), dict):
        pairs = [(i, ch) for ch, i in meta["stoi"].items()]
    else:
        raise PackError(f"{path}: 'itos' must be a list or a dict, 'stoi' a dict")
    if not all(isinstance(i, int) for i, _ in pairs):
        raise PackError(f"{path}: 'stoi' values must be integer ids")
    ids = sorted(i for i, _ in pairs)
    if ids != list(range(len(pairs))):
        raise PackError(f"{path}: character ids must be exactly 0 … {len(pairs) - 1}, each used once")
    itos = [ch for _, ch in sorted(pairs)]
    if not all(isinstance(ch, str) and ch for ch in itos):
        raise PackError(f"{path}: every token must be a non-empty string")
    if len(set(itos)) != len(itos):
        raise PackError(f"{path}: the same character appears under two ids")
    return itos
