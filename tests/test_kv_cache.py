"""The key/value cache: cached logits equal the full forward's; generate gives the same tokens with or without it."""
import pytest
import torch

from gptedu.config import GPTConfig
from gptedu.generate import generate
from gptedu.kv_cache import KVCache
from gptedu.model import GPT

PATTERNS = [("dense", None), ("alternating", 5), ("banded", 5)]


def model(pattern="dense", window=None, norm="pre", block_size=24, seed=0):
    cfg = GPTConfig(vocab_size=50, block_size=block_size, n_layer=3, n_head=2, n_embd=16, dropout=0.1,
                    attention_pattern=pattern, attention_window=window, norm=norm)
    torch.manual_seed(seed)
    return GPT(cfg).eval()


@pytest.mark.parametrize("pattern,window", PATTERNS)
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_token_by_token_logits_equal_the_full_forward(pattern, window, norm):
    m = model(pattern, window, norm)
    seq = torch.randint(0, 50, (3, 24), generator=torch.Generator().manual_seed(1))
    full, _ = m(seq)
    cache = KVCache(3)
    steps = [m(seq[:, :10], cache=cache)[0]] + [m(seq[:, t:t + 1], cache=cache)[0] for t in range(10, 24)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache.length == 24 and repr(cache) == "KVCache(3 layers, 24 tokens)"
    chunked = KVCache(3)  # several new tokens at once after a prefill: the causal mask is offset
    m(seq[:, :5], cache=chunked)
    torch.testing.assert_close(m(seq[:, 5:13], cache=chunked)[0], full[:, 5:13], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pattern,window", PATTERNS)
def test_generate_gives_the_same_tokens_with_and_without_the_cache(pattern, window):
    m = model(pattern, window)
    prompt = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(2))
    # 40 new tokens on a context of 24: the last 23 steps run past the window and re-read it
    cached, plain = (generate(m, prompt, 40, greedy=True, use_cache=c) for c in (True, False))
    assert torch.equal(cached, plain)
    sampled = [generate(m, prompt, 40, top_k=10, temperature=1.3, use_cache=c,
                        generator=torch.Generator().manual_seed(3)) for c in (True, False)]
    assert torch.equal(*sampled)


def test_the_cache_skips_re_reading_the_prompt():
    """Counting the rows the first Linear sees: cached generation feeds each token once."""
    m = model(block_size=64)
    rows = []
    m.h[0].attn.c_attn.register_forward_hook(lambda mod, inp, out: rows.append(inp[0].shape[1]))
    generate(m, torch.zeros(1, 10, dtype=torch.long), 20, greedy=True)
    assert rows == [10] + [1] * 19
    rows.clear()
    generate(m, torch.zeros(1, 10, dtype=torch.long), 20, greedy=True, use_cache=False)
    assert rows == list(range(10, 30))


def test_clear_errors():
    m = model()
    cache = KVCache(3)
    m(torch.zeros(1, 20, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="5 tokens after the 20 tokens already in the cache.*new KVCache"):
        m(torch.zeros(1, 5, dtype=torch.long), cache=cache)
    with pytest.raises(TypeError, match=r"cache must be a KVCache\(3\)"):
        m(torch.zeros(1, 5, dtype=torch.long), cache=KVCache(2))
    with pytest.raises(ValueError, match="return_weights needs the whole sequence"):
        m.h[0].attn(torch.zeros(1, 2, 16), return_weights=True, kv=KVCache(3).layers[0])
    with pytest.raises(ValueError, match="use_cache='yes' must be True or False"):
        generate(m, torch.zeros(1, 2, dtype=torch.long), 2, use_cache="yes")
