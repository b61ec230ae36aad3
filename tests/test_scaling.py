"""gptedu.scaling: compute counted (against torch's FLOP counter), power-law fits, the frontier, the
bootstrap, and the held-out prediction (which must not read the held-out run's losses)."""
import json
import math

import numpy as np
import pytest
import torch

from gptedu import scaling as S
from gptedu.config import GPT3_TABLE_2_1, GPTConfig, preset
from gptedu.family import RECIPE, SIZES, compute, config_for
from gptedu.model import GPT, count_params


def test_training_flops_is_6ND_plus_the_attention_term():
    f = S.training_flops(1000, 50, n_layer=2, n_ctx=16, d_model=8)
    assert f == {"C_6ND": 300_000.0, "C_attention": 6 * 2 * 16 * 8 * 50.0, "C_total": 300_000.0 + 76_800.0}
    assert S.training_flops(10, 10)["C_attention"] == 0.0
    config = config_for(SIZES["113k"])
    assert compute(config, 2048) == S.training_flops(count_params(config, non_embedding=True), 2048,
                                                      config.n_layer, config.block_size, config.n_embd)
    for bad in (-1, "10", True):
        with pytest.raises(ValueError, match="must be a number >= 0"):
            S.training_flops(bad, 10)


def test_the_flop_counter_counts_exactly_the_matmuls_we_name():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=16, norm="pre")
    model = GPT(config)
    x = torch.randint(0, 20, (3, 16))
    counted = S.step_flops(model, x, x)
    ours = S.counted_flops(config, 3 * 16)
    assert counted["total"] == ours["total"]
    assert set(counted["by_op"]) >= {"mm", "bmm"} and sum(counted["by_op"].values()) == counted["total"]
    assert ours["attention"] == 2 * S.training_flops(0, 48, 2, 16, 16)["C_attention"]  # no causal saving
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_pf_days_and_gpt3_table_d1():
    assert S.PF_DAY == 8.64e19 and S.pf_days(8.64e19) == 1.0
    assert list(S.GPT3_TABLE_D1_PF_DAYS) == list(GPT3_TABLE_2_1)
    for name, paper in S.GPT3_TABLE_D1_PF_DAYS.items():  # 6 N D with N from our presets, D = 300B
        ours = S.pf_days(6 * count_params(preset(name)) * S.GPT3_TOKENS)
        assert ours == pytest.approx(paper, rel=0.05), name


def line(C, a=3.0, b=0.1, c=0.0):
    return a * np.asarray(C) ** -b + c


def test_fit_recovers_a_power_law_with_and_without_c():
    C = np.geomspace(1e-9, 1e-6, 12)
    pure = S.fit_power_law(C, line(C), irreducible=False)
    assert (pure.a, pure.b, pure.c) == (pytest.approx(3.0), pytest.approx(0.1), 0.0)
    bent = S.fit_power_law(C, line(C, 0.05, 0.3, 1.5), irreducible=True)
    assert bent.b == pytest.approx(0.3, rel=0.02) and bent.c == pytest.approx(1.5, abs=0.01)
    assert S.fit_power_law(C, line(C), irreducible=True).c == pytest.approx(0.0, abs=0.02)  # no bend: c ~ 0
    assert S.PowerLaw(2.0, 0.5)(4.0) == pytest.approx(1.0) and S.PowerLaw(2.0, 0.5, 1.0)(4.0) == pytest.approx(2.0)
    assert S.PowerLaw(2.57, 0.048).describe() == "L = 2.57·C^-0.048"
    assert S.PowerLaw(0.5, 0.1, 1.2).describe("C") == "L = 0.50·C^-0.100 + 1.20"


def test_fit_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="needs 3 points of different compute"):
        S.fit_power_law([1, 1, 2], [3, 3, 2], irreducible=True)
    with pytest.raises(ValueError, match="needs 2 points"):
        S.fit_power_law([1.0], [3.0], irreducible=False)
    with pytest.raises(ValueError, match="finite and > 0"):
        S.fit_power_law([0.0, 1.0, 2.0], [3, 2, 1])
    with pytest.raises(ValueError, match="same length"):
        S.fit_power_law([1.0, 2.0], [3.0])


def test_frontier_keeps_the_points_no_cheaper_point_beats():
    C = [1, 2, 3, 4, 5, 6]
    L = [5, 4, 4.5, 3, 3.2, 2]
    assert S.frontier(C, L).tolist() == [True, True, False, True, False, True]
    assert S.frontier([2, 1], [1, 2]).tolist() == [True, True]
    assert S.frontier([1, 1], [2, 1]).tolist() == [False, True]  # equal compute: the lower loss


def test_bootstrap_interval_brackets_the_truth_and_is_seeded():
    rng = np.random.default_rng(1)
    C = np.geomspace(1e-9, 1e-6, 15)
    L = line(C) * np.exp(rng.normal(0, 0.01, len(C)))
    boot = S.bootstrap_fit(C, L, irreducible=False, n=300, seed=0, at=1e-5)
    lo, hi = S.interval(boot["b"])
    assert lo < 0.1 < hi and hi - lo < 0.02
    assert boot["prediction"].shape == (300,) and boot["c"].tolist() == [0.0] * 300
    again = S.bootstrap_fit(C, L, irreducible=False, n=300, seed=0, at=1e-5)
    assert np.array_equal(again["b"], boot["b"])
    assert S.interval([1, 2, 3, 4, 5], level=1.0) == (1.0, 5.0)


@pytest.fixture(scope="module")
def runs():
    return S.load_runs()


def test_load_runs_reads_the_shipped_logs(runs):
    assert [r.name for r in runs] == list(SIZES)
    for run in runs:
        log = json.loads((S.Path(__file__).resolve().parents[1] / "data" / "family" / f"{run.name}.json").read_text())
        assert run.steps[0] >= 0.05 * RECIPE.steps and run.steps[-1] == RECIPE.steps  # after warmup, to the end
        assert run.loss[-1] == log["points"][-1]["val_loss"]
        assert run.final_compute == pytest.approx(log["points"][-1]["C_total"] / S.PF_DAY)
        assert S.planned_compute(run.name) == pytest.approx(run.final_compute)
        assert np.all(np.diff(run.compute) > 0)
    log13 = json.loads((S.Path(__file__).resolve().parents[1] / "data" / "family" / "13k.json").read_text())
    assert S.load_runs(split="train")[0].loss[-1] == log13["points"][-1]["train_loss"]
    with pytest.raises(ValueError, match="split='test'"):
        S.load_runs(split="test")


def test_the_family_frontier_falls_as_a_power_law(runs):
    C, L, _ = S.curve_points(runs)
    keep = S.frontier(C, L)
    fit = S.fit_power_law(C[keep], L[keep], irreducible=False)
    assert 0.03 < fit.b < 0.08  # the chapter's claim: a power law near GPT-3's 0.048 and Kaplan's 0.050
    ends = [r.loss[-1] for r in runs]
    assert ends == sorted(ends, reverse=True)


def test_prediction_never_reads_the_held_out_run(runs):
    held = S.run_named(runs, "1.4m")
    hidden = S.Run("1.4m", held.n_params, held.compute, np.full_like(held.loss, np.nan), held.tokens, held.steps)
    blind = [r for r in runs if r.name != "1.4m"] + [hidden]
    p = S.predict_run(blind, "1.4m", fraction=1 / 30, irreducible=True, n_boot=100)
    q = S.predict_run(runs, "1.4m", fraction=1 / 30, irreducible=True, n_boot=100)
    assert math.isfinite(p.predicted) and p.predicted == q.predicted and p.interval == q.interval
    assert "1.4m" not in p.fit_runs and np.all(p.fit_C <= p.max_compute)
    assert p.target_compute == pytest.approx(held.final_compute)
    assert p.max_compute == pytest.approx(p.target_compute / 30)
    r = q.reveal(runs)
    assert r["actual"] == held.loss[-1] and r["error"] == pytest.approx(q.predicted - held.loss[-1])
    assert r["inside"] == (q.interval[0] <= held.loss[-1] <= q.interval[1])
    for fraction, irreducible in S.SETTINGS:  # chapter 11's four settings, each blind to the 1.4m
        p = S.predict_run(blind, "1.4m", fraction=fraction, irreducible=irreducible, n_boot=20)
        q = S.predict_run(runs, "1.4m", fraction=fraction, irreducible=irreducible, n_boot=20)
        assert p.predicted == q.predicted and p.interval == q.interval and "1.4m" not in p.fit_runs


def test_prediction_options(runs):
    final = S.predict_run(runs, "1.4m", fraction=1.0, irreducible=False, final_only=True, n_boot=50)
    assert final.fit_runs == ["13k", "38k", "113k", "389k"] and len(final.fit_C) == 4
    three = S.predict_run(runs, "1.4m", fraction=1.0, irreducible=True, final_only=True, use=["13k", "38k", "389k"])
    assert all(math.isnan(v) for v in three.interval) and three.boot_b.size == 0  # nothing to resample
    assert not three.reveal(runs)["inside"]
    with pytest.raises(ValueError, match="cannot be in the fit"):
        S.predict_run(runs, "1.4m", use=["13k", "1.4m"])
    with pytest.raises(ValueError, match="fraction=0"):
        S.predict_run(runs, fraction=0)
    with pytest.raises(ValueError, match="No run named 'huge'"):
        S.run_named(runs, "huge")
    with pytest.raises(ValueError, match="No family size"):
        S.planned_compute("huge")


def test_capability_points_and_their_bootstrap(runs):
    entries = json.loads((S.Path(__file__).resolve().parents[1] / "data" / "results" / "family_eval.json")
                         .read_text())["entries"]
    cap = S.capability_points(entries, "mapping", 8, runs)
    assert cap["names"] == list(SIZES) and cap["compute"].tolist() == [r.final_compute for r in runs]
    assert cap["neg_logprob"][0] == pytest.approx(-entries["13k/mapping/8/nodesc"]["logprob"])
    assert cap["neg_logprob"][-1] == pytest.approx(cap["per_instance"][-1].mean())
    preds = S.bootstrap_capability(cap["per_instance"][:4], cap["compute"][:4], cap["compute"][-1], n=50)
    assert preds.shape == (50,) and np.all(preds > 0)
    with pytest.raises(ValueError, match="no entry"):
        S.capability_points(entries, "mapping", 3, runs)


def test_choose_setting_backtests_on_the_smaller_runs_only(runs):
    """The rule that picks chapter 11's fit setting reads no run at least the held-out one's size."""
    held = S.run_named(runs, "1.4m")
    hidden = S.Run("1.4m", held.n_params, held.compute, np.full_like(held.loss, np.nan), held.tokens, held.steps)
    rule = S.choose_setting(runs, "1.4m")
    blind = S.choose_setting([r for r in runs if r.name != "1.4m"] + [hidden], "1.4m")
    without = S.choose_setting([r for r in runs if r.name != "1.4m"], "1.4m")
    assert blind == rule == without
    assert rule["targets"] == ["113k", "389k"] and set(rule["mae"]) == set(S.SETTINGS)
    names = [r.name for r in runs]
    for fraction, irreducible in S.SETTINGS:
        for target in rule["targets"]:
            below = [r for r in runs if names.index(r.name) < names.index(target)]
            p = S.predict_run(below, target, fraction, irreducible, n_boot=0)
            error = p.predicted - S.run_named(runs, target).loss[-1]
            assert rule["errors"][fraction, irreducible][target] == pytest.approx(error)
            assert rule["fits"][fraction, irreducible][target] == p.fit_runs
            assert set(p.fit_runs) <= {r.name for r in below}
        assert rule["mae"][fraction, irreducible] == pytest.approx(
            np.mean([abs(e) for e in rule["errors"][fraction, irreducible].values()]))
    assert rule["chosen"] == min(S.SETTINGS, key=rule["mae"].get)
    # a tie goes to the setting listed first; the 389k held out leaves only the 113k to backtest on
    same = S.choose_setting(runs, "1.4m", settings=[(1 / 10, False), (1 / 10, False)])
    assert same["chosen"] == (1 / 10, False)
    assert S.choose_setting(runs, "389k")["targets"] == ["113k"]
    with pytest.raises(ValueError, match="no run below '38k'"):
        S.choose_setting(runs, "38k")
    with pytest.raises(ValueError, match="min_smaller=0"):
        S.choose_setting(runs, "1.4m", min_smaller=0)


def test_prediction_without_resamples_has_no_interval(runs):
    p = S.predict_run(runs, "1.4m", fraction=1 / 10, irreducible=False, n_boot=0)
    q = S.predict_run(runs, "1.4m", fraction=1 / 10, irreducible=False, n_boot=50)
    assert p.predicted == q.predicted and all(math.isnan(v) for v in p.interval) and p.boot_b.size == 0


def test_planned_compute_knows_both_families():
    """v2's sizes have their own names, context (512) and steps: the plan equals each log's last C_total."""
    from gptedu.family import FAMILIES
    for family, (sizes, _, folder) in FAMILIES.items():
        for name in sizes:
            last = json.loads((folder / f"{name}.json").read_text())["points"][-1]
            assert math.isclose(S.planned_compute(name), last["C_total"] / S.PF_DAY, rel_tol=1e-9), (family, name)
    with pytest.raises(ValueError, match="6.6k.*793k"):
        S.planned_compute("1m")
