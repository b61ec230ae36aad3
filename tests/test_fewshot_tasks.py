import math

import pytest
import torch

from gptedu.config import GPTConfig
from gptedu.fewshot import choice_logprobs, choose
from gptedu.model import GPT
from gptedu.tasks import MultipleChoice, choice_scores, next_line_task, sentiment_task, zero_shot_accuracy
from gptedu.tokenizers import CharTokenizer

TOK = CharTokenizer("\n abcdefghijklmnopqrstuvwxyz.")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()


def manual_logprob(model, context, choice):
    """Token by token, the slow obvious way."""
    ids = TOK.encode(context)
    total = 0.0
    for token in TOK.encode(choice):
        logits, _ = model(torch.tensor([ids[-model.config.block_size:]]))
        total += torch.log_softmax(logits[0, -1], -1)[token].item()
        ids.append(token)
    return total


def test_choice_logprobs_equal_token_by_token_scoring(model):
    got = choice_logprobs(model, TOK, "the cat", [" sat", " ran away"], normalize=False)
    want = [manual_logprob(model, "the cat", c) for c in [" sat", " ran away"]]
    assert torch.allclose(got, torch.tensor(want), atol=1e-5)
    mean = choice_logprobs(model, TOK, "the cat", [" sat", " ran away"])
    assert torch.allclose(mean, torch.tensor([want[0] / 4, want[1] / 9]), atol=1e-5)


def test_long_context_is_cropped_from_the_left(model):
    long_context = "x" * 50 + "the cat"
    got = choice_logprobs(model, TOK, long_context, [" sat"], normalize=False)
    want = manual_logprob(model, long_context[-(16 - 4):], " sat")
    assert math.isclose(got.item(), want, abs_tol=1e-5)


def test_choose_picks_what_a_trained_model_prefers():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=32))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    seq = torch.tensor([TOK.encode("the cat sat.\nthe cat sat.")])
    for _ in range(100):
        loss = m(seq[:, :-1], seq[:, 1:])[1]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert choose(m, TOK, "the cat", [" ran.", " sat."]) == 1
    ex = [MultipleChoice("the cat", (" ran.", " sat."), 1), MultipleChoice("the cat", (" sat.", " ran."), 0)]
    assert zero_shot_accuracy(m, TOK, ex) == (1.0, [True, True])


def test_bad_choices_get_clear_errors(model):
    with pytest.raises(ValueError, match="empty"):
        choice_logprobs(model, TOK, "the", [])
    with pytest.raises(ValueError, match="shorten"):
        choice_logprobs(model, TOK, "the", ["a" * 20])
    with pytest.raises(ValueError, match="context is empty"):
        choice_logprobs(model, TOK, "", ["a"])


def test_next_line_task_is_fair_and_reproducible():
    examples = next_line_task(40, seed=1)
    assert examples == next_line_task(40, seed=1) and len(examples) == 40
    answers = [ex.answer for ex in examples]
    assert len(set(answers)) == 4  # the right answer is not always in the same slot
    for ex in examples:
        assert len(ex.choices) == 4 and len(set(ex.choices)) == 4
        lengths = [len(c) for c in ex.choices]
        assert max(lengths) - min(lengths) <= 16  # length does not give the answer away
        assert ex.context and len(ex.context) == 200


def test_next_line_task_answers_are_the_real_next_line():
    from gptedu.data import load_shakespeare, HELD_OUT_PLAYS

    held_out = load_shakespeare(list(HELD_OUT_PLAYS))
    for ex in next_line_task(20, seed=2):
        assert ex.context + ex.choices[ex.answer] in held_out


def test_sentiment_task_is_balanced_and_in_vocabulary():
    from gptedu.data import load_shakespeare

    charset = CharTokenizer.from_text(load_shakespeare()).chars
    examples = sentiment_task(100, charset=charset, seed=0)
    assert sum(ex.answer == 0 for ex in examples) == 50
    assert all(set(ex.context) <= set(charset) for ex in examples)
    assert all(ex.context.endswith(" very") and ex.choices == (" positive", " negative") for ex in examples)
    variant = sentiment_task(100, charset=charset, heuristic="it_was_very", seed=0)
    assert all(ex.context.endswith(" It was very") and ex.choices == (" good", " bad") for ex in variant)


def test_calibrated_score_subtracts_the_content_free_log_probability(model):
    ex = MultipleChoice("the cat", (" sat", " ran"), 0, calibration=" ")
    want = choice_logprobs(model, TOK, "the cat", ex.choices, normalize=False) - \
        choice_logprobs(model, TOK, " ", ex.choices, normalize=False)
    assert torch.allclose(choice_scores(model, TOK, ex), want)
    plain = MultipleChoice("the cat", (" sat", " ran"), 0)
    assert torch.allclose(choice_scores(model, TOK, plain), choice_logprobs(model, TOK, "the cat", plain.choices))


def test_tasks_are_calibrated_by_their_content_free_prompt():
    assert all(ex.calibration == "\n" for ex in next_line_task(5))
    assert all(ex.calibration == " It was very" for ex in sentiment_task(4, heuristic="it_was_very"))
    assert all(ex.calibration is None for ex in sentiment_task(4))  # GPT-1's own rule is not calibrated
