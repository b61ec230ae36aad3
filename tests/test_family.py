"""The model family: sizes shaped like GPT-3 Table 2.1, one shared recipe, a cheap end-to-end
training run of the smallest size on the generated corpus, and safe loading of members."""
import dataclasses
import json
import math

import pytest
import torch

from gptedu import count_params
from gptedu.checkpoints import CheckpointError
from gptedu.family import (FAMILY_DIR, HEAD_SIZE, RECIPE, SIZES, compute, config_for, family_members,
                           load_family, log_spaced_steps, manifest, sha256_file, train_size,
                           training_tokens, validation_tokens)
from gptedu.subtask_corpus import (DESCRIPTIONS, MAX_LEN, family_tokenizer, render_line, render_prompt)


def test_sizes_span_two_decades_shaped_like_table_2_1():
    sizes = list(SIZES.values())
    assert len(sizes) >= 5
    n = [count_params(config_for(s), non_embedding=True) for s in sizes]
    assert n == sorted(n) and n[-1] / n[0] >= 100
    for s, count in zip(sizes, n):
        assert s.name.rstrip("km").replace(".", "").isdigit()
        unit = 1e6 if s.name.endswith("m") else 1e3
        assert abs(count / (float(s.name[:-1]) * unit) - 1) < 0.05  # the name is the count, rounded
        assert config_for(s).head_dim == HEAD_SIZE and config_for(s).norm == "pre"
        assert config_for(s).residual_scale_init
    assert [s.n_layer for s in sizes] == sorted(s.n_layer for s in sizes)
    assert [s.n_embd for s in sizes] == sorted(s.n_embd for s in sizes)
    lrs = [s.learning_rate for s in sizes]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] > lrs[-1]  # smaller models higher


def _longest_prompt(k: int, description: bool) -> int:
    """Characters of a K-shot prompt with the answer and its newline, for the longest lines a task can have."""
    word = "x" * MAX_LEN
    longest_source = "x" + "!x" * (MAX_LEN - 1)  # random insertion of a 7-letter word
    prompt = render_prompt("insertion", [(longest_source, word)] * k, longest_source, description=description)
    longest_desc = max(DESCRIPTIONS.values(), key=len)
    bound = (len(longest_desc) + 1) * description + k * len(render_line(longest_source, word)) + len(longest_source) + 3
    assert len(prompt) <= bound
    return bound + 1 + MAX_LEN + 1


def test_context_holds_eight_examples_of_the_longest_task_and_sixteen_mapping_lines():
    """Evaluation crops a prompt from the left when it does not fit: at K = 8 that can happen only
    with a description and seven-letter words throughout; at K = 16 insertion it always does."""
    assert _longest_prompt(8, description=False) <= RECIPE.block_size < _longest_prompt(16, description=False)
    label = "xxx"  # mapping lines: a 4-7 letter word and a three-letter label
    mapping = render_prompt("mapping", [("x" * MAX_LEN, label)] * 16, "x" * MAX_LEN, description=False)
    assert len(mapping) + len(" " + label + "\n") <= RECIPE.block_size


def test_recipe_logs_thirty_log_spaced_points_and_compute():
    steps = log_spaced_steps(RECIPE.steps, RECIPE.log_points)
    assert len(steps) >= 30 and steps[0] == 0 and steps[-1] == RECIPE.steps
    assert steps == sorted(set(steps))
    c = compute(config_for(SIZES["13k"]), 1000)
    assert c["C_6ND"] == 6 * 12_768 * 1000 and c["C_attention"] == 6 * 1 * 256 * 32 * 1000
    assert c["C_total"] == c["C_6ND"] + c["C_attention"]


def test_train_the_smallest_size_end_to_end(tmp_path):
    """CI-sized: 4 steps of the 13k model on the generated corpus, then load it back as a member."""
    recipe = dataclasses.replace(RECIPE, tokens=4 * 2 * 256, batch_size=2, log_points=3, eval_iters=1)
    train = training_tokens(recipe, n_chars=60_000)
    val = validation_tokens()[:20_000]
    size = SIZES["13k"]
    log = train_size(size, recipe, tmp_path, progress=False, train_data=train, val_data=val,
                     state_dir=tmp_path / "state")
    assert log["done"] and [p["step"] for p in log["points"]] == [0, 1, 2, 4]
    assert log["points"][-1]["tokens"] == 4 * 2 * 256 and log["n_params_nonembedding"] == 12_768
    assert log["points"][-1]["train_loss"] < log["points"][0]["train_loss"]
    assert log["points"][-1]["C_6ND"] == 6 * 12_768 * 2048
    saved = json.loads((tmp_path / "13k.json").read_text())
    assert saved["checkpoint_sha256"] == sha256_file(tmp_path / "13k.pt")
    # resuming a finished run trains nothing more
    again = train_size(size, recipe, tmp_path, progress=False, train_data=train, val_data=val,
                       state_dir=tmp_path / "state")
    assert again["points"] == log["points"]

    (tmp_path / "manifest.json").write_text(json.dumps({"13k": {"file": "13k.pt", "sha256": sha256_file(
        tmp_path / "13k.pt")}}))
    model, tok = load_family("13k", folder=tmp_path)
    assert tok.chars == family_tokenizer().chars and not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    x = val[:257].unsqueeze(0)
    _, loss = model(x[:, :-1], x[:, 1:])
    # fp16 on disk: the loss of the full-precision weights is kept to 1e-3
    from gptedu.checkpoints import load_weights_into
    from gptedu.model import GPT
    full = GPT(model.config)
    load_weights_into(full, tmp_path / "state" / "13k.state.pt")
    _, full_loss = full.eval()(x[:, :-1], x[:, 1:])
    assert abs(loss.item() - full_loss.item()) < 1e-3
    assert family_members(tmp_path) == ["13k"]


def test_load_family_refuses_what_it_should(tmp_path):
    with pytest.raises(ValueError, match="No family member"):
        load_family("7b", folder=tmp_path)
    with pytest.raises(CheckpointError, match="holds no manifest.json: it is not a family folder"):
        load_family("13k", folder=tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not shipped"):
        load_family("13k", folder=tmp_path)
    (tmp_path / "13k.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "manifest.json").write_text(json.dumps({"13k": {"file": "13k.pt", "sha256": "0" * 64}}))
    with pytest.raises(CheckpointError, match="not the shipped file"):
        load_family("13k", folder=tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"13k": {"file": "13k.pt", "sha256": sha256_file(
        tmp_path / "13k.pt")}}))
    with pytest.raises(CheckpointError):  # the checkpoint's own header check
        load_family("13k", folder=tmp_path)


def test_shipped_family():
    """Whatever is shipped in data/family/: verified, small, logged at >= 30 points."""
    shipped = manifest()
    if not shipped:
        pytest.skip("no family member shipped yet")
    total = sum((FAMILY_DIR / entry["file"]).stat().st_size for entry in shipped.values())
    assert total < 40e6
    for name, entry in shipped.items():
        assert sha256_file(FAMILY_DIR / entry["file"]) == entry["sha256"]
        log = json.loads((FAMILY_DIR / entry["log"]).read_text())
        assert log["done"] and len(log["points"]) >= 31
        assert log["points"][-1]["tokens"] == entry["tokens"]
        assert math.isclose(log["points"][-1]["val_loss"], entry["val_loss"])
    tokens = {entry["tokens"] for entry in shipped.values()}
    assert len(tokens) == 1  # the same token budget for every size
