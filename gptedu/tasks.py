"""Downstream tasks built from the shipped data, for zero-shot scoring and fine-tuning.

Every task here is real text with a real answer, drawn reproducibly (a seed) from data
the pretraining never saw: the HELD_OUT_PLAYS and the Rotten Tomatoes reviews.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .data import HELD_OUT_PLAYS, load_play, load_rotten_tomatoes
from .fewshot import choice_logprobs


@dataclass(frozen=True)
class MultipleChoice:
    """A context, candidate continuations, and the index of the right one.

    calibration: a content-free context (e.g. just the prompt). When set, a choice is scored
    by how much MORE likely the real context makes it: log P(choice | context) minus
    log P(choice | calibration). GPT-3 (section 2.4) scores some tasks this way, "normalizing
    by the unconditional probability of each completion": otherwise a model that simply
    likes " good" more than " bad", or common words more than rare ones, answers the same
    whatever the context says.
    """
    context: str
    choices: tuple[str, ...]
    answer: int
    calibration: str | None = None


def _check_count(value: object, name: str, at_least: int = 1) -> None:
    """A whole number >= at_least (a bool is not one), or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least:
        what = "a positive integer" if at_least == 1 else f"an integer >= {at_least}"
        raise ValueError(f"{name}={value!r} must be {what}.")


# ------------------------------------------------------------------ next line of a play
def _is_verse_line(line: str) -> bool:
    """A line someone speaks: not blank, not a speaker name ("OTHELLO."), not a stage direction."""
    stripped = line.strip()
    return (20 <= len(stripped) <= 70 and not stripped.startswith(("[", "ACT", "SCENE", "Scene"))
            and not stripped.isupper())


def _lines_and_offsets(text: str) -> tuple[list[str], list[int]]:
    """The text's lines, and where each line starts in the text."""
    lines = text.split("\n")
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    return lines, offsets


def _similar_lines(lines: list[str], verse: list[int], i: int, avoid: set[int], tolerance: int = 8) -> list[int]:
    """Verse lines of similar length to line i, other than those in `avoid` and any with the same text."""
    true = lines[i].strip()
    return [j for j in verse if j not in avoid and abs(len(lines[j].strip()) - len(true)) <= tolerance
            and lines[j].strip() != true]


def next_line_task(n: int = 400, plays: Sequence[str] = HELD_OUT_PLAYS, context_chars: int = 200,
                   n_choices: int = 4, seed: int = 0) -> list[MultipleChoice]:
    """Pick the true next line of a play among n_choices lines of the same play.

    The wrong answers come from the same play and have similar length, so neither topic
    nor length gives the answer away: only knowing how verse continues does.
    """
    _check_count(n, "n")
    _check_count(n_choices, "n_choices", at_least=2)
    rng = random.Random(seed)
    examples = []
    per_play = -(-n // len(plays))
    for play in plays:
        text = load_play(play)
        lines, offsets = _lines_and_offsets(text)
        candidates = [i for i, line in enumerate(lines) if _is_verse_line(line) and offsets[i] > context_chars
                      and _is_verse_line(lines[i - 1])]
        for i in rng.sample(candidates, per_play):
            similar = _similar_lines(lines, candidates, i, avoid={i})
            wrong = [lines[j].strip() for j in rng.sample(similar, n_choices - 1)]
            answer = rng.randrange(n_choices)
            choices = wrong[:answer] + [lines[i].strip()] + wrong[answer:]
            context = text[offsets[i] - context_chars:offsets[i]]
            examples.append(MultipleChoice(context, tuple(c + "\n" for c in choices), answer, calibration="\n"))
    rng.shuffle(examples)
    return examples[:n]


# ------------------------------------------------------------------ sentiment, zero-shot
# Typographic characters a Shakespeare-trained character model has never seen, and their ASCII
# equivalents; reviews with any other unseen character are skipped.
ASCII_EQUIVALENTS = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "--", "…": "..."})


@dataclass(frozen=True)
class SentimentHeuristic:
    """A zero-shot sentiment rule: append `prompt` to the review, then compare the model's
    probability of choices[0] (positive) and choices[1] (negative). calibrated: score each
    choice by log P(choice | review + prompt) - log P(choice | prompt) (choice_scores)."""
    prompt: str
    choices: tuple[str, str]
    calibrated: bool
    description: str


SENTIMENT_HEURISTICS = {
    # GPT-1 section 5: "For SST-2, we append the token very to each example and restrict the language
    # model's output distribution to only the words positive and negative and guess the token it assigns
    # higher probability to as the prediction." No calibration. For a character model a word is several
    # tokens: " positive" and " negative" are both 9 characters, so the mean log-probability per character
    # that choice_scores uses ranks them exactly as their probabilities do.
    "paper": SentimentHeuristic(" very", (" positive", " negative"), False,
                                "GPT-1 section 5: review + ' very' -> P(' positive') vs P(' negative')"),
    # The course's variant (used for data/results/gpt1_zeroshot_sweep.json): a more natural sentence for a
    # model of plain text, scored against the content-free prompt (GPT-3 section 2.4). Not the paper's rule.
    "it_was_very": SentimentHeuristic(" It was very", (" good", " bad"), True,
                                      "variant: review + ' It was very' -> ' good' vs ' bad', calibrated"),
}


def sentiment_task(n: int = 400, charset: str | None = None, heuristic: str = "paper", seed: int = 0, *,
                   prompt: str | None = None, choices: tuple[str, str] | None = None,
                   calibrated: bool | None = None) -> list[MultipleChoice]:
    """Zero-shot sentiment on Rotten Tomatoes reviews; balanced: n//2 fresh, the rest rotten.

    heuristic: a key of SENTIMENT_HEURISTICS.
      "paper" (default) is GPT-1's rule (section 5): append " very" to the review and guess whichever
        of " positive" / " negative" the model finds more likely (plain probabilities, no calibration).
      "it_was_very" is the course's variant, not the paper's: append " It was very" and compare
        " good" with " bad", each scored against the content-free prompt (calibration). The shipped
        data/results/gpt1_zeroshot_sweep.json was computed with it.
    prompt, choices, calibrated: override the heuristic's (choices: two continuations, positive first).

    choices[0] is the positive continuation: answer 0 means the review is fresh. The reviews drawn
    depend only on n, charset and seed, not on the heuristic, so heuristics compare on the same reviews.
    charset: keep only reviews whose characters the tokenizer knows (after ASCII_EQUIVALENTS).
    """
    _check_count(n, "n")
    if heuristic not in SENTIMENT_HEURISTICS:
        raise ValueError(f"heuristic={heuristic!r} is not one of {', '.join(map(repr, SENTIMENT_HEURISTICS))}.")
    rule = SENTIMENT_HEURISTICS[heuristic]
    prompt = rule.prompt if prompt is None else prompt
    choices = rule.choices if choices is None else choices
    calibrated = rule.calibrated if calibrated is None else calibrated
    if isinstance(choices, str) or len(choices) != 2:
        raise ValueError(f"choices={choices!r} must be two continuations, positive first: e.g. (' good', ' bad').")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt={prompt!r} must be a non-empty string appended to each review, e.g. ' very'.")
    rng = random.Random(seed)
    reviews = [(text.translate(ASCII_EQUIVALENTS), label) for text, label in load_rotten_tomatoes()]
    if charset is not None:
        known = set(charset)
        reviews = [(text, label) for text, label in reviews if set(text) <= known]
    fresh = [text for text, label in reviews if label == 1]
    rotten = [text for text, label in reviews if label == 0]
    picked = [(t, 0) for t in rng.sample(fresh, n // 2)] + [(t, 1) for t in rng.sample(rotten, n - n // 2)]
    rng.shuffle(picked)
    return [MultipleChoice(text + prompt, tuple(choices), answer, calibration=prompt if calibrated else None)
            for text, answer in picked]


# ------------------------------------------------------------------ scoring
def choice_scores(model: torch.nn.Module, tokenizer, example: MultipleChoice) -> torch.Tensor:
    """One score per choice: calibrated log-probability if the example has a calibration context,
    else the mean log-probability per token."""
    if example.calibration is None:
        return choice_logprobs(model, tokenizer, example.context, example.choices)
    conditional = choice_logprobs(model, tokenizer, example.context, example.choices, normalize=False)
    unconditional = choice_logprobs(model, tokenizer, example.calibration, example.choices, normalize=False)
    return conditional - unconditional


def zero_shot_accuracy(model: torch.nn.Module, tokenizer, examples: Sequence[MultipleChoice],
                       progress: Callable | None = None) -> tuple[float, list[bool]]:
    """Accuracy of picking the highest-scoring choice (choice_scores), and which examples were right."""
    if not examples:
        raise ValueError("examples is empty: give at least one MultipleChoice, e.g. next_line_task(n=100).")
    it = progress(examples) if progress else examples
    correct = [int(choice_scores(model, tokenizer, ex).argmax()) == ex.answer for ex in it]
    return sum(correct) / len(correct), correct


# ================================================================== fine-tuning tasks (chapter 06)
# Labelled examples with disjoint train and test splits, fixed by the data and not by the seed:
# the seed only picks which examples of a split you get, so no seed can leak test text into training.
SPLITS = ("train", "test")


@dataclass(frozen=True)
class LabelledText:
    """A text and its class (classification)."""
    text: str
    label: int


@dataclass(frozen=True)
class TextPair:
    """Two texts and a class: entailment (first = premise, second = hypothesis) or similarity."""
    first: str
    second: str
    label: int


def _check_split(split: str, n: int) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {', '.join(map(repr, SPLITS))}.")
    _check_count(n, "n")


def _too_few(what: str, n: int, available: int, split: str) -> ValueError:
    return ValueError(f"asked for {n} {what} but the {split} split has only {available}; ask for fewer.")


# ------------------------------------------------------------------ sentiment, fine-tuned
SENTIMENT_TEST_SHARE = 5  # one review in 5 is in the test split


def _sentiment_split(text: str) -> str:
    """'test' for a fixed fifth of the reviews, chosen by a hash of the text (stable across runs,
    platforms and Python's hash seed); identical snippets therefore always land on the same side."""
    return "test" if int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % SENTIMENT_TEST_SHARE == 0 else "train"


def sentiment_examples(n: int = 2000, split: str = "train", seed: int = 0, charset: str | None = None,
                       max_chars: int | None = None) -> list[LabelledText]:
    """Rotten Tomatoes snippets labelled 1 (fresh) or 0 (rotten), balanced: n // 2 rotten, the rest fresh.

    The train and test splits are disjoint (a fixed fifth of the distinct snippets is test; a
    snippet that appears with both labels is dropped). charset: keep only snippets whose characters
    the tokenizer knows, after ASCII_EQUIVALENTS; max_chars: keep only snippets this short.
    """
    _check_split(split, n)
    labels: dict[str, set[int]] = {}
    for text, label in load_rotten_tomatoes():
        labels.setdefault(text.translate(ASCII_EQUIVALENTS), set()).add(label)
    known = set(charset) if charset is not None else None
    pool: dict[int, list[str]] = {0: [], 1: []}
    for text, seen in labels.items():  # insertion order: the file's order, so the pool is reproducible
        if (len(seen) == 1 and _sentiment_split(text) == split and (known is None or set(text) <= known)
                and (max_chars is None or len(text) <= max_chars)):
            pool[seen.pop()].append(text)
    rng = random.Random(seed)
    want = {0: n // 2, 1: n - n // 2}
    for label, k in want.items():
        if k > len(pool[label]):
            raise _too_few(f"{'fresh' if label else 'rotten'} reviews", k, len(pool[label]), split)
    picked = [LabelledText(t, label) for label, k in want.items() for t in rng.sample(pool[label], k)]
    rng.shuffle(picked)
    return picked


# ------------------------------------------------------------------ tasks from the held-out plays
TRAIN_SHARE = 0.75  # train examples come from the first three quarters of each play, test from the rest


class _Region(NamedTuple):
    """One split of a play: its whole text and lines, where each line starts, the line numbers
    lo..hi-1 of the split, and the spoken (verse) lines among them."""
    text: str
    lines: list[str]
    offsets: list[int]
    lo: int
    hi: int
    verse: list[int]


def _play_region(play: str, split: str) -> _Region:
    """The part of `play` that belongs to `split` (the cast list before ACT I belongs to neither)."""
    text = load_play(play)
    lines, offsets = _lines_and_offsets(text)
    start = next((i for i, line in enumerate(lines) if line.startswith("ACT")), 0)  # skip the cast list
    cut = start + int((len(lines) - start) * TRAIN_SHARE)
    lo, hi = (start, cut) if split == "train" else (cut, len(lines))
    return _Region(text, lines, offsets, lo, hi, [i for i in range(lo, hi) if _is_verse_line(lines[i])])


def _sample_lines(plays: Sequence[str], split: str, n: int, rng: random.Random,
                  usable: Callable[[_Region, int], bool]) -> Iterator[tuple[_Region, int]]:
    """ceil(n / len(plays)) spoken lines of each play's `split`, drawn by `rng` among those `usable`
    accepts, as (region, line number). Lazy: the caller's own draws between lines keep their order."""
    per_play = -(-n // len(plays))
    for play in plays:
        region = _play_region(play, split)
        candidates = [i for i in region.verse if usable(region, i)]
        if per_play > len(candidates):
            raise _too_few(f"examples from {play}", per_play, len(candidates), split)
        for i in rng.sample(candidates, per_play):
            yield region, i


def line_follows_examples(n: int = 2000, split: str = "train", seed: int = 0,
                          plays: Sequence[str] = HELD_OUT_PLAYS, context_lines: int = 1) -> list[TextPair]:
    """Entailment: does line B (second) follow line A (first)? Label 1 if it does, 0 if not; balanced.

    Positives pair a spoken line with the line after it in the same speech. Negatives pair it
    with another spoken line of the same play and part, of similar length (within 8 characters),
    so neither topic nor length gives the answer away. context_lines: how many lines of the speech
    form the premise (1: just line A). Train uses the first 3/4 of each play, test the last 1/4.
    """
    _check_split(split, n)
    _check_count(context_lines, "context_lines")
    def usable(region: _Region, i: int) -> bool:  # the context_lines before line i are spoken lines of the split
        return i - context_lines >= region.lo and all(_is_verse_line(region.lines[j])
                                                      for j in range(i - context_lines, i))

    rng = random.Random(seed)
    examples = []
    for (_, lines, _, _, _, verse), i in _sample_lines(plays, split, n, rng, usable):
        premise = "\n".join(lines[j].strip() for j in range(i - context_lines, i))
        label = len(examples) % 2  # alternate across plays too, so small n stays balanced
        second = i
        if label == 0:
            second = rng.choice(_similar_lines(lines, verse, i, avoid=set(range(i - context_lines, i + 1))))
        examples.append(TextPair(premise, lines[second].strip(), label))
    rng.shuffle(examples)
    negatives = [ex for ex in examples if ex.label == 0][:n // 2]
    positives = [ex for ex in examples if ex.label == 1][:n - n // 2]
    if len(negatives) + len(positives) < n:  # per_play odd and every play short by one
        raise _too_few("balanced examples", n, len(negatives) + len(positives), split)
    balanced = negatives + positives
    rng.shuffle(balanced)
    return balanced


def next_line_choice_examples(n: int = 2000, split: str = "train", seed: int = 0,
                              plays: Sequence[str] = HELD_OUT_PLAYS, context_chars: int = 100,
                              n_choices: int = 4) -> list[MultipleChoice]:
    """Multiple choice: the true next line among n_choices lines of the same play and part.

    As next_line_task, but with a train and a test split (the first 3/4 and the last 1/4 of each
    play, contexts included, so no test text appears in training) and choices without the newline.
    """
    _check_split(split, n)
    _check_count(n_choices, "n_choices", at_least=2)
    def usable(region: _Region, i: int) -> bool:  # a whole context inside the split, after a spoken line
        return (region.offsets[i] - context_chars >= region.offsets[region.lo]
                and _is_verse_line(region.lines[i - 1]))

    rng = random.Random(seed)
    examples = []
    for (text, lines, offsets, _, _, verse), i in _sample_lines(plays, split, n, rng, usable):
        wrong = [lines[j].strip() for j in rng.sample(_similar_lines(lines, verse, i, avoid={i}), n_choices - 1)]
        answer = rng.randrange(n_choices)
        choices = wrong[:answer] + [lines[i].strip()] + wrong[answer:]
        examples.append(MultipleChoice(text[offsets[i] - context_chars:offsets[i]], tuple(choices), answer))
    rng.shuffle(examples)
    return examples[:n]


# ------------------------------------------------------------------ fine-tuning tasks, by name
@dataclass(frozen=True)
class FinetuneTask:
    """A downstream task: its name, a title for plots, GPT-1's input form for it
    (a GPTClassifier task), and the accuracy of guessing."""
    name: str
    title: str
    form: str
    chance: float


FINETUNE_TASKS = {task.name: task for task in (
    FinetuneTask("sentiment", "Rotten Tomatoes sentiment", "classification", 0.5),
    FinetuneTask("line_follows", "Does line B follow line A? (held-out plays)", "entailment", 0.5),
    FinetuneTask("next_line", "The next line, among 4 (held-out plays)", "multiple_choice", 0.25),
)}


def finetune_examples(task: str, n: int, split: str = "train", seed: int = 0, tokenizer=None,
                      block_size: int | None = None) -> list:
    """n examples of a FINETUNE_TASKS task from its train or test split.

    For sentiment, `tokenizer` (a CharTokenizer) and `block_size` keep only the reviews the model
    can read whole: every character known, [<s>; text; <e>] within block_size.
    """
    if task not in FINETUNE_TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(map(repr, FINETUNE_TASKS))}.")
    if task == "sentiment":
        return sentiment_examples(n, split, seed=seed, charset=getattr(tokenizer, "chars", None),
                                  max_chars=None if block_size is None else block_size - 2)
    if task == "line_follows":
        return line_follows_examples(n, split, seed=seed)
    return next_line_choice_examples(n, split, seed=seed)
