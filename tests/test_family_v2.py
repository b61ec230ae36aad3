"""Family v2 (issue 26): the rule-stream family's sizes, recipe and shipped members.

v2 trains on gptedu.rule_tasks' stream (a fresh rule parameter per episode, the query never among
the examples) with context 512; its recipe is pilot r2's, and its largest member is that pilot's run.
"""
import dataclasses
import json

import pytest
import torch

from gptedu import count_params
from gptedu.family import (FAMILY_V2_DIR, HEAD_SIZE, RECIPE_V2, SIZES, SIZES_V2, config_for, family_members,
                           load_family, manifest, sha256_file, training_tokens)
from gptedu.rule_tasks import FORMATS, HELD_OUT_FAMILIES, TRAIN_FAMILIES, RuleCorpus, rule_instances
from gptedu.subtask_corpus import MAX_LEN, family_tokenizer, render_prompt


def test_five_sizes_over_two_decades_every_one_at_least_two_layers():
    sizes = list(SIZES_V2.values())
    n = [count_params(config_for(s, RECIPE_V2), non_embedding=True) for s in sizes]
    assert len(sizes) >= 5 and n == sorted(n) and n[-1] / n[0] >= 100
    for s, count in zip(sizes, n):
        assert s.n_layer >= 2 and config_for(s, RECIPE_V2).head_dim == HEAD_SIZE
        assert abs(count / (float(s.name[:-1]) * 1e3) - 1) < 0.05  # the name is the count, rounded
    lrs = [s.learning_rate for s in sizes]
    assert lrs == sorted(lrs, reverse=True)
    assert not set(SIZES_V2) & set(SIZES)  # one name, one member: load_family needs no family argument


def test_context_holds_sixteen_examples_of_every_task():
    assert RECIPE_V2.block_size >= 512
    for rule in TRAIN_FAMILIES + HELD_OUT_FAMILIES:
        for fmt in FORMATS:
            for item in rule_instances(rule, 16, 40, fmt=fmt):
                assert len(item.prompt) + len(item.answer) + 1 <= RECIPE_V2.block_size, (rule, fmt)
    word, longest_source = "x" * MAX_LEN, "x" + "!x" * (MAX_LEN - 1)  # random insertion, 7-letter words
    prompt = render_prompt("insertion", [(longest_source, word)] * 16, longest_source, description=True)
    assert len(prompt) + 1 + MAX_LEN + 1 <= RECIPE_V2.block_size


def test_the_training_stream_is_the_rule_stream():
    tokens = training_tokens(RECIPE_V2, n_chars=20_000)
    assert torch.equal(tokens[:200], torch.tensor(family_tokenizer().encode(
        RuleCorpus(RECIPE_V2.corpus_seed, RECIPE_V2.rules).stream(20_000)))[:200])
    assert RECIPE_V2.rules.n_parameters is None  # unbounded: a fresh parameter every episode


def test_a_tiny_v2_run_logs_the_in_context_probe(tmp_path, monkeypatch):
    from gptedu.experiments import train_family
    short = training_tokens(RECIPE_V2, n_chars=40_000)  # the real stream's start: 1M characters take a minute
    monkeypatch.setattr(train_family, "training_tokens", lambda recipe: short)
    train_family.main(["--family", "v2", "--sizes", "6.6k", "--tokens", str(3 * RECIPE_V2.tokens_per_step),
                       "--out", str(tmp_path / "out"), "--state", str(tmp_path / "state"), "--threads", "1",
                       "--no-progress"])
    log = json.loads((tmp_path / "out" / "6.6k.json").read_text())
    assert [p["step"] for p in log["probe"]] == [p["step"] for p in log["points"]]
    assert all(set(p) >= {"early", "late", "score"} for p in log["probe"])
    assert manifest(tmp_path / "out")["6.6k"]["log_sha256"] == sha256_file(tmp_path / "out" / "6.6k.json")
    model, _ = load_family("6.6k", folder=tmp_path / "out")
    assert model.config.block_size == 512


def test_unknown_size_for_the_family_is_refused():
    from gptedu.experiments import train_family
    with pytest.raises(SystemExit, match="not in family v2"):
        train_family.main(["--family", "v2", "--sizes", "13k"])


SHIPPED = (FAMILY_V2_DIR / "manifest.json").exists()


@pytest.mark.skipif(not SHIPPED, reason="family v2 is not shipped yet")
def test_shipped_members_load_and_were_trained_with_the_v2_recipe():
    members = family_members(FAMILY_V2_DIR)
    assert members == [m for m in SIZES_V2 if m in members] and len(members) >= 1
    recipe = json.loads(json.dumps(dataclasses.asdict(RECIPE_V2)))
    for name in members:
        model, tok = load_family(name)  # v2 names load from data/family_v2 by default
        log = json.loads((FAMILY_V2_DIR / f"{name}.json").read_text())
        assert log["recipe"] == recipe and log["done"] and log["probe"]
        assert model.config.n_layer == SIZES_V2[name].n_layer and model.config.block_size == 512
    adopted = [json.loads((FAMILY_V2_DIR / f"{n}.json").read_text()).get("adopted_from") for n in members]
    for source in filter(None, adopted):  # a pilot's run adopted as a member says which, with its command
        assert source["pilot"] and "rule_pilot" in source["command"]
