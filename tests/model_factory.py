"""Test-made models and vocabularies: the stand-ins for real GPT-2, which cannot be downloaded here.

Hugging Face builds the random-weight models and trains the byte-level BPE vocabularies; those are the
oracles every reference test compares against.
"""
from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Hello, world! It's a test: numbers 12345 and 3.14159, e-mail me@example.com.",
    "GPT-2 is a transformer language model; it predicts the next token.",
    "  Leading spaces,\ttabs,\n\nnew lines and   runs   of spaces.  ",
    "Unicode: café, naïve, Ünïcödé, 日本語のテキスト, 中文字符, 한국어, emoji 🙂🚀👍🏽, e\u0301 combining.",
    "Don't, won't, I'm, you're, they've, we'll, he'd — contractions and dashes…",
    "def f(x):\n    return x ** 2  # code with symbols {}[]()<>=+-*/\n",
    "In 1999, 42 people paid $3,000.50 for 7 items; 100% of them smiled :-)",
]


def train_bpe(out_dir: Path, corpus=CORPUS, vocab_size: int = 400) -> Path:
    """Train a GPT-2-style byte-level BPE; write vocab.json + merges.txt into out_dir."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.model.save(str(out_dir))  # vocab.json + merges.txt
    return out_dir


def vocab_size_of(tokenizer_dir: Path) -> int:
    return len(json.loads((Path(tokenizer_dir) / "vocab.json").read_text(encoding="utf-8")))


def hf_tokenizer(tokenizer_dir: Path):
    from transformers import GPT2TokenizerFast

    return GPT2TokenizerFast.from_pretrained(str(tokenizer_dir))


def gpt2_config(vocab_size: int, n_layer=2, n_head=4, n_embd=32, n_ctx=64):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab_size, n_positions=n_ctx, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        bos_token_id=0, eos_token_id=0,  # train_bpe puts <|endoftext|> at id 0
    )


def gpt2_small_config(vocab_size: int = 50257):
    return gpt2_config(vocab_size, n_layer=12, n_head=12, n_embd=768, n_ctx=1024)


def random_gpt2(config, seed: int = 0, init_std: float | None = None):
    """A GPT2LMHeadModel with random weights; biases and layer norms randomised too so no step is trivial."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    if init_std is not None:
        config.initializer_range = init_std
    model = GPT2LMHeadModel(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0.0, 0.02)
            elif ".ln_" in name or name.startswith("transformer.ln_f"):
                p.normal_(1.0, 0.1)
    return model.eval()


def save_hf_folder(model, tokenizer_dir: Path, out_dir: Path) -> Path:
    """A Hugging Face model folder as `save_pretrained` writes it, plus the tokenizer files."""
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)  # model.safetensors (transformers 5 writes no pytorch_model.bin)
    for name in ("vocab.json", "merges.txt"):
        (out_dir / name).write_bytes((Path(tokenizer_dir) / name).read_bytes())
    return out_dir
