"""Downstream tasks built from the shipped data, for zero-shot scoring and fine-tuning.

Every task here is real text with a real answer, drawn reproducibly (a seed) from data
the pretraining never saw: the HELD_OUT_PLAYS and the Rotten Tomatoes reviews.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .data import HELD_OUT_PLAYS, load_play, load_rotten_tomatoes
from .fewshot import choose


@dataclass(frozen=True)
class MultipleChoice:
    """A context, candidate continuations, and the index of the right one."""
    context: str
    choices: tuple[str, ...]
    answer: int


# ------------------------------------------------------------------ next line of a play
def _is_verse_line(line: str) -> bool:
    """A line someone speaks: not blank, not a speaker name ("OTHELLO."), not a stage direction."""
    stripped = line.strip()
    return (20 <= len(stripped) <= 70 and not stripped.startswith(("[", "ACT", "SCENE", "Scene"))
            and not stripped.isupper())


def next_line_task(n: int = 400, plays: Sequence[str] = HELD_OUT_PLAYS, context_chars: int = 200,
                   n_choices: int = 4, seed: int = 0) -> list[MultipleChoice]:
    """Pick the true next line of a play among n_choices lines of the same play.

    The wrong answers come from the same play and have similar length, so neither topic
    nor length gives the answer away: only knowing how verse continues does.
    """
    rng = random.Random(seed)
    examples = []
    per_play = -(-n // len(plays))
    for play in plays:
        text = load_play(play)
        lines = text.split("\n")
        offsets, pos = [], 0  # offsets[i]: where line i starts in text
        for line in lines:
            offsets.append(pos)
            pos += len(line) + 1
        candidates = [i for i, line in enumerate(lines) if _is_verse_line(line) and offsets[i] > context_chars
                      and _is_verse_line(lines[i - 1])]
        for i in rng.sample(candidates, per_play):
            true = lines[i].strip()
            similar = [j for j in candidates if j != i and abs(len(lines[j].strip()) - len(true)) <= 8
                       and lines[j].strip() != true]
            wrong = [lines[j].strip() for j in rng.sample(similar, n_choices - 1)]
            answer = rng.randrange(n_choices)
            choices = wrong[:answer] + [true] + wrong[answer:]
            context = text[offsets[i] - context_chars:offsets[i]]
            examples.append(MultipleChoice(context, tuple(c + "\n" for c in choices), answer))
    rng.shuffle(examples)
    return examples[:n]


# ------------------------------------------------------------------ sentiment, zero-shot
# Typographic characters a Shakespeare-trained character model has never seen, and their ASCII
# equivalents; reviews with any other unseen character are skipped.
ASCII_EQUIVALENTS = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "--", "…": "..."})


def sentiment_task(n: int = 400, charset: str | None = None, prompt: str = " It was very",
                   choices: tuple[str, str] = (" good", " bad"), seed: int = 0) -> list[MultipleChoice]:
    """GPT-1's zero-shot sentiment heuristic (section 5): append a word and compare the model's
    probability of a positive vs a negative continuation. Balanced: n/2 fresh, n/2 rotten reviews.

    choices[0] is the positive continuation; answer 0 means the review is fresh.
    charset: keep only reviews whose characters the tokenizer knows (after ASCII_EQUIVALENTS).
    """
    rng = random.Random(seed)
    reviews = [(text.translate(ASCII_EQUIVALENTS), label) for text, label in load_rotten_tomatoes()]
    if charset is not None:
        known = set(charset)
        reviews = [(text, label) for text, label in reviews if set(text) <= known]
    fresh = [text for text, label in reviews if label == 1]
    rotten = [text for text, label in reviews if label == 0]
    picked = [(t, 0) for t in rng.sample(fresh, n // 2)] + [(t, 1) for t in rng.sample(rotten, n - n // 2)]
    rng.shuffle(picked)
    return [MultipleChoice(text + prompt, tuple(choices), answer) for text, answer in picked]


# ------------------------------------------------------------------ scoring
def zero_shot_accuracy(model: torch.nn.Module, tokenizer, examples: Sequence[MultipleChoice],
                       normalize: bool = True, progress: Callable | None = None) -> tuple[float, list[bool]]:
    """Accuracy of picking the most likely choice, and which examples were right."""
    it = progress(examples) if progress else examples
    correct = [choose(model, tokenizer, ex.context, ex.choices, normalize) == ex.answer for ex in it]
    return sum(correct) / len(correct), correct
