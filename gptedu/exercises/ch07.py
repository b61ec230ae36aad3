"""Chapter 07's build exercises: a block's forward pass pre-LN and post-LN, the residual stream's std predicted
from a sum of variances, GPT-2's 1/sqrt(2N) residual init, GPT-2's parameter count."""
from __future__ import annotations

import math

import torch

from ..config import GPTConfig
from ..model import GPT, Block
from .core import Case, Exercise, Mistake, compare_exact, compare_floats, compare_tensors, register


# ---------------------------------------------------------------------- a block's forward, pre-LN or post-LN
def block_forward(block, x, norm):
    if norm == "pre":  # GPT-2: normalise each sub-block's input, add its output to the raw stream
        x = x + block.attn(block.ln_1(x))
        return x + block.mlp(block.ln_2(x))
    x = block.ln_1(x + block.attn(x))  # GPT-1: normalise after adding
    return block.ln_2(x + block.mlp(x))


def _post(block, x):
    x = block.ln_1(x + block.attn(x))
    return block.ln_2(x + block.mlp(x))


def _pre(block, x):
    x = x + block.attn(block.ln_1(x))
    return x + block.mlp(block.ln_2(x))


def _forward_stream_normalised(block, x, norm):
    if norm != "pre":
        return _post(block, x)
    x = block.ln_1(x)
    x = x + block.attn(x)
    x = block.ln_2(x)
    return x + block.mlp(x)


def _forward_always_pre(block, x, norm):
    return _pre(block, x)


def _forward_post_normalises_branch(block, x, norm):
    if norm == "pre":
        return _pre(block, x)
    x = x + block.ln_1(block.attn(x))
    return x + block.ln_2(block.mlp(x))


def _forward_swapped_norms(block, x, norm):
    if norm == "pre":
        x = x + block.attn(block.ln_2(x))
        return x + block.mlp(block.ln_1(x))
    x = block.ln_2(x + block.attn(x))
    return block.ln_1(x + block.mlp(x))


def _forward_parallel(block, x, norm):
    if norm != "pre":
        return _post(block, x)
    return x + block.attn(block.ln_1(x)) + block.mlp(block.ln_2(x))


def _random_block(norm, seed):
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=16, norm=norm, dropout=0.0)
    block = Block(config).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # random LayerNorm gains and biases too, so a misplaced LayerNorm shows
        for name, p in block.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
            elif name.startswith("ln") and name.endswith("weight"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return block


def _run_block(fn, case):
    norm, shape, seed = case.args
    block = _random_block(norm, seed)
    x = 2.0 + 3.0 * torch.randn(*shape, 16, generator=torch.Generator().manual_seed(seed + 2))  # far from LN's scale
    with torch.no_grad():
        return fn(block, x, norm)


register(Exercise(
    id="block_forward", chapter="07", name="block_forward", solution_name="block_forward_solution",
    title="a block's forward pass, pre-LN and post-LN",
    reference=block_forward, run=_run_block,
    cases=lambda: [Case("pre-LN (GPT-2), x (2, 5, 16), random weights and LayerNorms", ("pre", (2, 5), 0)),
                   Case("post-LN (GPT-1), x (2, 5, 16)", ("post", (2, 5), 0)),
                   Case("pre-LN, a batch of one, T = 1", ("pre", (1, 1), 3)),
                   Case("post-LN, a batch of one, T = 7", ("post", (1, 7), 4))],
    compare=lambda e, g: compare_tensors(e, g, atol=1e-5, rtol=1e-4, what="the block's output"),
    hint="pre: x = x + block.attn(block.ln_1(x)); return x + block.mlp(block.ln_2(x)). "
         "post: x = block.ln_1(x + block.attn(x)); return block.ln_2(x + block.mlp(x)).",
    mistakes=[
        Mistake("pre-LN: the stream itself is normalised (x = ln_1(x)), so the residual carries the normalised x",
                _forward_stream_normalised,
                "pre-LN normalises a copy for the sub-block: x + attn(ln_1(x)). The raw x is what gets added to."),
        Mistake("post-LN computed like pre-LN: `norm` is ignored", _forward_always_pre,
                "post-LN (GPT-1) adds first, then normalises the sum: x = ln_1(x + attn(x)), then ln_2(x + mlp(x))."),
        Mistake("post-LN normalises the sub-block's output before adding it (x + ln(attn(x)))",
                _forward_post_normalises_branch,
                "in post-LN the LayerNorm takes the sum: ln_1(x + attn(x)); nothing is added after it."),
        Mistake("ln_1 and ln_2 are swapped", _forward_swapped_norms,
                "ln_1 belongs to the attention sub-block, ln_2 to the MLP."),
        Mistake("pre-LN: the MLP reads the block's input, not the stream after attention (the branches in parallel)",
                _forward_parallel,
                "the two sub-blocks run one after the other: the MLP reads ln_2 of x after attention's output "
                "was added."),
    ],
))


# ---------------------------------------------------------------------- the residual stream's std, predicted
def stream_std(var0, branch_var, n_layer, scaled):
    v = branch_var / (2 * n_layer) if scaled else branch_var  # weights / sqrt(N): variance / N, N = 2L branches
    return [math.sqrt(var0 + 2 * i * v) for i in range(n_layer + 1)]


def _std_stds_add(var0, branch_var, n_layer, scaled):
    v = branch_var / (2 * n_layer) if scaled else branch_var
    return [math.sqrt(var0) + 2 * i * math.sqrt(v) for i in range(n_layer + 1)]


def _std_one_branch(var0, branch_var, n_layer, scaled):
    v = branch_var / n_layer if scaled else branch_var
    return [math.sqrt(var0 + i * v) for i in range(n_layer + 1)]


def _std_n_is_layers(var0, branch_var, n_layer, scaled):
    v = branch_var / n_layer if scaled else branch_var
    return [math.sqrt(var0 + 2 * i * v) for i in range(n_layer + 1)]


def _std_sqrt_on_variance(var0, branch_var, n_layer, scaled):
    v = branch_var / math.sqrt(2 * n_layer) if scaled else branch_var
    return [math.sqrt(var0 + 2 * i * v) for i in range(n_layer + 1)]


def _std_no_embedding(var0, branch_var, n_layer, scaled):
    v = branch_var / (2 * n_layer) if scaled else branch_var
    return [math.sqrt(2 * i * v) for i in range(n_layer + 1)]


register(Exercise(
    id="stream_std", chapter="07", name="stream_std", solution_name="stream_std_solution",
    title="the residual stream's std, from a sum of variances",
    reference=stream_std, compare=lambda e, g: compare_floats(e, g, rel=1e-6, what="the stds"),
    cases=lambda: [Case("var0 = 1, each branch 0.25, 4 layers, plain init", (1.0, 0.25, 4, False)),
                   Case("the same with GPT-2's 1/sqrt(2L) init", (1.0, 0.25, 4, True)),
                   Case("one layer (N = 2 branches), scaled", (0.5, 2.0, 1, True)),
                   Case("section 3's sizes: var0 = 0.0008, each branch 0.008, 48 layers, scaled",
                        (0.0008, 0.008, 48, True)),
                   Case("48 layers, plain init", (0.0008, 0.008, 48, False))],
    hint="after i blocks the stream has 2i branches added: var = var0 + 2 * i * v, with v = branch_var "
         "unscaled, branch_var / (2 * n_layer) with GPT-2's init; return the square roots, i = 0 .. n_layer.",
    mistakes=[
        Mistake("the stds are added, not the variances", _std_stds_add,
                "uncorrelated terms add their variances: sqrt(var0 + 2 * i * v), not sqrt(var0) + 2 * i * sqrt(v)."),
        Mistake("one branch per block, not two (and N = L)", _std_one_branch,
                "every block has two residual branches, attention and MLP: after i blocks, 2i of them."),
        Mistake("N is taken as the number of blocks, not of residual branches (2L)", _std_n_is_layers,
                "GPT-2's N counts residual layers: two per block, so the variance of each is divided by 2L."),
        Mistake("scaling the weights by 1/sqrt(N) is taken to divide the variance by sqrt(N)",
                _std_sqrt_on_variance,
                "a weight scaled by a scales a branch's output by a and its variance by a²: "
                "by 1/N for a = 1/sqrt(N)."),
        Mistake("the embedding's variance var0 is left out", _std_no_embedding,
                "the stream starts as the embedding: entry 0 is sqrt(var0), and every later one includes var0."),
    ],
))


# ---------------------------------------------------------------------- GPT-2's residual init
@torch.no_grad()
def scale_residual_init_(model):
    std = 0.02 / math.sqrt(2 * model.config.n_layer)
    for block in model.h:
        torch.nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=std)
        torch.nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=std)


@torch.no_grad()
def _init_n_is_layers(model):
    std = 0.02 / math.sqrt(model.config.n_layer)
    for block in model.h:
        torch.nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=std)
        torch.nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=std)


@torch.no_grad()
def _init_variance_not_std(model):
    std = 0.02 / (2 * model.config.n_layer)
    for block in model.h:
        torch.nn.init.normal_(block.attn.c_proj.weight, mean=0.0, std=std)
        torch.nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=std)


@torch.no_grad()
def _init_mlp_only(model):
    std = 0.02 / math.sqrt(2 * model.config.n_layer)
    for block in model.h:
        torch.nn.init.normal_(block.mlp.c_proj.weight, mean=0.0, std=std)


@torch.no_grad()
def _init_every_linear(model):
    std = 0.02 / math.sqrt(2 * model.config.n_layer)
    for block in model.h:
        for linear in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
            torch.nn.init.normal_(linear.weight, mean=0.0, std=std)


@torch.no_grad()
def _init_biases_too(model):
    std = 0.02 / math.sqrt(2 * model.config.n_layer)
    for block in model.h:
        for p in (*block.attn.c_proj.parameters(), *block.mlp.c_proj.parameters()):
            torch.nn.init.normal_(p, mean=0.0, std=std)


def _run_init(fn, case):
    n_layer, n_embd, seed = case.args
    config = GPTConfig(vocab_size=16, block_size=8, n_layer=n_layer, n_head=4, n_embd=n_embd, norm="pre",
                       residual_scale_init=False, dropout=0.0)
    torch.manual_seed(seed)
    model = GPT(config)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        fn(model)
    # for each parameter it changed: its std (drawn at random, so compared within 10%)
    return {name: p.detach().double().std().item() for name, p in model.named_parameters()
            if not torch.equal(p.detach(), before[name])}


def _compare_init(expected, got):
    if not isinstance(got, dict):
        return f"expected a dict, got {type(got).__name__}"
    changed = sorted(got)
    if changed != sorted(expected):
        missing = [n for n in sorted(expected) if n not in got]
        extra = [n for n in changed if n not in expected]
        parts = []
        if missing:
            parts.append(f"not re-drawn: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if extra:
            parts.append(f"changed but should not be: {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}")
        return "the parameters changed are not the residual projections' weights: " + "; ".join(parts)
    for name in sorted(expected):
        e, g = expected[name], got[name]
        if not abs(g / e - 1) < 0.1:
            return f"{name}: std {g:.3g}, expected about {e:.3g}"
    return None


register(Exercise(
    id="residual_init", chapter="07", name="scale_residual_init_", solution_name="scale_residual_init_solution",
    title="GPT-2's residual init, by hand",
    reference=scale_residual_init_, run=_run_init, compare=_compare_init,
    cases=lambda: [Case("1 layer × 64 wide (N = 2 residual projections)", (1, 64, 0)),
                   Case("6 layers × 64 wide", (6, 64, 1)),
                   Case("24 layers × 64 wide", (24, 64, 2)),
                   Case("3 layers × 128 wide", (3, 128, 3))],
    hint="std = 0.02 / math.sqrt(2 * model.config.n_layer); for each block in model.h, draw "
         "block.attn.c_proj.weight and block.mlp.c_proj.weight with nn.init.normal_(w, mean=0.0, std=std).",
    mistakes=[
        Mistake("N is taken as the number of blocks: std 0.02 / sqrt(n_layer)", _init_n_is_layers,
                "N counts residual layers, two per block (attention and MLP): std 0.02 / sqrt(2 * n_layer)."),
        Mistake("the std is divided by 2L, not by sqrt(2L)", _init_variance_not_std,
                "the *variance* is divided by N = 2L, so the std by sqrt(2L)."),
        Mistake("only the MLP's projection is re-drawn; attention's c_proj keeps std 0.02", _init_mlp_only,
                "both branches end in a residual projection: attn.c_proj and mlp.c_proj."),
        Mistake("every weight matrix of the block is re-drawn, not only the residual projections",
                _init_every_linear,
                "c_attn and c_fc feed a branch; only the c_proj layers write into the stream and get 1/sqrt(2L)."),
        Mistake("the biases are re-drawn too (GPT-2 keeps them at 0)", _init_biases_too,
                "re-draw c_proj.weight only; c_proj.bias stays 0."),
    ],
))


# ---------------------------------------------------------------------- GPT-2's parameter count
def gpt2_param_count(n_layer, n_embd, vocab_size, block_size):
    C = n_embd
    embeddings = vocab_size * C + block_size * C          # W_e (tied to the output layer) and W_p
    attention = 3 * C * C + 3 * C + C * C + C             # c_attn, c_proj
    mlp = C * 4 * C + 4 * C + 4 * C * C + C               # c_fc, c_proj
    layer_norms = 2 * 2 * C                               # ln_1, ln_2
    return embeddings + n_layer * (attention + mlp + layer_norms) + 2 * C  # + ln_f


def _count_no_ln_f(n_layer, n_embd, vocab_size, block_size):
    return gpt2_param_count(n_layer, n_embd, vocab_size, block_size) - 2 * n_embd


def _count_untied(n_layer, n_embd, vocab_size, block_size):
    return gpt2_param_count(n_layer, n_embd, vocab_size, block_size) + vocab_size * n_embd


def _count_no_positions(n_layer, n_embd, vocab_size, block_size):
    return gpt2_param_count(n_layer, n_embd, vocab_size, block_size) - block_size * n_embd


def _count_no_biases(n_layer, n_embd, vocab_size, block_size):
    C = n_embd
    return vocab_size * C + block_size * C + n_layer * (12 * C * C + 4 * C) + 2 * C


def _count_ln_f_per_block(n_layer, n_embd, vocab_size, block_size):
    return gpt2_param_count(n_layer, n_embd, vocab_size, block_size) + (n_layer - 1) * 2 * n_embd


register(Exercise(
    id="gpt2_param_count", chapter="07", name="gpt2_param_count", solution_name="gpt2_param_count_solution",
    title="GPT-2's parameters, counted with a formula",
    reference=gpt2_param_count, compare=compare_exact,
    cases=lambda: [Case("GPT-2 small: 12 layers, 768 wide, vocabulary 50,257, context 1,024", (12, 768, 50257, 1024)),
                   Case("GPT-2 XL: 48 layers, 1,600 wide", (48, 1600, 50257, 1024)),
                   Case("GPT-2 small with GPT-1's vocabulary of 40,478", (12, 768, 40478, 1024)),
                   Case("one tiny block: 1 layer, 8 wide, vocabulary 10, context 4", (1, 8, 10, 4)),
                   Case("no blocks at all: 0 layers, 16 wide, vocabulary 100, context 8", (0, 16, 100, 8))],
    hint="chapter 04's count (embeddings V·C + T·C; per block 12C² + 13C) plus GPT-2's final LayerNorm ln_f, 2C.",
    mistakes=[
        Mistake("the final LayerNorm ln_f is missing (GPT-1's count)", _count_no_ln_f,
                "GPT-2 adds one LayerNorm after the last block: C gains and C biases, once."),
        Mistake("the output layer is counted, but it is tied to W_e", _count_untied,
                "lm_head.weight IS wte.weight: count V·C once."),
        Mistake("the position embedding is missing", _count_no_positions,
                "W_p has one C-vector per position of the context: block_size · C."),
        Mistake("the linear layers' biases are missing", _count_no_biases,
                "every nn.Linear has a bias: 3C (c_attn), C (attention c_proj), 4C (c_fc), C (MLP c_proj)."),
        Mistake("ln_f is counted once per block", _count_ln_f_per_block,
                "ln_f sits once, after the whole stack: 2C in all, not 2C per layer."),
    ],
))
