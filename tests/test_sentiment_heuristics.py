"""GPT-1's zero-shot sentiment heuristic (section 5) and the course's labelled variant."""
import pytest
import torch

from gptedu.config import GPTConfig
from gptedu.fewshot import choice_logprobs
from gptedu.model import GPT
from gptedu.tasks import SENTIMENT_HEURISTICS, MultipleChoice, choice_scores, sentiment_task
from gptedu.tokenizers import CharTokenizer

TOK = CharTokenizer("\n abcdefghijklmnopqrstuvwxyz.")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16)).eval()


def test_the_default_is_the_papers_rule():
    # "append the token very to each example and restrict the language model's output distribution to
    # only the words positive and negative and guess the token it assigns higher probability to"
    rule = SENTIMENT_HEURISTICS["paper"]
    assert (rule.prompt, rule.choices, rule.calibrated) == (" very", (" positive", " negative"), False)
    for ex in sentiment_task(20, seed=1):
        assert ex.context.endswith(" very") and ex.choices == (" positive", " negative")
        assert ex.calibration is None


def test_the_variant_is_labelled_and_calibrated():
    rule = SENTIMENT_HEURISTICS["it_was_very"]
    assert "variant" in rule.description
    for ex in sentiment_task(20, seed=1, heuristic="it_was_very"):
        assert ex.context.endswith(" It was very") and ex.choices == (" good", " bad")
        assert ex.calibration == " It was very"


def test_heuristics_score_the_same_balanced_reviews():
    paper = sentiment_task(60, seed=2)
    variant = sentiment_task(60, seed=2, heuristic="it_was_very")
    assert [ex.context[:-len(" very")] for ex in paper] == [ex.context[:-len(" It was very")] for ex in variant]
    assert [ex.answer for ex in paper] == [ex.answer for ex in variant]
    assert sum(ex.answer == 0 for ex in paper) == 30  # answer 0: fresh (positive first)
    assert sentiment_task(60, seed=2) == paper  # reproducible


def test_overrides_and_bad_arguments():
    ex = sentiment_task(4, seed=0, calibrated=True)[0]
    assert ex.calibration == " very"
    ex = sentiment_task(4, seed=0, prompt=" so", choices=(" yes", " no"))[0]
    assert ex.context.endswith(" so") and ex.choices == (" yes", " no") and ex.calibration is None
    with pytest.raises(ValueError, match=r"heuristic='gpt1' is not one of 'paper', 'it_was_very'"):
        sentiment_task(4, heuristic="gpt1")
    with pytest.raises(ValueError, match=r"prompt='' must be a non-empty string"):
        sentiment_task(4, prompt="")


def test_papers_rule_picks_the_more_probable_word(model):
    # Equal lengths (9 characters each): the mean log-probability per character that choice_scores
    # uses ranks the two words exactly as their probabilities (the sums) do.
    assert len(TOK.encode(" positive")) == len(TOK.encode(" negative"))
    for context in ("the film was very", "a dull mess. very", "what a joy. very"):
        ex = MultipleChoice(context, (" positive", " negative"), 0)
        total = choice_logprobs(model, TOK, context, ex.choices, normalize=False)
        assert torch.allclose(choice_scores(model, TOK, ex), total / 9, atol=1e-6)
        assert int(choice_scores(model, TOK, ex).argmax()) == int(total.argmax())
