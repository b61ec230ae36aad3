"""gptedu.experiments.finetune_sweep on a tiny config: the results file has what chapter 06 reads."""
import json
import statistics
from pathlib import Path

import pytest
from gptedu.experiments import finetune_sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep():
    return finetune_sweep


TINY = ["--ks", "0", "--seeds", "0", "1", "--n-train", "8", "--n-test", "6", "--steps", "2", "--batch-size", "4"]


def test_tiny_sweep_writes_rows_summary_and_command(sweep, tmp_path):
    out = tmp_path / "sweep.json"
    result = sweep.main([*TINY, "--out", str(out)])
    assert json.loads(out.read_text()) == result
    assert result["command"] == "python -m gptedu.experiments.finetune_sweep " + " ".join([*TINY, "--out", str(out)])
    assert result["settings"]["n_train"] == 8 and result["settings"]["steps"] == 2
    assert result["settings"]["seeds"] == [0, 1] and result["settings"]["ks"] == [0]

    rows = result["rows"]
    assert [(r["point"], r["seed"]) for r in rows] == [
        ("k=0", 0), ("no_pretraining", 0), ("no_aux_lm", 0), ("k=0", 1), ("no_pretraining", 1), ("no_aux_lm", 1)]
    for row in rows:
        assert row["task"] == "sentiment"
        assert 0 <= row["test_accuracy"] <= 1
        assert row["final_task_loss"] > 0 and row["final_lm_loss"] > 0 and row["seconds"] >= 0
    assert {r["lambda_lm"] for r in rows if r["point"] == "no_aux_lm"} == {0.0}
    assert {r["k"] for r in rows if r["point"] == "no_aux_lm"} == {6}  # every layer of the shipped model
    assert {r["lambda_lm"] for r in rows if r["point"] != "no_aux_lm"} == {0.5}

    assert set(result["summary"]) == {"k=0", "no_pretraining", "no_aux_lm"}
    for name, s in result["summary"].items():
        accs = [r["test_accuracy"] for r in rows if r["point"] == name]
        assert s["n"] == 2
        assert s["mean"] == pytest.approx(statistics.fmean(accs), abs=1e-4)
        assert s["std"] == pytest.approx(statistics.stdev(accs), abs=1e-4)


def test_a_run_is_fixed_by_its_seed(sweep, tmp_path):
    args = ["--ks", "6", "--seeds", "3", "--no-table5", "--n-train", "8", "--n-test", "6", "--steps", "2",
            "--batch-size", "4"]
    a = sweep.main([*args, "--out", str(tmp_path / "a.json")])["rows"]
    b = sweep.main([*args, "--out", str(tmp_path / "b.json")])["rows"]
    keys = ("test_accuracy", "final_task_loss", "final_lm_loss")
    assert [{k: r[k] for k in keys} for r in a] == [{k: r[k] for k in keys} for r in b]
    assert [r["point"] for r in a] == ["k=6"]


def test_resume_keeps_finished_runs_and_runs_only_the_missing_ones(sweep, tmp_path, capsys):
    args = ["--no-table5", "--n-train", "8", "--n-test", "6", "--steps", "2", "--batch-size", "4"]
    out = tmp_path / "sweep.json"
    first = sweep.main(["--ks", "0", "--seeds", "0", *args, "--out", str(out)])
    resumed = sweep.main(["--ks", "0", "6", "--seeds", "0", "1", *args, "--out", str(out), "--resume"])
    assert "resuming" in capsys.readouterr().out
    assert [(r["point"], r["seed"]) for r in resumed["rows"]] == [("k=0", 0), ("k=6", 0), ("k=0", 1), ("k=6", 1)]
    assert resumed["rows"][0] == first["rows"][0]  # kept, not rerun
    assert len(resumed["command"]) == 2 and resumed["command"][1].endswith("--resume")
    fresh = sweep.main(["--ks", "0", "6", "--seeds", "0", "1", *args, "--out", str(tmp_path / "fresh.json")])
    keys = ("point", "seed", "test_accuracy", "final_task_loss")
    assert [{k: r[k] for k in keys} for r in fresh["rows"]] == [{k: r[k] for k in keys} for r in resumed["rows"]]
    with pytest.raises(SystemExit):  # other settings: refuse to mix them
        sweep.main(["--ks", "0", "--seeds", "2", *args[:-1], "8", "--out", str(out), "--resume"])
    assert "other settings (batch_size)" in capsys.readouterr().err
