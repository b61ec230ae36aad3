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
    out, png = tmp_path / "att.json", tmp_path / "att.png"
    results = bench.main(["--T", "256", "512", "1024", "--window", "32", "--heads", "2", "--head-size", "16",
                          "--reps", "1", "--threads", "1", "--json", str(out), "--plot", str(png)])
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
    assert results["headline"] > 0
