"""Issue 29, items 4 and 5: booleans passed as strings, and a choice of the wrong type, get a clear error.

A string such as "no" is truthy, so before the fix normalize="no" normalized, final_only="no" kept only the
final points, description="no" read the described entries; a list given for a lab's mode or norm raised a
bare `TypeError: unhashable type: 'list'`.
"""
import pytest
import torch

from gptedu import scaling
from gptedu.config import GPTConfig
from gptedu.evaluation import Instance, choice_scores
from gptedu.family import manifest
from gptedu.fewshot import choice_logprobs, choose
from gptedu.labs.depth import RunSettings
from gptedu.labs.prompt import Decoding
from gptedu.model import GPT
from gptedu.tokenizers import CharTokenizer


@pytest.fixture(scope="module")
def model_and_tokenizer():
    tok = CharTokenizer.from_text("abcdefghij ->\n")
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=1, n_embd=8)).eval(), tok


@pytest.mark.parametrize("value", ["no", "False", 0, None])
def test_normalize_must_be_a_real_bool(model_and_tokenizer, value):
    model, tok = model_and_tokenizer
    for call in (lambda: choice_logprobs(model, tok, "ab ->", [" c", " dd"], normalize=value),
                 lambda: choose(model, tok, "ab ->", [" c", " dd"], normalize=value),
                 lambda: choice_scores(model, tok, [Instance("ab ->", " c", (" c", " dd"), 0)], normalize=value)):
        with pytest.raises(ValueError, match=rf"^normalize={value!r} must be True or False"):
            call()


def test_scaling_and_family_flags_must_be_real_bools(tmp_path):
    runs = scaling.load_runs()
    with pytest.raises(ValueError, match=r"^final_only='no' must be True or False"):
        scaling.curve_points(runs, final_only="no")
    with pytest.raises(ValueError, match=r"^description='no' must be True or False"):
        scaling.capability_points({}, "mapping", 1, runs, description="no")
    with pytest.raises(ValueError, match=r"^missing_ok='yes' must be True or False"):
        manifest(tmp_path, missing_ok="yes")


def test_a_lab_choice_of_the_wrong_type_is_named():
    with pytest.raises(ValueError, match=r"^mode=\['greedy'\]: pick one of greedy, temperature, top-k, top-p"):
        Decoding(mode=["greedy"])
    with pytest.raises(ValueError, match=r"^norm=\['pre'\] must be 'pre' or 'post'"):
        RunSettings(norm=["pre"])
