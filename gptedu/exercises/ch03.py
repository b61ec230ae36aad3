"""Chapter 03's build exercises: causal attention, splitting into heads, merging the heads back."""
from __future__ import annotations

import math

import torch

from .core import Case, Exercise, Mistake, compare_tensors, register


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------- causal attention
def causal_attention(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    future = ~torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v


def _attention_no_mask(q, k, v):
    return (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(dim=-1) @ v


def _attention_no_scale(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1)
    return scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(dim=-1) @ v


def _attention_divide_by_d(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / q.size(-1)
    return scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(dim=-1) @ v


def _attention_wrong_axis(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    return scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(dim=-2) @ v


def _attention_no_diagonal(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    return scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(-1), float("-inf")).softmax(dim=-1) @ v


def _qkv(seed, *shape, scale=1.0):
    g = _gen(seed)
    return tuple(torch.randn(*shape, generator=g) * scale for _ in range(3))


def _attention_cases():
    return [
        Case("B = 2 sequences, 4 heads, T = 8, head size 4", _qkv(0, 2, 4, 8, 4)),
        Case("T = 1: one position, it can only read itself", _qkv(1, 2, 2, 1, 4)),
        Case("a batch of one, one head, T = 5, head size 3", _qkv(2, 1, 1, 5, 3)),
        Case("T = 7, head size 16, entries of size 2 (the scale matters)", _qkv(3, 1, 2, 7, 16, scale=2.0)),
    ]


register(Exercise(
    id="causal_attention", chapter="03", name="my_causal_attention", solution_name="my_causal_attention_solution",
    title="causal self-attention",
    reference=causal_attention, cases=_attention_cases,
    compare=lambda e, g: compare_tensors(e, g, atol=1e-5, rtol=1e-4),
    hint="scores = q @ k.transpose(-2, -1) / sqrt(head size); set scores[i, j] to -inf where j > i; softmax over "
         "the keys (the last axis); multiply by v.",
    mistakes=[
        Mistake("the causal mask is missing: every query also reads the keys after it", _attention_no_mask,
                "before the softmax, set the scores of keys j > i to -inf: "
                "scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float('-inf'))."),
        Mistake("the scores are not divided by √(head size)", _attention_no_scale,
                "divide q @ kᵀ by math.sqrt(q.size(-1)): section 2 shows why."),
        Mistake("the scores are divided by the head size, not by its square root", _attention_divide_by_d,
                "the typical size of q·k is √d, so divide by math.sqrt(d)."),
        Mistake("the softmax runs over the queries (dim=-2), not over the keys", _attention_wrong_axis,
                "each query's weights over the keys must sum to 1: softmax(dim=-1)."),
        Mistake("the mask also hides the diagonal: a query cannot read its own position", _attention_no_diagonal,
                "query i may read keys 0..i, itself included: tril() with no offset (row 0 would be all -inf: nan)."),
    ],
))


# ---------------------------------------------------------------------- split into heads
def split_heads(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)


def _split_no_transpose(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head)


def _split_view_heads_first(x, n_head):
    B, T, C = x.shape
    return x.view(B, n_head, T, C // n_head)


def _split_interleaved(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, C // n_head, n_head).permute(0, 3, 1, 2)


def _split_cases():
    g = _gen(4)
    return [
        Case("B = 2, T = 3, C = 8, 2 heads", (torch.randn(2, 3, 8, generator=g), 2)),
        Case("a batch of one, T = 1, C = 6, 3 heads", (torch.randn(1, 1, 6, generator=g), 3)),
        Case("one head: nothing to split", (torch.randn(2, 5, 4, generator=g), 1)),
        Case("B = 1, T = 5, C = 12, 4 heads", (torch.randn(1, 5, 12, generator=g), 4)),
    ]


register(Exercise(
    id="split_heads", chapter="03", name="split_heads", solution_name="split_heads_solution",
    title="cut the channels into heads",
    reference=split_heads, cases=_split_cases,
    compare=lambda e, g: compare_tensors(e, g, atol=0, rtol=0),
    hint="x.view(B, T, n_head, C // n_head) re-reads each position's C channels as n_head groups; "
         ".transpose(1, 2) then puts the heads before time: (B, n_head, T, C // n_head).",
    mistakes=[
        Mistake("the heads are not moved before time (.transpose(1, 2) is missing)", _split_no_transpose,
                "after .view(B, T, n_head, hs), call .transpose(1, 2) to get (B, n_head, T, hs)."),
        Mistake("x.view(B, n_head, T, hs) mixes positions: a head gets channels of other positions",
                _split_view_heads_first,
                "view keeps memory order, where the C channels of one position are adjacent: view as "
                "(B, T, n_head, hs) first, then transpose."),
        Mistake("the channels are dealt out in turn (head h gets h, h + n_head, ...) instead of one slice each",
                _split_interleaved,
                "head h gets the contiguous slice h·hs … (h+1)·hs − 1: view(B, T, n_head, hs), not (B, T, hs, n_head)."),
    ],
))


# ---------------------------------------------------------------------- merge the heads
def merge_heads(y):
    B, nh, T, hs = y.shape
    return y.transpose(1, 2).reshape(B, T, nh * hs)


def _merge_no_transpose(y):
    B, nh, T, hs = y.shape
    return y.reshape(B, T, nh * hs)


def _merge_view(y):
    B, nh, T, hs = y.shape
    return y.transpose(1, 2).view(B, T, nh * hs)


def _merge_interleaved(y):
    B, nh, T, hs = y.shape
    return y.permute(0, 2, 3, 1).reshape(B, T, nh * hs)


def _merge_cases():
    g = _gen(5)
    return [
        Case("B = 2, 2 heads, T = 3, head size 4", (torch.randn(2, 2, 3, 4, generator=g),)),
        Case("a batch of one, 3 heads, T = 1, head size 2", (torch.randn(1, 3, 1, 2, generator=g),)),
        Case("B = 1, 4 heads, T = 5, head size 3", (torch.randn(1, 4, 5, 3, generator=g),)),
        Case("one head, T = 6", (torch.randn(2, 1, 6, 4, generator=g),)),
    ]


register(Exercise(
    id="merge_heads", chapter="03", name="merge_heads", solution_name="merge_heads_solution",
    title="put the heads side by side again",
    reference=merge_heads, cases=_merge_cases,
    compare=lambda e, g: compare_tensors(e, g, atol=0, rtol=0),
    hint="undo split_heads in reverse order: .transpose(1, 2) back to (B, T, n_head, hs), then "
         ".reshape(B, T, n_head * hs).",
    mistakes=[
        Mistake("the heads are reshaped without moving time back first (.transpose(1, 2) is missing)",
                _merge_no_transpose,
                "reshape keeps memory order, which is head-major here: transpose(1, 2) first, then reshape."),
        Mistake(".view() fails after a transpose: the numbers are no longer in row order in memory", _merge_view,
                "use .reshape(B, T, C) (it copies when it must), or .contiguous().view(B, T, C)."),
        Mistake("the heads' channels are interleaved instead of placed side by side", _merge_interleaved,
                "head h's hs outputs must land in channels h·hs … (h+1)·hs − 1: transpose(1, 2), then reshape."),
    ],
))
