"""One registry of evaluation tasks for the model family: zero-, one- and few-shot prompts, two scores.

GPT-3 evaluates every task at K = 0 (zero-shot), 1 (one-shot) and K > 1 (few-shot) examples
in the context, with or without a natural-language description of the task, and no gradient
update. Here every task renders such prompts from held-out material and is scored two ways:

    accuracy       exact match (the model's greedy continuation is the answer, newline
                   included), or the right choice among candidates; with a binomial error bar
    mean log-prob  of the right answer, per token: a continuous metric, since accuracy alone
                   makes smooth progress look jumpy (Schaeffer et al. 2023)

    >>> result = evaluate(model, tokenizer, "insertion", k=16, n=200)
    >>> result["accuracy"], result["accuracy_stderr"], result["logprob"]

Tasks (TASKS): the six of gptedu.subtask_corpus on words of the held-out plays that training
never sees, with fresh mappings (few-shot: K >= 0); and gptedu.play_tasks' natural-text
zero-shot tasks of chapter 08 (K = 0 only): last_word (exact match), cloze and next_speaker
(the right choice among candidates).

Exact match comes from one teacher-forced forward pass: greedy decoding writes the answer
exactly when, at every answer position and at the newline after it, the most likely next
token is the right one. Choice tasks use gptedu.fewshot.choice_logprobs.
"""
from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .checks import require_bool, require_int
from .fewshot import choice_logprobs
from .subtask_corpus import (DESCRIPTIONS, SCRAMBLERS, WORD_TASKS, evaluation_words, mapping_pairs, render_answer,
                             render_prompt, word_pairs)

KS = (0, 1, 2, 4, 8, 16)
MAX_K = 1024  # examples in one prompt: more lines than GPT-2's 1,024-token context holds, let alone the family's 256
MAX_N = 100_000  # instances per evaluation


@dataclass(frozen=True)
class Instance:
    """One prompt and its right continuation; `choices` (with `label`, the right one's index) for choice tasks.

    end: for exact match, what must follow the answer ("\n" ends an `input -> output` line);
    None: any non-letter may follow (a word of running text, as LAMBADA's last word).
    """
    prompt: str
    answer: str
    choices: tuple[str, ...] | None = None
    label: int | None = None
    end: str | None = "\n"


@dataclass(frozen=True)
class EvalTask:
    """A registered task: `make(k, n, description, seed)` renders n instances with k examples each."""
    name: str
    kind: str  # "exact" (exact match of a generated answer) or "choice"
    description: str
    make: Callable[[int, int, bool, int], list[Instance]]
    few_shot: bool = True  # False: a zero-shot-only task (k must be 0)
    normalize: bool = True  # choice tasks: rank by mean log-prob per token (False: by the total)


TASKS: dict[str, EvalTask] = {}


def register(task: EvalTask) -> EvalTask:
    if task.kind not in ("exact", "choice"):
        raise ValueError(f"kind={task.kind!r} must be 'exact' or 'choice'.")
    TASKS[task.name] = task
    return task


# ---------------------------------------------------------------- the corpus's tasks
def _word_task_instances(task: str) -> Callable[[int, int, bool, int], list[Instance]]:
    def make(k: int, n: int, description: bool, seed: int) -> list[Instance]:
        rng = random.Random(f"{task}/{k}/{seed}")
        words = evaluation_words()
        out = []
        for _ in range(n):
            pairs = word_pairs(task, words, k + 1, rng)  # distinct words: the query is not among the examples
            *examples, (query, target) = pairs
            out.append(Instance(render_prompt(task, examples, query, description), render_answer(target)))
        return out
    return make


MAPPING_WORDS = 5  # distinct words in an evaluation mapping


def _mapping_instances(k: int, n: int, description: bool, seed: int) -> list[Instance]:
    """A fresh mapping of 5 held-out words per instance; the query is one of the 5 (seen in the
    examples or not: at K = 0 nothing can tell its label, so chance is ~0 for exact match)."""
    rng = random.Random(f"mapping/{k}/{seed}")
    out = []
    for _ in range(n):
        pairs = mapping_pairs(evaluation_words(), MAPPING_WORDS, k + 1, rng)
        *examples, (query, target) = pairs
        out.append(Instance(render_prompt("mapping", examples, query, description), render_answer(target)))
    return out


for _name in WORD_TASKS:
    register(EvalTask(_name, "exact", DESCRIPTIONS[_name], _word_task_instances(_name)))
register(EvalTask("mapping", "exact", DESCRIPTIONS["mapping"], _mapping_instances))


def _play_task_maker(name: str, make_instances: Callable[..., list]) -> Callable[[int, int, bool, int], list[Instance]]:
    def make(k: int, n: int, description: bool, seed: int) -> list[Instance]:
        out = []
        for inst in make_instances(n=n, seed=seed):
            if inst.candidates is None:  # the last word: exact match, then any non-letter
                out.append(Instance(inst.context, inst.answer, end=None))
            else:  # every candidate is scored with the same suffix (the rest of the line, or ".")
                out.append(Instance(inst.context, inst.answer + inst.suffix,
                                    tuple(c + inst.suffix for c in inst.candidates), inst.answer_index))
        return out
    return make


PLAY_TASK_INFO = {  # name: (kind, what it is, normalize)
    "last_word": ("exact", "The last word of a speech after >= 300 characters of a held-out play (LAMBADA-style).", True),
    # GPT-2's CBT rule: the probability of the choice and the rest of the line (the suffix is shared, so the total)
    "cloze": ("choice", "A blanked word of a held-out play's line among 10 words of the lines before (CBT-style).", False),
    "next_speaker": ("choice", "The next speaker's name among the held-out play's speakers.", True),
}


def register_play_tasks() -> list[str]:
    """Register gptedu.play_tasks' natural-text zero-shot tasks (chapter 08); returns their names."""
    try:
        from .play_tasks import PLAY_TASKS
    except ImportError:  # not built yet
        return []
    for name, make_instances in PLAY_TASKS.items():
        kind, text, normalize = PLAY_TASK_INFO.get(name, ("choice", name, True))
        register(EvalTask(name, kind, text, _play_task_maker(name, make_instances), few_shot=False,
                          normalize=normalize))
    return list(PLAY_TASKS)


register_play_tasks()


# ---------------------------------------------------------------- scoring
def binomial_stderr(p: float, n: int) -> float:
    """Standard error of an accuracy p measured on n instances: sqrt(p (1 - p) / n)."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else float("nan")


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for correct / n (sensible at 0 and n, unlike p +- 2 stderr)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@torch.no_grad()
def exact_match_scores(model: torch.nn.Module, tokenizer, instances: Sequence[Instance],
                       batch_size: int = 64) -> tuple[list[bool], list[float]]:
    """For each instance: (greedy continuation == answer + end, mean log-prob per answer token).

    One forward pass per batch: prompt + answer + end, right-padded; the prompt is cropped from
    the left so that it fits the model's context, as when generating. An instance whose end is
    None is right when the greedy answer is followed by a non-letter.
    """
    block = model.config.block_size
    _check_instances(instances, tokenizer, block)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct: list[bool] = []
    logprobs: list[float] = []
    try:
        for lo in range(0, len(instances), batch_size):
            chunk = instances[lo:lo + batch_size]
            rows = []
            for inst in chunk:
                ans = tokenizer.encode(inst.answer)
                open_end = inst.end is None
                tail = ans + ([] if open_end else tokenizer.encode(inst.end))
                ctx = tokenizer.encode(inst.prompt)[-(block - len(tail) + 1 - open_end):]
                rows.append((ctx, ans, tail))
            T = max(len(c) + len(t) - 1 + (inst.end is None) for (c, _, t), inst in zip(rows, chunk))
            idx = torch.zeros(len(rows), T, dtype=torch.long)
            targets = torch.full((len(rows), T), -1, dtype=torch.long)
            n_answer = torch.zeros(len(rows), T, dtype=torch.bool)
            last = []
            for r, ((ctx, ans, tail), inst) in enumerate(zip(rows, chunk)):
                seq = ctx + tail
                idx[r, :len(seq) - (inst.end is not None)] = torch.tensor(seq[:len(seq) - (inst.end is not None)])
                last.append(len(seq) - 1 if inst.end is None else None)
                targets[r, len(ctx) - 1:len(seq) - 1] = torch.tensor(tail)
                n_answer[r, len(ctx) - 1:len(ctx) - 1 + len(ans)] = True
            logits, _ = model(idx.to(device))
            logp = F.log_softmax(logits.float(), dim=-1).cpu()
            mask = targets >= 0
            hit = (logp.argmax(-1) == targets) | ~mask
            picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            ok = hit.all(dim=1)
            for r, pos in enumerate(last):
                if pos is not None:  # open end: the next greedy character must not be a letter
                    ok[r] &= not tokenizer.decode([int(logp[r, pos].argmax())]).isalpha()
            correct += ok.tolist()
            logprobs += ((picked * n_answer).sum(1) / n_answer.sum(1)).tolist()
    finally:
        model.train(was_training)
    return correct, logprobs


def _check_instances(instances: Sequence[Instance], tokenizer, block: int) -> None:
    """Refuse an instance exact match cannot score: an empty prompt (nothing to condition on), an empty
    answer, or an answer (with what must follow it) that leaves no room for the prompt in the context."""
    for i, inst in enumerate(instances):
        if not isinstance(inst, Instance):
            raise TypeError(f"instances[{i}] must be an Instance; got {type(inst).__name__}.")
        if not isinstance(inst.prompt, str) or not inst.prompt:
            raise ValueError(f"instances[{i}] has an empty prompt: the model needs at least one token to "
                             f"condition on.")
        if not isinstance(inst.answer, str) or not inst.answer:
            raise ValueError(f"instances[{i}] has an empty answer: there is nothing to score.")
        tail = len(tokenizer.encode(inst.answer)) + (0 if inst.end is None else len(tokenizer.encode(inst.end)))
        if tail > block - (inst.end is None):  # the prompt keeps at least one token
            raise ValueError(f"instances[{i}]'s answer{'' if inst.end is None else ' and end'} take {tail} tokens; "
                             f"the model's context is {block}: no room is left for the prompt.")


def choice_scores(model: torch.nn.Module, tokenizer, instances: Sequence[Instance], normalize: bool = True
                  ) -> tuple[list[bool], list[float]]:
    """For each choice instance: (the right choice ranks first, its mean log-prob per token).

    normalize=True ranks by the mean log-prob per token, False by the total (gptedu.fewshot.choice_logprobs).
    """
    normalize = require_bool("normalize", normalize)
    correct, logprobs = [], []
    for inst in instances:
        total = choice_logprobs(model, tokenizer, inst.prompt, list(inst.choices), normalize=False)
        lengths = torch.tensor([len(tokenizer.encode(c)) for c in inst.choices], dtype=total.dtype)
        mean = total / lengths
        correct.append(int((mean if normalize else total).argmax()) == inst.label)
        logprobs.append(float(mean[inst.label]))
    return correct, logprobs


def max_k(task: str) -> int:
    """The most examples an instance of `task` can hold: MAX_K, and for a word task one fewer than the
    held-out words it can scramble (the query and every example use a different word); 0 if zero-shot only."""
    if not TASKS[task].few_shot:
        return 0
    if task in WORD_TASKS:
        return min(MAX_K, _scramblable_words(task) - 1)
    return MAX_K


@functools.lru_cache(maxsize=None)
def _scramblable_words(task: str) -> int:
    rng = random.Random(0)  # whether a word can be scrambled does not depend on the draw
    return sum(SCRAMBLERS[task](word, rng) is not None for word in evaluation_words())


def instances(task: str, k: int, n: int, description: bool = False, seed: int = 0) -> list[Instance]:
    """The n instances of a task at k examples (the same for every model: seeded by task, k, seed).

    k and n are checked against their limits (max_k(task), MAX_N) before anything is drawn.
    """
    if not isinstance(task, str) or task not in TASKS:
        raise ValueError(f"No evaluation task {task!r}; registered: {', '.join(TASKS)}.")
    spec = TASKS[task]
    k = require_int("k", k, minimum=0, hint=" (examples in the prompt; 0: zero-shot)")
    if k > 0 and not spec.few_shot:
        raise ValueError(f"k={k!r} is not possible for {task!r} (zero-shot only).")
    if k > max_k(task):
        raise ValueError(f"k={k!r} is too many examples for {task!r}: at most {max_k(task):,} "
                         + (f"(each example and the query need a different held-out word)" if task in WORD_TASKS
                            else f"(more lines than any course model's context holds)") + ".")
    n = require_int("n", n, maximum=MAX_N, minimum=1, hint=" (instances)")
    description = require_bool("description", description)
    seed = require_int("seed", seed, minimum=None)
    return spec.make(k, n, description, seed)


def evaluate(model: torch.nn.Module, tokenizer, task: str, k: int = 0, n: int = 200,
             description: bool = False, seed: int = 0, keep: bool = False) -> dict:
    """Accuracy (with its binomial stderr and 95% Wilson interval) and mean log-prob of the right answer.

    keep=True adds each instance's right/wrong and log-prob (for bootstraps and plots).
    """
    keep = require_bool("keep", keep)
    items = instances(task, k, n, description, seed)
    if TASKS[task].kind == "exact":
        correct, logprobs = exact_match_scores(model, tokenizer, items)
    else:
        correct, logprobs = choice_scores(model, tokenizer, items, TASKS[task].normalize)
    hits = sum(correct)
    acc = hits / len(items)
    out = {"task": task, "k": k, "description": description, "n": len(items), "correct": hits,
           "accuracy": acc, "accuracy_stderr": binomial_stderr(acc, len(items)),
           "accuracy_ci95": list(wilson_interval(hits, len(items))),
           "logprob": sum(logprobs) / len(logprobs),
           "logprob_stderr": _stderr(logprobs)}
    if keep:
        out["per_instance"] = {"correct": [bool(c) for c in correct], "logprob": logprobs}
    return out


def _stderr(values: Sequence[float]) -> float:
    n = len(values)
    if n < 2:
        return float("nan")
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
