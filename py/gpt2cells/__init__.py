"""GPT-2 Cells: exact GPT-2 in NumPy, one small step per notebook cell.

    model = gpt2cells.load("gpt2.zip")
    ids = model.encode("Hello")
    model.generate(ids, max_new_tokens=20)
"""
from . import steps
from .config import Config
from .errors import (
    ConfigError, EmptyPromptError, GPT2CellsError, MissingTensorError, PromptError, PromptTooLongError,
    SamplingError, TensorShapeError, TokenIdError, TokenizerError, UnexpectedTensorError, WeightsError,
)
from .kv_cache import KVCache
from .loading import load
from .model import Model
from .tokenizer import GPT2_SPLIT_PATTERN, BPETokenizer, CharTokenizer

__all__ = [
    "load", "Model", "Config", "KVCache", "steps", "BPETokenizer", "CharTokenizer", "GPT2_SPLIT_PATTERN",
    "GPT2CellsError", "WeightsError", "MissingTensorError", "UnexpectedTensorError", "TensorShapeError",
    "ConfigError", "TokenizerError", "PromptError", "EmptyPromptError", "PromptTooLongError", "TokenIdError",
    "SamplingError",
]
