"""Issue 29, item 4, for every lab in gptedu/labs (not only the prompt, few-shot and depth labs the issue names).

Each lab refuses a constructor argument its controls cannot show the same way: a ValueError (TypeError for a
value of the wrong kind) that names the argument and the allowed range or choices; never a bare TraitError
from ipywidgets, a bare "unhashable type" TypeError, or a value quietly moved to the end of its control.
Every seed box takes 0 to 1,000,000 and says so in the same words.

Before these checks: the tokenizer playground's `choice` and the transfer lab's `task` given as a list raised
`TypeError: unhashable type: 'list'`; the transfer lab took lr=inf (its runs only turn to NaN); the few-shot
and depth labs answered a negative seed with "must be a whole number >= 0" (not the box's range); the depth
lab took n_layer above its 1-24 slider by stretching the slider, and n_layer=10**7 never finished building;
the scaling lab's class gave a bare TraitError for a held-out run or a limit not in its dropdowns and took
fraction=True as "all"; runs=3 failed with "'int' object is not iterable".
"""

import pytest
import torch
from traitlets import TraitError

from gptedu import scaling as S
from gptedu.config import GPTConfig
from gptedu.labs.attention import attention_explorer
from gptedu.labs.common import MAX_SEED
from gptedu.labs.depth import MAX_LAYERS, DepthLab, RunSettings, depth_lab
from gptedu.labs.fewshot import LabSettings, fewshot_lab
from gptedu.labs.prompt import Decoding, PromptLab
from gptedu.labs.scaling import ScalingLab, scaling_lab
from gptedu.labs.tokens import tokenizer_playground
from gptedu.labs.transfer import transfer_lab
from gptedu.model import GPT
from gptedu.tokenizers import CharTokenizer
from tests import limits

LIMIT_S = 30  # every refusal below comes before any data is read or model built; the limit catches a hang


def time_limit(seconds: int = LIMIT_S):
    return limits.time_limit(seconds, "the argument was not checked first")


TOK = CharTokenizer.from_text("abcdefghij \n")
torch.manual_seed(0)
MODEL = GPT(GPTConfig(vocab_size=TOK.vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=8)).eval()


def prompt_lab(seed=0, **decoding):
    return PromptLab({"tiny": lambda: (MODEL, TOK)}, {}, "tiny", "abc", Decoding(**decoding), 5, seed)


def scaling_class(**kw):
    """The scaling lab's class itself, as the other labs' classes are checked (not only its factory)."""
    args = {"runs": S.load_runs(), "held_out": "1.4m", "fraction": 1 / 30, "irreducible": True, "points": "frontier"}
    return ScalingLab(**{**args, **kw})


BUILDERS = {
    "attention": lambda **kw: attention_explorer(MODEL, TOK, prompt="abc", **kw),
    "tokens": lambda **kw: tokenizer_playground(tokenizers={"chars": TOK}, **kw),
    "transfer": lambda **kw: transfer_lab(MODEL, TOK, **kw),
    "prompt": prompt_lab,
    "fewshot": lambda **kw: fewshot_lab(entries=None, **kw),
    "depth": lambda **kw: depth_lab(None, **kw),
    "depth-class": lambda **kw: DepthLab(None, RunSettings(**kw)),
    "scaling": lambda **kw: scaling_lab(**kw),
    "scaling-class": scaling_class,
}

SEED_MESSAGE = r"^seed={} must be a whole number from 0 to 1,000,000 \(the lab's seed box\)\.$"


# ---------------------------------------------------------------- every seed box alike
@pytest.mark.parametrize("lab", ["transfer", "prompt", "fewshot", "depth"])
@pytest.mark.parametrize("seed, shown", [(-1, "-1"), (MAX_SEED + 1, "1000001"), (2.5, "2\\.5"), (True, "True"),
                                         ("7", "'7'")])
def test_every_seed_box_refuses_in_the_same_words(lab, seed, shown):
    with time_limit(), pytest.raises(ValueError, match=SEED_MESSAGE.format(shown)):
        BUILDERS[lab](seed=seed)


def test_the_seed_box_range_is_one_constant():
    assert MAX_SEED == 10**6
    assert RunSettings(seed=MAX_SEED).seed == MAX_SEED and LabSettings(seed=MAX_SEED).seed == MAX_SEED


# ---------------------------------------------------------------- out of range, or not among a control's choices
CASES = [
    # (lab, kwargs, error type, message): the message names the argument and what is allowed
    ("tokens", dict(choice=["chars"]), ValueError, r"^choice=\['chars'\] is not one of \['chars'\]"),
    ("tokens", dict(choice={"chars": 1}), ValueError, r"^choice=\{'chars': 1\} is not one of \['chars'\]"),
    ("transfer", dict(task=["sentiment"]), ValueError, r"^unknown task \['sentiment'\]; choose one of 'sentiment'"),
    ("transfer", dict(lr=float("inf")), ValueError, r"^lr=inf must be a number > 0 \(and finite\)"),
    ("transfer", dict(lr=float("nan")), ValueError, r"^lr=nan must be a number > 0 \(and finite\)"),
    ("depth", dict(n_layer=MAX_LAYERS + 1), ValueError,
     r"^n_layer=25 must be a whole number from 1 to 24 \(the lab's layers slider\)"),
    ("depth", dict(n_layer=10**7), ValueError, r"^n_layer=10000000 must be a whole number from 1 to 24"),
    ("depth-class", dict(n_layer=10**7), ValueError, r"^n_layer=10000000 must be a whole number from 1 to 24"),
    ("scaling", dict(fraction=True), ValueError, r"^fraction=True must be one of all, 1/3, 1/10, 1/30, 1/100"),
    ("scaling", dict(runs=3), TypeError, r"^runs must be a list of gptedu\.scaling\.Run, e\.g\. "
                                         r"gptedu\.scaling\.load_runs\(\); got int"),
    ("scaling", dict(runs=["1.4m", "389k"]), TypeError, r"^runs must be a list of gptedu\.scaling\.Run"),
    ("scaling-class", dict(held_out="2m"), ValueError, r"^held_out='2m' is not one of the runs: .*1\.4m"),
    ("scaling-class", dict(held_out=["1.4m"]), ValueError, r"^held_out=\['1\.4m'\] is not one of the runs"),
    ("scaling-class", dict(fraction=0.5), ValueError, r"^fraction=0\.5 must be one of all, 1/3, 1/10, 1/30, 1/100"),
    ("scaling-class", dict(fraction=True), ValueError, r"^fraction=True must be one of"),
    ("scaling-class", dict(points="all"), ValueError, r"^points='all' must be 'frontier' or 'final'"),
    ("scaling-class", dict(irreducible="no"), ValueError, r"^irreducible='no' must be True or False"),
]


@pytest.mark.parametrize("lab, kwargs, error, message", CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1])}-{i}" for i, c in enumerate(CASES)])
def test_a_lab_refuses_what_its_controls_cannot_show(lab, kwargs, error, message):
    with time_limit(), pytest.raises(error, match=message) as caught:
        BUILDERS[lab](**kwargs)
    assert not isinstance(caught.value, TraitError)


def test_the_depth_lab_slider_ends_where_it_says():
    """Layers 1 to 24 and nothing more: the slider no longer stretches to a deeper stack."""
    assert RunSettings(n_layer=MAX_LAYERS).n_layer == MAX_LAYERS  # RunSettings alone (chapter 07's sweeps) is not capped
    with time_limit(), pytest.raises(ValueError, match=r"^n_layer=30 must be a whole number from 1 to 24"):
        DepthLab(None, RunSettings(n_layer=30))


def test_good_values_still_build_and_show_what_was_asked():
    assert scaling_lab(fraction=1.0, points="final", irreducible=False).limit.value == 1.0
    assert tokenizer_playground(tokenizers={"chars": TOK}, choice="chars").choice.value == "chars"
    assert transfer_lab(MODEL, TOK, lr=1e-3, seed=MAX_SEED).seed.value == MAX_SEED
    assert prompt_lab(seed=MAX_SEED).seed.value == MAX_SEED


# ---------------------------------------------------------------- item 7: the modules share gptedu.checks
SHARED = {  # module: the checks it must take from gptedu.checks (not a copy of its own)
    "gptedu.config": ("require_int", "require_bool"),
    "gptedu.evaluation": ("require_int",),
    "gptedu.banded_attention": ("require_int", "require_range"),
    "gptedu.kv_cache": ("require_int",),
    "gptedu.subtask_corpus": ("require_int",),
    "gptedu.scaling": ("require_int", "require_bool"),
    "gptedu.generate": ("require_bool",),
    "gptedu.finetune": ("require_bool",),
    "gptedu.labs.common": ("require_int",),
    "gptedu.labs.prompt": ("require_int", "require_range"),
    "gptedu.labs.depth": ("require_int",),
}


@pytest.mark.parametrize("module", SHARED)
def test_the_modules_check_arguments_with_the_shared_helpers(module):
    import importlib

    from gptedu import checks
    mod = importlib.import_module(module)
    for name in SHARED[module]:
        assert getattr(mod, name, None) is getattr(checks, name), f"{module}.{name} is not gptedu.checks.{name}"
