"""Issue 29, item 5: banded attention, the KV cache, generation and transfer name a bad argument.

Before the fix: window 0 divided by zero, a negative or float window gave a wrong mask silently, dropout 1.0
or -0.5 went to PyTorch; KVCache(0) failed with an IndexError on first use, a cache reused for another batch
failed inside torch.cat, for another model silently mixed keys, and a prompt fed twice silently shifted its
positions; greedy="no" decoded greedily, generator=0 raised AttributeError, a tiny temperature gave a
multinomial error on NaNs; transfer(pretrained="no") copied the pretrained weights.
"""
import pytest
import torch

from gptedu.attention import banded_causal_mask, causal_mask
from gptedu.banded_attention import band_tile_mask, banded_attention
from gptedu.config import GPTConfig
from gptedu.finetune import transfer
from gptedu.generate import generate
from gptedu.kv_cache import KVCache
from gptedu.model import GPT


def small(seed: int = 0, **kw) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{"vocab_size": 20, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 16, **kw})).eval()


QKV = [torch.randn(1, 2, 10, 4, generator=torch.Generator().manual_seed(i)) for i in range(3)]


# ---------------------------------------------------------------- banded attention and masks
@pytest.mark.parametrize("window", [0, -3, 2.5, True, "4", None])
def test_a_window_must_be_a_positive_whole_number(window):
    pattern = rf"^window={window!r} must be a positive integer \(how many positions a query sees, itself included\)"
    for call in (lambda: banded_attention(*QKV, window), lambda: banded_causal_mask(10, window),
                 lambda: band_tile_mask(window)):
        with pytest.raises(ValueError, match=pattern):
            call()


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), "0.1"])
def test_attention_dropout_must_be_in_0_1(p):
    with pytest.raises(ValueError, match=rf"^dropout_p={p!r} must be a number in \[0, 1\) \(0 turns attention "
                                         rf"dropout off\)"):
        banded_attention(*QKV, 4, dropout_p=p)


def test_mask_length_and_tensor_shapes():
    with pytest.raises(ValueError, match=r"^T=-1 must be an integer >= 0 \(the sequence length\)"):
        causal_mask(-1)
    with pytest.raises(ValueError, match=r"^T=2\.5 must be an integer >= 0"):
        banded_causal_mask(2.5, 2)
    with pytest.raises(ValueError, match=r"q, k and v must have the same shape; got \(1, 2, 10, 4\), \(1, 2, 9, 4\)"):
        banded_attention(QKV[0], QKV[1][:, :, :9], QKV[2], 4)
    with pytest.raises(ValueError, match=r"^q must be a \(batch, heads, time, head size\) tensor; got \(10, 4\)"):
        banded_attention(QKV[0][0, 0], QKV[1], QKV[2], 4)
    assert banded_causal_mask(4, 4).equal(causal_mask(4))  # a good window still works


# ---------------------------------------------------------------- the KV cache
@pytest.mark.parametrize("n", [0, -1, 2.5, "2", True])
def test_a_cache_needs_a_positive_number_of_layers(n):
    with pytest.raises(ValueError, match=rf"^n_layer={n!r} must be a positive integer \(one entry per layer: "
                                         rf"KVCache\(model\.config\.n_layer\)\)"):
        KVCache(n)


def test_a_cache_belongs_to_one_batch():
    model, cache = small(), KVCache(2)
    model(torch.zeros(2, 5, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match=r"This KVCache holds 2 sequence\(s\) but idx has a batch of 1: a cache "
                                         r"belongs to one batch"):
        model(torch.zeros(1, 1, dtype=torch.long), cache=cache)
    assert cache.length == 5  # the refused call left the cache as it was
    model(torch.zeros(2, 1, dtype=torch.long), cache=cache)
    assert cache.length == 6


def test_a_cache_belongs_to_one_model():
    first, second, cache = small(0), small(1), KVCache(2)
    first(torch.zeros(1, 5, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match=r"This KVCache holds the keys and values another model computed; start a "
                                         r"new KVCache"):
        second(torch.ones(1, 1, dtype=torch.long), cache=cache)
    assert cache.length == 5


def test_the_same_prompt_fed_twice_does_not_shift_its_positions_silently():
    model, cache = small(), KVCache(2)
    prompt = torch.tensor([[3, 1, 4, 1, 5]])
    model(prompt, cache=cache)
    with pytest.raises(ValueError, match=r"idx starts with the 5 tokens this KVCache already holds: feed only the "
                                         r"new tokens, idx\[:, cache\.length:\] \(else their positions shift by 5\)"):
        model(prompt, cache=cache)
    with pytest.raises(ValueError, match=r"idx starts with the 5 tokens"):  # the whole sequence again, one token more
        model(torch.tensor([[3, 1, 4, 1, 5, 9]]), cache=cache)
    assert cache.length == 5
    full, _ = model(torch.tensor([[3, 1, 4, 1, 5, 9]]))
    step, _ = model(torch.tensor([[9]]), cache=cache)  # the right way on: only the new token
    torch.testing.assert_close(step[:, -1], full[:, -1], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- generation and transfer
@pytest.mark.parametrize("greedy", ["no", "yes", 0, None])
def test_greedy_must_be_a_real_bool(greedy):
    with pytest.raises(ValueError, match=rf"^greedy={greedy!r} must be True or False"):
        generate(small(), torch.zeros(1, 2, dtype=torch.long), 3, greedy=greedy)


@pytest.mark.parametrize("generator", [0, 42, "seed", torch.Generator().get_state()])
def test_generator_must_be_a_torch_generator(generator):
    with pytest.raises(TypeError, match=r"generator=.* must be a torch\.Generator \(or None\), e\.g\. "
                                        r"torch\.Generator\(\)\.manual_seed\(0\)"):
        generate(small(), torch.zeros(1, 2, dtype=torch.long), 3, generator=generator)


@pytest.mark.parametrize("temperature", [1e-300, 1e-45])
def test_a_temperature_so_small_it_overflows(temperature):
    with pytest.raises(ValueError, match=rf"^temperature={temperature!r} is so small that logits / temperature "
                                         rf"overflow .*greedy=True"):
        generate(small(), torch.zeros(1, 2, dtype=torch.long), 3, temperature=temperature)


@pytest.mark.parametrize("pretrained", ["no", "False", 0, None])
def test_transfer_pretrained_must_be_a_real_bool(pretrained):
    with pytest.raises(ValueError, match=rf"^pretrained={pretrained!r} must be True or False"):
        transfer(small(), pretrained=pretrained)
