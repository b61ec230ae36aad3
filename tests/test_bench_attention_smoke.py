"""Smoke test of benchmarks/bench_attention.py: every part runs and reports; times are never asserted.

Memory kept for backward is exact (saved-tensor hooks), so its growth is asserted: the masked
dense band keeps a (T, T) matrix, the banded kernel only (T, 2w) tiles.
"""
import json

from tests.scripts import load_script


def _load_bench():
    return load_script("benchmarks/bench_attention.py")


def test_bench_attention_smoke(tmp_path, capsys):
    bench = _load_bench()
    out, png, record = tmp_path / "att.json", tmp_path / "att.png", tmp_path / "bench_attention.json"
    argv = ["--T", "256", "512", "1024", "--window", "32", "--heads", "2", "--head-size", "16",
            "--reps", "1", "--threads", "1", "--no-flex", "--json", str(out), "--plot", str(png), "--results", str(record)]
    results = bench.main(argv)
    printed = capsys.readouterr().out
    last = printed.strip().splitlines()[-1]
    assert last.startswith("headline: dense causal SDPA / banded kernel at T=1024, window 32:") and last.endswith("x")
    assert "slope of log(ms) vs log(T)" in printed and png.stat().st_size > 0
    saved = json.loads(out.read_text())
    assert saved["T"] == [256, 512, 1024] and all(len(v) == 3 for v in saved["ms"].values())
    assert all(ms > 0 for v in saved["ms"].values() for ms in v)
    banded, masked = saved["saved_mb"]["banded kernel"], saved["saved_mb"]["masked band"]
    assert 1.8 < banded[2] / banded[1] < 2.2  # linear in T
    assert masked[2] / masked[1] > 2.8  # the (T, T) weights dominate: nearly quadratic
    assert banded[2] < masked[2]
    dense = saved["saved_mb"]["dense causal"]
    assert all(b <= 2 * d for b, d in zip(banded, dense))  # the kernel keeps what fused SDPA keeps, not its tiles
    assert results["headline"] > 0
    assert "goal: banded kernel keeps <= 2.0x the memory dense causal keeps at every T >= 1024" in printed
    assert "goal: dense causal / banded kernel >= 3.0x at T=4096" not in printed  # 4096 not measured: not judged
    shipped = json.loads(record.read_text())  # the --results file: the table with its machine and command
    assert shipped["benchmark"] == "attention" and shipped["command"].endswith(" ".join(argv))
    assert shipped["results"]["ms"] == saved["ms"] and shipped["results"]["goals"]["memory_from_1024"]["goal"] == 2.0
    machine = shipped["machine"]
    assert machine["threads"] == 1 and machine["cpu_model"] and machine["cpu_capability"] and machine["date"]
    assert len(machine["load_avg_start_1_5_15"]) == 3


def test_flex_attention_forward_runs_or_says_why(capsys):
    """FlexAttention on the CPU, compiled: forward only; the benchmark records its backward's error (torch 2.13)."""
    from types import SimpleNamespace

    from gptedu.experiments.attention_bench import FORWARD_METHODS, flex_attention_forward
    r = flex_attention_forward(256, SimpleNamespace(heads=2, head_size=16, window=32, reps=1))
    if "error" in r:  # cannot run at all here: the reason is the record
        assert r["error"]
        return
    assert set(r["ms"]) == set(FORWARD_METHODS) and all(ms > 0 for ms in r["ms"].values())
    assert r["compile_s"] > 0 and r["max_abs_diff"] < 1e-4  # the same band as the kernel
    assert r["backward"] == "ok" or "backward" in r["backward"].lower()
