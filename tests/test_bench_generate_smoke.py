"""Smoke test of benchmarks/bench_generate.py: the three generators run on one network and agree.

Times are never asserted (machine and load); the tokens are: greedy generation with the
KV cache must equal gptedu's uncached generation, and HF's on the same weights.
"""
import json

import pytest

from tests.scripts import load_script

pytest.importorskip("transformers")


def test_bench_generate_smoke(capsys, tmp_path):
    bench = load_script("benchmarks/bench_generate.py")
    record = tmp_path / "bench_generate.json"
    result = bench.main(["--n-layer", "2", "--n-embd", "32", "--n-head", "2", "--vocab-size", "300",
                         "--block-size", "64", "--prompt-tokens", "8", "--new-tokens", "40", "--reps", "1",
                         "--threads", "1", "--extra-shapes", "2x8", "1x16", "--results", str(record)])
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1].startswith("headline: HF GPT2LMHeadModel.generate time / gptedu cached")
    assert result["agreement_with_uncached"] == {"gptedu, no cache": 1.0, "gptedu, KV cache": 1.0,
                                                 "HF GPT2LMHeadModel": 1.0}
    assert all(s > 0 for s in result["seconds"].values()) and result["headline"] > 0
    assert "goal: HF / gptedu cached >= 1.0" in printed
    shipped = json.loads(record.read_text())
    assert shipped["benchmark"] == "generate" and "--new-tokens 40" in shipped["command"]
    assert shipped["results"]["seconds"] == result["seconds"] and shipped["results"]["goal"]["goal"] == 1.0
    assert [(s["batch"], s["prompt_tokens"]) for s in shipped["results"]["shapes"]] == [(1, 8), (2, 8), (1, 16)]
    assert all(s["agreement_hf_vs_cached"] == 1.0 and s["ratio"] > 0 for s in shipped["results"]["shapes"])
    assert "batch 2, prompt 8 + 40 new" in printed
    assert shipped["machine"]["threads"] == 1 and shipped["machine"]["transformers"]
    with pytest.raises(SystemExit):
        bench.main(["--block-size", "64", "--prompt-tokens", "32", "--new-tokens", "40"])  # does not fit
    with pytest.raises(SystemExit):
        bench.main(["--block-size", "64", "--prompt-tokens", "8", "--new-tokens", "40", "--extra-shapes", "1x512"])
