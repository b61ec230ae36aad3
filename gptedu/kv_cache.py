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

A cache belongs to one model and one batch: it remembers the ids it has read, and refuses another
model, another batch size, and input that starts with the tokens it already holds (the prompt fed
again: its positions would silently shift by the cache's length).
"""
from __future__ import annotations

import weakref

import torch

from .checks import require_int


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
        n_layer = require_int("n_layer", n_layer, hint=" (one entry per layer: KVCache(model.config.n_layer))")
        self.layers = [LayerKV() for _ in range(n_layer)]
        self.tokens: torch.Tensor | None = None  # (B, length): the ids read so far
        self._model: weakref.ref | None = None

    def admit(self, model: torch.nn.Module, idx: torch.Tensor) -> None:
        """Check that `idx` (B, T) continues what this cache holds, for the same model and batch; then record it.

        GPT.hidden_states calls this before its layers extend the cache, so a refused call changes nothing.
        """
        if self._model is not None and self._model() is not model:
            raise ValueError("This KVCache holds the keys and values another model computed; start a new "
                             "KVCache(model.config.n_layer) for this model.")
        if self.tokens is not None:
            held, batch = self.tokens.size(0), idx.size(0)
            if batch != held:
                raise ValueError(f"This KVCache holds {held} sequence(s) but idx has a batch of {batch}: a cache "
                                 f"belongs to one batch. Start a new KVCache for another batch.")
            n = self.length
            if n >= 2 and idx.size(1) >= n and torch.equal(idx[:, :n].to(self.tokens.device), self.tokens):
                raise ValueError(f"idx starts with the {n} tokens this KVCache already holds: feed only the new "
                                 f"tokens, idx[:, cache.length:] (else their positions shift by {n}), or start a "
                                 f"new KVCache to read the prompt again.")
        self._model = weakref.ref(model)
        ids = idx.detach()
        self.tokens = ids if self.tokens is None else torch.cat([self.tokens, ids.to(self.tokens.device)], dim=1)

    @property
    def length(self) -> int:
        """How many tokens the cache holds (the position the next token gets)."""
        return self.layers[0].length if self.layers else 0

    def __repr__(self) -> str:
        return f"KVCache({len(self.layers)} layers, {self.length} tokens)"
