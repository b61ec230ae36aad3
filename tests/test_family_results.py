"""What the shipped family shows (issue 13's "must show"), read off data/family/ and
data/results/family_eval.json, plus a live recomputation of part of the evaluation."""
import json
from pathlib import Path

import pytest
import torch

from gptedu import evaluation
from gptedu.family import SIZES, family_members, load_family, manifest

torch.set_num_threads(1)
RESULTS = Path(__file__).resolve().parents[1] / "data" / "results" / "family_eval.json"
NATURAL = ("last_word", "cloze", "next_speaker")


@pytest.fixture(scope="module")
def shipped():
    members = family_members()
    if len(members) < 5 or not RESULTS.exists():
        pytest.skip("the family or its evaluation is not shipped yet")
    return members, json.loads(RESULTS.read_text())["entries"]


def entry(entries, size, task, k, desc=False):
    return entries[f"{size}/{task}/{k}/{'desc' if desc else 'nodesc'}"]


def test_every_member_is_evaluated_with_its_shipped_weights(shipped):
    members, entries = shipped
    sha = {name: manifest()[name]["sha256"] for name in members}
    for name in members:
        mine = [e for e in entries.values() if e["size"] == name]
        assert len(mine) >= 6 * 6 * 2 + 3  # six few-shot tasks at six K, with and without description; 3 zero-shot
        assert all(e["sha256"] == sha[name] for e in mine)


def test_validation_loss_falls_with_every_increase_in_size(shipped):
    members, _ = shipped
    losses = [manifest()[name]["val_loss"] for name in members]
    assert members == list(SIZES) and all(a > b for a, b in zip(losses, losses[1:]))


def test_zero_shot_logprob_rises_with_size_on_two_natural_tasks(shipped):
    members, entries = shipped
    rising = [t for t in NATURAL
              if entry(entries, members[-1], t, 0)["logprob"] > entry(entries, members[0], t, 0)["logprob"]
              and all(entry(entries, a, t, 0)["logprob"] <= entry(entries, b, t, 0)["logprob"] + 0.05
                      for a, b in zip(members, members[1:]))]
    assert len(rising) >= 2, rising


def test_few_shot_gain_grows_with_size_on_the_mapping(shipped):
    """GPT-3 Fig. 1.2's claim: accuracy rises with K for >= 3 sizes, and the K=0 -> 16 gain grows with size."""
    members, entries = shipped
    acc = {m: [entry(entries, m, "mapping", k)["accuracy"] for k in evaluation.KS] for m in members}
    rising = [m for m in members if acc[m][-1] - acc[m][0] >= 0.15 and acc[m][-1] >= max(acc[m][:-1]) - 0.05]
    assert len(rising) >= 3, acc
    gains = [acc[m][-1] - acc[m][0] for m in members]
    assert all(a <= b + 0.02 for a, b in zip(gains, gains[1:])) and gains[-1] - gains[0] >= 0.5, gains


def test_live_recomputation_matches_the_shipped_instances(shipped):
    """40 of the 113k's mapping instances at K = 16, scored again now: the shipped right/wrong comes back."""
    members, entries = shipped
    stored = entry(entries, "113k", "mapping", 16)
    model, tok = load_family("113k")
    items = evaluation.instances("mapping", 16, stored["n"], seed=0)[:40]
    correct, logprobs = evaluation.exact_match_scores(model, tok, items)
    flips = sum(a != b for a, b in zip(correct, stored["per_instance"]["correct"][:40]))
    assert flips <= 1  # a near-tie may flip on another CPU's kernels; nothing more
    assert max(abs(a - b) for a, b in zip(logprobs, stored["per_instance"]["logprob"][:40])) < 1e-3
