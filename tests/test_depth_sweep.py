"""gptedu.experiments.depth_sweep on tiny configs: rows, flags, summary and resume (CI-sized, a few seconds)."""
import json
import math
from pathlib import Path

import pytest
from gptedu.experiments import depth_sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep():
    return depth_sweep


def tiny(sweep, **kw):
    return sweep.Spec(**{**dict(norm="post", n_layer=2, n_embd=32, lr=1e-3, warmup=0, steps=12, batch=4, block=16), **kw})


def test_a_run_row_has_every_field(sweep):
    row = sweep.train_one(tiny(sweep, norm="pre", warmup=4, init="width"))
    assert row["norm"] == "pre" and row["n_layer"] == 2 and row["n_embd"] == 32 and row["n_head"] == 1
    assert row["steps_done"] == 12 and row["diverged"] is False and row["diverged_step"] is None
    for key in ("final_train_loss", "final_val_loss", "initial_loss", "max_grad_norm", "grad_norm_at_step_1"):
        assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] > 0
    assert 1 <= row["max_grad_norm_step"] <= 12
    assert row["final_val_loss"] < row["initial_loss"] + 0.5
    assert [p["step"] for p in row["loss_curve"]] == list(range(1, 13))  # 12 steps < 20 points: one per step
    assert len(row["grad_norm_curve_max"]) == 12
    assert isinstance(row["stalled"], bool) and row["seconds"] >= 0


def test_an_absurd_learning_rate_is_recorded_as_diverged(sweep):
    row = sweep.train_one(tiny(sweep, lr=1e3))
    assert row["diverged"] is True and row["stalled"] is False
    assert 1 <= row["diverged_step"] < 12 and row["steps_done"] == row["diverged_step"]  # the step whose loss was NaN
    assert "non-finite" in row["diverged_why"]
    assert row["final_val_loss"] == "nan"


def test_init_grad_norms_one_per_layer(sweep):
    out = sweep.init_grad_norms(shapes=((3, 32),), seeds=(0,), batch=2, block=16)
    assert set(out) == {f"{n}_3x32_init-{i}" for n in ("post", "pre") for i in ("gpt", "width")}
    for entry in out.values():
        assert len(entry["block_grad_norm"]) == 3 and len(entry["mlp_c_fc_grad_norm"]) == 3
        assert all(g > 0 for g in entry["block_grad_norm"]) and entry["total_grad_norm"] > 0


def test_main_writes_rows_summary_verdicts_and_resumes(sweep, tmp_path, monkeypatch):
    specs = [("smoke", tiny(sweep, norm=n, warmup=w, steps=6)) for n in ("post", "pre") for w in (0, 3)]
    monkeypatch.setattr(sweep, "search_grid", lambda seeds: specs)
    out = tmp_path / "sweep.json"
    argv = ["--grid", "search", "--out", str(out), "--no-init-grads"]
    result = sweep.main(argv)
    assert json.loads(out.read_text()) == result
    assert len(result["rows"]) == 4 and {r["command"] for r in result["rows"]} == {
        "python -m gptedu.experiments.depth_sweep " + " ".join(argv)}
    assert result["total_seconds"] >= 0 and result["commands"][0]["runs"] == 4
    table = result["summary"]["table"]
    assert len(table) == 4 and all(c["n_seeds"] == 1 and c["sd_final_val_loss"] is None for c in table)
    (verdict,) = result["summary"]["verdicts"]
    assert verdict["lr"] == 1e-3 and verdict["warmup"] == 3 and isinstance(verdict["shows_effect"], bool)
    assert set(verdict["diverged_or_stalled"]) == {"post_w0", "post_warm", "pre_w0", "pre_warm"}

    again = sweep.main([*argv, "--resume"])  # nothing missing: no new run
    assert len(again["rows"]) == 4 and again["commands"][-1]["runs"] == 0 and len(again["commands"]) == 2
