"""Issue 29, item 5 ("booleans passed as strings elsewhere"), found by the audit: the package's remaining bool
flags take only a real bool, and rule_instances checks k and n as gptedu.evaluation.instances does.

Before: GPT.num_params(non_embedding="no") and count_params left the embeddings out (a truthy string), so
N was silently wrong; load_checkpoint(verify=0) skipped the sha256 without saying so;
rule_instances(held_out_parameters="no") drew the held-out letters, n=-2 returned [] and k=-1 failed with
"only 582 of 582 words give ... asked for 0".
"""
import pytest
import torch

from gptedu.checkpoints import SHIPPED_DIR, load_checkpoint
from gptedu.config import GPTConfig
from gptedu.model import GPT, count_params
from gptedu.rule_tasks import rule_instances

CONFIG = GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=16)
NOT_BOOLS = ["no", "False", 0, None]


@pytest.mark.parametrize("value", NOT_BOOLS)
def test_non_embedding_must_be_a_real_bool(value):
    torch.manual_seed(0)
    model = GPT(CONFIG)
    with pytest.raises(ValueError, match=rf"^non_embedding={value!r} must be True or False"):
        model.num_params(non_embedding=value)
    with pytest.raises(ValueError, match=rf"^non_embedding={value!r} must be True or False"):
        count_params(CONFIG, non_embedding=value)
    assert count_params(CONFIG, non_embedding=True) == model.num_params() - (17 + 8) * 16


@pytest.mark.parametrize("value", ["no", 0, "", None])
def test_verify_must_be_a_real_bool(value):
    with pytest.raises(ValueError, match=rf"^verify={value!r} must be True or False"):
        load_checkpoint(SHIPPED_DIR / "gpt1-char.pt", verify=value)


@pytest.mark.parametrize("kw, pattern", [
    (dict(held_out_parameters="no"), r"^held_out_parameters='no' must be True or False"),
    (dict(held_out_parameters=1), r"^held_out_parameters=1 must be True or False"),
    (dict(k=-1), r"^k=-1 must be an integer >= 0 \(examples in the prompt; 0: zero-shot\)"),
    (dict(k=1.5), r"^k=1\.5 must be an integer >= 0"),
    (dict(n=0), r"^n=0 must be a whole number from 1 to 100,000 \(instances\)"),
    (dict(n=-2), r"^n=-2 must be a whole number from 1 to 100,000"),
    (dict(n=100_001), r"^n=100001 must be a whole number from 1 to 100,000"),
    (dict(seed="0"), r"^seed='0' must be an integer"),
])
def test_rule_instances_names_the_bad_argument(kw, pattern):
    args = {"k": 2, "n": 3, **kw}
    with pytest.raises(ValueError, match=pattern):
        rule_instances("append", **args)


def test_rule_instances_still_draw():
    assert len(rule_instances("append", 2, 3)) == 3
    assert len(rule_instances("append", 0, 2, held_out_parameters=True)) == 2
