"""Smoke test of benchmarks/bench_train.py: a few steps of every part, fields present and positive.

Timings are never asserted (they depend on the machine and its load); only that the
script runs end to end, keeps the two models identical, and reports every number.
"""
import json
import math

import pytest
import torch

pytest.importorskip("transformers")

from tests.scripts import load_script  # noqa: E402


def _load_bench():
    return load_script("benchmarks/bench_train.py")


def test_bench_train_smoke(tmp_path, capsys):
    bench = _load_bench()
    threads_before = torch.get_num_threads()
    out, record = tmp_path / "bench.json", tmp_path / "bench_train.json"
    results = bench.main(["--iters", "3", "--warmup", "1", "--threads", "1", "--val-iters", "5",
                          "--eval-iters", "2", "--matmul-sizes", "128", "--matmul-reps", "2",
                          "--json", str(out), "--results", str(record)])
    printed = capsys.readouterr().out
    assert torch.get_num_threads() == threads_before  # the caller's thread count is given back

    for label in ("gptedu GPT", "HF GPT2LMHeadModel", "ratio HF/ours", "matmul peak", "model FLOPs/iter",
                  "val loss after 5 steps", "torch threads 1", "transformers"):
        assert label in printed, label

    saved = json.loads(out.read_text())
    speed = saved["speed"]
    for model in ("ours", "hf"):
        for field in ("ms_per_iter", "ms_p10", "ms_p90", "ms_min", "tokens_per_s", "mfu"):
            value = speed[model][field]
            assert math.isfinite(value) and value > 0, (model, field, value)
    assert speed["ratio_hf_over_ours"] > 0
    assert speed["logit_max_abs_diff"] <= bench.LOGIT_TOL  # same initial weights
    assert speed["loss_max_abs_diff"] <= bench.LOSS_TOL  # same batches, same optimizer
    assert saved["matmul_peak"]["gflops"] > 0
    assert saved["flops"]["flops_per_iter"] > 0 and saved["flops"]["n_nanogpt"] > 0
    assert saved["env"]["threads"] == 1 and saved["env"]["torch"] == torch.__version__
    assert saved["recipe"]["hf_attn_implementation"] == "sdpa"
    val = saved["val"]
    assert val["iters"] == 5 and val["history"][-1]["step"] == 5
    for field in ("val_loss", "train_loss", "wall_s", "train_s", "ms_per_iter"):
        assert math.isfinite(val[field]) and val[field] > 0, (field, val[field])
    assert results["speed"]["ours"]["ms_per_iter"] == speed["ours"]["ms_per_iter"]
    shipped = json.loads(record.read_text())  # the --results file: every number with its machine and command
    assert shipped["benchmark"] == "train" and "--val-iters 5" in shipped["command"]
    assert shipped["results"]["speed"] == speed and shipped["machine"]["cpu_capability"]


def test_bench_train_refuses_more_threads_than_cpus():
    bench = _load_bench()
    with pytest.raises(bench.SetupError, match="CPU"):
        bench.main(["--threads", "100000", "--iters", "1", "--val-iters", "0"])
