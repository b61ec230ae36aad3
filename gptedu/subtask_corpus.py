"""Sequences with repeated sub-tasks: the pretraining corpus of the course's model family.

GPT-3's explanation of in-context learning (its Fig. 1.1): pretraining sequences contain
*repeated sub-tasks*, the same small task occurring several times within one sequence, and
the model learns to pick the task up from the context. Small-scale studies agree: in-context
learning appears when the data is "bursty" (Chan et al. 2022). Plain Shakespeare at laptop
scale does not produce it, so this corpus adds such sequences, made on the fly by a seeded
generator from words of the training plays, mixed with the training plays' own text:

    word manipulation (GPT-3 section 3.9.2)      mapping (labels fresh in every sequence)
    Remove the symbols from each word.           Give each word its label.
    h/e,a!r;t -> heart                           sword -> kep
    c!r+o*w%n -> crown                           crown -> dax
    n=o.b@l~e -> noble                           sword -> kep

Tasks (TASKS): cycle letters, anagrams A1 (first and last letter kept) and A2 (first two and
last two kept), random insertion (a symbol between every two letters: GPT-3 Fig. 1.2's task),
reversed words, and a mapping whose labels are drawn fresh for every sequence, so that only
the context can tell the answer. Every sequence ("episode") holds several `input -> output`
lines of one task, sometimes preceded by a one-line description.

Evaluation words come from the held-out plays and never occur in the training stream (as
whole words, any case): `evaluation_words()` are the held-out words the training plays lack,
and the generator refuses any input that would spell one. tests/test_subtask_corpus.py checks it.

    >>> corpus = SubtaskCorpus(seed=0)
    >>> text = corpus.stream(100_000)          # ~half tasks, half training-play text
    >>> tok = family_tokenizer(); ids = tok.encode(text)
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterator, Sequence

from .checks import is_real, require_int, require_probability, require_range
from .data import HELD_OUT_PLAYS, load_shakespeare, pretraining_plays
from .tokenizers import CharTokenizer

# The symbols random insertion puts between letters (GPT-3: "random punctuation or space");
# '-' and '>' are left out so the arrow of `input -> output` stays unambiguous.
SYMBOLS = " .,;:!?*/@#+=%~&"
ARROW = " -> "
MIN_LEN, MAX_LEN = 4, 7  # word lengths used by every task (K = 16 insertion lines fit in 512 chars)

DESCRIPTIONS = {
    "cycle": "Put the cycled letters of each word back in order.",
    "anagram1": "Unscramble each word; its first and last letters stay in place.",
    "anagram2": "Unscramble each word; its first two and last two letters stay in place.",
    "insertion": "Remove the symbols from each word.",
    "reversed": "Reverse the letters of each word.",
    "mapping": "Give each word its label.",
}
TASKS = tuple(DESCRIPTIONS)
WORD_TASKS = TASKS[:-1]  # the five of GPT-3 section 3.9.2; "mapping" is the sixth

_CONSONANTS, _VOWELS = "bcdfghjklmnpqrstvwxz", "aeiou"
LABEL_SPACE = len(_CONSONANTS) * len(_VOWELS) * len(_CONSONANTS)  # 2,000 distinct three-letter labels


# ---------------------------------------------------------------- words
def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


@lru_cache(maxsize=1)
def _training_vocabulary() -> frozenset[str]:
    """Every word (lower-cased) of the training stream's own text: the training plays and the descriptions."""
    return frozenset(_words(load_shakespeare(pretraining_plays())) | _words(" ".join(DESCRIPTIONS.values())))


def _usable(word: str) -> bool:
    return MIN_LEN <= len(word) <= MAX_LEN and word.isascii() and word.isalpha() and word.islower()


@lru_cache(maxsize=1)
def training_words() -> tuple[str, ...]:
    """Lower-case words of 4-7 letters from the training plays: what the generator's tasks use."""
    return tuple(sorted(w for w in _training_vocabulary() if _usable(w)))


@lru_cache(maxsize=1)
def evaluation_words() -> tuple[str, ...]:
    """Words of 4-7 letters of the held-out plays that the training plays never use (any case)."""
    held_out = _words(load_shakespeare(list(HELD_OUT_PLAYS)))
    return tuple(sorted(w for w in held_out - _training_vocabulary() if _usable(w)))


@lru_cache(maxsize=1)
def family_tokenizer() -> CharTokenizer:
    """The family's character tokenizer: every character of the 42 works plus the task symbols.

    A byte-level tokenizer is byte-level BPE with zero merges; GPT-3 found that BPE hides
    letters from word-manipulation tasks. About 90 characters keep the embedding small, so
    the compute stays in the blocks (the N of the scaling laws).
    """
    return CharTokenizer("".join(sorted(set(load_shakespeare()) | set(SYMBOLS) | set(ARROW))))


# ---------------------------------------------------------------- the tasks
def _shuffled_middle(word: str, keep: int, rng: random.Random) -> str | None:
    middle = list(word[keep:len(word) - keep])
    if len(set(middle)) < 2:
        return None  # nothing to scramble
    for _ in range(1000):  # a shuffle equals the word with probability <= 1/2: this never runs out in practice
        rng.shuffle(middle)
        out = word[:keep] + "".join(middle) + word[len(word) - keep:]
        if out != word:
            return out
    middle = middle[1:] + middle[:1]  # a bound all the same: rotating >= 2 distinct letters changes the word
    return word[:keep] + "".join(middle) + word[len(word) - keep:]


def cycle_letters(word: str, rng: random.Random) -> str | None:
    """The word rotated by 1..len-1 letters ("lyinevitab" for "inevitably"); None if that is the word."""
    shifts = [k for k in range(1, len(word)) if word[k:] + word[:k] != word]
    if not shifts:
        return None
    k = rng.choice(shifts)
    return word[k:] + word[:k]


def anagram1(word: str, rng: random.Random) -> str | None:
    """All letters but the first and last shuffled (GPT-3's A1)."""
    return _shuffled_middle(word, 1, rng)


def anagram2(word: str, rng: random.Random) -> str | None:
    """All letters but the first two and last two shuffled (GPT-3's A2)."""
    return _shuffled_middle(word, 2, rng)


def random_insertion(word: str, rng: random.Random) -> str:
    """A random symbol (or space) between every two letters: "s.u!c/c;e.s s" (GPT-3's RI)."""
    return word[0] + "".join(rng.choice(SYMBOLS) + ch for ch in word[1:])


def reversed_word(word: str, rng: random.Random) -> str | None:
    """The letters in reverse order; None for a palindrome."""
    out = word[::-1]
    return None if out == word else out


SCRAMBLERS: dict[str, Callable[[str, random.Random], str | None]] = {
    "cycle": cycle_letters, "anagram1": anagram1, "anagram2": anagram2,
    "insertion": random_insertion, "reversed": reversed_word,
}


def new_labels(n: int, rng: random.Random) -> list[str]:
    """n distinct three-letter nonsense labels (consonant-vowel-consonant), drawn fresh.

    There are LABEL_SPACE (2,000) of them: asking for more raises at once instead of drawing forever.
    """
    n = require_int("n", n, minimum=0, maximum=LABEL_SPACE,
                    hint=": there are only that many consonant-vowel-consonant labels")
    labels: list[str] = []
    while len(labels) < n:
        label = rng.choice(_CONSONANTS) + rng.choice(_VOWELS) + rng.choice(_CONSONANTS)
        if label not in labels:
            labels.append(label)
    return labels


# ---------------------------------------------------------------- rendering (shared with gptedu.evaluation)
def render_line(source: str, target: str) -> str:
    return f"{source}{ARROW}{target}\n"


def render_prompt(task: str, examples: Sequence[tuple[str, str]], query: str, description: bool) -> str:
    """Description line (optional), K example lines, then the query "input ->"; the answer is " output"."""
    head = DESCRIPTIONS[task] + "\n" if description else ""
    return head + "".join(render_line(s, t) for s, t in examples) + query + ARROW.rstrip()


def render_answer(target: str) -> str:
    """What follows the prompt: a space and the output (a newline ends it)."""
    return " " + target


# ---------------------------------------------------------------- pairs
def word_pairs(task: str, words: Sequence[str], n: int, rng: random.Random,
               forbidden: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """n (input, output) pairs of a word task, distinct words; an input that spells a forbidden word is redrawn."""
    scramble = SCRAMBLERS[task]
    distinct = len(set(words))
    n = require_int("n", n, minimum=0, maximum=distinct,
                    hint=f": each pair needs a different word and there are {distinct:,} words")
    pairs: list[tuple[str, str]] = []
    used: set[str] = set()
    tries = 0
    while len(pairs) < n:
        tries += 1
        if tries > 100 * n + 1000:
            raise RuntimeError(f"could not draw {n} {task} pairs from {len(words)} words")
        word = rng.choice(words)
        if word in used:
            continue
        source = scramble(word, rng)
        if source is None or any(w in forbidden for w in _words(source)):
            continue
        used.add(word)
        pairs.append((source, word))
    return pairs


def mapping_pairs(words: Sequence[str], n_words: int, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """n lines of one fresh mapping: n_words distinct words, each with a new label, drawn with replacement."""
    keys = rng.sample(list(words), n_words)
    table = dict(zip(keys, new_labels(n_words, rng)))
    return [(w, table[w]) for w in (rng.choice(keys) for _ in range(n))]


# ---------------------------------------------------------------- the generator
MAPPING_WEIGHT = 5.0  # the mapping is the task only the context can answer: the copy signal
MAX_EXAMPLES = 1000  # lines per episode: far more than any context here holds (and distinct words run out)
MAX_TEXT_CHARS = 1_000_000  # a natural-text chunk


@dataclass
class CorpusConfig:
    """The knobs the pilot turns (Chan et al. 2022; Reddy 2023): how much task data, how bursty."""
    # The defaults are the family's corpus: the probe "p4" (data/results/family_probe.json) that
    # first showed in-context copying at 113k within the family's 8M tokens.
    task_fraction: float = 0.8  # share of characters in task episodes; the rest is training-play text
    tasks: tuple[str, ...] = TASKS
    task_weights: tuple[float, ...] | None = None  # None: mapping 5, every other task 1 (mapping: half)
    description_prob: float = 0.5  # an episode opens with its task's one-line description
    examples: tuple[int, int] = (8, 32)  # lines per episode, uniform in [lo, hi]
    mapping_words: tuple[int, int] = (2, 5)  # distinct words in one mapping episode
    text_chars: tuple[int, int] = (200, 1200)  # length of a natural-text chunk

    def weights(self) -> list[float]:
        """Each task's sampling weight: task_weights, or by default MAPPING_WEIGHT for the mapping, 1 for the rest."""
        if self.task_weights is not None:
            return list(self.task_weights)
        return [MAPPING_WEIGHT if t == "mapping" else 1.0 for t in self.tasks]

    def validate(self) -> None:
        """Check every field; a ValueError names the field, the value and what is allowed."""
        if not (is_real(self.task_fraction) and 0.0 <= self.task_fraction <= 1.0):
            raise ValueError(f"task_fraction={self.task_fraction!r} must be in [0, 1].")
        require_probability("description_prob", self.description_prob, hint=" (the share of episodes that "
                            "open with their task's description)")
        if isinstance(self.tasks, str):
            raise ValueError(f"tasks={self.tasks!r} is one string; pass a tuple of task names, e.g. ({self.tasks!r},).")
        if not isinstance(self.tasks, (tuple, list)):
            raise ValueError(f"tasks={self.tasks!r} must be a tuple of task names from {TASKS}.")
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ValueError(f"tasks={self.tasks!r}: each must be one of {TASKS}"
                             + (f"; unknown: {unknown}." if unknown else " (at least one)."))
        if self.task_weights is not None:
            weights = list(self.task_weights) if isinstance(self.task_weights, (tuple, list)) else None
            if weights is None or len(weights) != len(self.tasks):
                raise ValueError(f"task_weights={self.task_weights!r} needs one weight per task "
                                 f"({len(self.tasks)}: {', '.join(self.tasks)}), or None.")
            for task, weight in zip(self.tasks, weights):
                require_range(f"the weight of {task!r} in task_weights", weight, 0.0, float("inf"),
                              high_open=True)
            if not sum(weights) > 0:
                raise ValueError(f"task_weights={self.task_weights!r} are all zero: at least one task needs a "
                                 f"weight > 0.")
        limits = {"examples": MAX_EXAMPLES, "mapping_words": LABEL_SPACE, "text_chars": MAX_TEXT_CHARS}
        for name, limit in limits.items():
            pair = getattr(self, name)
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise ValueError(f"{name}={pair!r} must be (lo, hi) with 1 <= lo <= hi <= {limit:,}.")
            lo, hi = (require_int(f"{name}[{i}]", v, maximum=limit) for i, v in enumerate(pair))
            if not lo <= hi:
                raise ValueError(f"{name}={tuple(pair)!r} must be (lo, hi) with 1 <= lo <= hi <= {limit:,}.")


@dataclass
class SubtaskCorpus:
    """A seeded, endless stream of task episodes and training-play text chunks.

    The same seed and config give the same text; `stream(n)` gives the first n characters.
    """
    seed: int = 0
    config: CorpusConfig = field(default_factory=CorpusConfig)

    def __post_init__(self) -> None:
        self.config.validate()
        self.words = training_words()
        self.forbidden = frozenset(evaluation_words())
        self.text = load_shakespeare(pretraining_plays())
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]

    def episode(self, rng: random.Random) -> str:
        cfg = self.config
        task = rng.choices(cfg.tasks, weights=cfg.weights())[0]
        n = rng.randint(*cfg.examples)
        if task == "mapping":
            pairs = mapping_pairs(self.words, rng.randint(*cfg.mapping_words), n, rng)
        else:
            pairs = word_pairs(task, self.words, n, rng, self.forbidden)
        head = DESCRIPTIONS[task] + "\n" if rng.random() < cfg.description_prob else ""
        return head + "".join(render_line(s, t) for s, t in pairs)

    def text_chunk(self, rng: random.Random) -> str:
        """Whole lines of the training plays, from a random line on, about text_chars long."""
        start = self._line_starts[rng.randrange(len(self._line_starts) - 1)]
        end = self.text.find("\n", start + rng.randint(*self.config.text_chars))
        return self.text[start:end if end != -1 else len(self.text)].strip("\n") + "\n"

    def segments(self) -> Iterator[tuple[str, str]]:
        """Endless (kind, text) pairs, kind "task" or "text", each followed by a blank line.

        The kind of the next segment keeps the task share of characters near task_fraction.
        """
        rng = random.Random(self.seed)
        chars = {"task": 0, "text": 0}
        frac = self.config.task_fraction
        while True:
            total = chars["task"] + chars["text"]
            if frac >= 1.0:
                kind = "task"
            elif frac <= 0.0:
                kind = "text"
            else:  # a coin weighted towards the kind that is behind
                share = chars["task"] / total if total else frac
                kind = "task" if rng.random() < min(1.0, max(0.0, frac + 2 * (frac - share))) else "text"
            seg = (self.episode(rng) if kind == "task" else self.text_chunk(rng)) + "\n"
            chars[kind] += len(seg)
            yield kind, seg

    def stream(self, n_chars: int) -> str:
        """The first n_chars characters of the stream."""
        parts, size = [], 0
        for _, seg in self.segments():
            parts.append(seg)
            size += len(seg)
            if size >= n_chars:
                break
        return "".join(parts)[:n_chars]


def words_in(text: str) -> set[str]:
    """The lower-cased whole words of a text (runs of letters): what the leakage test compares."""
    return _words(text)
