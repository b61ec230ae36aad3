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
except block 0, whose "previous block" is padding (`band_tile_mask`).

On the CPU the kernel does less than the whole tile, and keeps less (`_BandedFlash`, flash-attention style):

- the tile splits in two causal halves. Its own block is plain causal attention (c - w <= r). Its previous
  block's part (c > r) is causal too once both its queries and its keys are read backwards, so both halves go
  through PyTorch's fused CPU kernel with `is_causal=True`, which skips the scores above the diagonal: about w²
  scores per block of w queries instead of the tile's 2w². Each half returns its outputs and the log-sum-exp of
  its scores; the two are merged exactly as flash attention merges blocks of keys:
  lse = logaddexp(lse₁, lse₂), out = out₁·exp(lse₁ - lse) + out₂·exp(lse₂ - lse).
- the forward keeps for the backward only q, k, v, the output and the log-sum-exp (one number per query), as
  PyTorch's dense fused kernel does; the backward recomputes each half's scores from them with the fused
  kernel's own backward, given the merged output and log-sum-exp. Memory kept: O(T·hs), never a tile.

Elsewhere (another device, or attention dropout, which the fused CPU kernel does not do), the tiles go through
`F.scaled_dot_product_attention` with the (w, 2w) mask, and autograd keeps what that call keeps.
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
                     dropout_p: float = 0.0, fused: bool | None = None) -> torch.Tensor:
    """Causal attention over the last `window` positions; q, k, v: (B, nh, T, hs) -> (B, nh, T, hs).

    Equal (to float rounding) to softmax(q kᵀ/√hs + banded mask) v, in O(T·w) time; on the CPU without dropout
    it keeps O(T·hs) memory for the backward, as PyTorch's fused dense kernel does.

    fused: None picks the fused CPU kernel's causal halves where they run (CPU, no dropout) and the masked
    (w, 2w) tiles elsewhere; False always takes the tiles (whose matrix products FlopCounterMode can count);
    True insists on the fused halves, or a ValueError says why they cannot run.
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
    if fused is not None:
        fused = require_bool("fused", fused)
    why_not = _why_not_fused(q, k, v, dropout_p)
    if fused and why_not:
        raise ValueError(f"fused=True but the fused CPU halves cannot run here: {why_not}. Pass fused=None.")
    if fused is not False and not why_not:
        return _BandedFlash.apply(q, k, v, w)
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


_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
_FLASH_CPU_BACKWARD = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)
_FLASH_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def _why_not_fused(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float) -> str:
    """'' when the fused CPU halves can compute this call, else the reason."""
    if _FLASH_CPU is None or _FLASH_CPU_BACKWARD is None:
        return f"torch {torch.__version__} has no fused CPU flash attention"
    if q.device.type != "cpu":
        return f"the tensors are on {q.device.type}, not the CPU"
    if dropout_p != 0.0:
        return "attention dropout is on (the fused CPU kernel does no dropout here)"
    if q.dtype not in _FLASH_DTYPES or not q.dtype == k.dtype == v.dtype:
        return f"dtype {q.dtype}"
    return ""


def _blocks(t: torch.Tensor, w: int) -> torch.Tensor:
    """(B, nh, T, hs) -> (B·nh, nblocks, w, hs), zero-padded at the end to whole blocks."""
    B, nh, T, hs = t.shape
    nblocks = -(-T // w)
    if nblocks * w != T:
        t = F.pad(t, (0, 0, 0, nblocks * w - T))
    return t.reshape(B * nh, nblocks, w, hs)


def _previous_part(t: torch.Tensor, w: int, queries: bool) -> torch.Tensor:
    """The previous-block half of the tiles, read backwards so that it is causal.

    Query r of block b (r < w - 1: the last row sees nothing there) may see key c of block b - 1 when c > r,
    c >= 1. With queries rows 0..w-2 of blocks 1.., keys rows 1..w-1 of blocks ..-2, both reversed, query
    r' = w-2-r may see key c' = w-1-c exactly when c' <= r': causal, the diagonal included.
    """
    return (t[:, 1:, :w - 1] if queries else t[:, :-1, 1:]).flip(2)


class _BandedFlash(torch.autograd.Function):
    """The band as two causal fused-kernel calls merged by log-sum-exp; the backward recomputes the scores."""

    @staticmethod
    def forward(ctx, q, k, v, w):
        B, nh, T, hs = q.shape
        qb, kb, vb = _blocks(q, w), _blocks(k, w), _blocks(v, w)
        out, lse = _FLASH_CPU(qb, kb, vb, 0.0, True)  # own block: (B·nh, nblocks, w, hs), (B·nh, nblocks, w)
        if qb.size(1) > 1 and w > 1:
            out2, lse2 = _FLASH_CPU(_previous_part(qb, w, True), _previous_part(kb, w, False),
                                    _previous_part(vb, w, False), 0.0, True)
            out2, lse2 = out2.flip(2), lse2.flip(2)
            lse1 = lse[:, 1:, :w - 1]
            merged = torch.logaddexp(lse1, lse2)
            out[:, 1:, :w - 1] = (out[:, 1:, :w - 1] * (lse1 - merged).exp().unsqueeze(-1)
                                  + out2 * (lse2 - merged).exp().unsqueeze(-1))
            lse[:, 1:, :w - 1] = merged
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.window = w
        return out.reshape(B, nh, -1, hs)[:, :, :T]

    @staticmethod
    def backward(ctx, grad):
        q, k, v, out, lse = ctx.saved_tensors
        w = ctx.window
        B, nh, T, hs = q.shape
        qb, kb, vb, gb = _blocks(q, w), _blocks(k, w), _blocks(v, w), _blocks(grad.contiguous(), w)
        # each half's backward with the merged output and lse: P = exp(S - lse) and D = rowsum(dO * out) are then
        # the full band's, so the two halves' gradients add up to the band's
        dq, dk, dv = _FLASH_CPU_BACKWARD(gb, qb, kb, vb, out, lse, 0.0, True)
        if qb.size(1) > 1 and w > 1:
            def part(t):
                return _previous_part(t, w, True)
            dq2, dk2, dv2 = _FLASH_CPU_BACKWARD(part(gb), part(qb), _previous_part(kb, w, False),
                                                _previous_part(vb, w, False), part(out),
                                                lse[:, 1:, :w - 1].flip(2), 0.0, True)
            dq[:, 1:, :w - 1] += dq2.flip(2)
            dk[:, :-1, 1:] += dk2.flip(2)
            dv[:, :-1, 1:] += dv2.flip(2)

        def unblock(t):
            return t.reshape(B, nh, -1, hs)[:, :, :T]
        return unblock(dq), unblock(dk), unblock(dv), None
