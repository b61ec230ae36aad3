"""The shipped band ablation (data/results/gpt3_band_ablation.json) says what chapter 09 says it does.

The notebook reads the json and states, with numbers, what the three patterns did; these tests hold the json to
those statements (so a rerun that changes them fails here, not silently in the text), and hold section 4's
sentences about the banded kernel's benchmark to the shipped data/results/bench_attention.json.
"""
import json
from pathlib import Path

import pytest
import torch

from gptedu.attention import banded_causal_mask, causal_mask

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "data" / "results" / "gpt3_band_ablation.json"
BENCH = ROOT / "data" / "results" / "bench_attention.json"
NOTEBOOK = ROOT / "notebooks" / "09_gpt3_sparse_attention.ipynb"
PATTERNS = ("dense", "alternating", "banded")


@pytest.fixture(scope="module")
def results():
    return json.loads(RESULTS.read_text())


def test_the_runs_are_comparable_and_recorded(results):
    runs, settings = results["runs"], results["settings"]
    assert settings["commands"] and settings["seconds"] > 0
    for seed in {r["seed"] for r in runs}:
        assert sorted(r["pattern"] for r in runs if r["seed"] == seed) == sorted(PATTERNS), "every pattern, every seed"
    assert len({(r["steps"], r["batch"], r["tokens"], r["params"], r["lr"]) for r in runs}) == 1  # same budget
    for r in runs:
        assert len(r["first_losses"]) == 10 and r["copy_curve"][0]["step"] == 0
        assert r["copy_curve"][-1]["step"] == r["steps"]


def test_all_banded_reach_is_what_the_masks_give(results):
    """L (w - 1) positions back, computed from the masks as the notebook does."""
    T, w, L = results["runs"][0]["block_size"], results["runs"][0]["window"], results["runs"][0]["n_layer"]
    reach = torch.eye(T, dtype=torch.bool)
    for _ in range(L):
        reach = (banded_causal_mask(T, w).float() @ reach.float()) > 0
    assert T - 1 - int(reach[-1].nonzero().min()) == results["all_banded_reach"] == L * (w - 1)
    assert ((causal_mask(T).float() @ reach.float()) > 0)[-1].all()  # one dense layer on top reaches everything


def _markdown(start: str, stop: str) -> str:
    """Chapter 09's markdown from `start` up to `stop` (cell sources joined, code cells left out)."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return " ".join(text[text.index(start):text.index(stop, text.index(start))].split())  # one space between words


def _outputs(cell_start: str) -> str:
    """The stored text output of chapter 09's code cell whose source starts with `cell_start`."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (cell,) = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).startswith(cell_start)]
    return "".join("".join(o.get("text", "")) for o in cell["outputs"])


def test_chapter_09_reads_the_shipped_benchmark_and_says_what_it_shows():
    """Section 4 reads data/results/bench_attention.json (no copy of a table typed into a cell); its stored output is
    the shipped file's (a rerun of the benchmark without re-executing the chapter fails here): the machine, which
    kernel the file measured, every goal line with its verdict. The text quotes no time of its own (times are the
    file's, printed), and what it says about memory is what the kernel keeps, counted."""
    from types import SimpleNamespace

    from gptedu.experiments.attention_bench import KERNEL, KERNEL_BEFORE, saved_for_backward
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert '"bench_attention.json"' in code and "README_MS" not in code
    shipped = json.loads(BENCH.read_text())
    r, machine = shipped["results"], shipped["machine"]
    printed = _outputs("# The shipped run, with the machine it ran on")
    assert f"{machine['date'][:10]}, {machine['cpu_model']}" in printed
    assert f"1-min load average {machine['load_avg_start']:.1f} at the start" in printed
    kernel = r.get("kernel", KERNEL_BEFORE)
    assert f"banded kernel measured: {kernel}" in printed
    assert ("NOT this checkout's kernel" in printed) == (kernel != KERNEL)
    for line in r["goal_lines"]:  # every goal, met or BELOW THE GOAL, as the file says
        assert line in printed, line
    for i, T in enumerate(r["T"]):
        assert f"{r['speedup'][i]:11.2f}x" in printed
    checks = _outputs("# What the text below says about this file")
    quiet = machine["load_avg_start"] <= 0.5 * machine["cpus"]
    assert ("(a quiet machine)" in checks) == quiet

    text = _markdown("## 4 · What the band saves: time and memory", "## 5 · GPT-3's eight sizes")
    summary = _markdown("## Summary", "### Exercise 1")
    assert "each of the benchmark's goals met or missed" in text and "each goal met or missed" in summary
    assert f"{r['headline']:.2f}×" not in text.replace("1.32× at 4,096", "")  # no time of the file typed in
    # memory: counted, so it holds on any machine
    args = SimpleNamespace(heads=8, head_size=64, window=256)
    kept = sum(n for _, n in saved_for_backward("banded kernel", 4096, args))
    dense = sum(n for _, n in saved_for_backward("dense causal", 4096, args))
    assert kept == dense and "exactly what PyTorch's fused dense kernel keeps" in text
    assert "$832 / 65 = 12.8\\times$ dense's" in text and "kept 12.8× that" in summary  # the kernel it replaced
    if kernel == KERNEL:
        assert all(abs(x - 1.0) < 1e-9 for x in r["memory_ratio"]) and r["goals"]["memory_from_1024"]["met"]
    else:
        assert {round(x, 1) for x, T in zip(r["memory_ratio"], r["T"]) if T >= 512} == {12.8}


def test_what_the_notebook_says_the_runs_show(results):
    """Chapter 09, section 6: dense copies from every distance, all-banded only inside one band, alternating (same
    steps) not beyond its band either; all-banded has the best validation loss."""
    runs, far = results["runs"], [d for d in results["probe_distances"] if d >= 64]

    def each(pattern):
        return [r for r in runs if r["pattern"] == pattern]

    for r in each("dense"):
        assert min(r["copy"][str(d)]["saved"] for d in results["probe_distances"]) > 2.0, r["seed"]  # of ~2.6
    for r in each("banded"):
        assert r["copy"]["16"]["saved"] > 2.0 and max(abs(r["copy"][str(d)]["saved"]) for d in far) < 0.1, r["seed"]
    for r in each("alternating"):
        assert 0.3 < r["copy"]["16"]["saved"] < 1.5 and max(abs(r["copy"][str(d)]["saved"]) for d in far) < 0.1
    val = {(r["pattern"], r["seed"]): r["val_loss"] for r in runs}
    for seed in {r["seed"] for r in runs}:
        assert val["banded", seed] < min(val["dense", seed], val["alternating", seed]) - 0.1
        assert abs(val["alternating", seed] - val["dense", seed]) < 0.05
    (long_run,) = results["longer"]  # alternating, twice the steps: still no copy beyond the band
    assert long_run["pattern"] == "alternating" and long_run["steps"] == 2 * runs[0]["steps"]
    assert long_run["copy"]["16"]["saved"] > 1.5 and max(abs(long_run["copy"][str(d)]["saved"]) for d in far) < 0.1
    for r in results["spread"]:  # no near repeats: no copying, dense included
        assert max(abs(r["copy"][str(d)]["saved"]) for d in results["probe_distances"]) < 0.2, r["pattern"]
    v1 = results["no_copy_v1"]
    assert max(abs(v1["saved"][p][str(d)]) for p in PATTERNS for d in far) < 0.1  # the first version copied nothing
    text = "".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "markdown")
    assert "no_copy_v1" in text and "only inside one band" in text
