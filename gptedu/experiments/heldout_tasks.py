"""Learning a new task vs recognising a trained one: the shipped family on tasks it never trained on.

Chapter 10's GPT-3 Fig. 1.2 uses tasks the family was trained on (gptedu.subtask_corpus: five word
tasks and the mapping, thousands of episodes each, in the `input -> output` line format). GPT-3
section 5 warns that few-shot results may come from recognising a task seen in training rather than
learning it at inference time. This experiment asks the family, in its trained line format, for

    trained ("control")  random insertion and the mapping exactly as gptedu.evaluation renders them
    new functions        first_letter  sword -> s           last_two  sword -> rd
    (nowhere in the      doubled       sword -> swordsword  upper     sword -> SWORD
    training stream)     drop_first    sword -> word
    trained task,        insertion_long    random insertion on 8-10-letter words (trained: 4-7)
    untrained form       insertion_equals  random insertion written `s.w;o!r d = sword` (trained: ` -> `)
                         mapping_upper     the mapping with upper-case labels `KEP` (trained: `kep`)
                         mapping_long      the mapping with 5-letter labels `kepad`

on held-out words (gptedu.subtask_corpus.evaluation_words; insertion_long: the held-out plays' 8-10-letter
words that the training plays never use), with no description line. Every size, K from 0 to the largest K
at which all n prompts (and the answer and its newline) fit the 256-character context, so nothing is
cropped; n = 200 per point; greedy exact match with its 95% Wilson interval and the mean log-prob of the
answer (gptedu.evaluation.exact_match_scores). The *copier ceiling* of a point is the share of instances
whose answer is the output of one of the prompt's example lines: copying the right line could answer
those, and only those (0 for doubled, upper, drop_first and the insertions; the mapping's is the share of
queries shown). Accuracy is also split into the instances copying could answer and those it could not.
For the first 50 instances at K = 1 and at the largest K the greedy continuation is kept (what the model
writes instead).

A second part, "finetune_lr", is chapter 10's few-shot vs fine-tuning comparison (the same K fixed
random-insertion examples, the same 200 queries as gptedu.experiments.icl_extras's part "finetune") with the
learning rate tuned: five peak learning rates, the one picked per (size, K, steps) by accuracy on 100
separate validation queries, then reported on the 200 test queries.

    python -m gptedu.experiments.heldout_tasks                      # both parts, one thread
    python -m gptedu.experiments.heldout_tasks --parts heldout      # one part
    python -m gptedu.experiments.heldout_tasks --parts heldout_v2   # the held-out tasks on family v2

Writes data/results/heldout_tasks.json; its "settings" hold each part's command and seconds.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import random
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import torch

from .. import evaluation
from ..checks import check_output_file, require_choice, require_int
from ..data import HELD_OUT_PLAYS, load_shakespeare, pretraining_plays
from ..family import FAMILIES, family_members, load_family, manifest
from ..finetune import linear_warmup_decay
from ..generate import generate_steps
from ..subtask_corpus import (ARROW, DESCRIPTIONS, evaluation_words, new_labels, random_insertion, render_answer,
                              render_prompt, word_pairs, words_in)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "data" / "results" / "heldout_tasks.json"
BLOCK = 256  # the family's context
N, SEED = 200, 0
CANDIDATE_KS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
N_GREEDY = 50
LONG = (8, 10)  # insertion_long's word lengths (training used 4-7)
_CONSONANTS, _VOWELS = "bcdfghjklmnpqrstvwxz", "aeiou"
LONG_LABEL_SPACE = len(_CONSONANTS) ** 3 * len(_VOWELS) ** 2  # 200,000 distinct five-letter labels
MAX_BLOCK = 2048  # ks_that_fit's largest context: GPT-3's (the family's is 256 or 512)


# ---------------------------------------------------------------- words
@lru_cache(maxsize=1)
def long_words() -> tuple[str, ...]:
    """Lower-case words of 8-10 letters of the held-out plays that the training plays (and the descriptions)
    never use, any case: the training stream cannot contain them, and its tasks never saw words this long."""
    trained = words_in(load_shakespeare(pretraining_plays())) | words_in(" ".join(DESCRIPTIONS.values()))
    held = words_in(load_shakespeare(list(HELD_OUT_PLAYS)))
    return tuple(sorted(w for w in held - trained
                        if LONG[0] <= len(w) <= LONG[1] and w.isascii() and w.isalpha() and w.islower()))


# ---------------------------------------------------------------- the tasks
NEW_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "first_letter": lambda w: w[0],
    "last_two": lambda w: w[-2:],
    "doubled": lambda w: w + w,
    "upper": lambda w: w.upper(),
    "drop_first": lambda w: w[1:],
}


@dataclass(frozen=True)
class Episode:
    """One instance before rendering: K example pairs, the query and its answer, and the separator."""
    examples: tuple[tuple[str, str], ...]
    query: str
    target: str
    sep: str = ARROW

    def prompt(self) -> str:
        """Example lines `input<sep>output`, then the query `input<sep>` without its trailing space
        (with sep = ARROW exactly gptedu.subtask_corpus.render_prompt's text)."""
        return "".join(f"{s}{self.sep}{t}\n" for s, t in self.examples) + self.query + self.sep.rstrip()

    def instance(self) -> evaluation.Instance:
        return evaluation.Instance(self.prompt(), render_answer(self.target))

    @property
    def copyable(self) -> bool:
        """Copying one of the example lines' outputs would answer (the copier ceiling counts these)."""
        return any(t == self.target for _, t in self.examples)

    @property
    def shown(self) -> bool:
        """The query itself is among the examples' inputs."""
        return any(s == self.query for s, _ in self.examples)

    def fits(self, block: int = BLOCK) -> bool:
        """Prompt, answer and the newline after it fit the context: nothing is cropped."""
        return len(self.prompt()) + len(render_answer(self.target)) + 1 <= block


@dataclass(frozen=True)
class HeldoutTask:
    name: str
    group: str  # "trained" (control), "form" (a trained task in an untrained form) or "new" (a new function)
    what: str
    make: Callable[[int, random.Random], Episode]  # one instance with k examples

    def episodes(self, k: int, n: int = N, seed: int = SEED) -> list[Episode]:
        """n instances at k examples, seeded by task, k and seed (the same for every model)."""
        if self.name in evaluation.TASKS:  # the controls: exactly gptedu.evaluation's instances
            return _from_evaluation(self.name, k, n, seed)
        rng = random.Random(f"heldout/{self.name}/{k}/{seed}")
        return [self.make(k, rng) for _ in range(n)]


def _from_evaluation(task: str, k: int, n: int, seed: int) -> list[Episode]:
    out = []
    for inst in evaluation.instances(task, k, n, seed=seed):
        lines = inst.prompt.split("\n")
        examples = tuple(tuple(line.split(ARROW)) for line in lines[:-1])
        out.append(Episode(examples, lines[-1][:-len(ARROW.rstrip())], inst.answer[1:]))
    assert all(e.instance() == i for e, i in zip(out, evaluation.instances(task, k, n, seed=seed)))
    return out


def _function_task(fn: Callable[[str], str]) -> Callable[[int, random.Random], Episode]:
    def make(k: int, rng: random.Random) -> Episode:
        words = rng.sample(evaluation_words(), k + 1)  # distinct: the query is never among the examples
        *examples, query = [(w, fn(w)) for w in words]
        return Episode(tuple(examples), *query)
    return make


def _insertion_task(words: Callable[[], Sequence[str]], sep: str) -> Callable[[int, random.Random], Episode]:
    def make(k: int, rng: random.Random) -> Episode:
        *examples, query = word_pairs("insertion", words(), k + 1, rng)  # distinct words
        return Episode(tuple(examples), *query, sep=sep)
    return make


def long_labels(n: int, rng: random.Random) -> list[str]:
    """n distinct five-letter labels (consonant-vowel-consonant-vowel-consonant), drawn fresh; more than
    LONG_LABEL_SPACE raises at once instead of drawing forever."""
    n = require_int("n", n, minimum=0, maximum=LONG_LABEL_SPACE,
                    hint=": there are only that many consonant-vowel-consonant-vowel-consonant labels")
    labels: list[str] = []
    while len(labels) < n:
        lab = "".join(rng.choice(_CONSONANTS if i % 2 == 0 else _VOWELS) for i in range(5))
        if lab not in labels:
            labels.append(lab)
    return labels


def _mapping_task(labels: Callable[[int, random.Random], list[str]]) -> Callable[[int, random.Random], Episode]:
    """As gptedu.evaluation's mapping (5 held-out words, each with a fresh label, lines drawn with
    replacement; the query is one of the 5, shown or not), with other labels."""
    def make(k: int, rng: random.Random) -> Episode:
        keys = rng.sample(evaluation_words(), evaluation.MAPPING_WORDS)
        table = dict(zip(keys, labels(evaluation.MAPPING_WORDS, rng)))
        *examples, query = [(w, table[w]) for w in (rng.choice(keys) for _ in range(k + 1))]
        return Episode(tuple(examples), *query)
    return make


TASKS: dict[str, HeldoutTask] = {t.name: t for t in [
    HeldoutTask("insertion", "trained", "random insertion as trained (4-7-letter words, ` -> `)", None),
    HeldoutTask("mapping", "trained", "the mapping as trained (3-letter lower-case labels)", None),
    HeldoutTask("first_letter", "new", "the first letter: sword -> s", _function_task(NEW_FUNCTIONS["first_letter"])),
    HeldoutTask("last_two", "new", "the last two letters: sword -> rd", _function_task(NEW_FUNCTIONS["last_two"])),
    HeldoutTask("doubled", "new", "the word twice: sword -> swordsword", _function_task(NEW_FUNCTIONS["doubled"])),
    HeldoutTask("upper", "new", "upper case: sword -> SWORD", _function_task(NEW_FUNCTIONS["upper"])),
    HeldoutTask("drop_first", "new", "without its first letter: sword -> word",
                _function_task(NEW_FUNCTIONS["drop_first"])),
    HeldoutTask("insertion_long", "form", "random insertion on 8-10-letter words (trained: 4-7)",
                _insertion_task(long_words, ARROW)),
    HeldoutTask("insertion_equals", "form", "random insertion with ` = ` (trained: ` -> `)",
                _insertion_task(evaluation_words, " = ")),
    HeldoutTask("mapping_upper", "form", "the mapping with upper-case labels KEP (trained: kep)",
                _mapping_task(lambda n, rng: [lab.upper() for lab in new_labels(n, rng)])),
    HeldoutTask("mapping_long", "form", "the mapping with 5-letter labels kepad (trained: 3 letters)",
                _mapping_task(long_labels)),
]}


def ks_that_fit(task: str, n: int = N, seed: int = SEED, block: int = BLOCK) -> list[int]:
    """CANDIDATE_KS up to the largest K at which all n instances fit the context, and that largest K.

    Checked first, so that the search ends: n=0 instances "fit" at every K (it would never stop), and a context
    beyond MAX_BLOCK would take K into the thousands; K stops at evaluation.MAX_K in any case.
    """
    require_choice("task", task, TASKS)
    n = require_int("n", n, maximum=evaluation.MAX_N, hint=" (instances per K)")
    block = require_int("block", block, maximum=MAX_BLOCK, hint=" (the context, in characters)")
    k_max = 0
    while k_max < evaluation.MAX_K and all(e.fits(block) for e in TASKS[task].episodes(k_max + 1, n, seed)):
        k_max += 1
    return [k for k in CANDIDATE_KS if k < k_max] + [k_max]


# ---------------------------------------------------------------- scoring
@torch.no_grad()
def greedy_answers(model, tokenizer, episodes: Sequence[Episode], max_new: int = 24) -> list[str]:
    """What the model writes after each prompt (greedy, up to the first newline or max_new characters)."""
    out = []
    for e in episodes:
        idx = torch.tensor([tokenizer.encode(e.prompt())])
        text = ""
        for next_id, _ in generate_steps(model, idx, max_new, greedy=True):
            ch = tokenizer.decode([int(next_id)])
            if ch == "\n":
                break
            text += ch
        out.append(text[1:] if text.startswith(" ") else text)
    return out


def score(model, tokenizer, episodes: Sequence[Episode]) -> dict:
    """Exact match (with its 95% Wilson interval) and answer log-prob, split by whether copying could answer."""
    correct, logprobs = evaluation.exact_match_scores(model, tokenizer, [e.instance() for e in episodes])
    n, hits = len(episodes), sum(correct)
    copyable = [e.copyable for e in episodes]
    out = {"n": n, "correct": hits, "accuracy": hits / n, "ci95": list(evaluation.wilson_interval(hits, n)),
           "logprob": sum(logprobs) / n,
           "logprob_stderr": math.sqrt(sum((v - sum(logprobs) / n) ** 2 for v in logprobs) / (n - 1) / n),
           "copier_ceiling": sum(copyable) / n,
           "correct_copyable": sum(c for c, f in zip(correct, copyable) if f),
           "correct_not_copyable": sum(c for c, f in zip(correct, copyable) if not f),
           "per_instance": "".join("1" if c else "0" for c in correct)}
    return out


# Family v2 (chapter 10) trains on rule episodes (gptedu.rule_tasks), so two of the "new" functions are in its
# stream: drop_first is drop_at at position 1, and first_letter is first_n at n = 1 (trained: n = 2-4), a held-out
# parameter of a trained rule. The rest are as new to v2 as to v1.
V2_GROUPS = {"first_letter": "held-out parameter", "drop_first": "trained"}


def run_heldout(sizes: Sequence[str] | None = None, n: int = N, seed: int = SEED, family: str = "v1") -> dict:
    """Every task at every K that fits the family's context (v1: 256, v2: 512), on every size of the family."""
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} must be one of {', '.join(FAMILIES)}.")
    _, recipe, folder = FAMILIES[family]
    block = recipe.block_size
    sizes = list(sizes or family_members(folder))
    shipped = manifest(folder)
    ks = {name: ks_that_fit(name, n, seed, block) for name in TASKS}
    out = {"family": family, "n": n, "seed": seed, "block": block, "n_greedy": N_GREEDY,
           "checkpoints": {size: shipped[size]["sha256"] for size in sizes}, "tasks": {}, "points": {}, "greedy": {}}
    for name, task in TASKS.items():
        first = task.episodes(2, 1, seed)[0]
        group = V2_GROUPS.get(name, task.group) if family == "v2" else task.group
        out["tasks"][name] = {"group": group, "what": task.what, "sep": first.sep, "ks": ks[name],
                              "example": first.prompt() + render_answer(first.target),
                              "copyable": {str(k): "".join("1" if e.copyable else "0"
                                                           for e in task.episodes(k, n, seed)) for k in ks[name]},
                              "shown": {str(k): sum(e.shown for e in task.episodes(k, n, seed)) / n
                                        for k in ks[name]}}
    for size in sizes:
        model, tok = load_family(size)
        t_size = time.perf_counter()
        for name, task in TASKS.items():
            for k in ks[name]:
                t0 = time.perf_counter()
                episodes = task.episodes(k, n, seed)
                assert all(e.fits(block) for e in episodes)
                point = score(model, tok, episodes)
                point["seconds"] = round(time.perf_counter() - t0, 2)
                out["points"][f"{size}/{name}/{k}"] = point
                if k in (1, ks[name][-1]):
                    out["greedy"][f"{size}/{name}/{k}"] = greedy_answers(model, tok, episodes[:N_GREEDY])
            accs = " ".join(f"{out['points'][f'{size}/{name}/{k}']['accuracy']:.2f}" for k in ks[name])
            print(f"{size} {name} K={ks[name]}: {accs}", flush=True)
        print(f"{size}: {time.perf_counter() - t_size:.0f} s", flush=True)
    return out


def run_heldout_v2() -> dict:
    return run_heldout(family="v2")


# ---------------------------------------------------------------- few-shot vs fine-tuning, learning rate tuned
# The same examples, queries and fine-tuning as gptedu.experiments.icl_extras's part "finetune" (whose lr was 1e-3).
FT_TASK, FT_QUERIES, FT_VALIDATION = "insertion", 200, 100
FT_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


def fixed_examples(k: int, seed: int) -> list[tuple[str, str]]:
    """K held-out random-insertion pairs, seeded (gptedu.experiments.icl_extras's fixed_examples)."""
    return word_pairs(FT_TASK, evaluation_words(), k, random.Random(f"finetune/{FT_TASK}/{k}/{seed}"))


def _query_pool() -> list[tuple[str, str]]:
    return word_pairs(FT_TASK, evaluation_words(), FT_QUERIES + 40, random.Random(f"finetune/{FT_TASK}/queries"))


def finetune_queries(examples: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The 200 test queries (gptedu.experiments.icl_extras's queries): words not among the examples'."""
    used = {w for _, w in examples}
    return [p for p in _query_pool() if p[1] not in used][:FT_QUERIES]


def validation_queries(n: int = FT_VALIDATION) -> list[tuple[str, str]]:
    """n queries on held-out words that are neither test queries nor, for any K and seed, examples."""
    used = {w for _, w in _query_pool()}
    for k in (1, 4, 16):
        for seed in (0, 1, 2):
            used |= {w for _, w in fixed_examples(k, seed)}
    pool = [w for w in evaluation_words() if w not in used]
    rng = random.Random(f"finetune/{FT_TASK}/validation")
    return [(random_insertion(w, rng), w) for w in rng.sample(pool, n)]


def _instances(examples, queries) -> list[evaluation.Instance]:
    return [evaluation.Instance(render_prompt(FT_TASK, examples, q, False), render_answer(t)) for q, t in queries]


def finetune_on(model, tokenizer, examples: Sequence[tuple[str, str]], steps: int, lr: float, seed: int = 0):
    """A copy of model fine-tuned on the example lines, each its own zero-shot sequence `input -> output`,
    loss on the answer and newline only: AdamW (0.9, 0.95), no weight decay, gptedu.finetune's linear
    warmup (10%) and decay, full batch (gptedu.experiments.icl_extras's finetune_on, with lr as a parameter)."""
    tuned = copy.deepcopy(model).train()
    rows, targets = [], []
    for src, tgt in examples:
        prompt = tokenizer.encode(render_prompt(FT_TASK, [], src, False))
        answer = tokenizer.encode(render_answer(tgt) + "\n")
        rows.append((prompt + answer)[:-1])
        targets.append([-1] * (len(prompt) - 1) + answer)
    T = max(len(r) for r in rows)
    x = torch.zeros(len(rows), T, dtype=torch.long)
    y = torch.full((len(rows), T), -1, dtype=torch.long)
    for i, (r, t) in enumerate(zip(rows, targets)):
        x[i, :len(r)], y[i, :len(t)] = torch.tensor(r), torch.tensor(t)
    opt = torch.optim.AdamW(tuned.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = linear_warmup_decay(step, steps, lr, 0.1)
            _, loss = tuned(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return tuned.eval(), losses


def _accuracy(model, tokenizer, items) -> float:
    right, _ = evaluation.exact_match_scores(model, tokenizer, items)
    return sum(right) / len(right)


def run_finetune_lr(sizes=("38k", "113k"), ks=(1, 4, 16), seeds=(0, 1, 2), step_counts=(40, 160),
                    lrs=FT_LRS) -> dict:
    val = validation_queries()
    out = {"task": FT_TASK, "lrs": list(lrs), "steps": list(step_counts), "ks": list(ks), "seeds": list(seeds),
           "queries": FT_QUERIES, "validation_queries": len(val), "rows": [], "best": []}
    for name in sizes:
        model, tok = load_family(name)
        for k in ks:
            for seed in seeds:
                examples = fixed_examples(k, seed)
                test = finetune_queries(examples)
                assert not {w for _, w in val} & ({w for _, w in test} | {w for _, w in examples})
                few = _accuracy(model, tok, _instances(examples, test))
                zero = _accuracy(model, tok, _instances([], test))
                for steps in step_counts:
                    for lr in lrs:
                        t0 = time.perf_counter()
                        tuned, losses = finetune_on(model, tok, examples, steps, lr, seed)
                        r = {"size": name, "k": k, "seed": seed, "steps": steps, "lr": lr, "few_shot": few,
                             "zero_shot": zero, "finetuned": _accuracy(tuned, tok, _instances([], test)),
                             "finetuned_validation": _accuracy(tuned, tok, _instances([], val)),
                             "finetuned_few_shot": _accuracy(tuned, tok, _instances(examples, test)),
                             "loss_first": losses[0], "loss_last": losses[-1],
                             "seconds": round(time.perf_counter() - t0, 2)}
                        out["rows"].append(r)
                print(f"{name} K={k} seed {seed}: few-shot {few:.2f}; fine-tuned (lr: " + ", ".join(
                    f"{r['lr']:g} {r['finetuned']:.2f}" for r in out["rows"][-len(lrs):]) + f", {steps} steps)",
                    flush=True)
        for k in ks:
            for steps in step_counts:
                mean = {lr: {what: sum(r[what] for r in out["rows"] if (r["size"], r["k"], r["steps"], r["lr"])
                                       == (name, k, steps, lr)) / len(seeds)
                             for what in ("finetuned", "finetuned_validation", "few_shot", "finetuned_few_shot")}
                        for lr in lrs}
                best = max(lrs, key=lambda lr: (mean[lr]["finetuned_validation"], -lr))  # ties: the smaller lr
                out["best"].append({"size": name, "k": k, "steps": steps, "lr": best,
                                    "finetuned": mean[best]["finetuned"],
                                    "finetuned_validation": mean[best]["finetuned_validation"],
                                    "few_shot": mean[best]["few_shot"],
                                    "finetuned_few_shot": mean[best]["finetuned_few_shot"],
                                    "oracle_finetuned": max(m["finetuned"] for m in mean.values()),
                                    "by_lr": {f"{lr:g}": round(mean[lr]["finetuned"], 4) for lr in lrs}})
    return out


# ---------------------------------------------------------------- main
PARTS = {"heldout": run_heldout, "finetune_lr": run_finetune_lr, "heldout_v2": run_heldout_v2}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=["heldout", "finetune_lr"], choices=list(PARTS),
                   help="heldout_v2: the held-out tasks on family v2 (context 512)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    out = check_output_file(args.out, "--out")  # before the first evaluation, not after it
    torch.set_num_threads(args.threads)
    results = json.loads(out.read_text()) if out.exists() else {}
    settings = results.setdefault("settings", {})
    for part in args.parts:
        t0 = time.perf_counter()
        results[part] = PARTS[part]()
        settings[part] = {"command": "python -m gptedu.experiments.heldout_tasks --parts " + part,
                          "seconds": round(time.perf_counter() - t0, 1), "threads": args.threads,
                          "torch": torch.__version__, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                          "date": time.strftime("%Y-%m-%d")}
        out.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
