"""Sampling: greedy, top-k, top-p, seeded sampling, context cropping and clear errors."""
import math
import os

import pytest
import torch

from gptedu.config import GPTConfig
from gptedu.generate import complete, generate, top_k_filter, top_p_filter
from gptedu.model import GPT

torch.set_num_threads(int(os.environ.get("GPTEDU_THREADS", "1")))

VOCAB, BLOCK = 20, 8
INF = float("inf")


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=VOCAB, block_size=BLOCK, n_layer=1, n_head=2, n_embd=16, dropout=0.2,
                      tie_embeddings=False))
    with torch.no_grad():  # larger weights than the 0.02 init: logits peaked enough to be interesting
        m.wte.weight.mul_(10)
        m.lm_head.weight.mul_(10)
    return m


class Chars:
    """A character tokenizer over 'a'..'t' (20 symbols)."""
    chars = "abcdefghijklmnopqrst"
    vocab_size = 20

    def encode(self, text):
        return [self.chars.index(c) for c in text]

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids)


PROMPT = torch.tensor([[1, 2, 3]])


# ---------------------------------------------------------------- filters on hand-made logits
def test_top_k_filter_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    assert torch.equal(top_k_filter(logits, 2), torch.tensor([[-INF, 5.0, -INF, 4.0, -INF]]))
    assert torch.equal(top_k_filter(logits, 5), logits)
    assert torch.equal(logits, torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]]))  # input untouched


def test_top_p_filter_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([0.05, 0.5, 0.15, 0.3])  # sorted: 0.5, 0.3, 0.15, 0.05
    logits = probs.log()[None]
    kept = lambda p: (top_p_filter(logits, p) > -INF)[0].tolist()  # noqa: E731
    assert kept(0.3) == [False, True, False, False]  # 0.5 alone reaches 0.3
    assert kept(0.75) == [False, True, False, True]  # 0.5 + 0.3 >= 0.75
    assert kept(0.9) == [False, True, True, True]  # needs 0.15 too
    assert kept(0.97) == [True, True, True, True]
    assert kept(1e-6) == [False, True, False, False]  # at least one token always stays
    kept_logits = top_p_filter(logits, 0.75)[0]
    assert kept_logits[1] == logits[0, 1] and kept_logits[3] == logits[0, 3]  # survivors unchanged


# ---------------------------------------------------------------- generate
def test_greedy_is_argmax_step_by_step_and_deterministic(model):
    out = generate(model, PROMPT, 12, greedy=True)
    assert out.shape == (1, 15) and torch.equal(out[:, :3], PROMPT)
    assert torch.equal(out, generate(model, PROMPT, 12, greedy=True))
    model.eval()
    for t in range(3, 15):
        logits, _ = model(out[:, max(0, t - BLOCK):t])
        assert out[0, t] == logits[0, -1].argmax()


def test_top_k_1_equals_greedy(model):
    gen = torch.Generator().manual_seed(0)
    sampled = generate(model, PROMPT, 12, temperature=1.5, top_k=1, generator=gen)
    assert torch.equal(sampled, generate(model, PROMPT, 12, greedy=True))


def test_seeded_sampling_is_reproducible_and_differs_from_greedy(model):
    def sample(seed):
        return generate(model, PROMPT.repeat(4, 1), 20, top_p=0.95, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(sample(1), sample(1))
    assert not torch.equal(sample(1), sample(2))
    assert not torch.equal(sample(1)[:1], generate(model, PROMPT, 20, greedy=True))


def test_context_is_cropped_so_generation_can_exceed_block_size(model):
    out = generate(model, PROMPT, 3 * BLOCK, greedy=True)
    assert out.shape == (1, 3 + 3 * BLOCK)
    model.eval()
    last_window = out[:, -BLOCK - 1:-1]  # the final token was predicted from the last BLOCK tokens only
    assert out[0, -1] == model(last_window)[0][0, -1].argmax()


def test_mode_is_restored_and_no_graph_is_built(model):
    model.train()
    out = generate(model, PROMPT, 2, greedy=True)
    assert model.training and not out.requires_grad
    model.eval()
    generate(model, PROMPT, 2, greedy=True)
    assert not model.training


def test_complete_returns_only_the_new_text(model):
    text = complete(model, Chars(), "bcd", max_new_tokens=5, greedy=True)
    assert len(text) == 5
    assert text == Chars().decode(generate(model, PROMPT, 5, greedy=True)[0, 3:].tolist())


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=0.0), "greedy=True"),
    (dict(temperature=-1.0), "greedy=True"),
    (dict(top_k=0), "between 1 and the vocabulary size 20"),
    (dict(top_k=21), "between 1 and the vocabulary size 20"),
    (dict(top_p=0.0), r"top_p=0.0 must be in \(0, 1\]"),
    (dict(top_p=1.5), r"top_p=1.5 must be in \(0, 1\]"),
    (dict(max_new_tokens=-1), "max_new_tokens=-1 must be >= 0"),
])
def test_bad_arguments_say_what_to_do(model, kwargs, message):
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, PROMPT, **kwargs)


def test_bad_prompts_say_what_to_do(model):
    with pytest.raises(ValueError, match="empty"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="empty"):
        complete(model, Chars(), "", 3)
    with pytest.raises(ValueError, match=r"has 9 tokens.*block_size\) is 8.*prompt\[-8:\]"):
        generate(model, torch.zeros(1, 9, dtype=torch.long), 3)
    with pytest.raises(ValueError, match=r"9 tokens long.*block_size\) is 8.*prompt\[-8:\]"):
        complete(model, Chars(), "abcdefghi", 3)
    with pytest.raises(ValueError, match="outside this model's vocabulary 0..19"):
        generate(model, torch.tensor([[3, 25]]), 3)
    assert math.isfinite(model(generate(model, PROMPT, 0, greedy=True))[0].sum().item())  # 0 new tokens is fine
