"""Rule tasks with a fresh parameter in every episode: answers that must be inferred, not copied.

The first family's stream had six fixed tasks, and its "in-context learning" turned out to be
task recognition plus copying a line of the prompt (chapter 10). Below a threshold of task
diversity a transformer memorises its pretraining tasks; above it, it learns to infer a new
task from the examples (Raventós et al. 2023; Kirsch et al. 2022). Here every episode draws a
rule *and* a fresh parameter, and no query word is among its examples, so the answer is
nowhere in the prompt: the model must work out what was done to the words.

    append (c = "k")             double a letter (p = 2)         first letters (n = 3)
    sword -> swordk              sword -> swword                 sword -> swo
    crown -> crownk              crown -> crrown                 crown -> cro

Held out by construction (never in any training episode):
    HELD_OUT_FAMILIES   whole rules (e.g. insert the letter before the last one)
    HELD_OUT_LETTERS    letter parameters no training episode uses
    FORMATS             separators and letter case other than the trained `word -> output`
    words               the held-out plays' words (gptedu.subtask_corpus.evaluation_words)

    >>> stream = RuleCorpus(seed=0).stream(100_000)       # rules, GPT-3 word tasks and play text
    >>> items = rule_instances("append", k=4, n=200)      # held-out words, training letters
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from .checks import require_bool, require_int
from .evaluation import MAX_N, Instance
from .subtask_corpus import (ARROW, CorpusConfig, SubtaskCorpus, WORD_TASKS, evaluation_words,
                             training_words)

LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOWELS = "aeiou"
HELD_OUT_LETTERS = "jqxz"  # no training episode uses these as a rule's parameter
TRAIN_LETTERS = "".join(c for c in LETTERS if c not in HELD_OUT_LETTERS)


@dataclass(frozen=True)
class Rule:
    """A family of rules: `apply(word, parameter)` for each parameter in `parameters` (None: no output)."""
    name: str
    kind: str  # "letter" (the parameter is a letter) or "position" (a number)
    apply: Callable[[str, object], str | None]
    positions: tuple[int, ...] = ()

    def parameters(self, held_out: bool = False) -> tuple:
        if self.kind == "position":
            return self.positions
        return tuple(HELD_OUT_LETTERS if held_out else TRAIN_LETTERS)


def _changed(word: str, out: str) -> str | None:
    return None if out == word else out


RULES: dict[str, Rule] = {r.name: r for r in [
    Rule("append", "letter", lambda w, c: w + c),
    Rule("prepend", "letter", lambda w, c: c + w),
    Rule("replace_first", "letter", lambda w, c: _changed(w, c + w[1:])),
    Rule("replace_last", "letter", lambda w, c: _changed(w, w[:-1] + c)),
    Rule("insert_second", "letter", lambda w, c: w[0] + c + w[1:]),
    Rule("append_twice", "letter", lambda w, c: w + c + c),
    Rule("vowels_to", "letter", lambda w, c: _changed(w, "".join(c if ch in VOWELS else ch for ch in w))),
    Rule("double_at", "position", lambda w, p: w[:p] + w[p - 1] + w[p:], positions=(1, 2, 3)),
    Rule("drop_at", "position", lambda w, p: w[:p - 1] + w[p:], positions=(1, 2, 3, 4)),
    Rule("first_n", "position", lambda w, n: w[:n], positions=(2, 3, 4)),
    # held out: no training episode uses these two families
    Rule("insert_before_last", "letter", lambda w, c: w[:-1] + c + w[-1]),
    Rule("surround", "letter", lambda w, c: c + w + c),
]}
HELD_OUT_FAMILIES = ("insert_before_last", "surround")
TRAIN_FAMILIES = tuple(name for name in RULES if name not in HELD_OUT_FAMILIES)


@dataclass(frozen=True)
class Format:
    """How a line is written: `<input><sep><output>`; upper=True writes both in capitals."""
    name: str
    sep: str = ARROW
    upper: bool = False

    def line(self, source: str, target: str) -> str:
        return self.prompt(source) + self.answer(target) + "\n"

    def prompt(self, source: str) -> str:
        return (source.upper() if self.upper else source) + self.sep.rstrip()

    def answer(self, target: str) -> str:
        return " " + (target.upper() if self.upper else target)


TRAINED_FORMAT = Format("arrow")
FORMATS = {f.name: f for f in [TRAINED_FORMAT, Format("colon", ": "), Format("equals", " = "),
                               Format("arrow_upper", ARROW, upper=True)]}


def rule_pairs(rule: str, parameter, words: Sequence[str], n: int, rng: random.Random,
               forbidden: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """n (input, output) pairs of one rule with one parameter, n distinct words; no output is a forbidden word."""
    spec = RULES[rule]
    pairs: list[tuple[str, str]] = []
    pool = list(words)
    rng.shuffle(pool)
    for word in pool:
        out = spec.apply(word, parameter)
        if out is not None and out not in forbidden:
            pairs.append((word, out))
            if len(pairs) == n:
                return pairs
    raise ValueError(f"only {len(pairs)} of {len(words)} words give a {rule}({parameter!r}) output; asked for {n}")


# ---------------------------------------------------------------- the training stream
@dataclass
class RuleStreamConfig:
    """What the rule stream holds: the share of each kind of segment and which rules and parameters.

    n_parameters limits the stream to that many distinct (rule, parameter) tasks (the task-diversity
    transition, Raventós et al. 2023); None draws a fresh parameter every episode (unbounded).
    """
    rule_fraction: float = 0.5  # share of characters in rule episodes
    word_task_fraction: float = 0.2  # in GPT-3 word-task episodes (gptedu.subtask_corpus); the rest is play text
    families: tuple[str, ...] = TRAIN_FAMILIES
    examples: tuple[int, int] = (4, 20)  # lines per rule episode
    n_parameters: int | None = None
    task_seed: int = 0  # picks the n_parameters tasks when the stream is limited

    def validate(self) -> None:
        if not (0 <= self.rule_fraction and 0 <= self.word_task_fraction
                and self.rule_fraction + self.word_task_fraction <= 1):
            raise ValueError(f"rule_fraction={self.rule_fraction!r} and word_task_fraction="
                             f"{self.word_task_fraction!r} must be >= 0 and add up to at most 1.")
        unknown = [f for f in self.families if f not in RULES]
        held = [f for f in self.families if f in HELD_OUT_FAMILIES]
        if unknown or held or not self.families:
            raise ValueError(f"families={self.families!r}: each must be one of {TRAIN_FAMILIES} "
                             f"({'held out: ' + ', '.join(held) if held else 'unknown: ' + ', '.join(unknown)}).")
        lo, hi = self.examples
        if not 2 <= lo <= hi:
            raise ValueError(f"examples={self.examples!r} must be (lo, hi) with 2 <= lo <= hi.")
        if self.n_parameters is not None and self.n_parameters < 1:
            raise ValueError(f"n_parameters={self.n_parameters!r} must be a positive int or None.")

    def tasks(self) -> list[tuple[str, object]]:
        """Every (rule, parameter) the stream may use; a fixed random subset when n_parameters is set."""
        every = [(f, p) for f in self.families for p in RULES[f].parameters()]
        if self.n_parameters is None or self.n_parameters >= len(every):
            return every
        return random.Random(self.task_seed).sample(every, self.n_parameters)


@dataclass
class RuleCorpus:
    """A seeded, endless stream of rule episodes, GPT-3 word-task episodes and training-play text."""
    seed: int = 0
    config: RuleStreamConfig = field(default_factory=RuleStreamConfig)

    def __post_init__(self) -> None:
        self.config.validate()
        self.words = training_words()
        self.forbidden = frozenset(evaluation_words())  # an output must not spell a held-out word
        self._tasks = self.config.tasks()
        # the GPT-3 word tasks and the play text come from the first family's generator
        self._subtasks = SubtaskCorpus(self.seed, CorpusConfig(task_fraction=1.0, tasks=WORD_TASKS))

    def rule_episode(self, rng: random.Random) -> str:
        rule, parameter = rng.choice(self._tasks)
        pairs = rule_pairs(rule, parameter, self.words, rng.randint(*self.config.examples), rng, self.forbidden)
        return "".join(TRAINED_FORMAT.line(s, t) for s, t in pairs)

    def segments(self) -> Iterator[tuple[str, str]]:
        """Endless (kind, text) pairs, kind "rule", "word_task" or "text", each ending in a blank line.

        The kind of the next segment keeps each kind's share of characters near its fraction.
        """
        rng = random.Random(self.seed)
        cfg = self.config
        target = {"rule": cfg.rule_fraction, "word_task": cfg.word_task_fraction,
                  "text": 1.0 - cfg.rule_fraction - cfg.word_task_fraction}
        chars = dict.fromkeys(target, 0)
        make = {"rule": self.rule_episode, "word_task": self._subtasks.episode, "text": self._subtasks.text_chunk}
        while True:
            total = sum(chars.values())
            # a die weighted towards the kinds that are behind their share
            weights = [max(0.0, f + 8 * (f - (chars[k] / total if total else f))) if f > 0 else 0.0
                       for k, f in target.items()]
            kind = rng.choices(list(target), weights=weights)[0]
            seg = make[kind](rng) + "\n"
            chars[kind] += len(seg)
            yield kind, seg

    def stream(self, n_chars: int) -> str:
        parts, size = [], 0
        for _, seg in self.segments():
            parts.append(seg)
            size += len(seg)
            if size >= n_chars:
                break
        return "".join(parts)[:n_chars]


# ---------------------------------------------------------------- evaluation
def rule_instances(rule: str, k: int, n: int, *, held_out_parameters: bool = False,
                   fmt: str = "arrow", seed: int = 0) -> list[Instance]:
    """n prompts of K examples and a query, all on held-out words; the query is never an example.

    held_out_parameters=True draws the letter from HELD_OUT_LETTERS (letter rules only).
    """
    if rule not in RULES:
        raise ValueError(f"No rule {rule!r}; the rules are {', '.join(RULES)}.")
    if fmt not in FORMATS:
        raise ValueError(f"No format {fmt!r}; the formats are {', '.join(FORMATS)}.")
    spec, style = RULES[rule], FORMATS[fmt]
    # As gptedu.evaluation.instances: held_out_parameters="no" would draw the held-out letters, n=-2 return [].
    k = require_int("k", k, minimum=0, hint=" (examples in the prompt; 0: zero-shot)")
    n = require_int("n", n, minimum=1, maximum=MAX_N, hint=" (instances)")
    held_out_parameters = require_bool("held_out_parameters", held_out_parameters)
    seed = require_int("seed", seed, minimum=None)
    if held_out_parameters and spec.kind != "letter":
        raise ValueError(f"{rule!r} takes a position: only letter rules have held-out parameters.")
    rng = random.Random(f"{rule}/{k}/{seed}/{held_out_parameters}/{fmt}")
    words, params = evaluation_words(), spec.parameters(held_out_parameters)
    items = []
    for _ in range(n):
        pairs = rule_pairs(rule, rng.choice(params), words, k + 1, rng)
        *examples, (query, answer) = pairs
        items.append(Instance("".join(style.line(s, t) for s, t in examples) + style.prompt(query),
                              style.answer(answer)))
    return items


def copier_ceiling(items: Sequence[Instance]) -> float:
    """Share of instances whose answer is written whole in the prompt (what copying a line could score)."""
    return sum(inst.answer.strip() in inst.prompt.split() for inst in items) / len(items) if items else 0.0
