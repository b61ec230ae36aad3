"""Chapter 07's sentences about gradients hold to what its cells print, to the shipped depth sweep, and to the lab.

Section 2 measures per-layer gradients at initialisation two ways (the MLP's first weight `mlp.c_fc`, and whole
blocks), and they disagree; section 4 quotes the shipped sweep's gradient peaks; README.md and its results page, docs/results.md, repeat both. These tests
hold the prose to the numbers (so a rerun or an edit that changes one fails here, not silently in the text), and
check that the depth lab draws what the chapter measures.
"""
import json
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_gpt2_model.ipynb"
SWEEP = ROOT / "data" / "results" / "gpt2_depth_sweep.json"


@pytest.fixture(scope="module")
def notebook():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    prose = " ".join(" ".join("".join(c["source"]).split()) for c in cells if c["cell_type"] == "markdown")
    printed = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"])
    return {"prose": prose, "printed": printed}


@pytest.fixture(scope="module")
def readme():
    return " ".join(((ROOT / "README.md").read_text() + "\n" + (ROOT / "docs" / "results.md").read_text()).split())


def printed_values(printed: str, label: str) -> list[float]:
    """The numbers after "N layers" on the printed line that starts with `label`."""
    line = next(line for line in printed.splitlines() if line.startswith(label))
    return [float(v) for v in re.findall(r"\d+ layers ([\d.]+)", line)]


def printed_expect(printed: str, what: str) -> str:
    """The value an expect() line printed for `what`, as printed."""
    return re.search(re.escape(what) + r": ([\d.]+)", printed).group(1)


def test_the_c_fc_and_whole_block_sentences_quote_the_printed_numbers(notebook, readme):
    printed, prose = notebook["printed"], notebook["prose"]
    shrink = printed_expect(printed, "pre-LN, mean gradient: 2 layers / 24 layers (1/sqrt(L): 3.5)")
    grow = printed_expect(printed, "post-LN, mean gradient: 24 layers / 2 layers")
    assert f"{float(shrink):.1f}" == "2.7" and f"{float(grow):.0f}" == "2"
    assert "by a factor of about 2.7 from 2 to 24 layers" in prose and "about 2× from 2 to 24 layers" in prose
    blocks = printed_values(printed, "whole blocks, mean gradient, pre-LN / post-LN")
    assert len(blocks) == 4 and min(blocks) > 1  # pre-LN's blocks: larger at every depth
    span = f"{min(blocks):.1f}–{max(blocks):.1f}×"
    assert f"Pre-LN's blocks get {span} larger gradients than post-LN's at every depth" in prose
    assert f"pre-LN's get {span} larger gradients than post-LN's at every depth" in prose  # the summary
    assert f"{span} larger in pre-LN at every depth" in readme
    assert f"`mlp.c_fc` (Xiong et al.'s W¹) shrinks {float(shrink):.1f}× from 2 to 24 layers" in readme
    pre = printed_values(printed, "pre-LN, mlp.c_fc within a stack, largest / smallest layer")[1:]  # 6-24 layers
    assert f"the smallest layer's is {min(pre):.1f}–{max(pre):.1f}× smaller" in prose
    post = printed_values(printed, "post-LN, mlp.c_fc within a stack, largest / smallest layer")
    assert f"within a stack they vary by at most {max(post):.1f}×" in prose


def test_the_explanation_quotes_the_printed_split(notebook):
    printed, prose = notebook["printed"], notebook["prose"]
    span = {}  # per case and part: the printed shares' smallest and largest, in %
    for case in ("post-LN", "pre-LN"):
        line = next(l for l in printed.splitlines() if l.startswith(f"{case}: share of the residual projections"))
        pairs = [(float(a), float(b)) for a, b in re.findall(r"layers ([\d.]+) / ([\d.]+)", line)]
        for i, part in enumerate(("projections", "c_fc")):
            span[case, part] = (round(100 * min(p[i] for p in pairs)), round(100 * max(p[i] for p in pairs)))
    assert "They hold {}–{}% of a pre-LN stack's squared block gradients at every depth (`c_fc` {}–{}%)".format(
        *span["pre-LN", "projections"], *span["pre-LN", "c_fc"]) in prose
    assert "and {}–{}% of a post-LN stack's (`c_fc` {}–{}%)".format(
        *span["post-LN", "projections"], *span["post-LN", "c_fc"]) in prose
    scaled = [float(v) for v in re.search(r"\(x sqrt\(2L\): ([\d., ]+)\)", printed).group(1).split(", ")]
    assert f"times $\\sqrt{{2L}}$ it stays between {min(scaled):.2f} and {max(scaled):.2f}" in prose
    post = printed_values(printed, "post-LN: |grad mlp.c_fc| / |grad mlp.c_proj|")
    plain = printed_values(printed, "pre-LN without 1/sqrt(2L): |grad mlp.c_fc| / |grad mlp.c_proj|")
    assert f"the ratio is {min(post):.2f}–{max(post):.2f} at every depth" in prose
    assert f"taken off pre-LN's projections, {min(plain):.2f}–{max(plain):.2f}" in prose
    stds = printed_values(printed, "pre-LN without 1/sqrt(2L): std of the stream leaving the last block")
    assert f"(std {stds[0]:.2f} at 2 layers, {stds[-1]:.2f} at 24)" in prose
    c_fc, block = (printed_expect(printed, f"pre-LN without 1/sqrt(2L): mean gradient of {w}, 2 layers / 24")
                   for w in ("mlp.c_fc", "whole blocks"))
    assert f"the whole block's shrink with depth ({c_fc}× and {block}× from 2 to 24 layers)" in prose
    for what, quoted in (
            ("pre-LN, mlp.c_proj's mean gradient: 24 layers / 2 layers", "(×{})"),
            ("gradient sent into the stream at the top, 12 layers: pre-LN / post-LN", "it is {}× post-LN's"),
            ("1 / std of pre-LN's stream there (what ln_f multiplies a gradient by)", "by about {}"),
            ("pre-LN without 1/sqrt(2L): gradient sent into the stream, 2 layers / 24", "({}× smaller")):
        assert quoted.format(printed_expect(printed, what)) in prose, what


def test_the_peak_gradient_sentences_hold_to_the_shipped_sweep(notebook):
    prose = notebook["prose"]
    rows = [r for r in json.loads(SWEEP.read_text())["rows"] if r["grid"] == "final" and r["lr"] == 3e-3]

    def cell(norm, warmup):  # its two seeds, seed 0 first
        return sorted((r for r in rows if (r["norm"], r["warmup"]) == (norm, warmup)), key=lambda r: r["seed"])

    low, high = sorted(cell("post", 0), key=lambda r: r["max_grad_norm"])
    assert (f"spikes to {low['max_grad_norm']:.0f} (step {low['max_grad_norm_step']}) and "
            f"{high['max_grad_norm']:.0f} (step {high['max_grad_norm_step']})") in prose
    assert f"with warmup it never exceeds {max(r['max_grad_norm'] for r in cell('post', 100)):.1f}" in prose
    pre = cell("pre", 0) + cell("pre", 100)
    at_step_1 = [r for r in pre if r["max_grad_norm_step"] == 1]
    assert len(at_step_1) == 3 and "in three runs of four, its very first, at step 1" in prose
    firsts = [f"{r['grad_norm_at_step_1']:.1f}" for r in cell("pre", 0)]
    post_first = {f"{r['grad_norm_at_step_1']:.1f}" for r in cell("post", 0)}
    assert len(post_first) == 1
    assert f"{firsts[0]} and {firsts[1]}, already about 3× post-LN's {post_first.pop()}" in prose
    assert all(2.5 < pre_r["grad_norm_at_step_1"] / post_r["grad_norm_at_step_1"] < 3.5
               for pre_r, post_r in zip(cell("pre", 0), cell("post", 0)))
    (spike,) = [r for r in pre if r["max_grad_norm_step"] != 1]
    assert (spike["seed"], spike["warmup"]) == (1, 0)
    assert f"(seed 1, no warmup) spikes to {spike['max_grad_norm']:.0f} at step {spike['max_grad_norm_step']}" in prose
    final = [r for r in json.loads(SWEEP.read_text())["rows"] if r["grid"] == "final"]
    assert f"trained for {sum(r['seconds'] for r in final) / 60:.0f} minutes" in prose


def test_the_mini_gpt2_has_no_dropout_as_section_1_says(notebook):
    described = [line for line in notebook["printed"].splitlines() if "tied embeddings" in line]  # config.describe()
    assert described and all(line.endswith("dropout 0.0") for line in described)


def test_the_depth_lab_draws_the_chapters_headline_and_agrees_with_it():
    """At the chapter's shapes (64 wide, the sweep's batch), the lab's two measures tell the chapter's two stories."""
    from gptedu.labs.depth import RunSettings, depth_lab, init_grad_norms

    torch.set_num_threads(1)
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    g = {(norm, L): init_grad_norms(RunSettings(n_layer=L, norm=norm, residual_init=norm == "pre"))
         for norm in ("post", "pre") for L in (2, 24)}
    assert mean(g["post", 24]["c_fc"]) > 1.3 * mean(g["pre", 24]["c_fc"])  # c_fc: post-LN larger at 24 layers
    assert mean(g["post", 2]["c_fc"]) < 0.5 * mean(g["pre", 2]["c_fc"])  # ... and smaller at 2
    assert all(mean(g["pre", L]["block"]) > 2 * mean(g["post", L]["block"]) for L in (2, 24))  # blocks: pre-LN larger
    lab = depth_lab(None, n_layer=2, norm="pre", residual_init=True)
    assert lab.grad_weights.value == "c_fc"  # it opens on the chapter's headline measure
    assert list(lab.figure.axes[1].lines[-1].get_ydata()) == g["pre", 2]["c_fc"]
