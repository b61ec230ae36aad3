"""Sampling text from a GPT: greedy, temperature, top-k and top-p (nucleus).

One step of generation: run the model on the context, take the logits of the last
position, turn them into a choice of the next token, append it, repeat. The context
is cropped to the model's last block_size tokens, so you can generate as long as you like.
A key/value cache (gptedu.kv_cache) saves re-reading the context at every step while it fits.

    ids = generate(model, idx, 100, temperature=0.8, top_k=40)
    text = complete(model, tokenizer, "ROMEO:", max_new_tokens=200, top_p=0.9)
"""
from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral, Real

import torch
import torch.nn.functional as F

from .checks import require_bool
from .kv_cache import KVCache


def _is_number(x: object) -> bool:
    """A real number (int, float, numpy scalar), but not a bool: True is no temperature."""
    return isinstance(x, Real) and not isinstance(x, bool)


def _check_top_k(k: int, vocab_size: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= vocab_size:
        raise ValueError(f"top_k={k!r} must be a whole number between 1 and the vocabulary size "
                         f"{vocab_size}; use top_k=None to keep every token.")


def _check_top_p(p: float) -> None:
    if not _is_number(p) or not 0.0 < p <= 1.0:
        raise ValueError(f"top_p={p} must be in (0, 1]: the share of probability mass to keep, "
                         f"e.g. 0.9. Use top_p=None (or 1.0) to keep every token.")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of the last dimension, set the rest to -inf (ties at the k-th are kept)."""
    _check_top_k(k, logits.size(-1))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probabilities sum to >= p.

    A token stays if the tokens more likely than it sum to less than p, so the most likely
    token always stays. The rest are set to -inf.
    """
    _check_top_p(p)
    if p == 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = F.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # probability of the tokens ranked above
    drop_sorted = mass_before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def _check_args(model: torch.nn.Module, idx: torch.Tensor, max_new_tokens: int, temperature: float,
                top_k: int | None, top_p: float | None, greedy: bool,
                generator: torch.Generator | None = None) -> None:
    vocab_size, block_size = model.config.vocab_size, model.config.block_size
    require_bool("greedy", greedy)  # greedy="no" would otherwise be read as True
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator={generator!r} must be a torch.Generator (or None), e.g. "
                        f"torch.Generator().manual_seed(0); a plain seed is not one.")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, Integral) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} must be >= 0: a whole number of tokens to add.")
    if not greedy and not (_is_number(temperature) and temperature > 0):  # nan > 0 is False too
        raise ValueError(f"temperature={temperature!r} must be a number > 0 (it divides the logits), e.g. 0.8. "
                         f"For deterministic decoding (always the most likely token) use greedy=True.")
    if top_k is not None:
        _check_top_k(top_k, vocab_size)
    if top_p is not None:
        _check_top_p(top_p)
    if not isinstance(idx, torch.Tensor):
        raise TypeError(f"idx must be a tensor of token ids, shape (batch, time); got {type(idx).__name__}. "
                        f"For one sequence of ids use torch.tensor([ids]).")
    if idx.dim() != 2 or idx.dtype != torch.long:
        raise ValueError(f"idx must be (batch, time) token ids of dtype long; got shape {tuple(idx.shape)}, "
                         f"dtype {idx.dtype}. For one sequence use torch.tensor([ids]).")
    if idx.size(1) == 0:
        raise ValueError("The prompt is empty: give at least one token to start from "
                         "(for a character model, e.g. a newline).")
    if idx.size(1) > block_size:
        raise ValueError(f"The prompt has {idx.size(1)} tokens but the model's context (block_size) is "
                         f"{block_size}. Crop it to its last {block_size} tokens: prompt[-{block_size}:] "
                         f"(or idx[:, -{block_size}:]).")
    if idx.min() < 0 or idx.max() >= vocab_size:
        raise ValueError(f"The prompt holds token ids from {idx.min().item()} to {idx.max().item()}, outside "
                         f"this model's vocabulary 0..{vocab_size - 1}: encode it with the model's own tokenizer.")


def generate(model: torch.nn.Module, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, greedy: bool = False,
             generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
    """Extend idx (B, T) by max_new_tokens tokens; returns (B, T + max_new_tokens).

    greedy=True takes the most likely token every step (temperature, top_k, top_p unused).
    Otherwise the logits are divided by temperature, filtered by top_k then top_p, and a
    token is sampled; pass a seeded torch.Generator for reproducible samples. The model
    runs in eval mode (no dropout) and is put back in the mode it was in.

    use_cache=True feeds the model only the new token at each step, with the keys and values
    of the earlier ones kept in a KVCache. Once the sequence outgrows block_size every
    position would shift, so from then on each step re-reads the last block_size tokens,
    as use_cache=False does at every step. Both give the same tokens.
    """
    new = [next_id for next_id, _ in generate_steps(model, idx, max_new_tokens, temperature=temperature, top_k=top_k,
                                                     top_p=top_p, greedy=greedy, generator=generator,
                                                     use_cache=use_cache)]
    return torch.cat([idx, *new], dim=1)


def generate_steps(model: torch.nn.Module, idx: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None, greedy: bool = False,
                   generator: torch.Generator | None = None, use_cache: bool = True
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """generate() one token at a time: yields (next_id (B, 1), logits (B, vocab)) per new token.

    The logits are the model's raw prediction for that position (before temperature and
    filtering), so a caller can show how likely the chosen token was and what else was in the
    running: the prompt lab streams its output this way. Arguments as for generate().
    """
    _check_args(model, idx, max_new_tokens, temperature, top_k, top_p, greedy, generator)
    if not isinstance(use_cache, bool):
        raise ValueError(f"use_cache={use_cache!r} must be True or False.")
    return _steps(model, idx, max_new_tokens, temperature, top_k, top_p, greedy, generator, use_cache)


@torch.no_grad()
def _steps(model, idx, max_new_tokens, temperature, top_k, top_p, greedy, generator, use_cache):
    block_size = model.config.block_size
    cache = KVCache(model.config.n_layer) if use_cache else None
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            if cache is not None and idx.size(1) <= block_size:
                logits, _ = model(idx[:, cache.length:], cache=cache)  # the prompt first, then one token
            else:
                logits, _ = model(idx[:, -block_size:])  # crop: the model sees at most block_size tokens
            logits = logits[:, -1, :]  # (B, vocab): the prediction after the last token
            if greedy:
                next_id = logits.argmax(dim=-1, keepdim=True)
            else:
                scaled = logits / temperature
                if not torch.isfinite(scaled).all():
                    if not torch.isfinite(logits).all():
                        raise ValueError("The model's logits hold NaN or infinite values: its weights are broken "
                                         "(a diverged run?). Load or train the model again.")
                    raise ValueError(f"temperature={temperature!r} is so small that logits / temperature overflow "
                                     f"(the largest logit is {logits.abs().max().item():.3g}); use a temperature "
                                     f">= 1e-3, or greedy=True for the most likely token.")
                next_id = _sample(scaled, top_k, top_p, generator)
            idx = torch.cat([idx, next_id], dim=1)
            yield next_id, logits
    finally:
        model.train(was_training)


def _sample(logits: torch.Tensor, top_k: int | None, top_p: float | None,
            generator: torch.Generator | None) -> torch.Tensor:
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = F.softmax(logits, dim=-1)
    if generator is not None and generator.device != probs.device:
        # sample where the generator lives, so a CPU generator gives the same tokens on any device
        return torch.multinomial(probs.cpu(), 1, generator=generator).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator)


def complete(model: torch.nn.Module, tokenizer, prompt: str, max_new_tokens: int = 200, **kwargs) -> str:
    """The text the model writes after `prompt` (without the prompt itself).

    kwargs go to generate(): temperature, top_k, top_p, greedy, generator.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str; got {type(prompt).__name__}. To continue token ids, "
                        f"use generate(model, torch.tensor([ids]), max_new_tokens).")
    if not prompt:
        raise ValueError("The prompt is empty: give at least one character to start from, e.g. '\\n'.")
    ids = tokenizer.encode(prompt)
    block_size = model.config.block_size
    if len(ids) > block_size:
        raise ValueError(f"The prompt is {len(ids)} tokens long but the model's context (block_size) is "
                         f"{block_size}. Crop it to its last {block_size} tokens, e.g. "
                         f"prompt[-{block_size}:] for a character tokenizer.")
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    out = generate(model, idx, max_new_tokens, **kwargs)
    return tokenizer.decode(out[0, len(ids):].tolist())
