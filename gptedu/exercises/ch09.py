"""Chapter 09's build exercises: banded attention the slow way, how far back a stack of banded and dense layers
reaches, the attention FLOPs a pattern needs, counted by hand."""
from __future__ import annotations

import math

import torch

from .core import Case, Exercise, Mistake, compare_exact, compare_tensors, register


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------- banded attention, the slow way
def my_banded_attention(q, k, v, window):
    T = q.size(-2)
    i, j = torch.arange(T).unsqueeze(1), torch.arange(T).unsqueeze(0)
    allowed = (j <= i) & (j > i - window)  # the last `window` positions, this one included
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


def _banded_with(allowed_fn, scale=True, fill=float("-inf")):
    def attention(q, k, v, window):
        T = q.size(-2)
        i, j = torch.arange(T).unsqueeze(1), torch.arange(T).unsqueeze(0)
        scores = q @ k.transpose(-2, -1)
        if scale:
            scores = scores / math.sqrt(q.size(-1))
        return scores.masked_fill(~allowed_fn(i, j, window), fill).softmax(-1) @ v
    return attention


_band_one_too_wide = _banded_with(lambda i, j, w: (j <= i) & (j >= i - w))
_band_symmetric = _banded_with(lambda i, j, w: (i - j).abs() < w)
_band_unscaled = _banded_with(lambda i, j, w: (j <= i) & (j > i - w), scale=False)
_band_zero_fill = _banded_with(lambda i, j, w: (j <= i) & (j > i - w), fill=0.0)


def _banded_cases():
    g = _gen(9)

    def qkv(*shape):
        return tuple(torch.randn(*shape, generator=g) for _ in range(3))

    return [
        Case("q, k, v (2, 3, 50, 8), window 7: T not a multiple of the band", (*qkv(2, 3, 50, 8), 7)),
        Case("(1, 2, 16, 8), window 4", (*qkv(1, 2, 16, 8), 4)),
        Case("window 1: each position sees only itself", (*qkv(1, 2, 6, 4), 1)),
        Case("a window wider than T (20 > 12): dense causal attention", (*qkv(2, 1, 12, 4), 20)),
        Case("a batch of one, T = 1", (*qkv(1, 1, 1, 8), 3)),
    ]


register(Exercise(
    id="banded_attention", chapter="09", name="my_banded_attention", solution_name="my_banded_attention_solution",
    title="banded attention, the slow way",
    reference=my_banded_attention, cases=_banded_cases,
    compare=lambda e, g: compare_tensors(e, g, atol=1e-5, rtol=1e-4),
    hint="i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]; allowed = (j <= i) & (j > i - window); "
         "scores = q @ k.transpose(-2, -1) / math.sqrt(head_size); "
         "return scores.masked_fill(~allowed, float('-inf')).softmax(-1) @ v.",
    mistakes=[
        Mistake("the band is one key too wide: j >= i - window lets each query see window + 1 keys",
                _band_one_too_wide,
                "query i sees the last `window` positions, itself included: i - window < j <= i (strictly greater)."),
        Mistake("the band is symmetric: keys up to window - 1 positions in the future are allowed", _band_symmetric,
                "the band is causal too: j <= i as well as j > i - window."),
        Mistake("the scores are not divided by sqrt(head_size)", _band_unscaled,
                "scale the scores by 1 / math.sqrt(q.size(-1)) before the softmax."),
        Mistake("the masked scores are set to 0, not -inf, so the softmax still gives them weight", _band_zero_fill,
                "a score of 0 still gets exp(0) = 1 in the softmax; fill with float('-inf')."),
    ],
))


# ---------------------------------------------------------------------- how far back a stack reaches
def reach_back(windows, T):
    reach, out = 0, []
    for w in windows:  # bottom layer first; None is a dense layer
        reach = T - 1 if w is None else min(T - 1, reach + w - 1)
        out.append(reach)
    return out


def _reach_adds_w(windows, T):
    reach, out = 0, []
    for w in windows:
        reach = T - 1 if w is None else min(T - 1, reach + w)
        out.append(reach)
    return out


def _reach_no_cap(windows, T):
    reach, out = 0, []
    for w in windows:
        reach = T - 1 if w is None else reach + w - 1
        out.append(reach)
    return out


def _reach_last_layer_decides(windows, T):
    return [T - 1 if w is None else min(T - 1, w - 1) for w in windows]



register(Exercise(
    id="reach_back", chapter="09", name="reach_back", solution_name="reach_back_solution",
    title="how far back a stack of layers reaches",
    reference=reach_back, compare=compare_exact,
    cases=lambda: [Case("section 6's all-banded stack: windows [32, 32, 32, 32], T = 256", ([32] * 4, 256)),
                   Case("GPT-3's order, dense first: [None, 32, None, 32], T = 256", ([None, 32, None, 32], 256)),
                   Case("banded first: [32, None, 32, None], T = 256", ([32, None, 32, None], 256)),
                   Case("12 banded layers of 256, context 2,048: the context caps the reach", ([256] * 12, 2048)),
                   Case("windows of 1: every layer sees only its own position", ([1, 1, 1], 10)),
                   Case("one layer whose band is wider than the context", ([50], 20))],
    hint="start at 0; a dense layer (None) reaches the whole context, T - 1 back; a banded layer adds w - 1 to the "
         "reach of the layers below it; never more than T - 1. One entry per layer.",
    mistakes=[
        Mistake("each banded layer adds w, not w - 1", _reach_adds_w,
                "a band of w keys is the query itself and the w - 1 positions before it."),
        Mistake("the reach is not capped at the context: it runs past position 0", _reach_no_cap,
                "the last position can reach back T - 1 positions at most: min(T - 1, ...)."),
        Mistake("each layer's own band, not the stack's: a banded layer is taken to undo what the layers below reached",
                _reach_last_layer_decides,
                "reaches add up: after a layer, a position holds what its keys held, and they already held what "
                "the layers below had brought them."),
    ],
))


# ---------------------------------------------------------------------- the attention FLOPs a pattern needs
def attention_flops_needed(T, d, windows):
    def pairs(w):  # (query, key) pairs the layer's mask allows
        if w is None or w >= T:
            return T * (T + 1) // 2
        return T * w - w * (w - 1) // 2
    return sum(4 * d * pairs(w) for w in windows)  # per pair: 2d for the score, 2d for the weighted value


def _pairs_flops(pairs_fn, per_pair=4):
    def flops(T, d, windows):
        return sum(per_pair * d * pairs_fn(T, w) for w in windows)
    return flops


def _pairs_right(T, w):
    return T * (T + 1) // 2 if w is None or w >= T else T * w - w * (w - 1) // 2


_flops_dense_square = _pairs_flops(lambda T, w: T * T if w is None or w >= T else T * w - w * (w - 1) // 2)
_flops_band_tw = _pairs_flops(lambda T, w: T * (T + 1) // 2 if w is None or w >= T else T * w)
_flops_scores_only = _pairs_flops(_pairs_right, per_pair=2)
_flops_wide_band_uncapped = _pairs_flops(lambda T, w: T * (T + 1) // 2 if w is None else T * w - w * (w - 1) // 2)


register(Exercise(
    id="attention_flops_needed", chapter="09", name="attention_flops_needed",
    solution_name="attention_flops_needed_solution",
    title="the attention FLOPs a pattern needs, counted by hand",
    reference=attention_flops_needed, compare=compare_exact,
    cases=lambda: [Case("one dense layer, T = 16, d = 16", (16, 16, [None])),
                   Case("one banded layer, T = 16, w = 4, d = 16 (section 2's picture)", (16, 16, [4])),
                   Case("section 6's alternating stack: T = 256, d = 64, [None, 32, None, 32]",
                        (256, 64, [None, 32, None, 32])),
                   Case("a band wider than the context: T = 100, w = 256, d = 8", (100, 8, [256])),
                   Case("T = 1, two banded layers of 4", (1, 8, [4, 4])),
                   Case("GPT-3 175B's pattern at T = 2,048: 96 layers alternating, band 256, d = 12,288",
                        (2048, 12288, [None, 256] * 48))],
    hint="per layer: the number of (query, key) pairs its mask allows, times 4d (a score: d multiply-adds = 2d "
         "FLOPs; the weighted sum of values: 2d more). Dense: T(T + 1) / 2 pairs; band w < T: T·w - w(w - 1) / 2.",
    mistakes=[
        Mistake("a dense layer counts all T² pairs, not the causal T(T + 1) / 2", _flops_dense_square,
                "only the pairs the mask allows are needed: key j <= query i, T(T + 1) / 2 of them."),
        Mistake("a banded layer counts T·w pairs: the first w - 1 queries have fewer keys", _flops_band_tw,
                "query i < w sees only i + 1 keys: T·w - (1 + 2 + ... + (w - 1)) = T·w - w(w - 1) / 2."),
        Mistake("2d FLOPs per pair: the weighted sum of the values is forgotten", _flops_scores_only,
                "each allowed pair costs a score (2d FLOPs) and a term of the weighted sum (2d more): 4d."),
        Mistake("a band wider than the context is counted as if it fit", _flops_wide_band_uncapped,
                "when w >= T the band holds the whole causal triangle: T(T + 1) / 2 pairs."),
    ],
))
