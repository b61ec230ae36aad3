"""What loading weights, sampling and the labs say about bad input (issue 10, item 7 and more).

Each case asserts the error type and that the message names the argument or the value at fault.
Every file is made here: tiny random-weight HF models (built offline), broken copies of them, and
a gptedu checkpoint. Nothing is downloaded.
"""
import json
import math
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from gptedu.checkpoints import CheckpointError, load_shipped, save_checkpoint  # noqa: E402
from gptedu.config import GPTConfig  # noqa: E402
from gptedu.fewshot import choice_logprobs  # noqa: E402
from gptedu.generate import complete, generate  # noqa: E402
from gptedu.model import GPT  # noqa: E402
from gptedu.tasks import sentiment_task, zero_shot_accuracy  # noqa: E402
from gptedu.tokenizers import CharTokenizer, UnknownCharacterError  # noqa: E402
from gptedu.labs.transfer import transfer_figure, transfer_lab  # noqa: E402
from gptedu.labs.attention import attention_explorer
from gptedu.labs.tokens import TokenizerPlayground, tokenizer_playground  # noqa: E402

CHARS = "abcdefghijklmnopqrst"  # 20 characters: the tiny model's vocabulary


@pytest.fixture(scope="module")
def tok():
    return CharTokenizer(CHARS)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=len(CHARS), block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0))


PROMPT = torch.tensor([[1, 2, 3]])


# ====================================================================== GPT.from_pretrained
@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    """A tiny random GPT-2 in HF's save_pretrained layout: config.json + model.safetensors."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50, n_positions=16,
                                     bos_token_id=None, eos_token_id=None)
    folder = tmp_path_factory.mktemp("hf-gpt2")
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def copy_of(hf_folder, tmp_path):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((hf_folder / name).read_bytes())
    return tmp_path


def test_the_tiny_hf_model_loads(hf_folder):
    assert GPT.from_pretrained(hf_folder).config.n_layer == 2


@pytest.mark.parametrize("damage, message", [
    (lambda raw: b"", r"model\.safetensors \(0 bytes\) cannot be read as weights.*download it again"),
    (lambda raw: raw[:len(raw) // 2], r"model\.safetensors \([\d,]+ bytes\) cannot be read as weights "
                                      r"\(SafetensorError.*interrupted download"),
], ids=["empty", "truncated"])
def test_an_empty_or_truncated_safetensors_file(hf_folder, tmp_path, damage, message):
    folder = copy_of(hf_folder, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(ValueError, match=message):
        GPT.from_pretrained(folder)


def test_a_truncated_pytorch_bin_file(hf_folder, tmp_path):
    from safetensors.torch import load_file

    torch.save(load_file(hf_folder / "model.safetensors"), tmp_path / "pytorch_model.bin")
    raw = (tmp_path / "pytorch_model.bin").read_bytes()
    (tmp_path / "pytorch_model.bin").write_bytes(raw[:len(raw) // 3])
    with pytest.raises(ValueError, match=r"pytorch_model\.bin \([\d,]+ bytes\) cannot be read as weights"):
        GPT.from_pretrained(tmp_path / "pytorch_model.bin")


@pytest.mark.parametrize("config_text, message", [
    ('{"model_type": "gpt2", "n_layer": ', r"config\.json is not valid JSON \(.*line 1.*Download it again, or delete "
                                          r"it to infer"),
    ("[1, 2]", r"config\.json holds a JSON list, not an object"),
    ('{"model_type": "gpt2", "vocab_size": 50, "n_positions": 16, "n_layer": 2}',
     r"config\.json lacks n_head, n_embd: it is incomplete"),
    ('{"model_type": "gpt2", "vocab_size": 50, "n_positions": 16, "n_layer": "two", "n_head": 2, "n_embd": 16}',
     r"n_layer='two'"),
], ids=["cut-json", "a-list", "lacks-fields", "wrong-type"])
def test_a_malformed_config_json(hf_folder, tmp_path, config_text, message):
    folder = copy_of(hf_folder, tmp_path)
    (folder / "config.json").write_text(config_text)
    with pytest.raises(ValueError, match=message):
        GPT.from_pretrained(folder)


def test_missing_keys_list_a_few_names_and_the_count(hf_folder, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_of(hf_folder, tmp_path)
    state = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in state.items() if ".h.1." not in k}, folder / "model.safetensors")
    with pytest.raises(ValueError, match=r"Missing: h\.1\.attn\.c_attn\.bias, .* \(\+6 more, 12 in all\)\. "
                                         r"Unexpected: none") as err:
        GPT.from_pretrained(folder)
    assert str(err.value).count("h.1.") == 6  # a few names, not all twelve


def test_lone_weights_without_the_tensors_to_infer_a_config(hf_folder, tmp_path):
    from safetensors.torch import load_file, save_file

    state = load_file(hf_folder / "model.safetensors")
    save_file({k: v for k, v in state.items() if "wpe" not in k}, tmp_path / "lone.safetensors")
    with pytest.raises(ValueError, match=r"Cannot infer the configuration: the weights lack wpe\.weight.*config\.json"):
        GPT.from_pretrained(tmp_path / "lone.safetensors")


def test_a_nonexistent_path_or_not_a_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No pretrained weights at .*no-such-folder"):
        GPT.from_pretrained(tmp_path / "no-such-folder")
    with pytest.raises(TypeError, match=r"path=None must be a folder or file name"):
        GPT.from_pretrained(None)


def test_a_gptedu_checkpoint_is_sent_to_load_model(model, tmp_path):
    path = save_checkpoint(tmp_path / "mine.pt", model, step=0)
    with pytest.raises(ValueError, match=r"mine\.pt is a gptedu checkpoint, .*use load_model\(path\)"):
        GPT.from_pretrained(path)
    with pytest.raises(FileNotFoundError, match=r"mine\.pt looks like a gptedu checkpoint: load it with load_model"):
        GPT.from_pretrained(tmp_path)
    # an older checkpoint: a bare torch.save dict (its sha256 file lost)
    torch.save({"format": "gptedu-checkpoint-v1", "config": {}, "model": model.state_dict(), "step": 0},
               tmp_path / "old.bin")
    with pytest.raises(ValueError, match=r"old\.bin is a gptedu checkpoint, .*use load_model\(path\)"):
        GPT.from_pretrained(tmp_path / "old.bin")


def test_an_unknown_override_names_the_fields(hf_folder):
    with pytest.raises(TypeError, match=r"GPTConfig has no field 'n_heads'.*Fields: .*n_head"):
        GPT.from_pretrained(hf_folder, n_heads=4)


def test_a_sharded_index_whose_shard_is_missing(hf_folder, tmp_path):
    index = {"weight_map": {"wte.weight": "model-00001-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(FileNotFoundError, match=r"lists 1 shard\(s\) but model-00001-of-00002\.safetensors is not in"):
        GPT.from_pretrained(tmp_path)


def test_load_shipped_lists_the_shipped_names():
    with pytest.raises(CheckpointError, match=r"No shipped checkpoint named 'nope'; shipped: \['gpt1-char'\]"):
        load_shipped("nope")


# ====================================================================== generate and complete
@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=float("nan")), r"temperature=nan must be a number > 0.*greedy=True"),
    (dict(temperature=0), r"temperature=0 must be a number > 0"),
    (dict(temperature="hot"), r"temperature='hot' must be a number > 0"),
    (dict(top_k=0), r"top_k=0 must be a whole number between 1 and the vocabulary size 20"),
    (dict(top_k=21), r"top_k=21 must be"),
    (dict(top_k=2.5), r"top_k=2\.5 must be"),
    (dict(top_p=0.0), r"top_p=0\.0 must be in \(0, 1\]"),
    (dict(top_p=1.01), r"top_p=1\.01 must be in \(0, 1\]"),
    (dict(top_p=float("nan")), r"top_p=nan must be in \(0, 1\]"),
    (dict(top_p="0.9"), r"top_p=0\.9 must be in \(0, 1\]"),
    (dict(max_new_tokens=-1), r"max_new_tokens=-1 must be >= 0"),
    (dict(max_new_tokens=2.5), r"max_new_tokens=2\.5 must be >= 0: a whole number"),
    (dict(max_new_tokens="10"), r"max_new_tokens='10' must be >= 0"),
], ids=lambda v: str(v) if isinstance(v, dict) else "")
def test_generate_names_the_bad_setting(model, kwargs, message):
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, PROMPT, **kwargs)


@pytest.mark.parametrize("idx, error, message", [
    ([[1, 2, 3]], TypeError, r"idx must be a tensor of token ids.*got list.*torch\.tensor\(\[ids\]\)"),
    (torch.tensor([1, 2, 3]), ValueError, r"idx must be \(batch, time\).*got shape \(3,\)"),
    (torch.zeros(1, 0, dtype=torch.long), ValueError, r"The prompt is empty"),
    (torch.zeros(1, 9, dtype=torch.long), ValueError, r"has 9 tokens but the model's context \(block_size\) is 8"),
], ids=["list", "1-d", "empty", "too-long"])
def test_generate_names_the_bad_prompt(model, idx, error, message):
    with pytest.raises(error, match=message):
        generate(model, idx, 3)


@pytest.mark.parametrize("prompt, error, message", [
    ("", ValueError, r"The prompt is empty"),
    (b"abc", TypeError, r"prompt must be a str; got bytes"),
    ("abcdefghij", ValueError, r"10 tokens long but the model's context \(block_size\) is 8"),
    ("abc XYZ", UnknownCharacterError, r"4 character\(s\) not in .*' ' \(first at position 3\), 'X'"),
], ids=["empty", "bytes", "too-long", "unseen-characters"])
def test_complete_names_the_bad_prompt(model, tok, prompt, error, message):
    with pytest.raises(error, match=message):
        complete(model, tok, prompt, 3)


def test_valid_settings_still_sample(model, tok):
    gen = torch.Generator().manual_seed(0)
    assert len(complete(model, tok, "abc", 4, temperature=float("inf"), generator=gen)) == 4  # inf: uniform
    assert generate(model, PROMPT, 0).shape == (1, 3)


# ====================================================================== the labs
@pytest.mark.parametrize("call, error, message", [
    (lambda tok: TokenizerPlayground([tok]), TypeError, r"tokenizers must map names to tokenizers.*got list"),
    (lambda tok: tokenizer_playground(tokenizers={"mine": "abc"}), TypeError,
     r"tokenizers\['mine'\] must be a tokenizer \(with encode and decode methods\).*got str 'abc'"),
    (lambda tok: tokenizer_playground(text=None, tokenizers={"c": tok}), TypeError, r"text must be a str; got NoneType"),
    (lambda tok: tokenizer_playground(bpe=512), TypeError, r"bpe must be a tokenizer.*got int 512"),
    (lambda tok: tokenizer_playground(tokenizers={"c": tok}, choice="GPT-2"), ValueError,
     r"choice='GPT-2' is not one of \['c'\]"),
], ids=["list", "not-a-tokenizer", "text-None", "bpe-int", "bad-choice"])
def test_tokenizer_playground_with_nonsense_arguments(tok, call, error, message):
    with pytest.raises(error, match=message):
        call(tok)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(model="gpt1-char"), TypeError, r"model must be a gptedu GPT .*got str 'gpt1-char'"),
    (dict(tokenizer=None), TypeError, r"tokenizer must be a tokenizer .*got NoneType"),
    (dict(prompt=123), TypeError, r"prompt must be a str; got int 123"),
    (dict(layer=2), ValueError, r"layer=2 is out of range: this model has layers 0\.\.1"),
    (dict(head=2), ValueError, r"head=2 must be a head number 0\.\.1, 'mean' or 'all'"),
    (dict(head="max"), ValueError, r"head='max' must be"),
    (dict(max_tokens=0), ValueError, r"max_tokens=0 must be a positive whole number"),
], ids=["model-str", "tokenizer-None", "prompt-int", "layer", "head", "head-str", "max-tokens"])
def test_attention_explorer_with_nonsense_arguments(model, tok, kwargs, error, message):
    kwargs = {"model": model, "tokenizer": tok, "prompt": "abc", **kwargs}
    with pytest.raises(error, match=message):
        attention_explorer(**kwargs)


def test_attention_explorer_still_shows_prompt_errors_in_its_status(model, tok):
    app = attention_explorer(model, tok, prompt="abc", head="mean")
    app.prompt.value = "abc XYZ"
    assert app.error.startswith("UnknownCharacterError") and "color:#b00020" in app.status.value


SWEEP_ROW = {"task": "sentiment", "point": "k=0", "k": 0, "seed": 0, "test_accuracy": 0.5, "lambda_lm": 0.5}


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(gpt=None), TypeError, r"gpt must be a gptedu GPT.*got NoneType"),
    (dict(tokenizer="chars"), TypeError, r"tokenizer must be a tokenizer.*got str 'chars'"),
    (dict(sweep="data/finetune_sweep.json"), TypeError, r"sweep must be the dict .*got str.*json\.loads"),
    (dict(sweep={"rows": [SWEEP_ROW]}), ValueError, r"sweep has rows but lacks 'settings' and 'summary'"),
    (dict(task="summaries"), ValueError, r"unknown task 'summaries'"),
    (dict(steps=0), ValueError, r"steps=0 must be a positive whole number"),
    (dict(n_train=-5), ValueError, r"n_train=-5 must be a positive whole number"),
    (dict(batch_size=2.5), ValueError, r"batch_size=2\.5 must be a positive whole number"),
    (dict(lr=-1e-3), ValueError, r"lr=-0\.001 must be a number > 0"),
    (dict(lr="fast"), ValueError, r"lr='fast' must be a number > 0"),
    (dict(seed=-1), ValueError, r"seed=-1 must be a whole number from 0 to 1,000,000"),
], ids=["gpt-None", "tokenizer-str", "sweep-path", "sweep-partial", "task", "steps", "n_train", "batch_size",
        "lr-negative", "lr-str", "seed"])
def test_transfer_lab_with_nonsense_arguments(model, tok, kwargs, error, message):
    kwargs = {"gpt": model, "tokenizer": tok, **kwargs}
    with pytest.raises(error, match=message):
        transfer_lab(**kwargs)


def test_transfer_figure_with_nonsense_arguments():
    with pytest.raises(ValueError, match=r"n_layer=0 must be a positive whole number"):
        transfer_figure(None, n_layer=0)
    with pytest.raises(TypeError, match=r"live must be a list of runs"):
        transfer_figure(None, live="k=2")


# ====================================================================== few-shot scoring and tasks
def test_scoring_and_tasks_with_nonsense_arguments(model, tok):
    with pytest.raises(TypeError, match=r"choices='abc' is one string.*pass a list"):
        choice_logprobs(model, tok, "abc", "abc")
    with pytest.raises(ValueError, match=r"choices=' good' must be two continuations"):
        sentiment_task(n=4, choices=" good")
    with pytest.raises(ValueError, match=r"n=0 must be a positive integer"):
        sentiment_task(n=0)
    with pytest.raises(ValueError, match=r"examples is empty"):
        zero_shot_accuracy(model, tok, [])
    assert math.isfinite(choice_logprobs(model, tok, "abc", ["d", "ef"]).sum().item())
