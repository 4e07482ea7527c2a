"""Model: the weights, the config and the tokenizer, with logits / run / generate on top of `steps`."""
from __future__ import annotations

import numpy as np

from . import steps
from .config import Config
from .errors import (
    EmptyPromptError, MissingTensorError, PromptTooLongError, SamplingError, TensorShapeError, TokenIdError,
    UnexpectedTensorError, WeightsError,
)
from .kv_cache import KVCache
from .weights_format import expected_shapes


def check_tensor_names_and_shapes(shapes: dict, config: Config) -> None:
    """shapes: tensor name → shape. Raise naming the first tensor that is missing, unknown or mis-shaped."""
    expected = expected_shapes(config)
    missing = [name for name in expected if name not in shapes]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingTensorError(f"tensor {missing[0]!r} is missing{more}; n_layer={config.n_layer} needs {len(expected)} tensors")
    unknown = [name for name in shapes if name not in expected]
    if unknown:
        raise UnexpectedTensorError(
            f"tensor {unknown[0]!r} is not part of format v1 (unknown tensors: {', '.join(map(repr, unknown))})"
        )
    for name, shape in expected.items():
        got = tuple(shapes[name])
        if got != shape:
            hint = " (a Hugging Face Conv1D weight must be transposed to [out, in])" if got == shape[::-1] else ""
            raise TensorShapeError(f"tensor {name!r}: expected shape {list(shape)}, got {list(got)}{hint}")


class Model:
    """A GPT-2. params maps checkpoint names (docs/weights-format.md) to float32 or float16 arrays (float16 ones
    stay float16: the steps widen what they read, so activations are float32 either way)."""

    def __init__(self, config: Config, params: dict[str, np.ndarray], tokenizer=None, manifest: dict | None = None):
        if isinstance(config, dict):
            config = Config.from_dict(config)
        check_tensor_names_and_shapes({name: np.shape(p) for name, p in params.items()}, config)
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float16):
                raise TensorShapeError(
                    f"tensor {name!r}: expected a float32 or float16 numpy array, got {getattr(p, 'dtype', type(p).__name__)}")
        if tokenizer is not None and len(tokenizer) > config.vocab_size:
            raise WeightsError(f"the tokenizer has {len(tokenizer)} token ids but the model's vocab_size is {config.vocab_size}")
        self.config = config
        self.params = params
        self.tokenizer = tokenizer
        self.manifest = manifest

    # ---- text ----------------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids)

    # ---- forward -------------------------------------------------------------------------------------
    def check_ids(self, ids, n_positions: int | None = None) -> np.ndarray:
        """ids → int64 array [n_seq]; raise if empty, not integers, out of [0, vocab_size) or over n_ctx."""
        array = np.asarray(ids)
        if array.size == 0:
            raise EmptyPromptError("the prompt is empty: at least one token id is needed")
        if array.ndim != 1:
            raise TokenIdError(f"ids must be a flat sequence of token ids, got shape {list(array.shape)}")
        if array.dtype.kind not in "iu":
            raise TokenIdError(f"ids must be integers, got {array.dtype} values such as {array[0]!r}")
        bad = np.flatnonzero((array < 0) | (array >= self.config.vocab_size))
        if bad.size:
            raise TokenIdError(
                f"token id {int(array[bad[0]])} at position {int(bad[0])} is outside [0, {self.config.vocab_size})"
            )
        n_positions = len(array) if n_positions is None else n_positions
        if n_positions > self.config.n_ctx:
            raise PromptTooLongError(f"{n_positions} positions exceed the context window n_ctx = {self.config.n_ctx}")
        return array.astype(np.int64, copy=False)

    def logits(self, ids) -> np.ndarray:
        """Next-token logits at every position: float32 [len(ids), vocab_size]."""
        return steps.forward(self.check_ids(ids), self.params, self.config)

    def run(self, ids, names=None) -> dict[str, np.ndarray]:
        """Every intermediate of one forward pass, by name (docs/naming.md), in computation order.

        names: keep only these (the attention arrays are [n_head, n_seq, n_seq] per block: at n_ctx they
        add up to gigabytes).
        """
        trace: dict[str, np.ndarray] = {}
        wanted = None if names is None else set(names)

        def record(name, value):
            if wanted is None or name in wanted:
                trace[name] = value
            return value

        record.keeps = lambda name: wanted is None or name in wanted
        steps.forward(self.check_ids(ids), self.params, self.config, record=record)
        return trace

    # ---- generation ----------------------------------------------------------------------------------
    def generate(self, ids, max_new_tokens: int, temperature: float = 0.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None) -> list[int]:
        """New token ids only. temperature 0 = greedy; seed makes sampling reproducible (None = fresh entropy)."""
        return list(self.generate_iter(ids, max_new_tokens, temperature, top_k, top_p, seed))

    def generate_iter(self, ids, max_new_tokens: int, temperature: float = 0.0, top_k: int | None = None,
                      top_p: float | None = None, seed: int | None = None):
        """Like generate, yielding each new id as soon as it is chosen (arguments are checked at the call)."""
        check_sampling(max_new_tokens, temperature, top_k, top_p)
        # the last new token is chosen, never fed back, so it needs no position of its own
        ids = self.check_ids(ids, len(ids) + max(max_new_tokens - 1, 0))
        return self._new_tokens(ids, max_new_tokens, temperature, top_k, top_p, np.random.default_rng(seed))

    def _new_tokens(self, ids, max_new_tokens, temperature, top_k, top_p, rng):
        if max_new_tokens == 0:
            return
        cache = KVCache(self.config, len(ids) + max_new_tokens - 1)
        logits = steps.forward(ids, self.params, self.config, cache, last_only=True)  # [1, vocab_size]
        for step in range(max_new_tokens):
            token = steps.choose_next_token(logits[-1], temperature, top_k, top_p, rng)
            yield token
            if step + 1 < max_new_tokens:
                logits = steps.forward(np.array([token]), self.params, self.config, cache, last_only=True)  # [1, vocab_size]


def check_sampling(max_new_tokens, temperature, top_k, top_p) -> None:
    if not isinstance(max_new_tokens, (int, np.integer)) or isinstance(max_new_tokens, bool) or max_new_tokens < 0:
        raise SamplingError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if not isinstance(temperature, (int, float, np.floating)) or not temperature >= 0 or temperature == float("inf"):
        raise SamplingError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1):
        raise SamplingError(f"top_k must be None or an integer >= 1, got {top_k!r}")
    if top_p is not None and (not isinstance(top_p, (int, float, np.floating)) or not 0 < top_p <= 1):
        raise SamplingError(f"top_p must be None or a number in (0, 1], got {top_p!r}")
