"""Causal self-attention against PyTorch's own attention, and the GPT-3 band."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gptedu.attention import CausalSelfAttention, banded_causal_mask, causal_mask
from gptedu.config import GPTConfig

C, H = 32, 4


def layer(window=None, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = GPTConfig(**{**dict(vocab_size=10, block_size=16, n_layer=2, n_head=H, n_embd=C), **kw})
    attn = CausalSelfAttention(cfg, window=window).eval()
    with torch.no_grad():  # nn.Linear's default init, plus non-zero biases
        attn.c_attn.bias.normal_()
        attn.c_proj.bias.normal_()
    return attn


def torch_mha(attn: CausalSelfAttention) -> nn.MultiheadAttention:
    """nn.MultiheadAttention holding the same weights: its in_proj is our fused c_attn."""
    mha = nn.MultiheadAttention(C, H, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.c_attn.weight)
        mha.in_proj_bias.copy_(attn.c_attn.bias)
        mha.out_proj.weight.copy_(attn.c_proj.weight)
        mha.out_proj.bias.copy_(attn.c_proj.bias)
    return mha


def x(T=12, B=2, seed=1):
    return torch.randn(B, T, C, generator=torch.Generator().manual_seed(seed))


def test_causal_mask_drawn():
    expected = torch.tensor([[1, 0, 0, 0],
                             [1, 1, 0, 0],
                             [1, 1, 1, 0],
                             [1, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(causal_mask(4), expected)


def test_banded_mask_drawn():
    # query i sees keys j with i - 2 < j <= i
    expected = torch.tensor([[1, 0, 0, 0, 0],
                             [1, 1, 0, 0, 0],
                             [0, 1, 1, 0, 0],
                             [0, 0, 1, 1, 0],
                             [0, 0, 0, 1, 1]], dtype=torch.bool)
    assert torch.equal(banded_causal_mask(5, 2), expected)
    assert torch.equal(banded_causal_mask(5, 1), torch.eye(5, dtype=torch.bool))
    assert torch.equal(banded_causal_mask(5, 5), causal_mask(5))
    assert banded_causal_mask(50, 7).sum(1).max() == 7


@pytest.mark.parametrize("window", [None, 3])
def test_explicit_path_equals_sdpa_path(window):
    attn, inp = layer(window), x()
    fused = attn(inp)
    explicit, weights = attn(inp, return_weights=True)
    torch.testing.assert_close(explicit, fused, atol=1e-6, rtol=0)
    assert weights.shape == (2, H, 12, 12)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, H, 12))
    assert (weights[..., ~attn.mask(12)] == 0).all()


def test_core_equals_scaled_dot_product_attention():
    """Our whole layer, rebuilt by hand around F.scaled_dot_product_attention."""
    attn, inp = layer(), x()
    q, k, v = attn.c_attn(inp).split(C, dim=2)
    q, k, v = (t.view(2, 12, H, C // H).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(2, 12, C)
    torch.testing.assert_close(attn(inp, return_weights=True)[0], attn.c_proj(y), atol=1e-6, rtol=0)


@pytest.mark.parametrize("window", [None, 1, 4])
def test_equals_torch_multihead_attention(window):
    """Dense layer = MHA with the causal mask; banded layer = a dense MHA with the band mask."""
    attn, inp = layer(window), x()
    mha = torch_mha(attn)
    allowed = causal_mask(12) if window is None else banded_causal_mask(12, window)
    # nn.MultiheadAttention's boolean mask means the opposite of ours: True = not allowed.
    ref, ref_w = mha(inp, inp, inp, attn_mask=~allowed, need_weights=True, average_attn_weights=False)
    ours, ours_w = attn(inp, return_weights=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours_w, ref_w, atol=1e-6, rtol=0)
    torch.testing.assert_close(attn(inp), ref, atol=1e-5, rtol=0)


def test_band_really_limits_what_a_query_sees():
    dense, banded, inp = layer(None), layer(4), x()
    assert not torch.allclose(dense(inp), banded(inp), atol=1e-4)  # T=12 > window: they differ
    torch.testing.assert_close(dense(inp[:, :4]), banded(inp[:, :4]))  # T <= window: identical
    # Changing token 0 moves the banded output only at positions 0..3.
    changed = inp.clone()
    changed[:, 0] += 1.0
    moved = (banded(changed) - banded(inp)).abs().amax(dim=(0, 2)) > 1e-6
    assert moved.tolist() == [True] * 4 + [False] * 8
    assert ((dense(changed) - dense(inp)).abs().amax(dim=(0, 2)) > 1e-6).all()


def test_causality_future_tokens_do_not_leak():
    attn, inp = layer(), x()
    changed = inp.clone()
    changed[:, 7:] = torch.randn(2, 5, C)
    torch.testing.assert_close(attn(changed)[:, :7], attn(inp)[:, :7])


def test_dropout_only_in_training():
    attn, inp = layer(dropout=0.5), x()
    torch.testing.assert_close(attn(inp), attn(inp))
    attn.train()
    assert not torch.allclose(attn(inp), attn(inp))
    assert not torch.allclose(attn(inp, return_weights=True)[0], attn(inp, return_weights=True)[0])
