"""Locally banded causal attention that computes only the band: O(T·w) instead of O(T²).

A banded layer lets query i see keys i - w < j <= i (GPT-3 §2.1, after the Sparse
Transformer). Masking a dense T × T score matrix gives the right answer but still pays for
all T² scores. Here the sequence is cut into blocks of w positions; the queries of block b
can only see keys in block b and block b - 1, so each block of queries is scored against
those 2w keys and nothing else:

    queries  (B, nh, T, hs)  ->  (B·nh, nblocks, w, hs)
    keys     (B, nh, T, hs)  ->  (B·nh, nblocks, 2w, hs)   [previous block ; own block]
    scores                       (B·nh, nblocks, w, 2w)    instead of (B, nh, T, T)

Within that (w, 2w) tile, query r (absolute position b·w + r) may see tile column c
(absolute position (b-1)·w + c) exactly when r < c <= r + w: the same mask for every block,
except block 0, whose "previous block" is padding. The tiles then go through PyTorch's
fused attention with that small mask, so forward and backward are autograd's own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import require_bool, require_int, require_range


def check_window(window: int) -> int:
    """A band width: a whole number >= 1 (a query always sees itself), or a ValueError naming `window`."""
    return require_int("window", window, hint=" (how many positions a query sees, itself included)")


def band_tile_mask(window: int, first_block: bool = False, device: torch.device | str | None = None) -> torch.Tensor:
    """(w, 2w) bool: tile query r may see tile key c when r < c <= r + w (and c >= w in block 0)."""
    window = check_window(window)
    first_block = require_bool("first_block", first_block)
    r = torch.arange(window, device=device).unsqueeze(1)
    c = torch.arange(2 * window, device=device).unsqueeze(0)
    allowed = (c > r) & (c <= r + window)
    return allowed & (c >= window) if first_block else allowed


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int,
                     dropout_p: float = 0.0) -> torch.Tensor:
    """Causal attention over the last `window` positions; q, k, v: (B, nh, T, hs) -> (B, nh, T, hs).

    Equal (to float rounding) to softmax(q kᵀ/√hs + banded mask) v, in O(T·w) time and memory.
    """
    window = check_window(window)
    require_range("dropout_p", dropout_p, 0.0, 1.0, high_open=True, hint=" (0 turns attention dropout off)")
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4:
            raise ValueError(f"{name} must be a (batch, heads, time, head size) tensor; got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}.")
    if not q.shape == k.shape == v.shape:
        raise ValueError(f"q, k and v must have the same shape; got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}.")
    B, nh, T, hs = q.shape
    if window >= T:  # the band covers everything: plain causal attention is the same thing
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    w = window
    nblocks = -(-T // w)  # ceil
    pad = nblocks * w - T  # padded keys sit after every real query, so no real query sees them

    def blocks(t: torch.Tensor) -> torch.Tensor:  # (B, nh, T, hs) -> (B·nh, nblocks, w, hs)
        return F.pad(t, (0, 0, 0, pad)).reshape(B * nh, nblocks, w, hs)

    qb, kb, vb = blocks(q), blocks(k), blocks(v)
    # keys and values of [previous block ; own block]: (B·nh, nblocks, 2w, hs)
    k2 = torch.cat([F.pad(kb, (0, 0, 0, 0, 1, 0))[:, :-1], kb], dim=2)
    v2 = torch.cat([F.pad(vb, (0, 0, 0, 0, 1, 0))[:, :-1], vb], dim=2)
    mask = band_tile_mask(w, device=q.device).expand(nblocks, w, 2 * w).clone()
    mask[0] = band_tile_mask(w, first_block=True, device=q.device)
    y = F.scaled_dot_product_attention(qb, k2, v2, attn_mask=mask, dropout_p=dropout_p)  # (B·nh, nblocks, w, hs)
    return y.reshape(B, nh, nblocks * w, hs)[:, :, :T]
