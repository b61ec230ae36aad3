"""Issue 29, item 3, found by the audit: two more loops in gptedu.experiments.heldout_tasks that could run
without a bound on a bad argument.

ks_that_fit(task, n=0) searched forever (no instances "fit" at every K: `all([])` is True); a context far
beyond the family's (block=10**9) took K into the millions; long_labels(n) beyond its 200,000 labels drew
forever. Each now fails at once, naming the argument and the limit; every case runs under a time limit.
"""
import random

import pytest

from gptedu.experiments import heldout_tasks as H
from tests import limits

LIMIT_S = 30


def time_limit(seconds: int = LIMIT_S):
    return limits.time_limit(seconds, "an unbounded loop")


@pytest.mark.parametrize("kw, pattern", [
    (dict(n=0), r"^n=0 must be a whole number from 1 to 100,000 \(instances per K\)"),
    (dict(n=-3), r"^n=-3 must be a whole number from 1 to 100,000"),
    (dict(n=2.5), r"^n=2\.5 must be a whole number from 1 to 100,000"),
    (dict(block=10**9), r"^block=1000000000 must be a whole number from 1 to 2,048 \(the context, in characters\)"),
    (dict(block=0), r"^block=0 must be a whole number from 1 to 2,048"),
    (dict(task="mapping_longer"), r"^task='mapping_longer' is not one of .*'mapping_long'.*Did you mean 'mapping_long'\?"),
])
def test_ks_that_fit_refuses_a_search_without_end(kw, pattern):
    args = {"task": "mapping_long", "n": 4, "block": 256, **kw}  # not a control: no evaluation check in the way
    with time_limit(), pytest.raises(ValueError, match=pattern):
        H.ks_that_fit(args.pop("task"), **args)


def test_ks_that_fit_still_finds_the_largest_k():
    with time_limit():
        ks = H.ks_that_fit("mapping", n=4, block=64)
    assert ks[-1] >= 1 and all(e.fits(64) for e in H.TASKS["mapping"].episodes(ks[-1], 4))
    assert not all(e.fits(64) for e in H.TASKS["mapping"].episodes(ks[-1] + 1, 4))


@pytest.mark.parametrize("n", [H.LONG_LABEL_SPACE + 1, 10**7])
def test_long_labels_beyond_the_label_space(n):
    with time_limit(), pytest.raises(ValueError, match=rf"^n={n} must be a whole number from 0 to 200,000: there "
                                                      rf"are only that many consonant-vowel-consonant-vowel-consonant"):
        H.long_labels(n, random.Random(0))
    assert H.LONG_LABEL_SPACE == 200_000
    assert len(set(H.long_labels(50, random.Random(0)))) == 50
