"""A GPT-2's sizes, as the manifest's "config" object states them."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .errors import ConfigError
from .weights_format import DEFAULT_LAYER_NORM_EPSILON, check_config


@dataclass(frozen=True)
class Config:
    n_layer: int
    n_head: int
    n_embd: int
    n_ctx: int
    vocab_size: int
    layer_norm_epsilon: float = DEFAULT_LAYER_NORM_EPSILON

    @property
    def d_head(self) -> int:
        return self.n_embd // self.n_head

    @classmethod
    def from_dict(cls, config: dict) -> Config:
        """Validate and keep the keys the engine uses; other keys (dropout, bias, ...) are ignored."""
        if not isinstance(config, dict):
            raise ConfigError(f"config must be a JSON object, got {type(config).__name__}")
        try:
            check_config(config)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        eps = config.get("layer_norm_epsilon", DEFAULT_LAYER_NORM_EPSILON)
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
            raise ConfigError(f"config['layer_norm_epsilon'] must be a positive number, got {eps!r}")
        return cls(**{f.name: config[f.name] for f in fields(cls) if f.name in config} | {"layer_norm_epsilon": float(eps)})

    def to_dict(self) -> dict:
        return asdict(self)

    def __getitem__(self, key: str):
        return getattr(self, key)
