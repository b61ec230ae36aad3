"""Issue 29, item 3: no unbounded loops. Requests beyond a limit fail at once, naming the limit.

Before the fix each of these spun forever (or for minutes): scaling.bootstrap_fit with fewer distinct
compute values than the fit needs, subtask_corpus.new_labels beyond its 2,000 labels, and
evaluation.evaluate(k=10**6). Every case runs under a time limit (SIGALRM), so a hang fails the test
instead of the suite.
"""
import random

import numpy as np
import pytest
import torch

from gptedu import evaluation, scaling
from gptedu.config import GPTConfig
from gptedu.model import GPT
from gptedu.subtask_corpus import evaluation_words, family_tokenizer, mapping_pairs, new_labels, word_pairs
from tests import limits

LABEL_SPACE = 20 * 5 * 20  # consonant-vowel-consonant labels (gptedu.subtask_corpus.LABEL_SPACE)
MAX_N = 100_000  # gptedu.evaluation.MAX_N

LIMIT_S = 30  # each call below answers in well under a second; the limit only catches a hang


def time_limit(seconds: int = LIMIT_S):
    return limits.time_limit(seconds, "an unbounded loop")


@pytest.fixture(scope="module")
def model_and_tokenizer():
    evaluation_words()  # load the held-out words outside the time limits
    tok = family_tokenizer()
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=1, n_head=2, n_embd=16)), tok


# ---------------------------------------------------------------- scaling.bootstrap_fit
@pytest.mark.parametrize("distinct, irreducible, need", [(2, True, 3), (1, False, 2), (1, True, 3)])
def test_bootstrap_fit_with_too_few_distinct_compute_values(distinct, irreducible, need):
    C = np.repeat(np.geomspace(1e-9, 1e-7, distinct), 4)
    L = 2.0 * C ** -0.05
    with time_limit(), pytest.raises(ValueError, match=rf"needs at least {need} points of different compute; "
                                                      rf"got {distinct}, so no resample could be fitted"):
        scaling.bootstrap_fit(C, L, irreducible=irreducible, n=10)


def test_bootstrap_fit_with_enough_points_still_works():
    C = np.geomspace(1e-9, 1e-7, 5)
    with time_limit():
        boot = scaling.bootstrap_fit(C, 2.0 * C ** -0.05, irreducible=False, n=20, seed=0)
    assert boot["b"].shape == (20,)


# ---------------------------------------------------------------- subtask_corpus
@pytest.mark.parametrize("n", [LABEL_SPACE + 1, 10**6])
def test_new_labels_beyond_the_label_space(n):
    with time_limit(), pytest.raises(ValueError, match=rf"^n={n} must be a whole number from 0 to 2,000: there "
                                                      rf"are only that many consonant-vowel-consonant labels"):
        new_labels(n, random.Random(0))
    with time_limit(), pytest.raises(ValueError, match=rf"^n={n} must be a whole number from 0 to 2,000"):
        mapping_pairs([f"w{i}" for i in range(n)], n, 3, random.Random(0))


def test_the_whole_label_space_can_still_be_drawn():
    with time_limit():
        labels = new_labels(LABEL_SPACE, random.Random(0))
    assert len(set(labels)) == LABEL_SPACE
    from gptedu.subtask_corpus import LABEL_SPACE as limit
    assert limit == LABEL_SPACE


def test_word_pairs_beyond_the_distinct_words():
    words = ["heart", "crown", "noble"]
    with time_limit(), pytest.raises(ValueError, match=r"^n=4 must be a whole number from 0 to 3: each pair needs "
                                                      r"a different word and there are 3 words"):
        word_pairs("insertion", words, 4, random.Random(0))


# ---------------------------------------------------------------- evaluation
@pytest.mark.parametrize("task, k, limit", [("insertion", 10**6, "581"), ("mapping", 10**6, "1,024"),
                                            ("anagram2", 395, "394"), ("reversed", 581, "580")])
def test_evaluate_with_more_examples_than_possible(model_and_tokenizer, task, k, limit):
    model, tok = model_and_tokenizer
    with time_limit(), pytest.raises(ValueError, match=rf"^k={k} is too many examples for '{task}': at most {limit} "):
        evaluation.evaluate(model, tok, task, k=k, n=2)


def test_the_largest_k_still_draws(model_and_tokenizer):
    with time_limit():
        items = evaluation.instances("anagram2", evaluation.max_k("anagram2"), 1)
    assert evaluation.max_k("anagram2") == 394 and items[0].prompt.count("\n") == 394


@pytest.mark.parametrize("n", [MAX_N + 1, 10**9])
def test_evaluate_with_too_many_instances(model_and_tokenizer, n):
    model, tok = model_and_tokenizer
    with time_limit(), pytest.raises(ValueError, match=rf"^n={n} must be a whole number from 1 to 100,000"):
        evaluation.evaluate(model, tok, "mapping", k=1, n=n)
