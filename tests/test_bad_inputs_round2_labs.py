"""Issue 29, item 4: the labs refuse a constructor argument outside their controls' range, naming it and
the allowed range, as the transfer lab does. Before the fix ipywidgets moved it to the nearest end
(temperature 0 -> 0.1, top_k 0 -> 1, tokens 10**6 -> 400, seed -1 -> 0, seed 10**7 -> 10**6) and the lab ran
with settings the learner did not ask for; a value of the wrong type gave a bare TraitError.
"""
import pytest
import torch

from gptedu.config import GPTConfig
from gptedu.labs.depth import DepthLab, RunSettings
from gptedu.labs.fewshot import LabSettings, fewshot_lab
from gptedu.labs.prompt import Decoding, PromptLab
from gptedu.model import GPT
from gptedu.tokenizers import CharTokenizer


def tiny_loader():
    tok = CharTokenizer.from_text("abcdefghij \n")
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=1, n_embd=8)).eval(), tok


def prompt_lab(prompt="abc", max_new_tokens=5, seed=0, **decoding):
    return PromptLab({"tiny": tiny_loader}, {}, "tiny", prompt, Decoding(**decoding), max_new_tokens, seed)


@pytest.mark.parametrize("kw, pattern", [
    (dict(temperature=0), r"^temperature=0 must be a number from 0\.1 to 2 \(the lab's slider; greedy: mode='greedy'\)"),
    (dict(temperature=5.0), r"^temperature=5\.0 must be a number from 0\.1 to 2"),
    (dict(temperature="hot"), r"^temperature='hot' must be a number from 0\.1 to 2"),
    (dict(top_k=0), r"^top_k=0 must be a whole number from 1 to 100 \(the lab's slider\)"),
    (dict(top_k=1000), r"^top_k=1000 must be a whole number from 1 to 100"),
    (dict(top_k=2.5), r"^top_k=2\.5 must be a whole number from 1 to 100"),
    (dict(top_p=0.0), r"^top_p=0\.0 must be a number from 0\.05 to 1 \(the lab's slider\)"),
    (dict(top_p=1.5), r"^top_p=1\.5 must be a number from 0\.05 to 1"),
    (dict(max_new_tokens=10**6), r"^max_new_tokens=1000000 must be a whole number from 1 to 400 \(the lab's slider\)"),
    (dict(max_new_tokens=0), r"^max_new_tokens=0 must be a whole number from 1 to 400"),
    (dict(seed=-1), r"^seed=-1 must be a whole number from 0 to 1,000,000"),
    (dict(seed=10**7), r"^seed=10000000 must be a whole number from 0 to 1,000,000"),
    (dict(seed=True), r"^seed=True must be a whole number from 0 to 1,000,000"),
])
def test_the_prompt_lab_refuses_what_its_sliders_cannot_show(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        prompt_lab(**kw)


def test_the_prompt_lab_refuses_a_prompt_that_is_not_text():
    with pytest.raises(TypeError, match=r"^prompt must be a str; got int 5"):
        prompt_lab(prompt=5)


def test_the_prompt_lab_takes_the_ends_of_its_ranges():
    lab = prompt_lab(temperature=0.1, top_k=100, top_p=0.05, max_new_tokens=400, seed=10**6)
    assert (lab.temperature.value, lab.top_k.value, lab.top_p.value, lab.length.value, lab.seed.value) == \
        (0.1, 100, 0.05, 400, 10**6)


@pytest.mark.parametrize("kw, pattern", [
    (dict(seed=10**7), r"^seed=10000000 must be a whole number from 0 to 1,000,000 \(the lab's seed box\)"),
    (dict(k=10**6), r"^k=1000000 must be a whole number from 0 \(zero-shot\) to 320"),
])
def test_the_fewshot_lab_refuses_what_its_controls_cannot_show(kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        LabSettings(**kw)
    with pytest.raises(ValueError, match=pattern):
        fewshot_lab(**kw, entries=None)


def test_the_depth_lab_refuses_a_seed_its_box_cannot_show():
    with pytest.raises(ValueError, match=r"^seed=10000000 must be a whole number from 0 to 1,000,000 \(the lab's "
                                         r"seed box\)"):
        DepthLab(None, RunSettings(seed=10**7))
