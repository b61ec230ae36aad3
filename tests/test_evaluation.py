"""The evaluation registry: prompts are honest (K examples, no answer leaked at K = 0), the one-pass
exact match equals greedy decoding, the log-prob equals gptedu.fewshot's, error bars are binomial."""
import math

import pytest
import torch

from gptedu import GPT, GPTConfig
from gptedu.evaluation import (KS, TASKS, Instance, binomial_stderr, choice_scores, evaluate,
                               exact_match_scores, instances, wilson_interval)
from gptedu.fewshot import choice_logprobs
from gptedu.generate import complete
from gptedu.subtask_corpus import ARROW, DESCRIPTIONS, TASKS as CORPUS_TASKS, evaluation_words, family_tokenizer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=family_tokenizer().vocab_size, block_size=512, n_layer=1, n_head=2,
                         n_embd=32)).eval()


def test_registry_holds_the_corpus_tasks():
    for name in CORPUS_TASKS:
        assert TASKS[name].kind == "exact" and TASKS[name].few_shot


@pytest.mark.parametrize("task", CORPUS_TASKS)
def test_prompts_are_k_shot_and_honest(task):
    held = set(evaluation_words())
    for k in (0, 1, 16):
        items = instances(task, k, 20, seed=3)
        assert items == instances(task, k, 20, seed=3)  # the same for every model
        for inst in items:
            lines = inst.prompt.split("\n")
            assert len(lines) == k + 1 and all(ARROW in line for line in lines[:-1])
            assert lines[-1].endswith(ARROW.rstrip()) and inst.answer.startswith(" ")
            target = inst.answer.strip()
            if task != "mapping":
                assert target in held
                assert target not in inst.prompt  # the query word is not among the examples
        with_desc = instances(task, k, 5, description=True, seed=3)
        assert all(i.prompt.startswith(DESCRIPTIONS[task] + "\n") for i in with_desc)
    zero = instances("mapping", 0, 50)
    assert all(i.prompt.count(ARROW.strip()) == 1 for i in zero)  # K = 0: nothing can tell the label
    assert len(instances("insertion", 16, 1, description=True)[0].prompt) < 512  # K = 16 fits the context


def test_exact_match_is_greedy_decoding(model):
    tok = family_tokenizer()
    prompt = instances("reversed", 2, 1)[0].prompt
    greedy = complete(model, tok, prompt, max_new_tokens=8, greedy=True)
    head, end = greedy[:4], greedy[4]
    cases = [Instance(prompt, head, end=end)]  # exactly what greedy writes
    cases.append(Instance(prompt, head[:-1] + ("a" if head[-1] != "a" else "b"), end=end))  # one char off
    correct, logprobs = exact_match_scores(model, tok, cases)
    assert correct == [True, False]
    expected = choice_logprobs(model, tok, prompt, [head])  # mean log-prob per token, as fewshot computes it
    assert math.isclose(logprobs[0], float(expected[0]), abs_tol=1e-5)


def test_long_prompts_are_cropped_from_the_left(model):
    tok = family_tokenizer()
    inst = Instance("x" * 2000 + "ab ->", " cd")
    _, lp = exact_match_scores(model, tok, [inst])
    expected = choice_logprobs(model, tok, inst.prompt, [" cd"])
    assert math.isclose(lp[0], float(expected[0]), abs_tol=1e-5)


def test_choice_scores_rank_like_fewshot(model):
    tok = family_tokenizer()
    inst = Instance("To be, or not to ", " be", choices=(" be", " see", " flee"), label=0)
    correct, lp = choice_scores(model, tok, [inst])
    logps = choice_logprobs(model, tok, inst.prompt, list(inst.choices))
    assert correct == [int(logps.argmax()) == 0]
    assert math.isclose(lp[0], float(logps[0]), abs_tol=1e-5)


def test_evaluate_reports_both_metrics_with_error_bars(model):
    tok = family_tokenizer()
    r = evaluate(model, tok, "mapping", k=4, n=10, keep=True)
    assert r["n"] == 10 and 0 <= r["accuracy"] <= 1 and r["logprob"] < 0
    assert r["accuracy_stderr"] == binomial_stderr(r["accuracy"], 10)
    assert len(r["per_instance"]["correct"]) == 10
    with pytest.raises(ValueError, match="No evaluation task"):
        evaluate(model, tok, "spelling")


def test_binomial_error_bars():
    assert binomial_stderr(0.5, 100) == pytest.approx(0.05)
    lo, hi = wilson_interval(0, 50)
    assert lo == 0 and 0 < hi < 0.1
    lo, hi = wilson_interval(25, 50)
    assert lo < 0.5 < hi
    assert KS == (0, 1, 2, 4, 8, 16)


def test_play_tasks_are_registered_when_present(model):
    pytest.importorskip("gptedu.play_tasks")
    tok = family_tokenizer()
    for name, kind in (("last_word", "exact"), ("cloze", "choice"), ("next_speaker", "choice")):
        assert TASKS[name].kind == kind and not TASKS[name].few_shot
        with pytest.raises(ValueError, match="zero-shot only"):
            instances(name, 1, 2)
        r = evaluate(model, tok, name, k=0, n=3)
        assert r["n"] == 3 and r["logprob"] < 0
    for inst in instances("cloze", 0, 5):
        assert inst.choices[inst.label] == inst.answer
