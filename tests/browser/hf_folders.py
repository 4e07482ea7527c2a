"""Hugging Face model folders as a learner gets them, for the Hub-download and dropped-files tests.

Each is a random-weight GPT-2 (tests/model_factory.py) written by transformers' own save_pretrained:
    hub       config.json, model.safetensors, vocab.json + merges.txt and tokenizer.json (as openai-community/gpt2)
    tokjson   what transformers 5 writes: tokenizer.json is the only tokenizer file
    sharded   the weights split into shards + model.safetensors.index.json
"""
from __future__ import annotations

from pathlib import Path

from tests import model_factory

KINDS = ("hub", "tokjson", "sharded")


def save_folders(work: Path, n_embd: int = 128) -> dict[str, Path]:
    """{kind: folder}; about 2 MB of weights each, so a download can be cut halfway."""
    work = Path(work)
    tokenizer_dir = model_factory.train_bpe(work / "tokenizer")
    config = model_factory.gpt2_config(model_factory.vocab_size_of(tokenizer_dir), n_layer=2, n_head=4, n_embd=n_embd)
    model = model_factory.random_gpt2(config, seed=7)
    tokenizer = model_factory.hf_tokenizer(tokenizer_dir)
    folders = {kind: work / kind for kind in KINDS}
    model_factory.save_hf_folder(model, tokenizer_dir, folders["hub"])
    tokenizer.save_pretrained(folders["hub"])
    model.save_pretrained(folders["tokjson"])
    tokenizer.save_pretrained(folders["tokjson"])
    for name in ("vocab.json", "merges.txt"):  # older transformers write these too; transformers 5 does not
        (folders["tokjson"] / name).unlink(missing_ok=True)
    model.save_pretrained(folders["sharded"], max_shard_size="600KB")
    tokenizer.save_pretrained(folders["sharded"])
    return folders
