"""Scoring continuations with a language model: the engine of zero-, one- and few-shot evaluation.

No parameter changes: a task is answered by asking which candidate continuation the
model finds most likely after the context (GPT-1's zero-shot heuristics, section 5;
GPT-2's "tasks as prompts"; GPT-3's in-context learning, which only adds examples to the context).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .checks import require_bool


@torch.no_grad()
def choice_logprobs(model: torch.nn.Module, tokenizer, context: str, choices: Sequence[str],
                    normalize: bool = True) -> torch.Tensor:
    """log P(choice | context) for each choice, in one batch: a tensor of len(choices).

    normalize=True divides by the choice's length in tokens (the mean log-probability per
    token), so a longer candidate is not penalised just for being longer.
    The context is cropped from the left so that context + the longest choice fits the
    model's block_size: the model sees the most recent text, as when generating.
    """
    require_bool("normalize", normalize)  # normalize="no" would otherwise be read as True
    if not isinstance(context, str):
        raise TypeError(f"context must be a str; got {type(context).__name__}.")
    if isinstance(choices, str):
        raise TypeError(f"choices={choices!r} is one string, which would make one choice per character; "
                        f"pass a list of candidate continuations, e.g. [{choices!r}, ...].")
    if not choices:
        raise ValueError("choices is empty: give at least one candidate continuation.")
    block_size = model.config.block_size
    ctx = tokenizer.encode(context)
    outs = [tokenizer.encode(choice) for choice in choices]
    longest = max(len(o) for o in outs)
    if min(len(o) for o in outs) == 0:
        raise ValueError("every choice needs at least one token; got an empty choice.")
    if longest >= block_size:
        raise ValueError(f"a choice has {longest} tokens, but the model sees at most {block_size}: "
                         f"shorten the choices.")
    ctx = ctx[-(block_size - longest):]
    if not ctx:
        raise ValueError("the context is empty: the model needs at least one token to condition on.")

    # One row per choice: context + choice, right-padded; targets are the choice tokens only.
    T = len(ctx) + longest
    idx = torch.zeros(len(choices), T, dtype=torch.long)
    targets = torch.full((len(choices), T), -1, dtype=torch.long)
    for row, out in enumerate(outs):
        seq = ctx + out
        idx[row, :len(seq)] = torch.tensor(seq)
        # position t predicts token t+1: the choice tokens are predicted from len(ctx)-1 on
        targets[row, len(ctx) - 1:len(seq) - 1] = torch.tensor(out)
    was_training = model.training
    model.eval()
    logits, _ = model(idx)  # (C, T, V)
    model.train(was_training)
    logp = F.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (C, T)
    picked = picked * (targets >= 0)
    total = picked.sum(dim=1)
    lengths = torch.tensor([len(o) for o in outs], dtype=total.dtype)
    return total / lengths if normalize else total


def choose(model: torch.nn.Module, tokenizer, context: str, choices: Sequence[str], normalize: bool = True) -> int:
    """Index of the choice the model finds most likely after the context."""
    return int(choice_logprobs(model, tokenizer, context, choices, normalize).argmax())
