"""GPT: parameter counts, the API, and the paper switches really switching."""
import math
import time

import pytest
import torch
import torch.nn.functional as F

from gptedu.config import GPT3_TABLE_2_1, GPTConfig, preset
from gptedu.model import GPT, Block, count_params


def tiny(name="tiny", seed=0, **kw):
    torch.manual_seed(seed)
    return GPT(preset(name, **kw)).eval()


def tokens(T=16, B=2, vocab=65, seed=1):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


# --- parameter counts -------------------------------------------------------------------

def test_gpt2_124m_count_exact():
    assert count_params(preset("gpt2-124m")) == 124_439_808  # lm_head tied: counted once


def test_gpt1_count_equals_hf_openai_gpt():
    # HF OpenAIGPTLMHeadModel(OpenAIGPTConfig()).num_parameters(), measured offline. GPT-1's paper
    # states no count; "117M" is GPT-2's Table 2 label for its smallest model (really 124M).
    assert count_params(preset("gpt1")) == 116_534_784


def test_non_embedding_count():
    cfg = preset("gpt2-124m")
    assert count_params(cfg, non_embedding=True) == 124_439_808 - (50257 + 1024) * 768


@pytest.mark.parametrize("name", list(GPT3_TABLE_2_1))
def test_gpt3_table_2_1_sizes(name):
    paper = GPT3_TABLE_2_1[name].n_params_paper
    assert abs(count_params(preset(name)) - paper) / paper < 0.05


def test_count_params_is_instant_on_meta():
    start = time.perf_counter()
    n = count_params(preset("gpt3-175b"))
    assert time.perf_counter() - start < 10  # ~0.3 s; allocating it would need 700 GB
    assert 174e9 < n < 176e9


def test_count_matches_a_real_model_and_untying_adds_lm_head():
    m = tiny()
    assert m.num_params() == count_params(m.config) == sum(p.numel() for p in m.parameters())
    untied = count_params(preset("tiny", tie_embeddings=False))
    assert untied - m.num_params() == 65 * 128


# --- API ----------------------------------------------------------------------------------

def test_forward_shapes_and_loss_at_init_is_log_vocab():
    m, idx = tiny(), tokens(T=64, B=4)
    logits, loss = m(idx)
    assert logits.shape == (4, 64, 65) and loss is None
    targets = tokens(T=64, B=4, seed=2)  # (not idx itself: tied embeddings favour echoing the input)
    _, loss = m(idx, targets)
    assert abs(loss.item() - math.log(65)) < 0.1  # near-uniform predictions at init, in nats
    manual = F.cross_entropy(logits.reshape(-1, 65), targets.reshape(-1))
    torch.testing.assert_close(loss, manual)


def test_targets_minus_one_are_ignored():
    m, idx = tiny(), tokens()
    logits, _ = m(idx)
    targets = idx.clone()
    targets[:, :10] = -1
    _, loss = m(idx, targets)
    torch.testing.assert_close(loss, F.cross_entropy(logits[:, 10:].reshape(-1, 65), idx[:, 10:].reshape(-1)))


def test_too_long_input_says_crop():
    m = tiny()
    with pytest.raises(ValueError, match=r"65 tokens.*block_size\) is 64.*crop.*idx\[:, -64:\]"):
        m(tokens(T=65))
    with pytest.raises(ValueError, match=r"idx\[None\]"):
        m(tokens(T=8)[0])
    assert m(tokens(T=64))[0].shape == (2, 64, 65)


def test_hidden_states_feed_lm_head():
    for name in ("tiny", "tiny-gpt1"):
        m, idx = tiny(name), tokens()
        h = m.hidden_states(idx)
        assert h.shape == (2, 16, 128)
        torch.testing.assert_close(m.lm_head(h), m(idx)[0])


def test_attention_maps():
    m, idx = tiny("tiny-gpt3"), tokens(T=40)
    maps = m.attention_maps(idx)
    assert maps.shape == (4, 2, 4, 40, 40)
    torch.testing.assert_close(maps.sum(-1), torch.ones(4, 2, 4, 40))
    assert (maps.triu(1) == 0).all()  # causal everywhere
    far = torch.ones(40, 40, dtype=torch.bool).tril(-16)  # keys 16+ positions back
    assert (maps[1::2][..., far] == 0).all()  # odd layers: banded, window 16
    assert (maps[0::2][..., far] > 0).all()  # even layers: dense


def test_model_is_causal():
    m, idx = tiny(), tokens()
    changed = idx.clone()
    changed[:, 9:] = (changed[:, 9:] + 1) % 65
    torch.testing.assert_close(m(changed)[0][:, :9], m(idx)[0][:, :9])
    assert not torch.allclose(m(changed)[0][:, 9:], m(idx)[0][:, 9:])


def test_repr_summarises():
    text = repr(tiny("tiny-gpt1"))
    assert text.startswith("GPT(0.81M params: 4 layers x 128 wide") and "post-LN" in text
    assert "(wte): Embedding(65, 128)" in text


def test_same_seed_same_init():
    torch.testing.assert_close(tiny(seed=3).state_dict(), tiny(seed=3).state_dict())


# --- the switches -----------------------------------------------------------------------

def test_post_norm_has_no_final_layer_norm():
    post, pre = tiny("tiny-gpt1"), tiny("tiny")
    assert not any(k.startswith("ln_f") for k in post.state_dict())
    assert "ln_f.weight" in pre.state_dict()
    shared = {k: v for k, v in pre.state_dict().items() if not k.startswith("ln_f")}
    post.load_state_dict(shared)
    assert not torch.allclose(post(tokens())[0], pre(tokens())[0], atol=1e-3)


def block_and_input(norm):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=16, norm=norm)
    block = Block(cfg).eval()
    with torch.no_grad():  # non-trivial LayerNorm parameters so their place matters
        for ln in (block.ln_1, block.ln_2):
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.normal_()
    return block, torch.randn(2, 8, 16)


def test_post_norm_block_formula():
    b, x = block_and_input("post")
    h = b.ln_1(x + b.attn(x))
    torch.testing.assert_close(b(x), b.ln_2(h + b.mlp(h)))


def test_pre_norm_block_formula():
    b, x = block_and_input("pre")
    h = x + b.attn(b.ln_1(x))
    torch.testing.assert_close(b(x), h + b.mlp(b.ln_2(h)))


def test_residual_scale_init_changes_c_proj_std():
    def stds(scaled):
        torch.manual_seed(0)
        cfg = GPTConfig(vocab_size=8, block_size=8, n_layer=8, n_head=4, n_embd=256, residual_scale_init=scaled)
        m = GPT(cfg)
        return (torch.cat([b.attn.c_proj.weight.flatten() for b in m.h]).std().item(),
                torch.cat([b.mlp.c_proj.weight.flatten() for b in m.h]).std().item(),
                torch.cat([b.mlp.c_fc.weight.flatten() for b in m.h]).std().item())

    attn_proj, mlp_proj, fc = stds(True)
    expected = 0.02 / math.sqrt(2 * 8)
    assert abs(attn_proj / expected - 1) < 0.02 and abs(mlp_proj / expected - 1) < 0.02
    assert abs(fc / 0.02 - 1) < 0.02
    attn_proj, mlp_proj, _ = stds(False)
    assert abs(attn_proj / 0.02 - 1) < 0.02 and abs(mlp_proj / 0.02 - 1) < 0.02


def test_init_biases_zero_and_layer_norms_identity():
    m = tiny()
    for name, p in m.named_parameters():
        if name.endswith("bias"):
            assert (p == 0).all(), name
        if ".ln_" in name and name.endswith("weight"):
            assert (p == 1).all(), name
    assert abs(m.wte.weight.std().item() - 0.02) < 0.001


def test_alternating_pattern_bands_odd_layers():
    m = tiny("tiny-gpt3")
    assert [b.attn.window for b in m.h] == [None, 16, None, 16]
    assert [b.attn.window for b in tiny("tiny").h] == [None] * 4


def test_tied_and_untied_embeddings():
    m = tiny()
    assert m.lm_head.weight is m.wte.weight
    u = tiny(tie_embeddings=False)
    assert u.lm_head.weight is not u.wte.weight


def test_gelu_switch():
    exact, approx = tiny(gelu="exact"), tiny(gelu="tanh")
    assert exact.h[0].mlp.gelu.approximate == "none" and approx.h[0].mlp.gelu.approximate == "tanh"
    diff = (exact(tokens())[0] - approx(tokens())[0]).abs().max().item()
    assert 0 < diff < 1e-2  # same weights, a slightly different curve


def test_bias_false_removes_every_bias():
    m = tiny(bias=False)
    assert not [n for n, _ in m.named_parameters() if n.endswith("bias")]
    assert m(tokens())[0].shape == (2, 16, 65)


def test_dropout_acts_only_in_training():
    m, idx = tiny(dropout=0.2), tokens()
    torch.testing.assert_close(m(idx)[0], m(idx)[0])
    m.train()
    assert not torch.allclose(m(idx)[0], m(idx)[0])
