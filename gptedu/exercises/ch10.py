"""Chapter 10's build exercises: a K-shot prompt in the family's format, exact match of a greedy completion,
the Wilson 95% interval, contextual calibration, Olsson's in-context learning score."""
from __future__ import annotations

import functools
import math

import torch

from .core import Case, Exercise, Mistake, compare_exact, compare_floats, describe_type, register


# ---------------------------------------------------------------------- a K-shot prompt
def few_shot_prompt(examples, query, description=None):
    head = description + "\n" if description else ""
    return head + "".join(f"{s} -> {t}\n" for s, t in examples) + f"{query} ->"


def _prompt_trailing_space(examples, query, description=None):
    head = description + "\n" if description else ""
    return head + "".join(f"{s} -> {t}\n" for s, t in examples) + f"{query} -> "


def _prompt_joined(examples, query, description=None):
    head = description + "\n" if description else ""
    return head + "\n".join(f"{s} -> {t}" for s, t in examples) + f"\n{query} ->"


def _prompt_description_inline(examples, query, description=None):
    head = description + " " if description else ""
    return head + "".join(f"{s} -> {t}\n" for s, t in examples) + f"{query} ->"


_SHOTS = [("q%u.a/t", "quat"), ("t&u=r@b&a+n", "turban"), ("g:a@l:e;s", "gales")]


def _prompt_cases():
    return [
        Case("3 random-insertion examples, no description", (_SHOTS, "h:i@l;l,o#a")),
        Case("3 examples and the task's description", (_SHOTS, "h:i@l;l,o#a", "Remove the symbols from each word.")),
        Case("zero-shot (K = 0), no description: the query line alone", ([], "abates")),
        Case("zero-shot with the description", ([], "abates", "Give each word its label.")),
        Case("one-shot mapping (K = 1)", ([("franker", "lah")], "cleans")),
    ]


register(Exercise(
    id="few_shot_prompt", chapter="10", name="few_shot_prompt", solution_name="few_shot_prompt_solution",
    title="a K-shot prompt in the family's format",
    reference=few_shot_prompt, cases=_prompt_cases, compare=lambda e, g: compare_exact(e, g, what="the prompt"),
    hint="the description and a newline (if there is one), then one line 'input -> output\\n' per example, then "
         "'query ->' with nothing after the arrow: the answer starts with a space.",
    mistakes=[
        Mistake("the prompt ends with a space after the arrow ('query -> ')", _prompt_trailing_space,
                "the answer is ' output': its space belongs to the answer, so the prompt ends with '->'."),
        Mistake("the lines are joined with '\\n', so a zero-shot prompt opens with an empty line", _prompt_joined,
                "end every example line with '\\n' instead: with K = 0 the prompt is only 'query ->'."),
        Mistake("the description is on the same line as the first example", _prompt_description_inline,
                "the description is a line of its own: description + '\\n'."),
    ],
))


# ---------------------------------------------------------------------- exact match of a greedy completion
@torch.no_grad()
def exact_match(model, tok, prompt, answer):
    block = model.config.block_size
    ids, out = tok.encode(prompt), []
    for _ in range(len(answer) + 1):  # the answer's characters, then the newline
        logits, _ = model(torch.tensor([(ids + out)[-block:]]))
        out.append(int(logits[0, -1].argmax()))
        if tok.decode(out[-1:]) == "\n":
            break
    return tok.decode(out) == answer + "\n"


@torch.no_grad()
def _match_no_newline(model, tok, prompt, answer):
    block = model.config.block_size
    ids, out = tok.encode(prompt), []
    for _ in range(len(answer)):
        logits, _ = model(torch.tensor([(ids + out)[-block:]]))
        out.append(int(logits[0, -1].argmax()))
    return tok.decode(out) == answer


@torch.no_grad()
def _match_no_crop(model, tok, prompt, answer):
    ids, out = tok.encode(prompt), []
    for _ in range(len(answer) + 1):
        logits, _ = model(torch.tensor([ids + out]))
        out.append(int(logits[0, -1].argmax()))
        if tok.decode(out[-1:]) == "\n":
            break
    return tok.decode(out) == answer + "\n"


@torch.no_grad()
def _match_crop_front(model, tok, prompt, answer):
    block = model.config.block_size
    ids, out = tok.encode(prompt), []
    for _ in range(len(answer) + 1):
        logits, _ = model(torch.tensor([(ids + out)[:block]]))
        out.append(int(logits[0, -1].argmax()))
        if tok.decode(out[-1:]) == "\n":
            break
    return tok.decode(out) == answer + "\n"


@torch.no_grad()
def _match_shifted(model, tok, prompt, answer):
    """One forward pass on prompt + answer + newline, the argmax read at the answer's own positions."""
    block = model.config.block_size
    ids, tail = tok.encode(prompt), tok.encode(answer + "\n")
    seq = (ids + tail)[-block:]
    logits, _ = model(torch.tensor([seq]))
    guess = logits[0, -len(tail):].argmax(-1).tolist()
    return guess == tail


@functools.lru_cache(maxsize=1)
def _family_model():
    from ..family import load_family
    return load_family("113k")


def _run_match(fn, case):
    model, tok = _family_model()
    return [fn(model, tok, prompt, answer) for prompt, answer in case.args[0]]


@functools.lru_cache(maxsize=1)
def _match_pairs():
    from ..evaluation import instances
    pairs = lambda task, k, n, d=False: tuple((i.prompt, i.answer) for i in instances(task, k, n, description=d))  # noqa: E731
    return pairs("insertion", 1, 4), pairs("insertion", 16, 3), pairs("insertion", 0, 2, True)


def _match_cases():
    one_shot, sixteen, zero_shot = _match_pairs()
    return [
        Case("4 one-shot random-insertion instances of gptedu.evaluation", (list(one_shot),)),
        Case("the same 4 prompts, each answer cut one letter short (the model writes more: wrong)",
             ([(p, a[:-1]) for p, a in one_shot],)),
        Case("3 instances at K = 16: prompts of 351-384 characters, longer than the model's 256",
             (list(sixteen),)),
        Case("2 zero-shot instances (K = 0) with the description", (list(zero_shot),)),
    ]


register(Exercise(
    id="exact_match", chapter="10", name="exact_match", solution_name="exact_match_solution",
    title="exact match of a greedy completion",
    reference=exact_match, cases=_match_cases, run=_run_match,
    compare=lambda e, g: compare_exact(e, g, what="right/wrong of each instance"),
    hint="greedy: feed the last block_size ids, append the argmax of the last position's logits, len(answer) + 1 "
         "times (or until a newline); right exactly when what was written is answer + '\\n'.",
    mistakes=[
        Mistake("the newline is not required: an answer the model goes on writing past counts as right",
                _match_no_newline,
                "generate one character more than the answer and require it to be '\\n' (the line must end)."),
        Mistake("the context is not cropped: prompts longer than block_size fail", _match_no_crop,
                "feed only the last model.config.block_size ids: (ids + out)[-block:]."),
        Mistake("the context is cropped from the wrong end: it keeps the first block_size ids, not the last",
                _match_crop_front,
                "the model must see the end of the prompt (the query): (ids + out)[-block:], not [:block]."),
        Mistake("one forward pass, but the argmax is read at the answer's own positions, one too late",
                _match_shifted,
                "the logits at position i predict token i + 1: the answer's first character is predicted at the "
                "prompt's last position (logits[0, -len(tail) - 1:-1])."),
    ],
))


# ---------------------------------------------------------------------- the Wilson 95% interval
def wilson_interval(correct, n, z=1.96):
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _wald(correct, n, z=1.96):
    p = correct / n
    half = z * math.sqrt(p * (1 - p) / n)
    return (max(0.0, p - half), min(1.0, p + half))


def _wilson_centred_at_p(correct, n, z=1.96):
    p = correct / n
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, p - half), min(1.0, p + half))


def _wilson_no_correction(correct, n, z=1.96):
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _run_wilson(fn, case):
    return fn(*case.args, **case.kwargs)


def _compare_interval(expected, got):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"the interval: expected a pair (low, high), got {describe_type(got)}"
    return compare_floats(list(expected), [float(v) if isinstance(v, torch.Tensor) else v for v in got],
                          rel=1e-6, what="(low, high)")


register(Exercise(
    id="wilson_interval", chapter="10", name="wilson_interval", solution_name="wilson_interval_solution",
    title="the Wilson 95% interval",
    reference=wilson_interval, run=_run_wilson, compare=_compare_interval,
    cases=lambda: [Case("122 right of 200 (section 3's 38k at K = 1)", (122, 200)),
                   Case("0 right of 200: the low end is 0, the high end is not", (0, 200)),
                   Case("200 right of 200", (200, 200)),
                   Case("1 right of 10", (1, 10)),
                   Case("7 right of 9 with z = 2.576 (a 99% interval)", (7, 9), {"z": 2.576})],
    hint="p = correct / n; centre = (p + z²/2n) / (1 + z²/n); half = z·sqrt(p(1 - p)/n + z²/4n²) / (1 + z²/n); "
         "return (max(0, centre - half), min(1, centre + half)).",
    mistakes=[
        Mistake("the normal (Wald) interval p ± z·sqrt(p(1 - p)/n): zero width at 0 of n", _wald,
                "Wilson's interval moves the centre toward 1/2 and widens: at 0 of 200 it still reaches about 0.02."),
        Mistake("the interval is centred on p instead of Wilson's centre (p + z²/2n) / (1 + z²/n)",
                _wilson_centred_at_p, "centre = (p + z * z / (2 * n)) / (1 + z * z / n)."),
        Mistake("the z²/4n² term under the square root is missing", _wilson_no_correction,
                "half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n): without the term, "
                "the interval at 0 or n has zero width."),
    ],
))


# ---------------------------------------------------------------------- contextual calibration
def calibrate(p, p_cf):
    q = p / p_cf
    return q / q.sum()


def _calibrate_unnormalised(p, p_cf):
    return p / p_cf


def _calibrate_times(p, p_cf):
    q = p * p_cf
    return q / q.sum()


def _calibrate_subtract(p, p_cf):
    q = (p - p_cf).clamp(min=0)
    return q / q.sum()


def _calibrate_cases():
    return [
        Case("3 labels, the content-free query prefers the first", (torch.tensor([0.5, 0.3, 0.2]),
                                                                   torch.tensor([0.6, 0.25, 0.15]))),
        Case("2 labels whose probabilities do not sum to 1 (the rest went to other continuations)",
             (torch.tensor([0.3, 0.1]), torch.tensor([0.2, 0.05]))),
        Case("5 labels, a uniform content-free answer: nothing changes but the normalisation",
             (torch.tensor([0.1, 0.2, 0.3, 0.15, 0.05]), torch.full((5,), 0.2))),
        Case("one label: it gets probability 1", (torch.tensor([0.4]), torch.tensor([0.7]))),
        Case("4 labels, the bias flips the choice", (torch.tensor([0.40, 0.35, 0.15, 0.10]),
                                                    torch.tensor([0.70, 0.10, 0.10, 0.10]))),
    ]


register(Exercise(
    id="calibrate", chapter="10", name="calibrate", solution_name="calibrate_solution",
    title="contextual calibration",
    reference=calibrate, cases=_calibrate_cases,
    hint="W = diag(p_cf)^-1: q = p / p_cf, element by element; then divide by q.sum() so that it sums to 1.",
    mistakes=[
        Mistake("not renormalised: p / p_cf does not sum to 1", _calibrate_unnormalised,
                "return q / q.sum() with q = p / p_cf."),
        Mistake("multiplied by p_cf instead of divided: the bias is strengthened, not removed", _calibrate_times,
                "diag(p_cf)^-1 divides: a label the model favours with no query is scaled down."),
        Mistake("p_cf is subtracted (and clamped at 0) instead of divided by", _calibrate_subtract,
                "Zhao et al. scale each label: q = p / p_cf, not p - p_cf."),
    ],
))


# ---------------------------------------------------------------------- Olsson's in-context learning score
def icl_score(losses, early=(20, 30), late=(200, 250)):
    losses = [float(v) for v in losses]
    late_part, early_part = losses[late[0]:late[1]], losses[early[0]:early[1]]
    return sum(late_part) / len(late_part) - sum(early_part) / len(early_part)


def _icl_reversed(losses, early=(20, 30), late=(200, 250)):
    losses = [float(v) for v in losses]
    return sum(losses[early[0]:early[1]]) / (early[1] - early[0]) - sum(losses[late[0]:late[1]]) / (late[1] - late[0])


def _icl_inclusive(losses, early=(20, 30), late=(200, 250)):
    losses = [float(v) for v in losses]
    late_part, early_part = losses[late[0]:late[1] + 1], losses[early[0]:early[1] + 1]
    return sum(late_part) / len(late_part) - sum(early_part) / len(early_part)


def _icl_single_positions(losses, early=(20, 30), late=(200, 250)):
    losses = [float(v) for v in losses]
    return losses[late[0]] - losses[early[0]]


def _loss_curve(n, seed):
    g = torch.Generator().manual_seed(seed)
    falling = 2.5 * torch.exp(-torch.arange(n) / 60.0) + 1.0
    return (falling + 0.3 * torch.rand(n, generator=g)).tolist()


def _icl_cases():
    return [
        Case("a falling loss curve of 256 positions (a list), the default windows", (_loss_curve(256, 0),)),
        Case("the same kind of curve as a tensor", (torch.tensor(_loss_curve(256, 1)),)),
        Case("a flat curve with noise: a score near 0", ([1.5 + 0.01 * ((7 * i) % 5) for i in range(256)],)),
        Case("8 positions, early = (0, 2), late = (5, 8): the late window runs to the end",
             ([3.0, 2.8, 2.1, 1.9, 1.7, 1.2, 1.1, 0.9],), {"early": (0, 2), "late": (5, 8)}),
    ]


register(Exercise(
    id="icl_score", chapter="10", name="icl_score", solution_name="icl_score_solution",
    title="Olsson's in-context learning score",
    reference=icl_score, cases=_icl_cases, compare=lambda e, g: compare_floats(e, g, rel=1e-6, what="the score"),
    hint="mean of losses[late[0]:late[1]] minus mean of losses[early[0]:early[1]] (ends excluded, as in Python "
         "slices); negative when later tokens are easier.",
    mistakes=[
        Mistake("early minus late: the sign is reversed", _icl_reversed,
                "late minus early: a model that gains from context has a negative score."),
        Mistake("the windows include their end position (late[1] and early[1])", _icl_inclusive,
                "the windows are half-open like Python slices: losses[20:30] is positions 20 to 29."),
        Mistake("one position each (late[0] minus early[0]) instead of the windows' means", _icl_single_positions,
                "average over each window: a single position's loss is noisy."),
    ],
))
