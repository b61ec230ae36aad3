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
# which gptedu.banded_attention a results file measured (written into it; files without it predate the field)
KERNEL = "fused causal halves, backward recomputed (2026-12-07)"
KERNEL_BEFORE = "masked (w, 2w) tiles, autograd's backward (before 2026-12-07)"


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


FORWARD_METHODS = ("dense causal", "banded kernel", "flex attention")


def flex_attention_forward(T: int, args) -> dict:
    """FlexAttention (torch.nn.attention.flex_attention) with a sliding-window block mask, on the CPU.

    What a PyTorch user would reach for. It needs torch.compile to run fast; its first call at each T is timed
    apart as `compile_s` (block mask creation as `block_mask_s`). Its backward is tried once: in torch 2.13 it
    raises on the CPU, and the message is kept as `backward`. So the comparison is forward only, in no_grad:
    median ms of --reps interleaved runs for dense causal SDPA, the banded kernel and FlexAttention.
    Returns {"ms": {method: ms}, "compile_s", "block_mask_s", "max_abs_diff" (vs the kernel), "backward"},
    or {"error": why} where it cannot run at all.
    """
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    except ImportError as e:  # pragma: no cover - torch without FlexAttention
        return {"error": f"torch {torch.__version__} has no torch.nn.attention.flex_attention ({e})"}
    w = args.window

    def sliding_window(b, h, q_idx, kv_idx):
        return (q_idx >= kv_idx) & (q_idx - kv_idx < w)

    q, k, v = (t.detach() for t in inputs(T, args.heads, args.head_size))
    out: dict = {}
    try:
        start = time.perf_counter()
        block_mask = create_block_mask(sliding_window, 1, 1, T, T, device="cpu")
        out["block_mask_s"] = time.perf_counter() - start
        torch._dynamo.reset()  # each length compiled afresh, as a user running that length once would
        compiled = torch.compile(flex_attention, dynamic=False)
        start = time.perf_counter()
        with torch.no_grad():
            y = compiled(q, k, v, block_mask=block_mask)
        out["compile_s"] = time.perf_counter() - start
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    out["max_abs_diff"] = (y - banded_attention(q, k, v, w)).abs().max().item()
    calls = {"dense causal": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
             "banded kernel": lambda: banded_attention(q, k, v, w),
             "flex attention": lambda: compiled(q, k, v, block_mask=block_mask)}
    samples: dict[str, list[float]] = {m: [] for m in FORWARD_METHODS}
    with torch.no_grad():
        for fn in calls.values():
            fn()
        for rep in range(args.reps):
            for m in (FORWARD_METHODS if rep % 2 == 0 else FORWARD_METHODS[::-1]):
                start = time.perf_counter()
                calls[m]()
                samples[m].append((time.perf_counter() - start) * 1000)
    out["ms"] = {m: statistics.median(s) for m, s in samples.items()}
    try:  # after the timings: a failed backward call must not touch the compiled forward
        qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
        compiled(qg, kg, vg, block_mask=block_mask).sum().backward()
        out["backward"] = "ok"
    except Exception as e:  # noqa: BLE001
        out["backward"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return out

