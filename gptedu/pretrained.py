"""Load Hugging Face-format GPT-2 and OpenAI-GPT (GPT-1) weights into our GPT.

Nothing here downloads anything: the files must already be on disk. Accepted layouts:

    a folder:  config.json + model.safetensors (or pytorch_model.bin, or a sharded
               model.safetensors.index.json), as written by HF's save_pretrained
    a file:    one .safetensors or .bin file; a config.json beside it is used if present,
               otherwise the configuration is inferred from the tensor shapes

Differences from our layout that the converter undoes:

    - HF stores these four projections as Conv1D with weight [in, out]; nn.Linear wants
      [out, in], so they are transposed: attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj
    - OpenAI-GPT names its embeddings tokens_embed / positions_embed (ours: wte / wpe); its
      post-LN blocks use ln_1 after attention and ln_2 after the MLP, as ours do
    - keys may carry a "transformer." prefix; old checkpoints also hold the causal-mask
      buffers "h.N.attn.bias" / "h.N.attn.masked_bias", which are not weights
    - a tied lm_head.weight is absent or a copy of the token embedding
    - activation names: GPT-2 "gelu_new" / "gelu_pytorch_tanh" is our tanh GELU, "gelu" the exact
      one; OpenAI-GPT's afn "gelu" is the tanh form (HF maps it to gelu_new)
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from .config import GPTConfig
from .model import GPT

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
CONV1D_WEIGHTS = re.compile(r"h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$")
MASK_BUFFERS = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)$")
OPENAI_GPT_RENAMES = {"tokens_embed.": "wte.", "positions_embed.": "wpe."}

GPT2_ACTIVATIONS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh", "gelu": "exact"}
OPENAI_GPT_ACTIVATIONS = {"gelu": "tanh"}


def load_pretrained(path: str | Path, **overrides: Any) -> GPT:
    """Build a GPT from HF-format weights on disk, in eval mode (call .train() to fine-tune).

    `overrides` replace config fields, e.g. dropout=0.0.
    """
    weights_file, config_file = _locate(Path(path))
    state = convert_state_dict(load_state_dict(weights_file))
    if config_file is not None:
        config = config_from_hf(json.loads(config_file.read_text()), **overrides)
    else:
        config = infer_config(state, **overrides)
    if config.tie_embeddings:  # one matrix serves both ends; a stored lm_head is only its copy
        state.pop("lm_head.weight", None)
        if "wte.weight" in state:
            state["lm_head.weight"] = state["wte.weight"]
    with torch.device("meta"):  # no memory and no random init: every tensor comes from the file
        model = GPT(config)
    _check_fits(model, state)
    model.load_state_dict(state, assign=True)
    if config.tie_embeddings:  # assign=True made two Parameters; make them one again
        model.lm_head.weight = model.wte.weight
    return model.eval()


def _locate(path: Path) -> tuple[Path, Path | None]:
    """(weights file, config.json or None) for a folder or a single file."""
    if not path.exists():
        raise FileNotFoundError(f"No pretrained weights at {path}. {_how_to_get(path)}")
    weights = path
    if path.is_dir():
        found = [path / name for name in WEIGHT_FILES if (path / name).is_file()]
        if not found:
            there = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
            raise FileNotFoundError(
                f"{path} holds {there}, but none of {', '.join(WEIGHT_FILES)}. {_how_to_get(path)}"
            )
        weights = found[0]
    config = weights.parent / "config.json"
    return weights, config if config.is_file() else None


def _how_to_get(path: Path) -> str:
    folder = path if path.suffix == "" else path.parent
    return (
        "Nothing is downloaded for you. To use OpenAI's GPT-2 weights (an optional, online extra), "
        "download config.json and model.safetensors from the Hugging Face repository "
        f"openai-community/gpt2 into {folder}/ and call GPT.from_pretrained('{folder}') "
        "(openai-community/openai-gpt for GPT-1)."
    )


def load_state_dict(file: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, a sharded .index.json, or a .bin (weights_only)."""
    if file.name.endswith(".index.json"):
        shards = sorted(set(json.loads(file.read_text())["weight_map"].values()))
        return {k: v for shard in shards for k, v in load_state_dict(file.parent / shard).items()}
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(file))
    return torch.load(file, map_location="cpu", weights_only=True)


def config_from_hf(hf: dict[str, Any], **overrides: Any) -> GPTConfig:
    """Our GPTConfig from an HF GPT2Config / OpenAIGPTConfig as a dict (config.json)."""
    model_type = hf.get("model_type")
    if model_type == "gpt2":
        if not hf.get("scale_attn_weights", True) or hf.get("scale_attn_by_inverse_layer_idx", False):
            raise ValueError("This GPT-2 config changes the attention scaling, which GPT does not support.")
        norm, residual_scale_init = "pre", True
        gelu = _activation(hf.get("activation_function", "gelu_new"), GPT2_ACTIVATIONS)
    elif model_type == "openai-gpt":
        norm, residual_scale_init = "post", False
        gelu = _activation(hf.get("afn", "gelu"), OPENAI_GPT_ACTIVATIONS)
    else:
        raise ValueError(f"config.json has model_type={model_type!r}; only 'gpt2' and 'openai-gpt' load.")
    fields = dict(
        vocab_size=hf["vocab_size"], block_size=hf["n_positions"], n_layer=hf["n_layer"],
        n_head=hf["n_head"], n_embd=hf["n_embd"], n_inner=hf.get("n_inner"),
        dropout=hf.get("resid_pdrop", 0.0), norm=norm, residual_scale_init=residual_scale_init,
        tie_embeddings=hf.get("tie_word_embeddings", True), gelu=gelu,
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
    )
    return GPTConfig(**{**fields, **overrides})


def _activation(name: str, table: dict[str, str]) -> str:
    if name not in table:
        raise ValueError(f"Activation {name!r} is not supported; known: {', '.join(table)}.")
    return table[name]


def infer_config(state: dict[str, torch.Tensor], **overrides: Any) -> GPTConfig:
    """A GPTConfig from the shapes of a converted state dict alone (no config.json).

    Shapes cannot tell the number of heads; every OpenAI GPT-1/GPT-2 model uses heads of
    64 dimensions, so n_head = n_embd // 64 unless overridden. The GELU is the tanh form
    both releases used. Post-LN (GPT-1) is recognised by the missing final LayerNorm.
    """
    vocab_size, n_embd = state["wte.weight"].shape
    pre_norm = "ln_f.weight" in state
    fields = dict(
        vocab_size=vocab_size, block_size=state["wpe.weight"].shape[0],
        n_layer=1 + max(int(k.split(".")[1]) for k in state if k.startswith("h.")),
        n_head=max(1, n_embd // 64), n_embd=n_embd, n_inner=state["h.0.mlp.c_fc.weight"].shape[0],
        gelu="tanh", norm="pre" if pre_norm else "post", residual_scale_init=pre_norm,
        tie_embeddings="lm_head.weight" not in state or torch.equal(state["lm_head.weight"], state["wte.weight"]),
    )
    return GPTConfig(**{**fields, **overrides})


def convert_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF GPT-2 / OpenAI-GPT state dict -> our names and layouts (Conv1D weights transposed)."""
    _check_kind(state)
    out = {}
    for key, value in state.items():
        key = key.removeprefix("transformer.")
        if MASK_BUFFERS.match(key):
            continue
        for old, new in OPENAI_GPT_RENAMES.items():
            if key.startswith(old):
                key = new + key[len(old):]
        if CONV1D_WEIGHTS.match(key):
            value = value.t()
        out[key] = value.float().contiguous()  # our model is float32, whatever the file holds
    return out


def _check_kind(state: dict[str, torch.Tensor]) -> None:
    keys = {k.removeprefix("transformer.") for k in state}
    if not keys & {"wte.weight", "tokens_embed.weight"}:
        raise ValueError(
            "These weights are neither HF GPT-2 (wte.weight) nor HF OpenAI-GPT (tokens_embed.weight); "
            f"first keys: {sorted(state)[:5]}"
        )


def _check_fits(model: GPT, state: dict[str, torch.Tensor]) -> None:
    """Raise an error that names every key that does not fit, before loading anything."""
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(ours[k].shape)}"
             for k in ours if k in state and state[k].shape != ours[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            "These weights do not fit the model built from their config. "
            f"Missing: {_few(missing)}. Unexpected: {_few(unexpected)}. Wrong shape: {_few(wrong)}."
        )


def _few(items: list[str], n: int = 6) -> str:
    if not items:
        return "none"
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more
