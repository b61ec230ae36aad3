"""The block-banded kernel equals the masked dense band, forward and backward, and really skips work."""
import pytest
import torch
import torch.nn.functional as F

from gptedu.attention import CausalSelfAttention, banded_causal_mask
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


@pytest.mark.parametrize("B,nh,T,hs,window", CASES)
def test_forward_and_backward_equal_the_masked_dense_band(B, nh, T, hs, window):
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


def test_scores_are_computed_only_inside_the_band():
    """FLOPs of the two matmuls (q kᵀ and weights·v): 2·w keys per query, not T."""
    from torch.utils.flop_counter import FlopCounterMode
    T, hs, w = 1024, 16, 64
    q = k = v = torch.randn(1, 1, T, hs)
    with FlopCounterMode(display=False) as counted:
        banded_attention(q, k, v, w)
    assert counted.get_total_flops() == 2 * 2 * T * (2 * w) * hs  # 2 matmuls, 2 FLOPs per multiply-add
    assert counted.get_total_flops() * 8 == 2 * 2 * T * T * hs  # a dense score matrix: 8x more here


def test_the_layer_uses_it_and_matches_its_explicit_path():
    cfg = GPTConfig(vocab_size=11, block_size=50, n_layer=2, n_head=2, n_embd=16, dropout=0.0,
                    attention_pattern="alternating", attention_window=7)
    torch.manual_seed(0)
    attn = CausalSelfAttention(cfg, window=7).eval()
    x = torch.randn(2, 45, 16)
    fast = attn(x)
    explicit, _ = attn(x, return_weights=True)
    torch.testing.assert_close(fast, explicit, atol=1e-5, rtol=1e-5)
