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

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .config import GPTConfig

if TYPE_CHECKING:  # GPT.from_pretrained imports this module; importing model here at load time would be a circle
    from .model import GPT

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
CONV1D_WEIGHTS = re.compile(r"h\.\d+\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$")
MASK_BUFFERS = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)$")
OPENAI_GPT_RENAMES = {"tokens_embed.": "wte.", "positions_embed.": "wpe."}
GPTEDU_MAGIC = b"gptedu-checkpoint"  # how a checkpoint of ours (gptedu.checkpoints) starts

GPT2_ACTIVATIONS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh", "gelu": "exact"}
OPENAI_GPT_ACTIVATIONS = {"gelu": "tanh"}


def load_pretrained(path: str | Path, **overrides: Any) -> GPT:
    """Build a GPT from HF-format weights on disk, in eval mode (call .train() to fine-tune).

    `overrides` replace config fields, e.g. dropout=0.0.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path={path!r} must be a folder or file name (a str or Path), e.g. 'weights/gpt2'.")
    _check_overrides(overrides)
    weights_file, config_file = _locate(Path(path))
    _refuse_gptedu_checkpoint(weights_file)
    state = load_state_dict(weights_file)
    _check_tensors(state, weights_file)
    state = convert_state_dict(state)
    if config_file is not None:
        config = config_from_hf(_read_json(config_file), **overrides)
    else:
        config = infer_config(state, **overrides)
    if config.tie_embeddings:  # one matrix serves both ends; a stored lm_head is only its copy
        state.pop("lm_head.weight", None)
        if "wte.weight" in state:
            state["lm_head.weight"] = state["wte.weight"]
    from .model import GPT

    with torch.device("meta"):  # no memory and no random init: every tensor comes from the file
        model = GPT(config)
    _check_fits(model, state)
    model.load_state_dict(state, assign=True)
    if config.tie_embeddings:  # assign=True made two Parameters; make them one again
        model.lm_head.weight = model.wte.weight
    return model.eval()


def _check_overrides(overrides: dict[str, Any]) -> None:
    fields = [f.name for f in dataclasses.fields(GPTConfig)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"GPTConfig has no field {', '.join(map(repr, unknown))}, so it cannot be overridden. "
                        f"Fields: {', '.join(fields)}.")


def _refuse_gptedu_checkpoint(file: Path) -> None:
    """Our own checkpoints (save_checkpoint) are not HF weights: send the learner to load_model.

    A checkpoint starts with a "gptedu-checkpoint ..." header line (an older one, a bare torch.save
    dict, is recognised after loading by _check_tensors).
    """
    with open(file, "rb") as f:
        if f.read(len(GPTEDU_MAGIC)) == GPTEDU_MAGIC:
            raise ValueError(_gptedu_checkpoint(file))


def _gptedu_checkpoint(file: Path) -> str:
    return f"{file} is a gptedu checkpoint, not Hugging Face weights; use load_model(path) from gptedu.checkpoints."


def _check_tensors(state: Any, file: Path) -> None:
    """A state dict: names -> tensors (an older gptedu checkpoint, a dict with config and model, is refused)."""
    if isinstance(state, dict) and {"config", "model"} <= set(state):
        raise ValueError(_gptedu_checkpoint(file))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{file} does not hold a state dict of tensors (it holds a {type(state).__name__}), "
                         "so it is not Hugging Face GPT weights.")


def _read_json(file: Path) -> dict[str, Any]:
    """A JSON object (config.json, a shard index) as a dict, with errors that name the file and the fault."""
    redo = "Download it again" + (", or delete it to infer the configuration from the weights' shapes"
                                  if file.name == "config.json" else "")
    try:
        hf = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{file} is not valid JSON ({err}). {redo}.") from None
    if not isinstance(hf, dict):
        raise ValueError(f"{file} holds a JSON {type(hf).__name__}, not an object. {redo}.")
    return hf


def _locate(path: Path) -> tuple[Path, Path | None]:
    """(weights file, config.json or None) for a folder or a single file."""
    if not path.exists():
        raise FileNotFoundError(f"No pretrained weights at {path}. {_how_to_get(path)}")
    weights = path
    if path.is_dir():
        found = [path / name for name in WEIGHT_FILES if (path / name).is_file()]
        if not found:
            names = sorted(p.name for p in path.iterdir())
            there = _few(names) if names else "nothing"
            ours = [name for name in names if name.endswith(".pt")]
            hint = (f"{ours[0]} looks like a gptedu checkpoint: load it with load_model(path). " if ours else "")
            raise FileNotFoundError(
                f"{path} holds {there}, but none of {', '.join(WEIGHT_FILES)}. {hint}{_how_to_get(path)}"
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


COURSE_DIR = Path(__file__).resolve().parents[1]
GPT2_DEFAULT_DIR = "weights/gpt2"  # where chapters 07 and 08 look for OpenAI's GPT-2 small, unless $GPTEDU_GPT2 says


def local_gpt2_dir() -> Path | None:
    """The folder of OpenAI's GPT-2 weights if the learner has them ($GPTEDU_GPT2 or weights/gpt2/), else None.

    Nothing is downloaded: this only looks on disk (a relative $GPTEDU_GPT2 is read from the course folder).
    """
    folder = COURSE_DIR / os.environ.get("GPTEDU_GPT2", GPT2_DEFAULT_DIR)
    return folder if any((folder / name).is_file() for name in WEIGHT_FILES) else None


def load_state_dict(file: Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, a sharded .index.json, or a .bin (weights_only)."""
    if file.name.endswith(".index.json"):
        index = _read_json(file)
        if not isinstance(index.get("weight_map"), dict):
            raise ValueError(f"{file} has no weight_map: it is not a sharded-weights index. Download it again.")
        shards = sorted(set(index["weight_map"].values()))
        missing = [shard for shard in shards if not (file.parent / shard).is_file()]
        if missing:
            raise FileNotFoundError(f"{file} lists {len(shards)} shard(s) but {_few(missing)} "
                                    f"{'is' if len(missing) == 1 else 'are'} not in {file.parent}; download them too.")
        return {k: v for shard in shards for k, v in load_state_dict(file.parent / shard).items()}
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(file))
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say what it is, not where the reader failed
        first_line = (str(err).splitlines() or [""])[0][:200]
        raise ValueError(f"{file} ({file.stat().st_size:,} bytes) cannot be read as weights "
                         f"({type(err).__name__}: {first_line}). It may be empty or cut short by an "
                         "interrupted download: download it again.") from None


def config_from_hf(hf: dict[str, Any], **overrides: Any) -> GPTConfig:
    """Our GPTConfig from an HF GPT2Config / OpenAIGPTConfig as a dict (config.json)."""
    if not isinstance(hf, dict):
        raise TypeError(f"hf must be a config.json as a dict; got {type(hf).__name__}.")
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
    lacking = [key for key in ("vocab_size", "n_positions", "n_layer", "n_head", "n_embd") if key not in hf]
    if lacking:
        raise ValueError(f"config.json lacks {', '.join(lacking)}: it is incomplete. Download it again, or "
                         "delete it to infer the configuration from the weights' shapes.")
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
    lacking = [key for key in ("wte.weight", "wpe.weight", "h.0.mlp.c_fc.weight") if key not in state]
    if lacking:
        raise ValueError(f"Cannot infer the configuration: the weights lack {', '.join(lacking)} "
                         f"({len(state)} tensors in all). Put the model's config.json beside the file.")
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
    """The first n items, then how many more and in all: "a, b, c (+7 more, 10 in all)"."""
    if not items:
        return "none"
    more = f" (+{len(items) - n} more, {len(items)} in all)" if len(items) > n else ""
    return ", ".join(items[:n]) + more
