"""GPT: one decoder-only Transformer class for GPT-1, GPT-2 and GPT-3.

The papers differ only in switches on GPTConfig (see config.py); this file reads them:

    token + position embedding -> dropout -> n_layer Blocks -> (final LN if pre-LN) -> lm_head

    Block, norm="post" (GPT-1):  x = ln_1(x + attn(x));  x = ln_2(x + mlp(x))
    Block, norm="pre"  (GPT-2/3): x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import CausalSelfAttention
from .checks import require_bool
from .config import GPTConfig
from .kv_cache import KVCache, LayerKV


class MLP(nn.Module):
    """Position-wise feed-forward: n_embd -> mlp_width -> GELU -> n_embd."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.mlp_width, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh" if config.gelu == "tanh" else "none")
        self.c_proj = nn.Linear(config.mlp_width, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Attention then MLP, each in a residual branch; where the LayerNorms sit is config.norm."""

    def __init__(self, config: GPTConfig, layer: int = 0):
        super().__init__()
        self.pre_norm = config.norm == "pre"
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config, window=config.layer_window(layer))
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, return_weights: bool = False, kv: LayerKV | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, C) -> (B, T, C); with return_weights also the (B, n_head, T, T) attention."""
        out = self.attn(self.ln_1(x) if self.pre_norm else x, return_weights, kv)
        a, att = out if return_weights else (out, None)
        if self.pre_norm:  # GPT-2/3: normalise each sub-block's input, keep the residual stream raw
            x = x + a
            x = x + self.mlp(self.ln_2(x))
        else:  # GPT-1: normalise after adding each sub-block's output
            x = self.ln_1(x + a)
            x = self.ln_2(x + self.mlp(x))
        return (x, att) if return_weights else x


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT(config) needs a GPTConfig, got {type(config).__name__}; "
                            f"e.g. GPT(GPTConfig.from_preset('tiny', vocab_size=tokenizer.vocab_size)).")
        config.validate()  # again: the config may have been edited since it was made
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # token embedding W_e
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # learned position embedding W_p
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList(Block(config, layer) for layer in range(config.n_layer))
        # Pre-LN leaves the residual stream unnormalised, so GPT-2 adds a final LN; post-LN has none.
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias) \
            if config.norm == "pre" else nn.Identity()
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # GPT-1: the output layer is W_e^T
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """normal(0, 0.02) weights, zero biases, LayerNorm ones/zeros.

        GPT-2's residual_scale_init: each residual branch ends in a c_proj; there are
        2 * n_layer of them adding into the stream, so their std is 0.02 / sqrt(2 * n_layer)
        to keep the stream's variance from growing with depth.
        """
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
            if isinstance(module, (nn.Linear, nn.LayerNorm)) and module.bias is not None:
                nn.init.zeros_(module.bias)
        if self.config.residual_scale_init:
            std = 0.02 / math.sqrt(2 * self.config.n_layer)
            for block in self.h:
                nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=std)
                nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=std)

    def _embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """idx: (B, T) token ids at positions start.. -> (B, T, C) token + position embeddings, after dropout."""
        if not isinstance(idx, torch.Tensor):
            raise TypeError(f"idx must be a torch.Tensor of token ids, shape (batch, time); got a "
                             f"{type(idx).__name__}. Use torch.tensor([ids], dtype=torch.long).")
        if idx.dim() != 2:
            raise ValueError(f"idx must be (batch, time) token ids; got shape {tuple(idx.shape)}. "
                             "For a single sequence use idx[None].")
        T, block_size = idx.size(1), self.config.block_size
        if start + T > block_size:
            held = f" after the {start} tokens already in the cache" if start else ""
            raise ValueError(
                f"Input has {T} tokens{held} but this model's context length (block_size) is {block_size}; "
                f"crop the prompt to its last {block_size} tokens: idx[:, -{block_size}:]"
                + (" (and start a new KVCache: positions restart at 0)." if start else ".")
            )
        self._check_token_ids("idx", idx)
        pos = torch.arange(start, start + T, device=idx.device)  # (T,)
        return self.drop(self.wte(idx) + self.wpe(pos))

    def _check_token_ids(self, name: str, ids: torch.Tensor, ignore: int | None = None) -> None:
        """Refuse ids outside [0, vocab_size) here, with the fix, rather than as an IndexError deep
        in nn.Embedding or cross_entropy. Costs one min/max per batch. `ignore` is also allowed."""
        allowed = (torch.long, torch.int) if ignore is None else (torch.long,)  # cross_entropy: long only
        if ids.dtype not in allowed:
            raise ValueError(f"{name} must hold integer token ids (dtype torch.long); got dtype {ids.dtype}. "
                             f"Convert with {name}.long(), or build it with torch.tensor(ids, dtype=torch.long).")
        if ids.numel() == 0 or ids.is_meta:  # a meta tensor has no values to check
            return
        lo, hi = torch.stack(torch.aminmax(ids)).tolist()  # one transfer (one sync on a GPU)
        vocab_size = self.config.vocab_size
        if hi >= vocab_size:
            raise ValueError(f"{name} holds token id {hi}, but this model's vocab_size is {vocab_size} "
                             f"(ids must be in [0, {vocab_size})). The tokenizer and the model disagree: "
                             f"build the model with vocab_size=tokenizer.vocab_size.")
        if lo < 0 and lo != ignore:
            also = f" ({ignore} is allowed too: it marks a position to ignore)" if ignore is not None else ""
            raise ValueError(f"{name} holds the negative token id {lo}; ids must be in [0, {vocab_size}){also}. "
                             f"Check how {name} was made: a tokenizer never gives negative ids.")

    def hidden_states(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """(B, T) -> (B, T, n_embd): the final representation, the input of lm_head.

        GPT-1's fine-tuning puts its linear task head on this (at the extract token).
        With a cache (gptedu.kv_cache), idx holds only the tokens after those already cached.
        """
        if cache is not None and (not isinstance(cache, KVCache) or len(cache.layers) != len(self.h)):
            raise TypeError(f"cache must be a KVCache({len(self.h)}) (one entry per layer of this model); "
                            f"got {cache!r}.")
        x = self._embed(idx, start=cache.length if cache is not None else 0)
        if cache is not None:
            cache.admit(self, idx)  # the same model and batch, and not the cached tokens fed again
        for i, block in enumerate(self.h):
            x = block(x, kv=cache.layers[i] if cache is not None else None)
        return self.ln_f(x)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, cache: KVCache | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx, targets: (B, T) -> logits (B, T, vocab_size), loss or None.

        loss is the mean cross-entropy in nats over target positions; targets equal to -1
        are ignored (e.g. prompt tokens during fine-tuning). `cache`: see gptedu.kv_cache.
        """
        logits = self.lm_head(self.hidden_states(idx, cache))
        loss = None
        if targets is not None:
            if not isinstance(targets, torch.Tensor):
                raise TypeError(f"targets must be a torch.Tensor of token ids, like idx; got a {type(targets).__name__}.")
            if targets.numel() != idx.numel():
                raise ValueError(f"targets must have the shape of idx, {tuple(idx.shape)}; got {tuple(targets.shape)}.")
            self._check_token_ids("targets", targets, ignore=-1)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (n_layer, B, n_head, T, T) attention probabilities, for plots (no gradients).

        Rows sum to 1 over the keys a query may see. Call model.eval() first, or the
        embedding and residual dropouts change them.
        """
        x, maps = self._embed(idx), []
        for block in self.h:
            x, att = block(x, return_weights=True)
            maps.append(att)
        return torch.stack(maps)

    def num_params(self, non_embedding: bool = False) -> int:
        """Number of parameters (a tied lm_head counted once).

        non_embedding=True leaves out the token and position embeddings, the N of
        the scaling-law papers.
        """
        n = sum(p.numel() for p in self.parameters())
        if require_bool("non_embedding", non_embedding):  # "no" would leave the embeddings out
            n -= self.wte.weight.numel() + self.wpe.weight.numel()
        return n

    @classmethod
    def from_pretrained(cls, path: str | Path, **overrides: Any) -> "GPT":
        """Load HF-format GPT-2 or OpenAI-GPT weights from disk, in eval mode; see gptedu.pretrained.

        `path` is a folder (config.json + model.safetensors) or one .safetensors/.bin file;
        `overrides` replace config fields, e.g. dropout=0.0. Nothing is downloaded.
        """
        from .pretrained import load_pretrained

        return load_pretrained(path, **overrides)

    def __repr__(self) -> str:
        return f"GPT({self.num_params() / 1e6:.2f}M params: {self.config.describe()})\n" + super().__repr__()


def count_params(config: GPTConfig, non_embedding: bool = False) -> int:
    """Parameter count of GPT(config), built on the meta device: no memory, instant even for 175B."""
    with torch.device("meta"):
        return GPT(config).num_params(non_embedding)
