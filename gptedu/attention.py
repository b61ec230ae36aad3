"""Causal multi-head self-attention, dense (GPT-1/2/3) or locally banded (GPT-3).

A dense causal layer lets position i attend to every position j <= i. A banded layer
(GPT-3's "locally banded sparse attention") lets it attend only to the last `window`
positions, i - window < j <= i. Masks are boolean: True means "may attend".
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .banded_attention import banded_attention, check_window
from .checks import require_int
from .config import GPTConfig
from .kv_cache import LayerKV


def causal_mask(T: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) bool, True where query i may see key j: j <= i."""
    T = require_int("T", T, minimum=0, hint=" (the sequence length)")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def banded_causal_mask(T: int, window: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(T, T) bool, True where query i may see key j: i - window < j <= i."""
    window = check_window(window)
    return causal_mask(T, device).triu(diagonal=1 - window)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; `window=None` is dense, an int makes it banded."""

    def __init__(self, config: GPTConfig, window: int | None = None):
        super().__init__()
        self.n_head = config.n_head
        self.window = window
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v fused
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def mask(self, T: int, device: torch.device | str | None = None) -> torch.Tensor:
        """The (T, T) boolean mask this layer applies."""
        if self.window is None:
            return causal_mask(T, device)
        return banded_causal_mask(T, self.window, device)

    def forward(
        self, x: torch.Tensor, return_weights: bool = False, kv: LayerKV | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, C) -> y: (B, T, C); with return_weights also the (B, n_head, T, T) weights.

        The weights are the softmax probabilities, before attention dropout. With a key/value
        cache `kv` (see gptedu.kv_cache), x holds only the new tokens: they attend to the cached
        ones too, and their keys and values are added to the cache.
        """
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if kv is not None and return_weights:
            raise ValueError("return_weights needs the whole sequence at once; call it without a cache.")
        if kv is not None and kv.length > 0:
            past = kv.length
            k, v = kv.extend(k, v)
            y = self._after_cache(q, k, v, past)
        elif return_weights:
            y, att = self._explicit(q, k, v)
        else:
            if kv is not None:  # an empty cache: this call reads the prompt (prefill)
                kv.extend(k, v)
            y, att = self._fused(q, k, v), None
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble the heads side by side
        y = self.resid_dropout(self.c_proj(y))
        return (y, att) if return_weights else y

    def _fused(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Fast paths that never materialise the (T, T) weights: PyTorch's fused kernel when dense,
        the block-banded kernel (gptedu.banded_attention, O(T·window)) when banded."""
        dropout_p = self.dropout if self.training else 0.0
        if self.window is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        return banded_attention(q, k, v, self.window, dropout_p=dropout_p)

    def _after_cache(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, past: int) -> torch.Tensor:
        """T new queries at positions past..past+T-1 over all past + T keys; no (T, T) weights kept."""
        dropout_p = self.dropout if self.training else 0.0
        T, total = q.size(-2), k.size(-2)
        if T == 1 and (self.window is None or self.window >= total):  # one new token sees every key
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        query_pos = torch.arange(past, past + T, device=q.device).unsqueeze(1)  # (T, 1)
        key_pos = torch.arange(total, device=q.device).unsqueeze(0)  # (1, total)
        allowed = key_pos <= query_pos
        if self.window is not None:
            allowed &= key_pos > query_pos - self.window
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)

    def _explicit(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """softmax(q k^T / sqrt(d) + mask) v, written out so the weights can be returned."""
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))  # (B, nh, T, T)
        att = att.masked_fill(~self.mask(q.size(-2), q.device), float("-inf"))
        att = F.softmax(att, dim=-1)
        return self.attn_dropout(att) @ v, att

    def extra_repr(self) -> str:
        return f"n_head={self.n_head}, " + ("dense" if self.window is None else f"banded window={self.window}")
