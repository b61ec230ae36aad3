"""Smoke test of benchmarks/bench_generate.py: the three generators run on one network and agree.

Times are never asserted (machine and load); the tokens are: greedy generation with the
KV cache must equal gptedu's uncached generation, and HF's on the same weights.
"""
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("transformers")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_generate.py"


def test_bench_generate_smoke(capsys):
    spec = importlib.util.spec_from_file_location("bench_generate", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--n-layer", "2", "--n-embd", "32", "--n-head", "2", "--vocab-size", "300",
                         "--block-size", "64", "--prompt-tokens", "8", "--new-tokens", "40", "--reps", "1",
                         "--threads", "1"])
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1].startswith("headline: HF GPT2LMHeadModel.generate time / gptedu cached")
    assert result["agreement_with_uncached"] == {"gptedu, no cache": 1.0, "gptedu, KV cache": 1.0,
                                                 "HF GPT2LMHeadModel": 1.0}
    assert all(s > 0 for s in result["seconds"].values()) and result["headline"] > 0
    with pytest.raises(SystemExit):
        bench.main(["--block-size", "64", "--prompt-tokens", "32", "--new-tokens", "40"])  # does not fit
