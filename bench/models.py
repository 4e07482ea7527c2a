"""The benchmark's models: random-weight GPT-2s in every shape the bench runs, cached under .cache/bench/.

Each shape gets one directory holding its tokenizer, its Hugging Face folder, its packed weights zip and its
ONNX export. Building them is slow (seconds for quick, minutes for small/medium on 2 cores), so a finished
artifact is reused; a `.done` marker next to it means "complete", so an interrupted run never leaves a
half-written file that a later run would trust.
"""
from __future__ import annotations

import json
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("GPT2CELLS_BENCH_CACHE", ROOT / ".cache" / "bench"))
CACHE_VERSION = "v1"  # bump when the recipe below changes, so stale caches are not reused
PROMPT_TOKENS = 10
NEW_TOKENS = 64
# Prose the prompt is cut from; the page types the same text, so the ids are the page's own encoding.
PROMPT_SOURCE = ("The quick brown fox jumps over the lazy dog while a small language model "
                 "predicts, one token at a time, what comes next in the sentence.")

for path in (ROOT, ROOT / "py", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@dataclass(frozen=True)
class Shape:
    name: str
    n_layer: int
    n_head: int
    n_embd: int
    n_ctx: int
    vocab_size: int | None  # None: the small trained vocabulary's own size (quick mode)


SHAPES = {
    "quick": Shape("quick", n_layer=2, n_head=4, n_embd=64, n_ctx=128, vocab_size=None),
    "small": Shape("small", n_layer=12, n_head=12, n_embd=768, n_ctx=1024, vocab_size=50257),
    "medium": Shape("medium", n_layer=24, n_head=16, n_embd=1024, n_ctx=1024, vocab_size=50257),
    "large": Shape("large", n_layer=36, n_head=20, n_embd=1280, n_ctx=1024, vocab_size=50257),
    "xl": Shape("xl", n_layer=48, n_head=25, n_embd=1600, n_ctx=1024, vocab_size=50257),
}
# Shapes whose Hugging Face folder is saved in float16 (weights rounded once): a float32 XL folder is 6.2 GB on
# disk and in RAM; the float32 oracle loads the rounded weights, which is what a float16 zip is compared with.
HALF_FOLDERS = {"large", "xl"}


@dataclass
class BenchModel:
    shape: Shape
    directory: Path
    tokenizer_dir: Path
    hf_dir: Path
    zip_path: Path  # float32 (for large: may be absent, see prepare)
    zip16_path: Path  # float16: every weight rounded to float16 by weights_pack --dtype float16
    onnx_path: Path
    prompt_text: str
    prompt_ids: list[int]
    vocab_size: int

    @property
    def weight_bytes(self) -> int:
        """float32 bytes of every tensor in the zip (the tied head is stored once)."""
        return zip_weight_bytes(self.zip_path)

    @property
    def q8_onnx_path(self) -> Path:
        return self.onnx_path.with_name(self.onnx_path.stem + "-q8.onnx")

    def zip_for(self, dtype: str) -> Path:
        return self.zip16_path if dtype == "float16" else self.zip_path


def zip_weight_bytes(zip_path: Path) -> int:
    return sum(t["nbytes"] for t in read_manifest(zip_path)["tensors"])


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def is_done(path: Path) -> bool:
    return path.exists() and path.with_name(path.name + ".done").exists()


def mark_done(path: Path):
    path.with_name(path.name + ".done").write_text("ok\n")


def stdlib_corpus() -> list[str]:
    """Python's own standard library as text: enough distinct pairs for a full 50,257-entry BPE vocabulary."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py") if "site-packages" not in p.parts)
    return [p.read_text(encoding="utf-8", errors="replace") for p in files]


def ensure_tokenizer(shape: Shape, directory: Path) -> Path:
    from model_factory import train_bpe

    tokenizer_dir = directory / "tokenizer"
    if is_done(tokenizer_dir):
        return tokenizer_dir
    if shape.vocab_size is None:
        train_bpe(tokenizer_dir)
    else:
        log(f"training a {shape.vocab_size}-token byte-level BPE on the stdlib (once, ~10 s)")
        train_bpe(tokenizer_dir, corpus=stdlib_corpus(), vocab_size=shape.vocab_size)
    mark_done(tokenizer_dir)
    return tokenizer_dir


def ensure_hf_folder(shape: Shape, tokenizer_dir: Path, directory: Path) -> Path:
    from model_factory import gpt2_config, random_gpt2, save_hf_folder, vocab_size_of

    hf_dir = directory / "hf"
    if is_done(hf_dir):
        return hf_dir
    log(f"creating a random-weight GPT-2 ({shape.name}) with transformers")
    vocab_size = shape.vocab_size or vocab_size_of(tokenizer_dir)
    config = gpt2_config(vocab_size, n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd,
                         n_ctx=shape.n_ctx)
    model = random_gpt2(config)
    if shape.name in HALF_FOLDERS:
        log("saving it in float16 (every weight rounded once; the float32 oracle loads these rounded weights)")
        model = model.half()
    save_hf_folder(model, tokenizer_dir, hf_dir)
    mark_done(hf_dir)
    return hf_dir


def ensure_zip(hf_dir: Path, zip_path: Path, dtype: str = "float32") -> Path:
    if is_done(zip_path):
        return zip_path
    import weights_pack

    log(f"packing {hf_dir} with weights_pack --dtype {dtype}")
    weights_pack.convert(hf_dir, zip_path, dtype=dtype, force=True, name=zip_path.stem)
    mark_done(zip_path)
    return zip_path


def read_manifest(zip_path: Path) -> dict:
    import zipfile

    with zipfile.ZipFile(zip_path) as archive:
        return json.loads(archive.read("manifest.json"))


def prompt_of_length(tokenizer_dir: Path, n_tokens: int) -> tuple[str, list[int]]:
    """The shortest prefix of PROMPT_SOURCE that encodes to exactly n_tokens ids (so the page can type it)."""
    from model_factory import hf_tokenizer

    tokenizer = hf_tokenizer(tokenizer_dir)
    for end in range(1, len(PROMPT_SOURCE) + 1):
        text = PROMPT_SOURCE[:end]
        ids = tokenizer.encode(text)
        if len(ids) == n_tokens and not text.endswith(" "):
            return text, ids
        if len(ids) > n_tokens:
            break
    raise RuntimeError(f"no prefix of the prompt source encodes to exactly {n_tokens} tokens")


def load_hf_oracle(model: "BenchModel", dtype: str):
    """Hugging Face's GPT-2 in float32 on the weights the zip of `dtype` holds: for float16, every weight
    rounded to float16 (as weights_pack rounds it) and run in float32."""
    import torch
    from transformers import GPT2LMHeadModel

    hf = GPT2LMHeadModel.from_pretrained(model.hf_dir, dtype=torch.float32).eval()
    if dtype == "float16":
        with torch.no_grad():
            for parameter in hf.parameters():
                parameter.copy_(parameter.half().float())
    return hf


def prepare(shape_name: str, with_zip: bool = True, dtypes=("float32", "float16")) -> BenchModel:
    """Every artifact for one shape, built once and reused (the ONNX file is made by onnx_export); a zip for
    each of `dtypes`."""
    from model_factory import vocab_size_of

    shape = SHAPES[shape_name]
    directory = CACHE / f"{shape.name}-{CACHE_VERSION}"
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = ensure_tokenizer(shape, directory)
    hf_dir = ensure_hf_folder(shape, tokenizer_dir, directory)
    zip_path = directory / f"gpt2-bench-{shape.name}.zip"
    zip16_path = directory / f"gpt2-bench-{shape.name}-f16.zip"
    if with_zip:
        for dtype in dtypes:
            ensure_zip(hf_dir, zip16_path if dtype == "float16" else zip_path, dtype)
    prompt_text, prompt_ids = prompt_of_length(tokenizer_dir, PROMPT_TOKENS)
    return BenchModel(shape=shape, directory=directory, tokenizer_dir=tokenizer_dir, hf_dir=hf_dir,
                      zip_path=zip_path, zip16_path=zip16_path, onnx_path=directory / "model-kv.onnx",
                      prompt_text=prompt_text,
                      prompt_ids=prompt_ids, vocab_size=vocab_size_of(tokenizer_dir))
