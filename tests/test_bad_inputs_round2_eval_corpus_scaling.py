"""Issue 29, item 5: argument checks with the argument's name and what is allowed, in evaluation,
CorpusConfig and scaling."""
import math

import numpy as np
import pytest
import torch

from gptedu import evaluation, scaling
from gptedu.config import GPTConfig
from gptedu.evaluation import Instance, exact_match_scores
from gptedu.model import GPT
from gptedu.subtask_corpus import CorpusConfig, family_tokenizer


@pytest.fixture(scope="module")
def model_and_tokenizer():
    tok = family_tokenizer()
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16)), tok


# ---------------------------------------------------------------- evaluation.evaluate / instances
@pytest.mark.parametrize("kw, pattern", [
    (dict(k=-1), r"^k=-1 must be an integer >= 0 \(examples in the prompt; 0: zero-shot\)"),
    (dict(k=2.0), r"^k=2\.0 must be an integer >= 0"),
    (dict(k="4"), r"^k='4' must be an integer >= 0"),
    (dict(k=True), r"^k=True must be an integer >= 0"),
    (dict(n=0), r"^n=0 must be a whole number from 1 to 100,000 \(instances\)"),
    (dict(n=2.5), r"^n=2\.5 must be a whole number from 1 to 100,000"),
    (dict(n=None), r"^n=None must be a whole number from 1 to 100,000"),
    (dict(description="no"), r"^description='no' must be True or False"),
    (dict(description=1), r"^description=1 must be True or False"),
    (dict(keep="yes"), r"^keep='yes' must be True or False"),
    (dict(seed=1.5), r"^seed=1\.5 must be an integer"),
    (dict(task=["mapping"]), r"^No evaluation task \['mapping'\]; registered:"),
])
def test_evaluate_names_the_bad_argument(model_and_tokenizer, kw, pattern):
    model, tok = model_and_tokenizer
    args = {"task": "mapping", "k": 1, "n": 2, **kw}
    with pytest.raises(ValueError, match=pattern):
        evaluation.evaluate(model, tok, args.pop("task"), **args)


@pytest.mark.parametrize("inst, pattern", [
    (Instance("", " kep"), r"instances\[0\] has an empty prompt: the model needs at least one token"),
    (Instance("sword ->", ""), r"instances\[0\] has an empty answer"),
    (Instance("sword ->", " " + "x" * 40), r"instances\[0\]'s answer and end take 42 tokens; the model's context is "
                                          r"32: no room is left for the prompt"),
])
def test_exact_match_refuses_an_instance_it_cannot_score(model_and_tokenizer, inst, pattern):
    model, tok = model_and_tokenizer
    with pytest.raises(ValueError, match=pattern):
        exact_match_scores(model, tok, [inst])
    with pytest.raises(TypeError, match=r"instances\[0\] must be an Instance; got str"):
        exact_match_scores(model, tok, ["sword -> kep"])


def test_an_answer_that_just_fits_is_still_scored(model_and_tokenizer):
    model, tok = model_and_tokenizer
    correct, logprobs = exact_match_scores(model, tok, [Instance("a", " " + "x" * 30)])  # 31 + "\n" = 32 tokens
    assert len(correct) == 1 and math.isfinite(logprobs[0])


# ---------------------------------------------------------------- CorpusConfig.validate
@pytest.mark.parametrize("kw, pattern", [
    (dict(task_weights=(0.0,) * 6), r"task_weights=\(0\.0, .*\) are all zero: at least one task needs a weight > 0"),
    (dict(task_weights=(1.0, 1.0, 1.0, 1.0, 1.0, -5.0)), r"the weight of 'mapping' in task_weights=-5\.0 must be a "
                                                        r"number in \[0, inf\)"),
    (dict(task_weights=(1.0, 1.0, 1.0, 1.0, 1.0, float("nan"))), r"the weight of 'mapping' in task_weights=nan"),
    (dict(task_weights=(1.0, 2.0)), r"task_weights=\(1\.0, 2\.0\) needs one weight per task \(6: cycle,"),
    (dict(description_prob=1.5), r"^description_prob=1\.5 must be a number from 0 to 1 \(the share of episodes"),
    (dict(description_prob=-0.1), r"^description_prob=-0\.1 must be a number from 0 to 1"),
    (dict(description_prob="half"), r"^description_prob='half' must be a number from 0 to 1"),
    (dict(tasks="mapping"), r"^tasks='mapping' is one string; pass a tuple of task names, e\.g\. \('mapping',\)"),
    (dict(tasks=("mapping", "spelling")), r"^tasks=\('mapping', 'spelling'\): each must be one of .*unknown: "
                                          r"\['spelling'\]"),
    (dict(tasks=()), r"^tasks=\(\): each must be one of .*\(at least one\)"),
    (dict(examples=(-3, 5)), r"^examples\[0\]=-3 must be a whole number from 1 to 1,000"),
    (dict(examples=(8, 10**6)), r"^examples\[1\]=1000000 must be a whole number from 1 to 1,000"),
    (dict(examples=(2.5, 4)), r"^examples\[0\]=2\.5 must be a whole number from 1 to 1,000"),
    (dict(mapping_words=(2, 5000)), r"^mapping_words\[1\]=5000 must be a whole number from 1 to 2,000"),
    (dict(text_chars=(0, 10)), r"^text_chars\[0\]=0 must be a whole number from 1 to 1,000,000"),
    (dict(text_chars=(10, 5)), r"^text_chars=\(10, 5\) must be \(lo, hi\) with 1 <= lo <= hi"),
    (dict(text_chars=100), r"^text_chars=100 must be \(lo, hi\)"),
    (dict(task_fraction="0.5"), r"^task_fraction='0\.5' must be in \[0, 1\]"),
])
def test_corpus_config_names_the_bad_field(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        CorpusConfig(**kw).validate()


# ---------------------------------------------------------------- scaling
C = np.geomspace(1e-9, 1e-7, 6)
L = 2.0 * C ** -0.05


@pytest.mark.parametrize("call, pattern", [
    (lambda: scaling.bootstrap_fit(C, L, n=0), r"^n=0 must be a positive integer \(resamples\)"),
    (lambda: scaling.bootstrap_fit(C, L, n=2.5), r"^n=2\.5 must be a positive integer"),
    (lambda: scaling.bootstrap_fit(C, L, irreducible="no"), r"^irreducible='no' must be True or False"),
    (lambda: scaling.bootstrap_fit(np.r_[C[:-1], np.nan], L, n=5), r"compute and loss must be finite and > 0"),
    (lambda: scaling.bootstrap_fit(C, L[:-1], n=5), r"C and L must be 1-d and the same length"),
    (lambda: scaling.interval([1.0, 2.0], level=1.5), r"^level=1\.5 must be a number in \(0, 1\], e\.g\. 0\.9"),
    (lambda: scaling.interval([1.0, 2.0], level=0), r"^level=0 must be a number in \(0, 1\]"),
    (lambda: scaling.interval([1.0, 2.0], level=float("nan")), r"^level=nan must be a number in \(0, 1\]"),
    (lambda: scaling.interval([], level=0.9), r"^samples is empty"),
    (lambda: scaling.fit_power_law(C, L, irreducible="yes"), r"^irreducible='yes' must be True or False"),
    (lambda: scaling.training_flops(float("nan"), 1e6), r"^n_params=nan must be a number >= 0 \(and finite\)"),
    (lambda: scaling.training_flops(-1e6, 1e6), r"^n_params=-1000000\.0 must be a number >= 0"),
    (lambda: scaling.training_flops(1e6, 1e6, n_layer=-2, n_ctx=256, d_model=64),
     r"^n_layer=-2 must be an integer >= 0 \(0 leaves the attention term out\)"),
    (lambda: scaling.training_flops(1e6, 1e6, n_layer=2, n_ctx=256.5, d_model=64), r"^n_ctx=256\.5 must be an integer"),
    (lambda: scaling.load_runs(after_warmup="no"), r"^after_warmup='no' must be True or False"),
])
def test_scaling_names_the_bad_argument(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


@pytest.mark.parametrize("kw, pattern", [
    (dict(n_boot=-1), r"^n_boot=-1 must be an integer >= 0 \(0: no interval\)"),
    (dict(n_boot=1.5), r"^n_boot=1\.5 must be an integer >= 0"),
    (dict(level=2), r"^level=2 must be a number in \(0, 1\]"),
    (dict(irreducible="no"), r"^irreducible='no' must be True or False"),
    (dict(on_frontier=None), r"^on_frontier=None must be True or False"),
    (dict(final_only="yes"), r"^final_only='yes' must be True or False"),
    (dict(fraction="1/10"), r"^fraction='1/10' must be a number in \(0, 1\], e\.g\. 1/10"),
])
def test_predict_run_names_the_bad_argument(kw, pattern):
    runs = scaling.load_runs()
    with pytest.raises(ValueError, match=pattern):
        scaling.predict_run(runs, **kw)
