"""Tokenizers vs Hugging Face: ids identical to GPT2TokenizerFast built from the same trained files."""
from __future__ import annotations

import json
import random

import pytest
from tokenizers import pre_tokenizers

import gpt2cells
from gpt2cells.tokenizer import BYTE_TO_CHAR
from tests import model_factory

TRAINING_SETS = {
    "default-400": (model_factory.CORPUS, 400),
    "cjk-emoji-1000": ([
        "日本語のテキストを書きます。中文字符和标点，한국어 문장입니다. 🙂🚀👍🏽👨‍👩‍👧 🇫🇷 " * 4,
        "Ünïcödé café naïve e\u0301 a\u0308 ç Ωμέγα Привет мир مرحبا بالعالم שלום " * 3,
    ] + model_factory.CORPUS, 1000),
    "code-space-300": ([
        "def main():\n\tfor i in range(10):\n\t\tprint(i)  \n\n\n    return 0\r\n",
        "x = [1, 2, 3]   # comment\n" * 5, "    \n\n  \t \u00a0\u3000 spaces " * 5,
    ], 300),
}

# Text the tokenizers were not trained on, exercising every branch of the split pattern.
SAMPLES = [
    "", " ", "  ", "\n", "\n\n\n", " \n ", "\t\t", "a", " a", "  a", "a  ", "hello world", "Hello  world\n",
    "It's, don't, we'll, they've, I'm, you're, he'd", "'s's 'S 'LL", "'''", "1234567890 3.14 -42 1e10 ¹²³ ١٢٣",
    "日本語", "中文 字符，标点。", "한국어", "🙂", "👍🏽", "👨‍👩‍👧‍👦", "🇯🇵🇫🇷", "e\u0301\u0301", "\u0301 lone combining",
    "Ωμέγα Привет مرحبا שלום हिन्दी ไทย", "tabs\tand\u00a0nbsp\u2003em\u3000ideographic", "\r\n\r\n", "end.   ",
    "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", " <|endoftext|> ", "<|endoftext", "<|endoftext|",
    "x" * 200, " " * 50 + "y", "\x00\x01\x1f\x7f", "\ufeffBOM", "\U0010fffd \U0001f9ec",
    "def f(x):\n    return x ** 2  # {}[]()<>=+-*/\n",
]
POOLS = [
    "abcdefxyz ABCXYZ", "0123456789", " \t\n\r\u00a0\u2003\x0b\x0c\x85\u2028\u3000\x1c\u180e\u200b",
    "'s't're've'm'll'd", "日本語中文字符한국어", "🙂🚀👍🏽👨‍👩‍👧", "e\u0301a\u0308\u0327", ".,;:!?-—…$%()[]{}<>'\"",
    "Ωπ\u0600\u0627\u0644", "\x00\x01\x7f",
]


def random_strings(seed: int, count: int) -> list[str]:
    """Mostly characters from POOLS (so words and runs form), sometimes any non-surrogate code point."""
    rng = random.Random(seed)

    def char():
        if rng.random() < 0.9:
            return rng.choice(rng.choice(POOLS))
        return chr(rng.choice([rng.randrange(0x20, 0xD800), rng.randrange(0xE000, 0x110000)]))

    strings = ["".join(char() for _ in range(rng.randrange(0, 60))) for _ in range(count)]
    return [s + "<|endoftext|>" + s[::-1] if rng.random() < 0.2 else s for s in strings]


@pytest.fixture(scope="module", params=list(TRAINING_SETS))
def trained(request, tmp_path_factory):
    corpus, vocab_size = TRAINING_SETS[request.param]
    directory = model_factory.train_bpe(tmp_path_factory.mktemp(request.param), corpus, vocab_size)
    ours = gpt2cells.BPETokenizer.from_files((directory / "vocab.json").read_bytes(), (directory / "merges.txt").read_text())
    return ours, model_factory.hf_tokenizer(directory)


def test_byte_map_is_the_byte_level_alphabet():
    assert sorted(BYTE_TO_CHAR) == list(range(256))
    assert set(BYTE_TO_CHAR.values()) == set(pre_tokenizers.ByteLevel.alphabet())
    assert all(c.isprintable() and not c.isspace() for c in BYTE_TO_CHAR.values())


def test_ids_match_hugging_face(trained):
    ours, hf = trained
    for text in SAMPLES + model_factory.CORPUS + random_strings(seed=len(ours), count=1500):
        assert ours.encode(text) == hf.encode(text), repr(text)


def test_round_trip(trained):
    ours, _ = trained
    for text in SAMPLES + random_strings(seed=7, count=1500):
        assert ours.decode(ours.encode(text)) == text, repr(text)


def test_endoftext_is_one_special_token(trained):
    ours, hf = trained
    eot = hf.convert_tokens_to_ids("<|endoftext|>")
    assert ours.encode("<|endoftext|>") == [eot]
    assert ours.encode("hi<|endoftext|>there") == ours.encode("hi") + [eot] + ours.encode("there")
    assert ours.pretokenize(" a<|endoftext|>b") == [" a", "<|endoftext|>", "b"]


def test_merge_trace_shows_each_merge(trained):
    ours, hf = trained
    text = "Hello, world! It's 2024: naïve 日本語 🙂 tokens"
    finals = []
    for piece in ours.pretokenize(text):
        trace = ours.merge_trace(piece)
        assert trace[0].pair is None and "".join(trace[0].symbols) == "".join(BYTE_TO_CHAR[b] for b in piece.encode())
        for before, step in zip(trace, trace[1:]):
            available = [p for p in zip(before.symbols, before.symbols[1:]) if p in ours.ranks]
            assert step.rank == min(ours.ranks[p] for p in available) and ours.ranks[step.pair] == step.rank
            assert len(step.symbols) < len(before.symbols) and "".join(step.symbols) == "".join(before.symbols)
        assert not any(p in ours.ranks for p in zip(trace[-1].symbols, trace[-1].symbols[1:]))
        assert trace[-1].symbols == ours.bpe(piece)
        finals.extend(trace[-1].symbols)
    assert finals == hf.tokenize(text)


def test_openai_file_names_load_the_same(tmp_path, bpe_dir):
    # encoder.json + vocab.bpe carry the same content as vocab.json + merges.txt
    (tmp_path / "encoder.json").write_bytes((bpe_dir / "vocab.json").read_bytes())
    (tmp_path / "vocab.bpe").write_text((bpe_dir / "merges.txt").read_text(encoding="utf-8") + "\n", encoding="utf-8")
    openai = gpt2cells.BPETokenizer.from_files((tmp_path / "encoder.json").read_text(encoding="utf-8"), (tmp_path / "vocab.bpe").read_bytes())
    hf = model_factory.hf_tokenizer(bpe_dir)
    for text in SAMPLES:
        assert openai.encode(text) == hf.encode(text)


def test_bad_tokenizer_files(bpe_dir):
    vocab = json.loads((bpe_dir / "vocab.json").read_text(encoding="utf-8"))
    merges = (bpe_dir / "merges.txt").read_text(encoding="utf-8")
    del vocab["Ġ"]
    with pytest.raises(gpt2cells.TokenizerError, match="256 byte symbols"):
        gpt2cells.BPETokenizer.from_files(json.dumps(vocab), merges)
    with pytest.raises(gpt2cells.TokenizerError, match="merges line 2"):
        gpt2cells.BPETokenizer.from_files((bpe_dir / "vocab.json").read_text(encoding="utf-8"), "#version: 0.2\na b c\n")
    ours = gpt2cells.BPETokenizer.from_files((bpe_dir / "vocab.json").read_text(encoding="utf-8"), merges)
    with pytest.raises(gpt2cells.TokenIdError, match="token id 100000"):
        ours.decode([1, 100000])


def test_char_tokenizer_round_trip_and_errors():
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    itos = sorted(set(text))
    chars = gpt2cells.CharTokenizer.from_file(json.dumps({"itos": itos}))
    ids = chars.encode(text)
    assert ids == [itos.index(c) for c in text] and chars.decode(ids) == text
    assert chars.stoi == {c: i for i, c in enumerate(itos)} and len(chars) == len(itos)
    for text in random_strings(seed=3, count=200):
        alphabet = gpt2cells.CharTokenizer(sorted(set(text)))
        assert alphabet.decode(alphabet.encode(text)) == text
    with pytest.raises(gpt2cells.TokenizerError, match="'Z' at position 3"):
        chars.encode("Fir" + "Z")
    with pytest.raises(gpt2cells.TokenIdError, match=f"token id {len(itos)}"):
        chars.decode([0, len(itos)])
    with pytest.raises(gpt2cells.TokenizerError, match="single characters"):
        gpt2cells.CharTokenizer(["a", "bc"])
