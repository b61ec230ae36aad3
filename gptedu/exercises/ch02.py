"""Chapter 02's build exercises: the cross-entropy by hand, bigram counts, a batch with shifted targets."""
from __future__ import annotations

import torch

from .core import Case, Exercise, Mistake, compare_tensors, register


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------- cross-entropy
def cross_entropy(logits, targets):
    log_probs = logits - logits.logsumexp(dim=1, keepdim=True)
    return -log_probs[torch.arange(len(targets)), targets].mean()


def _ce_naive_softmax(logits, targets):
    probs = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    return -probs[torch.arange(len(targets)), targets].log().mean()


def _ce_wrong_axis(logits, targets):
    log_probs = logits - logits.logsumexp(dim=0, keepdim=True)
    return -log_probs[torch.arange(len(targets)), targets].mean()


def _ce_sum(logits, targets):
    log_probs = logits - logits.logsumexp(dim=1, keepdim=True)
    return -log_probs[torch.arange(len(targets)), targets].sum()


def _ce_no_log(logits, targets):
    probs = logits.softmax(dim=1)
    return -probs[torch.arange(len(targets)), targets].mean()


def _ce_cases():
    g = _gen(0)
    logits = torch.randn(6, 5, generator=g)
    targets = torch.tensor([0, 4, 2, 2, 1, 3])
    big = torch.randn(4, 7, generator=g) * 1000
    return [
        Case("6 rows, V = 5", (logits, targets)),
        Case("a batch of one row (N = 1)", (logits[:1], targets[:1])),
        Case("V = 2, 3 rows", (torch.randn(3, 2, generator=g), torch.tensor([1, 0, 1]))),
        Case("equal logits: the loss must be ln V", (torch.zeros(3, 84), torch.tensor([0, 41, 83]))),
        Case("logits times 1,000, where exp() overflows to inf", (big, torch.tensor([6, 0, 3, 3]))),
    ]


def _compare_scalar(expected, got):
    if isinstance(got, torch.Tensor) and got.numel() == 1 and got.dim() > 0:
        return f"expected one number (a 0-dim tensor), got a tensor of shape {tuple(got.shape)}"
    return compare_tensors(expected, got, atol=1e-4, rtol=1e-5, what="the loss")


register(Exercise(
    id="cross_entropy", chapter="02", name="my_cross_entropy", solution_name="my_cross_entropy_solution",
    title="the cross-entropy by hand",
    reference=cross_entropy, cases=_ce_cases, compare=_compare_scalar,
    hint="log-softmax each row (logits - logits.logsumexp(dim=1, keepdim=True)), pick row i's entry at "
         "targets[i], and return the mean of their negatives.",
    mistakes=[
        Mistake("the softmax overflows: exp() of large logits is inf", _ce_naive_softmax,
                "never take exp() of raw logits; subtract the row's logsumexp: it stays finite."),
        Mistake("the softmax runs over the wrong axis (down the rows, dim=0)", _ce_wrong_axis,
                "each row is one prediction over the V characters: normalise along dim=1."),
        Mistake("it returns the sum over the rows, not the mean", _ce_sum,
                "the loss is -L1 / n: divide by the number of rows (use .mean())."),
        Mistake("it averages probabilities, not log-probabilities", _ce_no_log,
                "the cross-entropy is the mean of -log P(target), not of -P(target)."),
    ],
))


# ---------------------------------------------------------------------- bigram counts
def bigram_counts(ids, V):
    counts = torch.zeros(V, V, dtype=torch.long)
    for a, b in zip(ids[:-1].tolist(), ids[1:].tolist()):
        counts[a, b] += 1
    return counts


def _counts_transposed(ids, V):
    return bigram_counts(ids, V).T


def _counts_wrap_around(ids, V):
    counts = torch.zeros(V, V, dtype=torch.long)
    for a, b in zip(ids.tolist(), torch.roll(ids, -1).tolist()):
        counts[a, b] += 1
    return counts


def _counts_last_pair_missing(ids, V):
    counts = torch.zeros(V, V, dtype=torch.long)
    for i in range(len(ids) - 2):
        counts[ids[i], ids[i + 1]] += 1
    return counts


def _counts_cases():
    g = _gen(1)
    return [
        Case("ids [0, 1, 1, 2, 0, 1], V = 3", (torch.tensor([0, 1, 1, 2, 0, 1]), 3)),
        Case("one id only: no pair at all, V = 4", (torch.tensor([2]), 4)),
        Case("ids [1, 1, 1, 1] (a run of one character), V = 2", (torch.tensor([1, 1, 1, 1]), 2)),
        Case("V = 6 larger than the ids used", (torch.tensor([0, 2, 2, 1, 0]), 6)),
        Case("37 random ids, V = 5", (torch.randint(0, 5, (37,), generator=g), 5)),
    ]


def _compare_counts(expected, got):
    if isinstance(got, torch.Tensor) and got.is_floating_point():
        got = got.round().long() if torch.equal(got, got.round()) else got
    return compare_tensors(expected, got, what="the table")


register(Exercise(
    id="bigram_counts", chapter="02", name="bigram_counts", solution_name="bigram_counts_solution",
    title="the bigram table of counts",
    reference=bigram_counts, cases=_counts_cases, compare=_compare_counts,
    hint="counts[a, b] is the number of positions i with ids[i] == a and ids[i + 1] == b: one count for each of "
         "the len(ids) - 1 consecutive pairs.",
    mistakes=[
        Mistake("the table is transposed: row = the next character, column = the previous one", _counts_transposed,
                "row a holds what follows a: counts[previous, next]."),
        Mistake("a wrap-around pair (last id -> first id) is counted", _counts_wrap_around,
                "torch.roll joins the end to the start; pair ids[:-1] with ids[1:] instead."),
        Mistake("the last pair is not counted", _counts_last_pair_missing,
                "a sequence of n ids has n - 1 pairs: i runs from 0 to n - 2 included."),
    ],
))


# ---------------------------------------------------------------------- a batch with shifted targets
def make_batch(ids, starts, block_size):
    x = torch.stack([ids[s:s + block_size] for s in starts])
    y = torch.stack([ids[s + 1:s + 1 + block_size] for s in starts])
    return x, y


def _batch_unshifted(ids, starts, block_size):
    x = torch.stack([ids[s:s + block_size] for s in starts])
    return x, x.clone()


def _batch_one_short(ids, starts, block_size):
    x = torch.stack([ids[s:s + block_size] for s in starts])
    y = torch.stack([ids[s + 1:s + block_size] for s in starts])
    return x, y


def _batch_swapped(ids, starts, block_size):
    x, y = make_batch(ids, starts, block_size)
    return y, x


def _batch_cases():
    ids = torch.arange(100, 130)  # id = 100 + position, so a shift shows
    return [
        Case("starts [0, 5, 11], block_size 4", (ids, [0, 5, 11], 4)),
        Case("a batch of one window", (ids, [7], 6)),
        Case("block_size 1 (T = 1)", (ids, [3, 20], 1)),
        Case("the last window that fits (start = len(ids) - block_size - 1)", (ids, [0, 22], 7)),
    ]


def _compare_batch(expected, got):
    if not isinstance(got, tuple) or len(got) != 2:
        return f"expected a pair (x, y), got {type(got).__name__}"
    return compare_tensors(expected[0], got[0], what="x") or compare_tensors(expected[1], got[1], what="y")


register(Exercise(
    id="make_batch", chapter="02", name="make_batch", solution_name="make_batch_solution",
    title="a batch of windows and their targets",
    reference=make_batch, cases=_batch_cases, compare=_compare_batch,
    hint="x[i] = ids[s : s + block_size] and y[i] = ids[s + 1 : s + 1 + block_size] for the i-th start s: "
         "y[i, t] is the id that follows x[i, t].",
    mistakes=[
        Mistake("the targets are not shifted: y equals x", _batch_unshifted,
                "the target of position t is the NEXT id: start y one position later, at s + 1."),
        Mistake("y is one id short", _batch_one_short,
                "y needs block_size targets too: ids[s + 1 : s + 1 + block_size]."),
        Mistake("x and y are swapped", _batch_swapped,
                "return (x, y): the inputs first, then the ids that follow them."),
    ],
))
