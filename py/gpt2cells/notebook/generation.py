"""Streaming Generate: the generation cell's generate() run token by token, each token's text as it comes."""
from __future__ import annotations

import codecs
import time


class Generation:
    """One Generate press: the prompt ids, the iterator the cell's generate() returned, the tokens so far."""

    def __init__(self, tokenizer, generate, prompt_ids: list[int], n_new: int, settings: dict):
        self.tokenizer = tokenizer
        self.prompt_ids = list(prompt_ids)
        self.ids: list[int] = []
        self.cache = None  # the KV cache after the last step, for the generation cell's table
        self.iterator = generate(list(prompt_ids), n_new, temperature=float(settings.get("temperature", 1.0)),
                                 top_k=settings.get("top_k"), top_p=settings.get("top_p"), seed=settings.get("seed"))
        # a token may end inside a UTF-8 character: the decoder holds such bytes until the next token
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def next(self) -> dict:
        try:
            token, self.cache = next(self.iterator)
        except StopIteration:
            return {"done": True, "text": self.decoder.decode(b"", final=True)}
        token = int(token)
        self.ids.append(token)
        if hasattr(self.tokenizer, "decode_bytes"):
            text = self.decoder.decode(self.tokenizer.decode_bytes([token]))
        else:
            text = self.tokenizer.decode([token])
        return {"done": False, "id": token, "text": text}

    def stretch(self, seconds: float, progress) -> dict:
        """next() for about `seconds` (at least once), each new token's step sent to progress as chosen.

        The page asks for a stretch of tokens per call rather than one: a worker round trip per token cost
        ~10 % of decoding speed, and Stop still takes effect within `seconds`.
        """
        deadline = time.perf_counter() + seconds
        while True:
            step = self.next()
            if step["done"]:
                return step
            progress(step)
            if time.perf_counter() >= deadline:
                return {"done": False}

    def text(self) -> str:
        return self.tokenizer.decode(self.prompt_ids + self.ids)


def new_tokens_room(n_prompt: int, n_ctx: int, wanted) -> int:
    """How many tokens Generate may add: the last new token never needs a position."""
    room = n_ctx - n_prompt + 1
    if room < 1:
        raise ValueError(f"the prompt's {n_prompt} tokens fill the context window (n_ctx = {n_ctx})")
    return max(1, min(int(wanted), room))
