"""A key/value cache: generate one token at a time without re-reading the whole prompt.

Generating token t+1 needs every earlier token's keys and values in every layer, but those
never change once computed (a token only attends backwards). Without a cache each step
recomputes them all: O(t) work per layer per step for the new token's row, plus O(t) for
every old row again. With a cache each step feeds only the newest token, computes its
query, key and value, appends the key and value to the cache, and attends over the cache.

    cache = KVCache(model.config.n_layer)
    logits, _ = model(prompt_ids, cache=cache)   # prefill: reads the prompt, fills the cache
    logits, _ = model(next_id, cache=cache)      # one token: positions continue from cache.length

Positions are absolute (learned position embeddings), so a cache is only valid while the
whole sequence fits in block_size; gptedu.generate falls back to re-reading the last
block_size tokens once it does not, exactly as the uncached path does.
"""
from __future__ import annotations

import torch


class LayerKV:
    """One layer's keys and values so far: (B, n_head, t, head_dim) each, or None before the first call."""

    def __init__(self) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.size(2)

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new tokens' keys and values (along time); return all of them."""
        if self.k is not None:
            k, v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        self.k, self.v = k, v
        return k, v


class KVCache:
    """Every layer's keys and values for the tokens a model has read so far."""

    def __init__(self, n_layer: int) -> None:
        self.layers = [LayerKV() for _ in range(n_layer)]

    @property
    def length(self) -> int:
        """How many tokens the cache holds (the position the next token gets)."""
        return self.layers[0].length

    def __repr__(self) -> str:
        return f"KVCache({len(self.layers)} layers, {self.length} tokens)"
