"""Tokenizers: GPT-2's byte-level BPE and a character-level one (nanoGPT's meta.pkl stoi/itos).

Byte-level BPE in four moves: split text into pieces with GPT2_SPLIT_PATTERN, turn each piece's UTF-8
bytes into printable characters (BYTE_TO_CHAR), merge adjacent symbols by rank until no ranked pair is
left, look the symbols up in the vocabulary. Decoding runs the same maps backwards.
"""
from __future__ import annotations

import json
from typing import NamedTuple

import regex

from .errors import TokenIdError, TokenizerError

# GPT-2's pre-tokenization (openai/gpt-2 encoder.py): contractions, letters, digits, other symbols,
# each optionally led by one space; whitespace runs keep their last space for the next word.
GPT2_SPLIT_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
EOT = "<|endoftext|>"


def bytes_to_unicode() -> dict[int, str]:
    """Byte → a printable character: printable Latin-1 bytes map to themselves, the rest to chr(256 + n)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + n) for n, b in enumerate(others)}


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


class Merge(NamedTuple):
    """One step of BPE on one piece: the pair merged (None for the starting symbols), its rank, the result."""
    pair: tuple[str, str] | None
    rank: int | None
    symbols: tuple[str, ...]


def _text(data: str | bytes | bytearray | memoryview) -> str:
    return data if isinstance(data, str) else bytes(data).decode("utf-8")


class BPETokenizer:
    """GPT-2 byte-level BPE from vocab.json (symbol → id) and merges.txt (one "a b" pair per line, by rank)."""

    kind = "bpe"

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], special_tokens=(EOT,)):
        self.vocab = vocab
        self.id_to_token = {i: s for s, i in vocab.items()}
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.special_tokens = {s: vocab[s] for s in special_tokens if s in vocab}
        specials = sorted(self.special_tokens, key=len, reverse=True)
        self._special_split = regex.compile("(" + "|".join(map(regex.escape, specials)) + ")") if specials else None
        self._split = regex.compile(GPT2_SPLIT_PATTERN)
        self._cache: dict[str, tuple[str, ...]] = {}
        missing = [c for c in BYTE_TO_CHAR.values() if c not in vocab]
        if missing:
            raise TokenizerError(f"vocab.json lacks {len(missing)} of the 256 byte symbols, e.g. {missing[0]!r}")

    @classmethod
    def from_files(cls, vocab_json, merges_txt, special_tokens=(EOT,)) -> BPETokenizer:
        """vocab.json / encoder.json and merges.txt / vocab.bpe contents (str or UTF-8 bytes)."""
        vocab = json.loads(_text(vocab_json))
        merges = []
        for n, line in enumerate(_text(merges_txt).splitlines(), start=1):
            if not line or line.startswith("#version"):
                continue
            pair = tuple(line.split(" "))
            if len(pair) != 2:
                raise TokenizerError(f"merges line {n}: expected two symbols separated by one space, got {line!r}")
            merges.append(pair)
        return cls(vocab, merges, special_tokens)

    def __len__(self) -> int:
        """The size of the id space (largest id + 1), which the model's vocab_size must cover."""
        return max(self.id_to_token) + 1

    def pretokenize(self, text: str) -> list[str]:
        """Text → pieces: special tokens whole, everything else split by GPT2_SPLIT_PATTERN."""
        segments = self._special_split.split(text) if self._special_split else [text]
        pieces = []
        for segment in segments:
            if segment in self.special_tokens:
                pieces.append(segment)
            elif segment:
                pieces.extend(self._split.findall(segment))
        return pieces

    def merge_trace(self, piece: str) -> list[Merge]:
        """Every state of BPE on one piece: its byte symbols, then the result of each merge, lowest rank first."""
        symbols = tuple(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))
        trace = [Merge(None, None, symbols)]
        while len(symbols) > 1:
            pair = min(zip(symbols, symbols[1:]), key=lambda p: self.ranks.get(p, float("inf")))
            if pair not in self.ranks:
                break
            merged, i = [], 0
            while i < len(symbols):
                if symbols[i:i + 2] == pair:
                    merged.append(pair[0] + pair[1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = tuple(merged)
            trace.append(Merge(pair, self.ranks[pair], symbols))
        return trace

    def bpe(self, piece: str) -> tuple[str, ...]:
        """The final symbols of one piece (cached: words repeat)."""
        if piece not in self._cache:
            self._cache[piece] = self.merge_trace(piece)[-1].symbols
        return self._cache[piece]

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in self.pretokenize(text):
            if piece in self.special_tokens:
                ids.append(self.special_tokens[piece])
                continue
            for symbol in self.bpe(piece):
                if symbol not in self.vocab:
                    raise TokenizerError(f"BPE symbol {symbol!r} (from {piece!r}) is not in vocab.json")
                ids.append(self.vocab[symbol])
        return ids

    def token_text(self, token_id: int) -> str:
        """The vocabulary symbol of one id, in byte-level characters (e.g. 'Ġthe')."""
        if token_id not in self.id_to_token:
            raise TokenIdError(f"token id {token_id} is not in the tokenizer's vocabulary of {len(self)} tokens")
        return self.id_to_token[token_id]

    def decode_bytes(self, ids) -> bytes:
        """Ids → raw UTF-8 bytes; a streaming caller can hold back an incomplete character."""
        parts = []
        for i in ids:
            symbol = self.token_text(int(i))
            parts.append(symbol.encode("utf-8") if symbol in self.special_tokens else bytes(CHAR_TO_BYTE[c] for c in symbol))
        return b"".join(parts)

    def decode(self, ids) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")


class CharTokenizer:
    """One token per character: itos[id] is the character (nanoGPT's shakespeare_char meta.pkl)."""

    kind = "char"

    def __init__(self, itos: list[str]):
        bad = [c for c in itos if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise TokenizerError(f"chars.json itos must list single characters, got {bad[0]!r}")
        self.itos = list(itos)
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise TokenizerError("chars.json itos lists a character twice")

    @classmethod
    def from_file(cls, chars_json) -> CharTokenizer:
        return cls(json.loads(_text(chars_json))["itos"])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        for position, c in enumerate(text):
            if c not in self.stoi:
                raise TokenizerError(f"character {c!r} at position {position} is not in the vocabulary")
        return [self.stoi[c] for c in text]

    def token_text(self, token_id: int) -> str:
        if not 0 <= token_id < len(self.itos):
            raise TokenIdError(f"token id {token_id} is not in the tokenizer's vocabulary of {len(self)} tokens")
        return self.itos[token_id]

    def decode(self, ids) -> str:
        return "".join(self.token_text(int(i)) for i in ids)
