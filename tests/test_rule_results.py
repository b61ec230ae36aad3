"""The shipped rule pilots and the task-diversity runs say what their scores say (issue 26)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptedu import evaluation
from gptedu.experiments import rule_pilot

ROOT = Path(__file__).resolve().parents[1]
PILOTS = json.loads((ROOT / "data/results/rule_pilot.json").read_text())
DIVERSITY = ROOT / "data/results/task_diversity.json"


def test_every_pilot_records_its_design_and_command():
    assert PILOTS["gate"] == rule_pilot.GATE
    for p in PILOTS["pilots"]:
        assert p["command"].startswith("python -m gptedu.experiments.rule_pilot --name " + p["name"])
        assert p["block_size"] >= 512 and p["shape"][0] >= 2
        assert p["probe"] and p["probe"][0]["step"] == 0
        assert set(p["scores"]) == {key for key, *_ in rule_pilot.eval_keys()}


@pytest.mark.parametrize("pilot", PILOTS["pilots"], ids=lambda p: p["name"])
def test_gate_verdict_follows_from_the_scores(pilot):
    g = rule_pilot.GATE
    assert pilot["gate"] == rule_pilot.gate(pilot["scores"], g["from_k"], g["to_k"], g["points"])
    for by_k in pilot["scores"].values():
        for point in by_k.values():  # each interval is the Wilson interval of its accuracy
            hits = round(point["accuracy"] * pilot["eval"]["n"])
            assert point["ci95"] == [round(x, 4) for x in evaluation.wilson_interval(hits, pilot["eval"]["n"])]


def test_first_design_failed_and_the_second_passed_on_uncopyable_held_out_material():
    r1, r2 = (next(p for p in PILOTS["pilots"] if p["name"] == n) for n in ("r1", "r2"))
    assert not r1["gate"]["passed"]
    assert r2["gate"]["passed"]
    # passing conditions include held-out parameters and a rule family no training episode used
    assert "surround" in r2["gate"]["passing"] and "append@held_letters" in r2["gate"]["passing"]
    for key in r2["gate"]["passing"]:
        assert all(point["copier"] == 0 for point in r2["scores"][key].values())
    assert all(point["accuracy"] == 0 for key in r2["scores"] if "@" in key and "held" not in key
               for point in r2["scores"][key].values())  # untrained formats: nothing


@pytest.mark.skipif(not DIVERSITY.exists(), reason="no task-diversity runs shipped yet")
def test_task_diversity_runs_memorise_few_tasks():
    runs = {r["name"]: r for r in json.loads(DIVERSITY.read_text())["runs"]}
    one = runs["3x96_tasks1"]["scores"]
    assert one["seen"]["8"]["accuracy"] > 0.9 and one["unseen_parameters"]["8"]["accuracy"] == 0
    small = {n: r for n, r in runs.items() if r["shape"] == [3, 96]}
    # at 3 x 96 no stream learned to infer unseen tasks: every unseen-parameter score stays below 0.1
    assert all(point["accuracy"] < 0.1 for r in small.values() for point in r["scores"]["unseen_parameters"].values())
    assert runs["3x96_tasksall"]["unbounded"] and runs["3x96_tasksall"]["scores"]["seen"]["8"]["accuracy"] < 0.2
    for r in runs.values():
        assert r["stream"] == {"rule_fraction": 0.8, "word_task_fraction": 0.1}
        assert r["tokens"] >= 7_999_000 and r["shape"] in ([3, 96], [4, 128])
    # at 4 x 128 the unbounded stream infers unseen tasks (the transition; chapter 10 section 6)
    big = runs["4x128_tasksall"]
    assert big["trained_as"]["pilot"] == "r2" and big["scores"]["unseen_parameters"]["8"]["accuracy"] > 0.2


def test_pilot_record_is_what_both_adopters_read():
    """train_family and task_diversity adopt a pilot's run through rule_pilot.pilot_record: r2 is found with
    the fields they check; an unknown pilot stops with the names there are."""
    from gptedu.experiments.rule_pilot import pilot_record
    r2 = pilot_record("r2")
    assert {"stream", "shape", "lr", "batch_size", "block_size", "tokens", "command"} <= set(r2)
    with pytest.raises(SystemExit, match=r"--from-pilot r9: no such pilot in rule_pilot.json \(pilots: r1, r2\)"):
        pilot_record("r9")
