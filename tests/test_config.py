"""GPTConfig: validation, presets, GPT-3 Table 2.1."""
import dataclasses

import pytest

from gptedu.config import GPT3_TABLE_2_1, PRESETS, GPTConfig, preset

PAPER_PRESETS = ["gpt1", "gpt2-124m", "gpt2-355m", "gpt2-774m", "gpt2-1.5b", "gpt3-small", "gpt3-medium",
                 "gpt3-large", "gpt3-xl", "gpt3-2.7b", "gpt3-6.7b", "gpt3-13b", "gpt3-175b"]
COURSE_PRESETS = ["tiny", "tiny-gpt1", "tiny-gpt3"]


def small(**kw):
    return GPTConfig(**{**dict(vocab_size=10, block_size=8, n_layer=2, n_head=2, n_embd=8), **kw})


def test_every_preset_is_listed_and_valid():
    assert sorted(PRESETS) == sorted(PAPER_PRESETS + COURSE_PRESETS)
    for name in PRESETS:
        assert isinstance(preset(name), GPTConfig)


def test_gpt1_preset_is_the_paper_config():
    c = preset("gpt1")
    assert (c.n_layer, c.n_embd, c.n_head, c.mlp_width, c.block_size, c.vocab_size) == (12, 768, 12, 3072, 512, 40478)
    assert c.norm == "post" and not c.residual_scale_init and c.tie_embeddings and c.dropout == 0.1
    assert c.gelu == "tanh" and c.attention_pattern == "dense"


@pytest.mark.parametrize("name, layers, width, heads", [
    ("gpt2-124m", 12, 768, 12), ("gpt2-355m", 24, 1024, 16), ("gpt2-774m", 36, 1280, 20), ("gpt2-1.5b", 48, 1600, 25)])
def test_gpt2_presets(name, layers, width, heads):
    c = preset(name)
    assert (c.n_layer, c.n_embd, c.n_head) == (layers, width, heads)
    assert (c.vocab_size, c.block_size, c.norm, c.residual_scale_init) == (50257, 1024, "pre", True)
    assert c.head_dim == 64 and c.mlp_width == 4 * width


@pytest.mark.parametrize("name", list(GPT3_TABLE_2_1))
def test_gpt3_presets_follow_table_2_1(name):
    row, c = GPT3_TABLE_2_1[name], preset(name)
    assert c.n_layer == row.n_layers and c.head_dim == row.d_head
    # Two printed rows do not add up (n_heads * d_head != d_model); the presets document the fix.
    assert c.n_embd == (5120 if name == "gpt3-13b" else row.d_model)
    assert c.n_head == (16 if name == "gpt3-xl" else row.n_heads)
    assert (c.block_size, c.vocab_size, c.attention_pattern, c.attention_window) == (2048, 50257, "alternating", 256)


def test_table_2_1_batch_and_learning_rate():
    assert [r.batch_size for r in GPT3_TABLE_2_1.values()] == [500_000] * 3 + [1_000_000] * 2 + [2_000_000] * 2 + [3_200_000]
    assert [r.learning_rate for r in GPT3_TABLE_2_1.values()] == [6e-4, 3e-4, 2.5e-4, 2e-4, 1.6e-4, 1.2e-4, 1e-4, 0.6e-4]
    assert GPT3_TABLE_2_1["gpt3-175b"].n_params_paper == 175e9
    with pytest.raises(dataclasses.FrozenInstanceError):
        GPT3_TABLE_2_1["gpt3-small"].n_layers = 1
    assert not hasattr(preset("gpt3-small"), "learning_rate")


def test_course_presets():
    tiny, gpt1, gpt3 = preset("tiny"), preset("tiny-gpt1"), preset("tiny-gpt3")
    for c in (tiny, gpt1, gpt3):
        assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == (4, 4, 128, 64, 65)
    assert tiny.norm == "pre" and tiny.residual_scale_init and tiny.attention_pattern == "dense"
    assert gpt1.norm == "post" and not gpt1.residual_scale_init
    assert (gpt3.attention_pattern, gpt3.attention_window) == ("alternating", 16)


def test_overrides_and_module_function():
    c = GPTConfig.from_preset("tiny", vocab_size=100, dropout=0.2)
    assert (c.vocab_size, c.dropout, c.n_embd) == (100, 0.2, 128)
    assert preset("tiny", vocab_size=100, dropout=0.2) == c
    assert preset("tiny").vocab_size == 65  # presets are not changed by overrides
    with pytest.raises(TypeError):
        PRESETS["tiny"]["vocab_size"] = 3


def test_unknown_preset_lists_every_name_and_suggests():
    with pytest.raises(ValueError) as e:
        preset("gpt2-125m")
    msg = str(e.value)
    assert "'gpt2-125m'" in msg and "Did you mean 'gpt2-124m'?" in msg
    assert all(name in msg for name in PRESETS)


def test_unknown_override_field():
    with pytest.raises(ValueError, match="no field 'n_layers'.*Did you mean 'n_layer'"):
        preset("tiny", n_layers=3)


def test_mlp_width_and_layer_window():
    assert small().mlp_width == 32 and small(n_inner=20).mlp_width == 20
    c = small(n_layer=5, attention_pattern="alternating", attention_window=4)
    assert [c.layer_window(i) for i in range(5)] == [None, 4, None, 4, None]
    banded = small(n_layer=3, attention_pattern="banded", attention_window=4)
    assert [banded.layer_window(i) for i in range(3)] == [4, 4, 4] and "every layer" in banded.describe()
    with pytest.raises(ValueError, match="attention_window=4 has no effect with attention_pattern='dense'"):
        small(attention_window=4)  # a window would be silently ignored by dense layers


@pytest.mark.parametrize("kw, pattern", [
    (dict(n_embd=10, n_head=3), "n_embd=10 is not divisible by n_head=3"),
    (dict(attention_pattern="alternating"), "needs attention_window"),
    (dict(attention_pattern="alternating", attention_window=9), "attention_window=9 is larger than block_size=8"),
    (dict(attention_window=0), "attention_window=0 must be a positive integer"),
    (dict(norm="middle"), "norm='middle' is not one of 'pre', 'post'"),
    (dict(attention_pattern="sparse"), "'dense', 'alternating', 'banded'"),
    (dict(attention_pattern="banded"), "'banded' needs attention_window"),
    (dict(gelu="relu"), "gelu='relu' is not one of 'exact', 'tanh'"),
    (dict(n_layer=0), "n_layer=0 must be a positive integer"),
    (dict(vocab_size=-5), "vocab_size=-5"),
    (dict(block_size=2.5), "block_size=2.5"),
    (dict(n_inner=0), "n_inner=0"),
    (dict(dropout=1.0), r"dropout=1.0 must be in \[0, 1\)"),
    (dict(layer_norm_eps=0.0), "layer_norm_eps"),
])
def test_bad_configs_say_what_to_change(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        small(**kw)


def test_describe_names_the_switches():
    text = preset("gpt1").describe()
    assert "12 layers x 768 wide" in text and "post-LN" in text and "plain init" in text
    text = preset("tiny-gpt3").describe()
    assert "pre-LN" in text and "window 16" in text and "1/sqrt(2N)" in text
