"""The exceptions gpt2cells raises. All are ValueErrors, so callers can catch broadly or precisely."""
from __future__ import annotations


class GPT2CellsError(ValueError):
    """Base class of every error gpt2cells raises on bad input."""


class WeightsError(GPT2CellsError):
    """The weights zip (or in-memory mapping) breaks docs/weights-format.md."""


class MissingTensorError(WeightsError):
    """A tensor the config implies is absent."""


class UnexpectedTensorError(WeightsError):
    """A tensor the format does not define is present."""


class TensorShapeError(WeightsError):
    """A tensor has a shape (or byte size, or dtype) other than the config implies."""


class ConfigError(GPT2CellsError):
    """The config cannot describe a GPT-2 (missing key, non-positive size, n_embd not divisible by n_head)."""


class TokenizerError(GPT2CellsError):
    """Text or tokenizer files the tokenizer cannot handle."""


class PromptError(GPT2CellsError):
    """Token ids the model cannot run."""


class EmptyPromptError(PromptError):
    """No tokens were given."""


class PromptTooLongError(PromptError):
    """More positions than the model's context window n_ctx."""


class TokenIdError(PromptError):
    """An id that is not an integer in [0, vocab_size)."""


class SamplingError(GPT2CellsError):
    """A generation setting out of range (temperature, top_k, top_p, max_new_tokens)."""
