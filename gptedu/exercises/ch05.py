"""Chapter 05's build exercises: GPT-1's learning-rate schedule, a training step, greedy decoding,
GPT-1's zero-shot sentiment rule."""
from __future__ import annotations

import math

import torch

from ..config import GPTConfig
from ..fewshot import choice_logprobs
from ..model import GPT
from ..tokenizers import CharTokenizer
from .core import Case, Exercise, Mistake, compare_floats, compare_exact, compare_tensors, register


# ---------------------------------------------------------------------- GPT-1's schedule
def gpt1_lr(step, peak, warmup, total):
    if step < warmup:
        return peak * step / warmup
    if step >= total:
        return 0.0
    progress = (step - warmup) / (total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def _lr_cosine_over_total(step, peak, warmup, total):
    if step < warmup:
        return peak * step / warmup
    if step >= total:
        return 0.0
    return peak * 0.5 * (1 + math.cos(math.pi * step / total))


def _lr_warmup_from_above_zero(step, peak, warmup, total):
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    if step >= total:
        return 0.0
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def _lr_no_clamp(step, peak, warmup, total):
    if step < warmup:
        return peak * step / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


def _lr_half_cosine(step, peak, warmup, total):
    if step < warmup:
        return peak * step / warmup
    if step >= total:
        return 0.0
    return peak * math.cos(0.5 * math.pi * (step - warmup) / (total - warmup))


def _run_schedule(fn, case):
    steps, settings = case.args
    return [fn(step, **settings) for step in steps]


def _lr_cases():
    gpt1 = dict(peak=2.5e-4, warmup=2000, total=10_000)
    return [
        Case("GPT-1's settings (peak 2.5e-4, warmup 2,000, total 10,000) at steps 0, 1, 1,000, 2,000, 6,000, "
             "9,999, 10,000, 12,000", ([0, 1, 1000, 2000, 6000, 9999, 10_000, 12_000], gpt1)),
        Case("no warmup (warmup 0, total 100) at steps 0, 25, 50, 99, 100", ([0, 25, 50, 99, 100],
                                                                          dict(peak=1e-3, warmup=0, total=100))),
        Case("a short run (peak 1.0, warmup 1, total 3) at every step 0..5",
             ([0, 1, 2, 3, 4, 5], dict(peak=1.0, warmup=1, total=3))),
    ]


register(Exercise(
    id="gpt1_lr", chapter="05", name="gpt1_lr", solution_name="gpt1_lr_solution",
    title="GPT-1's learning-rate schedule",
    reference=gpt1_lr, cases=_lr_cases, run=_run_schedule,
    compare=lambda e, g: compare_floats(e, g, rel=1e-6, what="the rates"),
    hint="warmup: peak * step / warmup; then peak * 0.5 * (1 + cos(pi * p)) with p = (step - warmup) / "
         "(total - warmup) going from 0 to 1; from step total on, 0.",
    mistakes=[
        Mistake("the cosine runs over all `total` steps, not over the steps after the warmup", _lr_cosine_over_total,
                "the decay starts at the peak when the warmup ends: p = (step - warmup) / (total - warmup)."),
        Mistake("the warmup does not start from zero (nanoGPT's (step + 1) / (warmup + 1))",
                _lr_warmup_from_above_zero,
                "GPT-1 'increased linearly from zero': peak * step / warmup, so step 0 gets 0."),
        Mistake("after `total` the rate climbs back up: the cosine is not stopped", _lr_no_clamp,
                "from step total on return 0.0 (cos keeps going past pi and rises again)."),
        Mistake("a quarter cosine (cos from 0 to pi/2) instead of 0.5 * (1 + cos) from 0 to pi", _lr_half_cosine,
                "the cosine schedule is peak * 0.5 * (1 + cos(pi * p)): it starts flat and ends flat."),
    ],
))


# ---------------------------------------------------------------------- a tiny model for the checks
def _tiny_gpt(vocab_size=11, block_size=8, seed=0):
    torch.manual_seed(seed)
    config = GPTConfig.from_preset("tiny-gpt1", vocab_size=vocab_size, n_layer=1, n_head=2, n_embd=16,
                                   block_size=block_size, dropout=0.0)
    gpt = GPT(config).eval()
    with torch.no_grad():  # larger random weights than 0.02, so the argmax changes along the way
        g = torch.Generator().manual_seed(seed + 1)
        for p in gpt.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return gpt


# ---------------------------------------------------------------------- one training step
def train_step(model, optimizer, x, y):
    logits, loss = model(x, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_no_zero_grad(model, optimizer, x, y):
    logits, loss = model(x, y)
    loss.backward()
    optimizer.step()
    return loss.item()


def _step_no_update(model, optimizer, x, y):
    logits, loss = model(x, y)
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def _step_before_backward(model, optimizer, x, y):
    logits, loss = model(x, y)
    optimizer.zero_grad()
    optimizer.step()
    loss.backward()
    return loss.item()


def _step_unflattened(model, optimizer, x, y):
    logits, _ = model(x)
    loss = torch.nn.functional.cross_entropy(logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _run_training(fn, case):
    steps, lr = case.args
    model = _tiny_gpt(seed=3)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(4)
    losses = []
    for _ in range(steps):
        x = torch.randint(0, 11, (2, 8), generator=g)
        y = torch.randint(0, 11, (2, 8), generator=g)
        loss = fn(model, optimizer, x, y)
        losses.append(loss.item() if isinstance(loss, torch.Tensor) and loss.numel() == 1 else loss)
    return losses, torch.cat([p.detach().flatten() for p in model.parameters()])


def _compare_training(expected, got):
    losses, weights = got
    return (compare_floats(expected[0], losses, rel=1e-4, what="the losses returned")
            or compare_tensors(expected[1], weights, atol=1e-5, rtol=1e-4, what="the weights after the steps"))


register(Exercise(
    id="train_step", chapter="05", name="train_step", solution_name="train_step_solution",
    title="one training step",
    reference=train_step, cases=lambda: [Case("3 steps of AdamW (lr 0.01) on a tiny GPT, batches of 2 × 8", (3, 1e-2)),
                                         Case("1 step", (1, 1e-2)),
                                         Case("2 steps with a larger learning rate (0.1)", (2, 1e-1))],
    run=_run_training, compare=_compare_training,
    hint="logits, loss = model(x, y); optimizer.zero_grad(); loss.backward(); optimizer.step(); return loss.item().",
    mistakes=[
        Mistake("the gradients are never zeroed, so each step adds the old gradients to the new", _step_no_zero_grad,
                "call optimizer.zero_grad() before loss.backward() (PyTorch accumulates .grad)."),
        Mistake("the optimizer does not step after backward: the weights never move", _step_no_update,
                "the order is optimizer.zero_grad(), loss.backward(), optimizer.step(). zero_grad() sets the "
                "gradients to None, so a step before backward (or no step) changes nothing."),
        Mistake("cross_entropy gets the (B, T, V) logits unflattened", _step_unflattened,
                "model(x, y) returns the loss already; by hand: F.cross_entropy(logits.view(-1, V), y.view(-1))."),
    ],
))


# ---------------------------------------------------------------------- greedy decoding
@torch.no_grad()
def greedy(model, idx, max_new_tokens):
    model.eval()
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])
        idx = torch.cat([idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)], dim=1)
    return idx


@torch.no_grad()
def _greedy_no_crop(model, idx, max_new_tokens):
    for _ in range(max_new_tokens):
        logits, _ = model(idx)
        idx = torch.cat([idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)], dim=1)
    return idx


@torch.no_grad()
def _greedy_first_position(model, idx, max_new_tokens):
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])
        idx = torch.cat([idx, logits[:, 0, :].argmax(dim=-1, keepdim=True)], dim=1)
    return idx


@torch.no_grad()
def _greedy_new_only(model, idx, max_new_tokens):
    start = idx.size(1)
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])
        idx = torch.cat([idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)], dim=1)
    return idx[:, start:]


def _run_greedy(fn, case):
    prompt, n = case.args
    return fn(_tiny_gpt(), prompt.clone(), n)


def _greedy_cases():
    g = torch.Generator().manual_seed(5)
    return [
        Case("a batch of one, a 3-token prompt, 4 new tokens", (torch.randint(0, 11, (1, 3), generator=g), 4)),
        Case("2 prompts of 4 tokens, 3 new tokens", (torch.randint(0, 11, (2, 4), generator=g), 3)),
        Case("a 1-token prompt (T = 1), 5 new tokens", (torch.randint(0, 11, (1, 1), generator=g), 5)),
        Case("a 6-token prompt, 7 new tokens: past the context of 8, so crop", (torch.randint(0, 11, (1, 6), generator=g), 7)),
        Case("0 new tokens: the prompt comes back", (torch.randint(0, 11, (2, 2), generator=g), 0)),
    ]


register(Exercise(
    id="greedy", chapter="05", name="greedy", solution_name="greedy_solution",
    title="greedy decoding",
    reference=greedy, cases=_greedy_cases, run=_run_greedy,
    compare=lambda e, g: compare_tensors(e, g, what="the tokens"),
    hint="each step: logits, _ = model(idx[:, -block_size:]); next = logits[:, -1, :].argmax(dim=-1, keepdim=True); "
         "idx = torch.cat([idx, next], dim=1); return idx (prompt and new tokens).",
    mistakes=[
        Mistake("the context is not cropped to the last block_size tokens", _greedy_no_crop,
                "the model reads at most block_size tokens: feed idx[:, -model.config.block_size:]."),
        Mistake("the next token is read from the first position's logits, not the last", _greedy_first_position,
                "logits[:, -1, :] are the scores for the token after the whole context."),
        Mistake("only the new tokens are returned, without the prompt", _greedy_new_only,
                "return the prompt followed by the new tokens, like generate()."),
    ],
))


# ---------------------------------------------------------------------- GPT-1's sentiment rule
_REVIEWS = ["A gripping, tender film.", "Dull and far too long.", "It never finds its feet.",
            "The best thing this year!", "Witty, warm and wise.", "A mess from start to finish.",
            "Sharp writing, fine acting.", "I wanted to leave early."]


def gpt1_sentiment(model, tokenizer, review):
    logp = choice_logprobs(model, tokenizer, review + " very", [" positive", " negative"], normalize=False)
    return int(logp[0] > logp[1])


def _sentiment_without_very(model, tokenizer, review):
    logp = choice_logprobs(model, tokenizer, review, [" positive", " negative"], normalize=False)
    return int(logp[0] > logp[1])


def _sentiment_swapped(model, tokenizer, review):
    logp = choice_logprobs(model, tokenizer, review + " very", [" positive", " negative"], normalize=False)
    return int(logp[1] > logp[0])


def _sentiment_good_bad(model, tokenizer, review):
    logp = choice_logprobs(model, tokenizer, review + " very", [" good", " bad"], normalize=False)
    return int(logp[0] > logp[1])


def _sentiment_model():
    tokenizer = CharTokenizer("".join(sorted(set("".join(_REVIEWS) + " very positive negative good bad"))))
    torch.manual_seed(8)
    config = GPTConfig.from_preset("tiny-gpt1", vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=16,
                                   block_size=64, dropout=0.0)
    model = GPT(config).eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(9)
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model, tokenizer


def _run_sentiment(fn, case):
    model, tokenizer = _sentiment_model()
    return [fn(model, tokenizer, review) for review in case.args[0]]


register(Exercise(
    id="gpt1_sentiment", chapter="05", name="gpt1_sentiment", solution_name="gpt1_sentiment_solution",
    title="GPT-1's zero-shot sentiment rule",
    reference=gpt1_sentiment, run=_run_sentiment, compare=compare_exact,
    cases=lambda: [Case(f"{len(_REVIEWS)} short reviews, a small random GPT", (_REVIEWS,)),
                   Case("one review", (_REVIEWS[:1],)),
                   Case("the last three reviews, each with a trailing space", ([r + " " for r in _REVIEWS[-3:]],))],
    hint="logp = choice_logprobs(model, tokenizer, review + ' very', [' positive', ' negative'], normalize=False); "
         "return int(logp[0] > logp[1]).",
    mistakes=[
        Mistake("' very' is not appended to the review", _sentiment_without_very,
                "GPT-1's rule scores the words after '<review> very': context = review + ' very'."),
        Mistake("the answer is reversed: 1 when ' negative' is more likely", _sentiment_swapped,
                "return 1 (positive) when logp of ' positive' is the larger."),
        Mistake("it compares ' good' with ' bad' (the course's variant), not ' positive' with ' negative'",
                _sentiment_good_bad,
                "GPT-1's own rule restricts the output to the words positive and negative."),
    ],
))
