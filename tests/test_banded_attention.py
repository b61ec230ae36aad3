"""The block-banded kernel equals the masked dense band, forward and backward, and really skips work."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from gptedu.attention import CausalSelfAttention, banded_causal_mask
import gptedu.banded_attention as banded_module
from gptedu.banded_attention import band_tile_mask, banded_attention
from gptedu.config import GPTConfig

CASES = [  # (B, n_head, T, head_size, window)
    (2, 3, 37, 8, 5),    # T not a multiple of the window
    (1, 2, 64, 16, 16),  # T a multiple
    (3, 4, 100, 8, 7),
    (1, 1, 33, 4, 1),    # a band of one: each position sees only itself
    (2, 2, 10, 4, 10),   # window == T
    (1, 2, 10, 4, 25),   # window > T: plain causal
    (1, 1, 1, 8, 4),     # a single position
]


def masked_reference(q, k, v, window):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=banded_causal_mask(q.size(-2), window))


@pytest.mark.parametrize("path", ["fused", "tiles"])
@pytest.mark.parametrize("B,nh,T,hs,window", CASES)
def test_forward_and_backward_equal_the_masked_dense_band(B, nh, T, hs, window, path, monkeypatch):
    """Both ways the kernel computes: the fused CPU kernel's causal halves (the default on the CPU) and the
    masked (w, 2w) tiles (other devices, dropout), forced here by hiding the fused kernel."""
    if path == "tiles":
        monkeypatch.setattr(banded_module, "_FLASH_CPU", None)  # as where torch has no fused CPU kernel
    torch.manual_seed(T * 31 + window)
    q, k, v = (torch.randn(B, nh, T, hs, dtype=torch.float64, requires_grad=True) for _ in range(3))
    ref, out = masked_reference(q, k, v, window), banded_attention(q, k, v, window)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    grad_out = torch.randn_like(ref)
    for a, b in zip(torch.autograd.grad(out, (q, k, v), grad_out), torch.autograd.grad(ref, (q, k, v), grad_out)):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_float32_agrees_too():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 300, 32) for _ in range(3))
    torch.testing.assert_close(banded_attention(q, k, v, 64), masked_reference(q, k, v, 64), atol=1e-5, rtol=1e-5)


def test_a_distant_key_has_no_influence_and_a_near_one_does():
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 1, 40, 8) for _ in range(3))
    base = banded_attention(q, k, v, 6)
    v2 = v.clone()
    v2[0, 0, 10] += 5.0  # key 10 is visible to queries 10..15 only
    moved = (banded_attention(q, k, v2, 6) - base).abs().amax(dim=-1)[0, 0]
    assert torch.nonzero(moved > 1e-6).flatten().tolist() == list(range(10, 16))


def test_tile_mask():
    m = band_tile_mask(3)
    # query r sees tile columns r+1 .. r+3 (the last is itself, at column r + w)
    assert m.tolist() == [[False, True, True, True, False, False],
                          [False, False, True, True, True, False],
                          [False, False, False, True, True, True]]
    assert not band_tile_mask(3, first_block=True)[:, :3].any()  # block 0 has no previous block


class _FusedCalls(TorchDispatchMode):
    """Records every call of PyTorch's fused CPU attention kernel (forward and backward): its q, k shapes, causal."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        if "scaled_dot_product_flash_attention_for_cpu" in name:
            backward = name.endswith("_backward")
            q, k = (args[1], args[2]) if backward else (args[0], args[1])
            causal = args[7] if backward else (args[4] if len(args) > 4 else kwargs.get("is_causal", False))
            self.calls.append((backward, tuple(q.shape), tuple(k.shape), causal))
        return func(*args, **(kwargs or {}))


def _pairs(calls):
    """Query-key pairs the fused kernel scores: a causal (L, L) call scores L(L+1)/2 per batch and head."""
    total = 0
    for _, (b, h, L, _hs), (_, _, S, _), causal in calls:
        assert causal and L == S  # every call is causal and square: the kernel skips what is above the diagonal
        total += b * h * L * (L + 1) // 2
    return total


@pytest.mark.parametrize("T,w", [(1024, 64), (1000, 64), (300, 7)])
def test_scores_are_computed_only_inside_the_band(T, w):
    """The fused kernel is asked for exactly the band's query-key pairs, forward and backward: each query's
    min(i + 1, w) keys (plus, when T is not a multiple of w, the padded queries of the last block), not T."""
    hs = 16
    q, k, v = (torch.randn(1, 1, T, hs, requires_grad=True) for _ in range(3))
    with _FusedCalls() as seen:
        banded_attention(q, k, v, w).sum().backward()
    forward = [c for c in seen.calls if not c[0]]
    backward = [c for c in seen.calls if c[0]]
    assert len(forward) == len(backward) == 2
    band = sum(min(i + 1, w) for i in range(T))
    padded = -(-T // w) * w
    assert _pairs(forward) == _pairs(backward) == band + sum(min(i + 1, w) for i in range(T, padded))
    assert _pairs(forward) * 4 < T * (T + 1) // 2  # dense causal: 4x more at least here


def test_it_keeps_only_the_output_and_log_sum_exp_for_the_backward():
    """What autograd keeps besides q, k, v: the output and one log-sum-exp per query, as dense fused SDPA does."""
    from types import SimpleNamespace

    from gptedu.experiments.attention_bench import saved_for_backward
    args = SimpleNamespace(heads=2, head_size=16, window=32)
    for T in (64, 256, 1000):
        kept = sorted(n for _, n in saved_for_backward("banded kernel", T, args))
        dense = sorted(n for _, n in saved_for_backward("dense causal", T, args))
        padded = -(-T // 32) * 32
        assert kept == [2 * padded * 4, 2 * padded * 16 * 4], (T, kept)  # lse, output (float32, padded)
        assert sum(kept) <= sum(dense) * (padded / T) + 1


def test_fused_false_takes_the_tiles_whose_products_flop_counter_counts():
    from torch.utils.flop_counter import FlopCounterMode
    T, hs, w = 1000, 16, 64
    q, k, v = (torch.randn(1, 2, T, hs, dtype=torch.float64) for _ in range(3))
    with FlopCounterMode(display=False) as counted:
        tiles = banded_attention(q, k, v, w, fused=False)
    assert counted.get_total_flops() == 2 * 2 * 2 * (-(-T // w) * w) * (2 * w) * hs  # 2 heads, 2 matmuls
    torch.testing.assert_close(tiles, banded_attention(q, k, v, w), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="dropout"):
        banded_attention(q, k, v, w, dropout_p=0.1, fused=True)
    with pytest.raises(ValueError, match="fused"):
        banded_attention(q, k, v, w, fused="yes")


def test_dropout_still_works_through_the_tile_path():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 40, 8, requires_grad=True) for _ in range(3))
    out = banded_attention(q, k, v, 6, dropout_p=0.5)
    out.sum().backward()
    assert out.shape == q.shape and q.grad is not None


def test_the_layer_uses_it_and_matches_its_explicit_path():
    cfg = GPTConfig(vocab_size=11, block_size=50, n_layer=2, n_head=2, n_embd=16, dropout=0.0,
                    attention_pattern="alternating", attention_window=7)
    torch.manual_seed(0)
    attn = CausalSelfAttention(cfg, window=7).eval()
    x = torch.randn(2, 45, 16)
    fast = attn(x)
    explicit, _ = attn(x, return_weights=True)
    torch.testing.assert_close(fast, explicit, atol=1e-5, rtol=1e-5)
