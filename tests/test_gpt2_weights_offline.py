"""Chapter 07, section 7: loading GPT-2 weights from disk, offline, both ways the cell can go.

CI never has OpenAI's weights, so the notebook always takes its fallback there. These tests run the
chapter's own cell (its source, read from the notebook) with $GPTEDU_GPT2 pointing at a folder of
HF-made random GPT-2 weights saved by save_pretrained: the cell must find and load that folder,
generate with GPT-2's tokenizer, and its sanity check (a real GPT-2's loss on English is low) must
reject random weights. Without weights it must fall back to the mini model. Nothing is downloaded
(tests/conftest.py blocks the network).
"""
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
transformers = pytest.importorskip("transformers")

from gptedu import data  # noqa: E402
from gptedu.generate import complete  # noqa: E402
from gptedu.model import GPT  # noqa: E402
from gptedu.tokenizers import gpt2_encoding  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_gpt2_model.ipynb"


def hf_mini_gpt2(folder: Path, seed: int = 0) -> transformers.GPT2LMHeadModel:
    """A 2 x 64 GPT-2 with GPT-2's vocabulary (50257) and context (1024), random weights, saved in HF format."""
    torch.manual_seed(seed)
    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, activation_function="gelu_new",
                                     bos_token_id=None, eos_token_id=None)
    hf = transformers.GPT2LMHeadModel(config).eval()
    hf.save_pretrained(folder)
    return hf


def weights_cell() -> str:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    (cell,) = [c for c in cells if c["cell_type"] == "code" and "GPTEDU_GPT2" in "".join(c["source"])]
    return "".join(cell["source"])


def run_cell(monkeypatch, gpt2_dir: Path, mini: Path) -> dict:
    monkeypatch.setenv("GPTEDU_GPT2", str(gpt2_dir))
    namespace = {"os": os, "math": math, "torch": torch, "data": data, "GPT": GPT, "enc": gpt2_encoding(),
                 "mini_folder": SimpleNamespace(name=str(mini))}  # the notebook's TemporaryDirectory
    exec(compile(weights_cell(), str(NOTEBOOK) + " (section 7)", "exec"), namespace)
    return namespace


def test_from_pretrained_on_hf_made_gpt2_weights_generates_with_gpt2_tokenizer(tmp_path):
    hf = hf_mini_gpt2(tmp_path / "gpt2")
    model = GPT.from_pretrained(tmp_path / "gpt2")
    c = model.config
    assert (c.vocab_size, c.block_size, c.norm, c.gelu, c.residual_scale_init) == (50257, 1024, "pre", "tanh", True)
    enc = gpt2_encoding()
    ids = torch.tensor([enc.encode("To be, or not to be, that is the question:")])
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[0], hf(ids).logits, atol=1e-5, rtol=0)
    text = complete(model, enc, "Hello world", max_new_tokens=8, top_k=40, generator=torch.Generator().manual_seed(0))
    assert isinstance(text, str)
    again = complete(model, enc, "Hello world", max_new_tokens=8, top_k=40, generator=torch.Generator().manual_seed(0))
    assert again == text  # a seeded generator: the same sample


def test_a_missing_folder_says_how_to_get_the_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded.*openai-community/gpt2"):
        GPT.from_pretrained(tmp_path / "gpt2")


def test_notebook_cell_loads_weights_from_GPTEDU_GPT2_and_rejects_random_ones(tmp_path, monkeypatch, capsys):
    hf_mini_gpt2(tmp_path / "gpt2", seed=1)
    hf_mini_gpt2(tmp_path / "mini", seed=2)
    with pytest.raises(AssertionError):  # random weights are not a trained GPT-2: loss ~ ln 50257, not < 6
        run_cell(monkeypatch, tmp_path / "gpt2", tmp_path / "mini")
    out = capsys.readouterr().out
    assert f"Loading OpenAI's GPT-2 from {tmp_path / 'gpt2'}" in out
    assert "2 layers x 64 wide" in out and "vocab 50257" in out and "loss on an English sentence" in out


def test_notebook_cell_without_weights_falls_back_to_the_mini_model(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    hf_mini_gpt2(tmp_path / "mini", seed=2)
    namespace = run_cell(monkeypatch, tmp_path / "empty", tmp_path / "mini")
    assert namespace["real"] is False and namespace["model"].config.n_layer == 2
    out = capsys.readouterr().out
    assert f"No GPT-2 weights in {tmp_path / 'empty'}/" in out
    assert namespace["nll"] > 8  # noise: near ln 50257 = 10.8


# ---------------------------------------------------------------- chapter 08: decoding and the prompt lab on GPT-2
NOTEBOOK_08 = NOTEBOOK.parent / "08_gpt2_zero_shot.ipynb"


def test_chapter_08_runs_its_decoding_rules_on_gpt2_weights_from_GPTEDU_GPT2(tmp_path, monkeypatch, capsys):
    import gptedu
    from gptedu.generate import generate

    hf_mini_gpt2(tmp_path / "gpt2")
    monkeypatch.setenv("GPTEDU_GPT2", str(tmp_path / "gpt2"))
    cells = json.loads(NOTEBOOK_08.read_text())["cells"]
    (source,) = ["".join(c["source"]) for c in cells if c["cell_type"] == "code" and "local_gpt2_dir()" in "".join(c["source"])]
    exec(compile(source, str(NOTEBOOK_08) + " (section 5)", "exec"),
         {"gptedu": gptedu, "torch": torch, "generate": generate})
    out = capsys.readouterr().out
    assert out.count("--- ") == 3 and "The meaning of life is" in out


def test_prompt_lab_offers_and_runs_gpt2_weights_from_GPTEDU_GPT2(tmp_path, monkeypatch):
    from gptedu.labs.prompt import prompt_lab

    hf_mini_gpt2(tmp_path / "gpt2")
    monkeypatch.setenv("GPTEDU_GPT2", str(tmp_path / "gpt2"))
    lab = prompt_lab("GPT-2 124M (OpenAI)", "Hello, my name is", max_new_tokens=6)
    assert lab.error is None and lab.loaded()[0].config.vocab_size == 50257
    gen = lab.generate()
    assert lab.error is None and len(gen.ids) == 6
    assert gen.prompt_ids == gpt2_encoding().encode("Hello, my name is")  # GPT-2's tokenizer, not characters
