"""The banded-attention measurements behind benchmarks/bench_attention.py and chapter 09, as a module.

One attention layer's forward + backward for three ways of computing GPT-3's locally banded
attention (dense causal SDPA, SDPA with the band mask, gptedu.banded_attention): the time per
method (interleaved medians) and the bytes autograd keeps for the backward (counted exactly with
saved-tensor hooks). `benchmarks/bench_attention.py` is the command line that tabulates them;
chapter 09 imports this module to rerun a short slice live.
"""
from __future__ import annotations

import math
import statistics
import time

import torch
import torch.nn.functional as F

from ..attention import banded_causal_mask
from ..banded_attention import banded_attention

METHODS = ("dense causal", "masked band", "banded kernel")
SPEEDUP_GOAL = 3.0  # dense causal / banded kernel time at T = 4096
MEMORY_GOAL = 2.0  # banded kernel / dense causal memory kept for the backward, every T >= 1024


def attention_call(method: str, window: int):
    """The function (q, k, v) -> y that `method` names."""
    if method == "dense causal":
        return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if method == "masked band":
        return lambda q, k, v: F.scaled_dot_product_attention(
            q, k, v, attn_mask=banded_causal_mask(q.size(-2), window, q.device))
    if method == "banded kernel":
        return lambda q, k, v: banded_attention(q, k, v, window)
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def inputs(T: int, heads: int, head_size: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(1, heads, T, head_size, generator=gen).requires_grad_() for _ in range(3))


def forward_backward(fn, q, k, v) -> float:
    """Seconds for one forward + backward."""
    for t in (q, k, v):
        t.grad = None
    start = time.perf_counter()
    fn(q, k, v).sum().backward()
    return time.perf_counter() - start


def time_all(T: int, args) -> dict[str, float]:
    """Median ms per method, interleaved; one untimed warm-up each."""
    q, k, v = inputs(T, args.heads, args.head_size)
    calls = {m: attention_call(m, args.window) for m in METHODS}
    for fn in calls.values():
        forward_backward(fn, q, k, v)
    samples: dict[str, list[float]] = {m: [] for m in METHODS}
    for rep in range(args.reps):
        order = METHODS if rep % 2 == 0 else METHODS[::-1]
        for m in order:
            samples[m].append(forward_backward(calls[m], q, k, v) * 1000)
    return {m: statistics.median(s) for m, s in samples.items()}


def saved_for_backward(method: str, T: int, args) -> list[tuple[tuple[int, ...], int]]:
    """(shape, bytes) of each distinct storage autograd keeps from the forward for the backward (inputs excluded)."""
    q, k, v = inputs(T, args.heads, args.head_size)
    input_storages = {t.untyped_storage().data_ptr() for t in (q, k, v)}
    kept: dict[int, tuple[tuple[int, ...], int]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in input_storages:
            kept[storage.data_ptr()] = (tuple(t.shape), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        attention_call(method, args.window)(q, k, v)
    return list(kept.values())


def saved_for_backward_mb(method: str, T: int, args) -> float:
    """MB of tensors autograd keeps from the forward for the backward (distinct storages, inputs excluded)."""
    return sum(nbytes for _, nbytes in saved_for_backward(method, T, args)) / 2**20


def slope(Ts: list[int], ms: list[float]) -> float:
    """Least-squares slope of log(ms) against log(T)."""
    x, y = [math.log(t) for t in Ts], [math.log(m) for m in ms]
    mx, my = statistics.fmean(x), statistics.fmean(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
