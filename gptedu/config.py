"""GPTConfig: the sizes of a GPT plus the switches that tell the three papers apart.

One dataclass describes GPT-1, GPT-2 and GPT-3. The papers differ in a few switches:

    norm                 "post": GPT-1's post-LN blocks, x = LN(x + f(x)), no final LN
                         "pre":  GPT-2/3, x = x + f(LN(x)), plus a final LN after the last block
    residual_scale_init  GPT-2: residual projections start with std 0.02/sqrt(2*n_layer)
    attention_pattern    "dense", GPT-3's "alternating" dense / locally banded layers, or "banded"
                         (every layer banded: the ablation of chapter 09, not a paper's model)

Named presets give the papers' configurations and the course's tiny CPU models:

    >>> cfg = preset("gpt2-124m")
    >>> cfg = GPTConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size)
"""
from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from .checks import is_real as _is_real
from .checks import require_bool, require_choice, require_int, require_number  # noqa: F401 (imported from here too)

NORMS = ("pre", "post")
ATTENTION_PATTERNS = ("dense", "alternating", "banded")
GELUS = ("exact", "tanh")


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int  # context length: the most tokens the model sees at once
    n_layer: int
    n_head: int
    n_embd: int
    n_inner: int | None = None  # MLP width; None means 4 * n_embd (see mlp_width)
    dropout: float = 0.0
    norm: str = "pre"
    residual_scale_init: bool = True
    attention_pattern: str = "dense"
    attention_window: int | None = None  # band width of the banded layers (alternating / banded)
    tie_embeddings: bool = True  # lm_head shares its weight with the token embedding
    gelu: str = "exact"  # "tanh" is the approximation OpenAI's GPT-1/GPT-2 code used
    bias: bool = True  # biases in Linear and LayerNorm layers
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; raise a ValueError that says what to change.

        NumPy integers and booleans become plain ints and bools. GPT() calls this again,
        so a config edited after it was made is checked before a model is built from it.
        """
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, require_int(name, getattr(self, name)))
        if self.n_inner is not None:
            self.n_inner = require_int("n_inner", self.n_inner)
        if self.n_embd % self.n_head:
            fits = [h for h in range(1, min(self.n_embd, 128) + 1) if self.n_embd % h == 0]
            raise ValueError(
                f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}: each head gets "
                f"n_embd // n_head dimensions. Pick n_head from {fits[-8:]} or change n_embd."
            )
        require_choice("norm", self.norm, NORMS)
        require_choice("attention_pattern", self.attention_pattern, ATTENTION_PATTERNS)
        require_choice("gelu", self.gelu, GELUS)
        for name in ("residual_scale_init", "tie_embeddings", "bias"):
            setattr(self, name, require_bool(name, getattr(self, name)))
        if not (_is_real(self.dropout) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout={self.dropout!r} must be in [0, 1) (a number; 0 turns dropout off).")
        if not (_is_real(self.layer_norm_eps) and math.isfinite(self.layer_norm_eps) and self.layer_norm_eps > 0):
            raise ValueError(f"layer_norm_eps={self.layer_norm_eps!r} must be a positive finite number, "
                             f"e.g. 1e-5 (the default).")
        if self.attention_pattern != "dense" and self.attention_window is None:
            raise ValueError(
                f"attention_pattern={self.attention_pattern!r} needs attention_window (the band width of the "
                "banded layers), e.g. attention_window=256."
            )
        if self.attention_window is not None:
            self.attention_window = require_int("attention_window", self.attention_window)
            if self.attention_pattern == "dense":
                raise ValueError(
                    f"attention_window={self.attention_window!r} has no effect with attention_pattern='dense' "
                    f"(every layer sees the whole context). Leave it None, or set "
                    f"attention_pattern='alternating' for GPT-3's banded layers."
                )
            if self.attention_window > self.block_size:
                raise ValueError(
                    f"attention_window={self.attention_window} is larger than "
                    f"block_size={self.block_size}; use a window of at most {self.block_size}."
                )

    @property
    def mlp_width(self) -> int:
        """Hidden width of the MLP: n_inner, or 4 * n_embd as in all three papers."""
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def layer_window(self, layer: int) -> int | None:
        """Band width of layer `layer` (0-based), or None for a dense causal layer.

        With the alternating pattern, even layers are dense and odd layers banded; with the
        banded pattern every layer is banded.
        """
        if self.attention_pattern == "banded" or (self.attention_pattern == "alternating" and layer % 2 == 1):
            return self.attention_window
        return None

    def describe(self) -> str:
        """One line in words, e.g. for a notebook cell or a model's repr."""
        attention = "dense attention"
        if self.attention_pattern == "alternating":
            attention = f"alternating dense/banded attention (window {self.attention_window})"
        elif self.attention_pattern == "banded":
            attention = f"banded attention in every layer (window {self.attention_window})"
        init = "residual init 1/sqrt(2N)" if self.residual_scale_init else "plain init"
        return (
            f"{self.n_layer} layers x {self.n_embd} wide, {self.n_head} heads of {self.head_dim}, "
            f"MLP {self.mlp_width}, context {self.block_size}, vocab {self.vocab_size}; "
            f"{self.norm}-LN, {attention}, {'tied' if self.tie_embeddings else 'untied'} "
            f"embeddings, {self.gelu} GELU, {init}, dropout {self.dropout}"
        )

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "GPTConfig":
        """The named preset (see PRESETS), with any field replaced by a keyword argument."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}.{_suggest(name, PRESETS)} Valid presets: {', '.join(PRESETS)}.")
        fields = [f.name for f in dataclasses.fields(cls)]
        for key in overrides:
            if key not in fields:
                raise ValueError(f"GPTConfig has no field {key!r}.{_suggest(key, fields)} Fields: {', '.join(fields)}.")
        return cls(**{**PRESETS[name], **overrides})


def preset(name: str, **overrides: Any) -> GPTConfig:
    """Same as GPTConfig.from_preset(name, **overrides)."""
    return GPTConfig.from_preset(name, **overrides)


def _suggest(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


# ---------------------------------------------------------------------------------------
# GPT-3 Table 2.1, as printed in the paper (Brown et al. 2020). batch_size is in tokens.


@dataclass(frozen=True)
class PaperRow:
    name: str
    n_params_paper: float
    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    batch_size: int  # tokens per batch
    learning_rate: float


GPT3_TABLE_2_1: Mapping[str, PaperRow] = MappingProxyType({
    row.name: row
    for row in (
        PaperRow("gpt3-small", 125e6, 12, 768, 12, 64, 500_000, 6.0e-4),
        PaperRow("gpt3-medium", 350e6, 24, 1024, 16, 64, 500_000, 3.0e-4),
        PaperRow("gpt3-large", 760e6, 24, 1536, 16, 96, 500_000, 2.5e-4),
        PaperRow("gpt3-xl", 1.3e9, 24, 2048, 24, 128, 1_000_000, 2.0e-4),
        PaperRow("gpt3-2.7b", 2.7e9, 32, 2560, 32, 80, 1_000_000, 1.6e-4),
        PaperRow("gpt3-6.7b", 6.7e9, 32, 4096, 32, 128, 2_000_000, 1.2e-4),
        # Two rows do not add up as printed (n_heads * d_head != d_model): XL and 13B.
        # The presets below say which number they keep.
        PaperRow("gpt3-13b", 13.0e9, 40, 5140, 40, 128, 2_000_000, 1.0e-4),
        PaperRow("gpt3-175b", 175.0e9, 96, 12288, 96, 128, 3_200_000, 0.6e-4),
    )
})

# ---------------------------------------------------------------------------------------
# Presets. Every paper preset uses the tanh GELU, the form in OpenAI's released GPT-1 and
# GPT-2 code (and HF's "gelu_new"); the field's own default stays the exact GELU.

# GPT-1's MLP is 3072 wide, 4 * 768: the default n_inner=None gives exactly that.
_GPT1 = dict(
    vocab_size=40478, block_size=512, n_layer=12, n_head=12, n_embd=768,
    dropout=0.1, norm="post", residual_scale_init=False, gelu="tanh",
)
# GPT-2: the paper gives no dropout and OpenAI's released model code has none.
_GPT2 = dict(vocab_size=50257, block_size=1024, norm="pre", residual_scale_init=True, gelu="tanh")
# GPT-3 does not state the band width of its locally banded layers; 256 is our choice.
_GPT3 = dict(_GPT2, block_size=2048, attention_pattern="alternating", attention_window=256)


def _gpt3(name: str, **fixes: Any) -> dict:
    row = GPT3_TABLE_2_1[name]
    return {**_GPT3, "n_layer": row.n_layers, "n_head": row.n_heads, "n_embd": row.d_model, **fixes}


# Course presets: nanoGPT's CPU shakespeare_char shape. vocab_size=65 is the number of
# distinct characters in tiny Shakespeare; pass the real one from your tokenizer:
# preset("tiny", vocab_size=tok.vocab_size).
_TINY = dict(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, gelu="tanh")

PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    name: MappingProxyType(kwargs)
    for name, kwargs in {
        "gpt1": _GPT1,
        "gpt2-124m": dict(_GPT2, n_layer=12, n_head=12, n_embd=768),
        "gpt2-355m": dict(_GPT2, n_layer=24, n_head=16, n_embd=1024),
        "gpt2-774m": dict(_GPT2, n_layer=36, n_head=20, n_embd=1280),
        "gpt2-1.5b": dict(_GPT2, n_layer=48, n_head=25, n_embd=1600),
        "gpt3-small": _gpt3("gpt3-small"),
        "gpt3-medium": _gpt3("gpt3-medium"),
        "gpt3-large": _gpt3("gpt3-large"),
        # Table 2.1 prints 24 heads of 128 for XL, but 24 x 128 != d_model 2048; with
        # d_model 2048 (which gives the paper's 1.3B) d_head 128 means 16 heads.
        "gpt3-xl": _gpt3("gpt3-xl", n_head=16),
        "gpt3-2.7b": _gpt3("gpt3-2.7b"),
        "gpt3-6.7b": _gpt3("gpt3-6.7b"),
        # Table 2.1 prints d_model 5140 for 13B, which 40 heads cannot divide; 40 x 128 = 5120.
        "gpt3-13b": _gpt3("gpt3-13b", n_embd=5120),
        "gpt3-175b": _gpt3("gpt3-175b"),
        "tiny": dict(_TINY, norm="pre", residual_scale_init=True),
        "tiny-gpt1": dict(_TINY, norm="post", residual_scale_init=False),
        "tiny-gpt3": dict(_TINY, norm="pre", residual_scale_init=True,
                          attention_pattern="alternating", attention_window=16),
    }.items()
})
