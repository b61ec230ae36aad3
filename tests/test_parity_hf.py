"""Our GPT-1 and GPT-2 against HF transformers on identical random weights.

Every HF model goes through save_pretrained and back in through GPT.from_pretrained, so
the converter the learners use is the one under test. Nothing is downloaded.
"""
import json
import os
import shutil

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
transformers = pytest.importorskip("transformers")
from safetensors.torch import load_file, save_file  # noqa: E402

from gptedu.config import preset  # noqa: E402
from gptedu.model import GPT  # noqa: E402

ATOL = 1e-5
NO_SPECIAL_TOKENS = dict(bos_token_id=None, eos_token_id=None)


def randomise(hf_model, weight_scale=1.0):
    """HF inits biases to 0 and LayerNorms to 1; make them random so a misplaced one shows.

    weight_scale > 1 widens the matrices' std 0.02 so that, in a small model too, GELU's
    inputs reach the range where its exact and tanh forms differ by more than ATOL.
    """
    with torch.no_grad():
        for name, p in hf_model.named_parameters():
            if p.dim() == 2:
                p.mul_(weight_scale)
            else:
                p.copy_(torch.rand_like(p) + 0.5 if "ln" in name and name.endswith("weight") else torch.randn_like(p) * 0.1)
    return hf_model.eval()


def hf_gpt2(weight_scale=1.0, **kw):
    torch.manual_seed(0)
    config = transformers.GPT2Config(**NO_SPECIAL_TOKENS, **kw)
    return randomise(transformers.GPT2LMHeadModel(config), weight_scale)


def hf_gpt1(weight_scale=1.0, **kw):
    torch.manual_seed(0)
    config = transformers.OpenAIGPTConfig(**NO_SPECIAL_TOKENS, **kw)
    return randomise(transformers.OpenAIGPTLMHeadModel(config), weight_scale)


def saved(hf_model, folder):
    hf_model.save_pretrained(folder)
    return folder


def tokens(vocab, T=64, B=2, seed=1):
    return torch.randint(0, vocab, (B, T), generator=torch.Generator().manual_seed(seed))


def assert_same_logits(ours, hf, idx):
    with torch.no_grad():
        expected = hf(idx).logits
        got = ours.eval()(idx)[0]
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


# --- the exact paper configurations (one HF model each, saved once) ------------------------

@pytest.fixture(scope="module")
def gpt2_124m(tmp_path_factory):
    hf = hf_gpt2(activation_function="gelu_new")  # HF's default GPT2Config is GPT-2 124M
    return hf, saved(hf, tmp_path_factory.mktemp("gpt2-124m"))


@pytest.fixture(scope="module")
def gpt1(tmp_path_factory):
    hf = hf_gpt1(afn="gelu")  # HF's default OpenAIGPTConfig is GPT-1; its "gelu" is the tanh form
    return hf, saved(hf, tmp_path_factory.mktemp("gpt1"))


def test_gpt2_124m_logits_equal_hf(gpt2_124m):
    hf, folder = gpt2_124m
    ours = GPT.from_pretrained(folder)
    assert ours.config == preset("gpt2-124m", dropout=0.1)  # HF's config.json carries dropout 0.1
    assert ours.num_params() == hf.num_parameters() == 124_439_808
    assert ours.lm_head.weight is ours.wte.weight
    assert not ours.training and all(p.requires_grad and p.device.type == "cpu" for p in ours.parameters())
    assert_same_logits(ours, hf, tokens(50257))


def test_gpt2_124m_hidden_states_loss_and_attention_equal_hf(gpt2_124m):
    hf, folder = gpt2_124m
    ours, idx = GPT.from_pretrained(folder).eval(), tokens(50257, T=32)
    with torch.no_grad():
        out = hf(idx, labels=idx)
        torch.testing.assert_close(ours.hidden_states(idx), hf.transformer(idx).last_hidden_state, atol=ATOL, rtol=0)
        # HF shifts labels inside; ours takes targets already shifted.
        _, loss = ours(idx[:, :-1], idx[:, 1:])
    torch.testing.assert_close(loss, out.loss, atol=ATOL, rtol=0)
    hf.set_attn_implementation("eager")
    with torch.no_grad():
        hf_maps = torch.stack(hf(idx, output_attentions=True).attentions)
    hf.set_attn_implementation("sdpa")
    torch.testing.assert_close(ours.attention_maps(idx), hf_maps, atol=1e-6, rtol=0)


def test_gpt1_logits_equal_hf(gpt1):
    hf, folder = gpt1
    ours = GPT.from_pretrained(folder)
    assert ours.config == preset("gpt1")
    assert ours.num_params() == hf.num_parameters() == 116_534_784
    assert not any(k.startswith("ln_f") for k in ours.state_dict())
    assert_same_logits(ours, hf, tokens(40478))
    idx = tokens(40478, T=32)
    with torch.no_grad():
        torch.testing.assert_close(ours.hidden_states(idx), hf.transformer(idx).last_hidden_state, atol=ATOL, rtol=0)


def test_single_safetensors_file_with_config_beside_it(gpt1):
    hf, folder = gpt1
    ours = GPT.from_pretrained(folder / "model.safetensors")
    assert ours.config == preset("gpt1")
    assert_same_logits(ours, hf, tokens(40478, T=16))


# --- smaller models for the other layouts --------------------------------------------------

SMALL = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=100, n_positions=32, weight_scale=3.0)


@pytest.mark.parametrize("make", [hf_gpt2, hf_gpt1])
def test_lone_safetensors_file_infers_the_config(make, tmp_path):
    hf = make(**SMALL)
    saved(hf, tmp_path / "hf")
    shutil.copy(tmp_path / "hf" / "model.safetensors", tmp_path / "lone.safetensors")
    ours = GPT.from_pretrained(tmp_path / "lone.safetensors")
    c = ours.config
    assert (c.n_layer, c.n_embd, c.n_head, c.vocab_size, c.block_size) == (2, 64, 1, 100, 32)  # heads: 64 wide
    ours = GPT.from_pretrained(tmp_path / "lone.safetensors", n_head=4)
    assert ours.config.norm == ("pre" if make is hf_gpt2 else "post")
    assert_same_logits(ours, hf, tokens(100, T=32))


def test_pytorch_model_bin_untied_and_exact_gelu(tmp_path):
    """An untied GPT-2 with the exact GELU, stored the old way (.bin with mask buffers)."""
    hf = hf_gpt2(**SMALL, activation_function="gelu", tie_word_embeddings=False)
    assert hf.lm_head.weight is not hf.transformer.wte.weight
    state = {k: v.clone() for k, v in hf.state_dict().items()}
    state.update({f"transformer.h.{i}.attn.bias": torch.ones(1, 1, 32, 32).tril() for i in range(2)})
    torch.save(state, tmp_path / "pytorch_model.bin")
    hf.config.save_pretrained(tmp_path)
    ours = GPT.from_pretrained(tmp_path)
    assert ours.config.gelu == "exact" and not ours.config.tie_embeddings
    assert ours.lm_head.weight is not ours.wte.weight
    assert_same_logits(ours, hf, tokens(100, T=32))


@pytest.mark.parametrize("size", ["small", "gpt2-124m"])
def test_gelu_mismatch_would_be_caught(size, request, tmp_path):
    """The parity tests can fail: the same weights with the other GELU differ by more than ATOL."""
    if size == "gpt2-124m":
        hf, folder = request.getfixturevalue("gpt2_124m")
    else:
        hf = hf_gpt2(**SMALL)
        folder = saved(hf, tmp_path)
    ours, idx = GPT.from_pretrained(folder, gelu="exact").eval(), tokens(hf.config.vocab_size, T=32)
    with torch.no_grad():
        diff = (ours(idx)[0] - hf(idx).logits).abs().max()
    assert diff > 10 * ATOL


# --- errors ---------------------------------------------------------------------------------

def test_missing_path_says_what_to_download_where(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        GPT.from_pretrained(tmp_path / "gpt2-weights")
    msg = str(e.value)
    assert "openai-community/gpt2" in msg and "config.json" in msg and "model.safetensors" in msg
    assert f"GPT.from_pretrained('{tmp_path / 'gpt2-weights'}')" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds nothing, but none of model.safetensors"):
        GPT.from_pretrained(tmp_path / "empty")


def test_unexpected_and_missing_keys_are_named(tmp_path):
    hf = hf_gpt2(**SMALL)
    saved(hf, tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["transformer.h.0.attn.extra.weight"] = torch.zeros(3)
    del state["transformer.h.1.mlp.c_fc.bias"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"Missing: h\.1\.mlp\.c_fc\.bias\. Unexpected: h\.0\.attn\.extra\.weight"):
        GPT.from_pretrained(tmp_path)


def test_config_that_does_not_match_the_weights(tmp_path):
    saved(hf_gpt2(**SMALL), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "n_embd": 128, "n_layer": 3}))
    with pytest.raises(ValueError, match=r"Missing: h\.2\..*Wrong shape: wte\.weight: file \(100, 64\) vs model \(100, 128\)"):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "llama"}))
    with pytest.raises(ValueError, match="model_type='llama'; only 'gpt2' and 'openai-gpt'"):
        GPT.from_pretrained(tmp_path)


def test_not_a_gpt_checkpoint(tmp_path):
    save_file({"encoder.weight": torch.zeros(2, 2)}, tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="neither HF GPT-2"):
        GPT.from_pretrained(tmp_path / "x.safetensors")
