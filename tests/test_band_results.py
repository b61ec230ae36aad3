"""The shipped band ablation (data/results/gpt3_band_ablation.json) says what chapter 09 says it does.

The notebook reads the json and states, with numbers, what the three patterns did; these tests hold the json to
those statements (so a rerun that changes them fails here, not silently in the text), and check the notebook's
quoted benchmark numbers against README.md.
"""
import json
from pathlib import Path

import pytest
import torch

from gptedu.attention import banded_causal_mask, causal_mask

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "data" / "results" / "gpt3_band_ablation.json"
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


def _notebook_constants(*names):
    """The literal values the notebook assigns to `names` (its README quote), read from its source."""
    import ast

    found = {}
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.parse("".join(cell["source"])).body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in names:
                found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def test_the_notebook_quotes_the_readme_benchmark():
    quoted = _notebook_constants("README_T", "README_MS", "README_MB")
    assert set(quoted) == {"README_T", "README_MS", "README_MB"}
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("**Banded attention**"):]
    rows = {}
    for line in section.splitlines()[5:]:  # after the header and the |---| line
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        mb = [float(x) for x in cells[5].split("/")]
        rows[int(cells[0])] = ([float(c) for c in cells[1:4]], mb)
    assert sorted(rows) == quoted["README_T"]
    methods = ("dense causal", "masked band", "banded kernel")
    for i, T in enumerate(quoted["README_T"]):
        assert [quoted["README_MS"][m][i] for m in methods] == rows[T][0], T
        assert [quoted["README_MB"][m][i] for m in methods] == rows[T][1], T


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
