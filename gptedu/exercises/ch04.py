"""Chapter 04's build exercises: LayerNorm, GPT-1's parameter count, the whole GPT-1."""
from __future__ import annotations

import torch
import torch.nn as nn

from ..config import GPTConfig
from ..model import GPT, Block
from .core import Case, Exercise, Mistake, compare_exact, compare_tensors, register


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------- LayerNorm
def layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=False)
    return g * (x - mu) / torch.sqrt(var + eps) + b


def _ln_unbiased(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return g * (x - mu) / torch.sqrt(x.var(-1, keepdim=True) + eps) + b


def _ln_no_eps(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return g * (x - mu) / x.std(-1, keepdim=True, unbiased=False) + b


def _ln_eps_outside(x, g, b, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return g * (x - mu) / (x.std(-1, keepdim=True, unbiased=False) + eps) + b


def _ln_wrong_axis(x, g, b, eps=1e-5):
    mu = x.mean(0, keepdim=True)
    var = x.var(0, keepdim=True, unbiased=False)
    return g * (x - mu) / torch.sqrt(var + eps) + b


def _ln_affine_first(x, g, b, eps=1e-5):
    x = g * x + b
    mu = x.mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps)


def _ln_cases():
    g = _gen(6)
    C = 8
    gain, bias = torch.rand(C, generator=g) + 0.5, torch.randn(C, generator=g) * 0.1
    return [
        Case("x (2, 4, 8), far from mean 0 and std 1", (3 + 5 * torch.randn(2, 4, C, generator=g), gain, bias)),
        Case("one position, T = 1: x (1, 1, 8)", (torch.randn(1, 1, C, generator=g), gain, bias)),
        Case("a constant vector (variance 0): only eps avoids 0 / 0", (torch.full((1, 2, C), 4.0), gain, bias)),
        Case("a tiny variance (std about 0.001): where eps matters", (1e-3 * torch.randn(3, 1, C, generator=g), gain, bias)),
        Case("eps = 0.1 passed explicitly", (torch.randn(2, 3, C, generator=g), gain, bias), {"eps": 0.1}),
    ]


register(Exercise(
    id="layer_norm", chapter="04", name="my_layer_norm", solution_name="my_layer_norm_solution",
    title="LayerNorm",
    reference=layer_norm, cases=_ln_cases,
    compare=lambda e, got: compare_tensors(e, got, atol=1e-5, rtol=1e-4),
    hint="over the last axis: mu = x.mean(-1, keepdim=True), var = x.var(-1, keepdim=True, unbiased=False); "
         "return g * (x - mu) / torch.sqrt(var + eps) + b.",
    mistakes=[
        Mistake("the variance divides by C - 1 (unbiased), LayerNorm divides by C", _ln_unbiased,
                "use x.var(-1, keepdim=True, unbiased=False)."),
        Mistake("eps is missing: a constant vector gives 0 / 0 = nan", _ln_no_eps,
                "divide by torch.sqrt(var + eps), never by the bare standard deviation."),
        Mistake("eps is added outside the square root", _ln_eps_outside,
                "eps goes under the root: torch.sqrt(var + eps), as nn.LayerNorm computes it."),
        Mistake("the statistics are taken over the batch (dim 0), not over each position's channels",
                _ln_wrong_axis,
                "every position is normalised on its own: mean and variance over the last axis, dim=-1."),
        Mistake("the gain and bias are applied before normalising, so they cancel out", _ln_affine_first,
                "normalise first, then scale by g and shift by b."),
    ],
))


# ---------------------------------------------------------------------- GPT-1's parameter count
def gpt1_param_count(V, T, C, L):
    embeddings = V * C + T * C
    attention = 3 * C * C + 3 * C + C * C + C
    mlp = C * 4 * C + 4 * C + 4 * C * C + C
    layer_norms = 2 * 2 * C
    return embeddings + L * (attention + mlp + layer_norms)


def _count_no_biases(V, T, C, L):
    return V * C + T * C + L * (4 * C * C + 8 * C * C + 4 * C)


def _count_no_layernorm(V, T, C, L):
    return V * C + T * C + L * (4 * C * C + 4 * C + 8 * C * C + 5 * C)


def _count_untied(V, T, C, L):
    return gpt1_param_count(V, T, C, L) + V * C


def _count_no_positions(V, T, C, L):
    return gpt1_param_count(V, T, C, L) - T * C


def _count_narrow_mlp(V, T, C, L):
    return V * C + T * C + L * (4 * C * C + 4 * C + 2 * C * C + 2 * C + 4 * C)


def _count_cases():
    return [
        Case("GPT-1: V = 40478, T = 512, C = 768, L = 12", (40478, 512, 768, 12)),
        Case("chapter 05's model: V = 84, T = 128, C = 192, L = 6", (84, 128, 192, 6)),
        Case("one block: V = 10, T = 4, C = 8, L = 1", (10, 4, 8, 1)),
        Case("no blocks at all: L = 0", (100, 16, 32, 0)),
    ]


register(Exercise(
    id="param_count", chapter="04", name="gpt1_param_count", solution_name="gpt1_param_count_solution",
    title="GPT-1's parameters, counted with a formula",
    reference=gpt1_param_count, cases=_count_cases, compare=compare_exact,
    hint="embeddings V·C + T·C (the tied output layer adds nothing); per block: attention 3C² + 3C and C² + C, "
         "MLP C·4C + 4C and 4C·C + C, two LayerNorms 2 × 2C.",
    mistakes=[
        Mistake("the biases are missing", _count_no_biases,
                "every nn.Linear in a block has a bias: 3C (c_attn), C (attention c_proj), 4C (c_fc), C (MLP c_proj)."),
        Mistake("the LayerNorms' gain and bias are missing", _count_no_layernorm,
                "two LayerNorms per block, each with C gains and C biases: 4C per block."),
        Mistake("the output layer is counted, but it is tied to W_e", _count_untied,
                "lm_head.weight IS wte.weight: count V·C once."),
        Mistake("the position embedding is missing", _count_no_positions,
                "W_p has one C-vector per position: T·C."),
        Mistake("the MLP is C wide, not 4C", _count_narrow_mlp,
                "GPT-1's MLP widens to 4C (768 → 3072): C·4C + 4C in, 4C·C + C out."),
    ],
))


# ---------------------------------------------------------------------- the whole GPT-1
class MyGPT1Reference(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(c.vocab_size, c.n_embd), nn.Embedding(c.block_size, c.n_embd)
        self.h = nn.ModuleList(Block(c) for _ in range(c.n_layer))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        h = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            h = block(h)
        return self.lm_head(h)


class _NoPositions(MyGPT1Reference):
    def forward(self, idx):
        h = self.wte(idx)
        for block in self.h:
            h = block(h)
        return self.lm_head(h)


class _Untied(MyGPT1Reference):
    def __init__(self, c):
        super().__init__(c)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)


class _PositionsFromOne(MyGPT1Reference):
    def forward(self, idx):
        h = self.wte(idx) + self.wpe(torch.arange(1, idx.size(1) + 1))
        for block in self.h:
            h = block(h)
        return self.lm_head(h)


class _FinalLayerNorm(MyGPT1Reference):
    def __init__(self, c):
        super().__init__(c)
        self.ln_f = nn.LayerNorm(c.n_embd)

    def forward(self, idx):
        h = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))
        for block in self.h:
            h = block(h)
        return self.lm_head(self.ln_f(h))


_SMALL = dict(vocab_size=23, n_layer=2, n_head=4, n_embd=32, block_size=16, dropout=0.0)


def _reference_gpt(seed=0):
    torch.manual_seed(seed)
    gpt = GPT(GPTConfig.from_preset("tiny-gpt1", **_SMALL)).eval()
    with torch.no_grad():
        g = _gen(seed + 1)
        for name, p in gpt.named_parameters():
            if p.dim() == 1:  # random biases and LayerNorms, so a misplaced one shows
                scale = name.endswith("weight") and ".ln_" in name
                p.copy_(torch.rand(p.shape, generator=g) + 0.5 if scale else torch.randn(p.shape, generator=g) * 0.1)
    return gpt


def _gpt_cases():
    g = _gen(7)
    return [
        Case("2 sequences filling the context (T = block_size = 16)", (torch.randint(0, 23, (2, 16), generator=g),)),
        Case("T = 1: a single token", (torch.randint(0, 23, (3, 1), generator=g),)),
        Case("a batch of one, T = 7", (torch.randint(0, 23, (1, 7), generator=g),)),
    ]


def _run_gpt(cls, case):
    reference = _reference_gpt()
    mine = cls(reference.config)
    loaded = mine.load_state_dict(reference.state_dict(), strict=False)
    if loaded.missing_keys or loaded.unexpected_keys:
        missing = f"it has parameters gptedu's GPT does not: {', '.join(loaded.missing_keys)}. " \
            if loaded.missing_keys else ""
        unexpected = f"it lacks gptedu's {', '.join(loaded.unexpected_keys[:4])}" + \
            (" ..." if len(loaded.unexpected_keys) > 4 else "") if loaded.unexpected_keys else ""
        raise RuntimeError(f"gptedu's state dict does not load into it: {missing}{unexpected}".strip())
    mine.eval()
    (idx,) = case.args
    with torch.no_grad():
        logits = mine(idx)
    tied = getattr(getattr(mine, "lm_head", None), "weight", None) is getattr(getattr(mine, "wte", None), "weight", 0)
    return logits, tied


def _compare_gpt(expected, got):
    problem = compare_tensors(expected[0], got[0], atol=1e-5, rtol=1e-4, what="the logits")
    if problem:
        return problem
    if got[1] != expected[1]:
        return ("the logits are right, but lm_head.weight is not wte.weight: the output layer is not tied"
                if expected[1] else "lm_head.weight is wte.weight here, but should not be")
    return None


register(Exercise(
    id="gpt1_model", chapter="04", name="MyGPT1", solution_name="MyGPT1Solution",
    title="the whole GPT-1 (eq. 2)",
    reference=MyGPT1Reference, cases=_gpt_cases, run=_run_gpt, compare=_compare_gpt,
    hint="h0 = wte(idx) + wpe(positions 0..T-1); every block in turn; logits = lm_head(h) with "
         "self.lm_head.weight = self.wte.weight. Names wte, wpe, h, lm_head so a gptedu state dict loads.",
    mistakes=[
        Mistake("the position embedding is not added", _NoPositions,
                "h0 = self.wte(idx) + self.wpe(torch.arange(idx.size(1)))."),
        Mistake("the output layer is not tied to the token embedding", _Untied,
                "after creating lm_head, share the tensor: self.lm_head.weight = self.wte.weight."),
        Mistake("the positions start at 1, not 0", _PositionsFromOne,
                "positions are 0 … T-1: torch.arange(idx.size(1)); at T = block_size position T does not exist."),
        Mistake("a final LayerNorm (ln_f) was added: that is GPT-2's, post-LN GPT-1 has none", _FinalLayerNorm,
                "every GPT-1 block already ends in a LayerNorm; remove ln_f."),
    ],
))
