"""Natural-text zero-shot tasks from the held-out plays (chapter 08, GPT-2's Fig. 1 at laptop scale).

Three kinds of instance, each a real passage of a play the pretraining never saw (HELD_OUT_PLAYS),
cut right before a word the model has to supply:

- last_word_instances: the last word of a speech after >= 300 characters of context, in the
  spirit of LAMBADA (Paperno et al. 2016; GPT-2 section 3.3).
- cloze_instances: one word of a spoken line blanked, to be chosen among 10 words of the
  preceding lines, in the spirit of the Children's Book Test (Hill et al. 2015; GPT-2 section 3.2).
- next_speaker_instances: the name of whoever speaks next, among the play's speakers.

A baseline that never reads the passage: most_frequent_candidate picks the cloze candidate the
pretraining plays use most often (training_word_counts), the choice of a model that knows only
word frequencies.

Every instance records where it comes from (play, character offset of the answer), so
load_play(play)[offset:].startswith(answer + suffix) and the context ends right at offset.
All three are scored the same way: candidate c is worth log P(c + suffix | context), which for the
cloze is GPT-2's CBT rule, "the probability of each choice and the rest of the sentence conditioned
on this choice". The scoring itself lives in the evaluation registry, not here.
"""
from __future__ import annotations

import bisect
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from .data import HELD_OUT_PLAYS, list_plays, load_play, load_shakespeare, pretraining_plays
from .tasks import _check_count, _is_verse_line, _lines_and_offsets

MIN_CONTEXT_CHARS = 300  # LAMBADA-style: the answer is preceded by at least this much of the play
CLOZE_WINDOW_LINES = 20  # CBT: the 20 sentences before the query; here the 20 lines before the blanked line
CLOZE_CANDIDATES = 10  # CBT: the answer and 9 other words of the same kind from the context


@dataclass(frozen=True)
class PlayInstance:
    """One zero-shot instance cut from a held-out play.

    context: the play's text right up to the answer (it starts at the beginning of a line).
    answer: the word (or speaker's name) that follows the context in the play.
    candidates: the choices, the answer among them exactly once; None for an open answer (last word).
    play, offset: where the answer starts, in load_play(play).
    suffix: the text after the answer that every candidate is scored with: the rest of the line
        for the cloze, "." after a speaker's name (so "LORD" cannot win by being the start of
        "LORDS"), "" for the last word.
    task: "last_word", "cloze" or "next_speaker".
    """
    task: str
    context: str
    answer: str
    candidates: tuple[str, ...] | None
    play: str
    offset: int
    suffix: str = ""

    def continuation(self, candidate: str) -> str:
        """What a candidate is scored as after the context: the candidate, then the suffix."""
        return candidate + self.suffix

    def fill(self, candidate: str) -> str:
        """The whole passage with `candidate` in the answer's place."""
        return self.context + candidate + self.suffix

    @property
    def answer_index(self) -> int | None:
        """Where the answer is among the candidates (None without candidates)."""
        return None if self.candidates is None else self.candidates.index(self.answer)

    @property
    def chance(self) -> float | None:
        """Accuracy of a uniform guess among the candidates (None without candidates)."""
        return None if self.candidates is None else 1.0 / len(self.candidates)


# ------------------------------------------------------------------ the plays' structure
_SPEAKER = re.compile(r"[A-Z][A-Z'\- ]*[A-Z]\.")  # "OTHELLO.", "SIR TOBY.", "FIRST CITIZEN."; not "VARRO. CLAUDIUS."
_DIRECTION = re.compile(r"[\[{][^\[\]{}]*\]")  # a stage direction, possibly over several lines
_HEADING = re.compile(r"[^a-z]*[A-Z]{2}[^a-z]*")  # ACT II., SCENE 2, THE END, EPILOGUE; not a spoken "O!"
_CONTENT_WORD = re.compile(r"(?<![A-Za-z'\-])[a-z]{4,}(?![A-Za-z'\-])")
# Function words (and their old forms) a cloze never blanks: CBT blanks content words.
STOPWORDS = frozenset("""
about after again against also among before being both cannot come could dost doth down each even
ever every from had hast hath have having here hers herself him himself into itself mine more most
much must myself never nothing only other ours over same shall should some such than that thee their
theirs them themselves then there these they thine this those thou though through thus thyself till
unto upon very were what when where whether which while whilst whom whose will with within without
would yet your yours yourself yourselves ourselves
""".split())


class _Play:
    """A held-out play's text, lines, line offsets, its dialogue (from ACT I on), and a copy of its
    text with the stage directions blanked out (same length, newlines kept)."""

    def __init__(self, name: str):
        self.name = name
        self.text = load_play(name)
        self.lines, self.offsets = _lines_and_offsets(self.text)
        self.spoken = _DIRECTION.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), self.text)
        self.spoken_lines = self.spoken.split("\n")
        # the cast list before ACT I is not dialogue
        self.start = next((i for i, line in enumerate(self.lines) if line.startswith("ACT")), 0)
        self.speakers = [i for i in range(self.start + 1, len(self.lines) - 1)
                         if _SPEAKER.fullmatch(self.lines[i].strip()) and not self.lines[i].startswith(("ACT", "SCENE"))
                         and not self.lines[i - 1].strip() and self.lines[i + 1].strip()]

    @cached_property
    def content_words(self) -> list[list[tuple[int, str]]]:
        """Each line's content words (_content_words), none for a line that is not spoken verse."""
        return [_content_words(line) if _is_verse_line(line) else [] for line in self.spoken_lines]

    def name_at(self, i: int) -> str:
        """The speaker's name on speaker line i, without its full stop."""
        return self.lines[i].strip()[:-1]

    def context_start(self, offset: int, context_chars: int) -> int | None:
        """The start of the last line that begins >= context_chars before `offset`; None if that
        would reach back before ACT I."""
        k = bisect.bisect_right(self.offsets, offset - context_chars) - 1
        return self.offsets[k] if k >= self.start else None


@lru_cache(maxsize=None)
def _play(name: str) -> _Play:
    return _Play(name)


def _check_plays(plays: Sequence[str]) -> tuple[str, ...]:
    if isinstance(plays, str):
        raise ValueError(f"plays={plays!r} is one string; pass a sequence of play names, e.g. ({plays!r},).")
    plays = tuple(plays)
    if not plays:
        raise ValueError(f"plays is empty; choose among the held-out plays {HELD_OUT_PLAYS}.")
    for play in plays:
        if play not in HELD_OUT_PLAYS:
            why = "is a pretraining play" if play in list_plays() else "is not a shipped play"
            raise ValueError(f"play {play!r} {why}: zero-shot instances come only from the held-out plays "
                             f"{HELD_OUT_PLAYS}, which pretraining never sees.")
    if len(set(plays)) != len(plays):
        raise ValueError(f"plays={plays!r} names a play twice.")
    return plays


def _check_context(context_chars: int) -> None:
    _check_count(context_chars, "context_chars", at_least=MIN_CONTEXT_CHARS)


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r} must be an integer.")


def _draw(task: str, n: int, seed: int, plays: tuple[str, ...], options: dict) -> list[PlayInstance]:
    """n instances drawn by `seed` among all those of `task` in `plays`."""
    _check_count(n, "n")
    _check_seed(seed)
    pool = _pool(task, plays, seed if task == "cloze" else 0, tuple(sorted(options.items())))
    if n > len(pool):
        raise ValueError(f"asked for {n} {task} instances but {', '.join(plays)} hold only {len(pool)} "
                         f"(with {', '.join(f'{k}={v}' for k, v in options.items())}); ask for at most {len(pool)}.")
    return random.Random(seed).sample(pool, n)


@lru_cache(maxsize=16)
def _pool(task: str, plays: tuple[str, ...], seed: int,
          options: tuple[tuple[str, int], ...]) -> tuple[PlayInstance, ...]:
    """Every instance of `task` in `plays`, in play order (the cloze's blanks depend on the seed)."""
    options = dict(options)
    if task == "last_word":
        return tuple(x for play in plays for x in _last_words(_play(play), options["context_chars"]))
    if task == "cloze":
        # one rng per play: which word of a line is blanked, and its distractors, do not depend
        # on which other plays are asked for
        return tuple(x for play in plays
                     for x in _clozes(_play(play), options["window"], random.Random(f"{seed}:{play}")))
    return tuple(x for play in plays for x in _next_speakers(_play(play), options["context_chars"]))


# ------------------------------------------------------------------ 1. last word of a speech (LAMBADA-style)
def _last_words(play: _Play, context_chars: int) -> list[PlayInstance]:
    """Every speech whose last spoken word is a real word (letters only, >= 3 of them)."""
    found = []
    ends = play.speakers[1:] + [len(play.lines)]
    for i, end in zip(play.speakers, ends):
        # a speech runs to the next speaker, or to a heading (ACT, SCENE, THE END...), whichever comes first
        stop = next((j for j in range(i + 1, end) if _HEADING.fullmatch(play.spoken_lines[j].strip())), end)
        lo, hi = play.offsets[i + 1], play.offsets[stop - 1] + len(play.lines[stop - 1])
        tokens = list(re.finditer(r"\S+", play.spoken[lo:hi]))
        if not tokens:
            continue
        token = tokens[-1]
        word = token.group().lstrip("\"'(-").rstrip(".,;:!?-\")")
        if not (len(word) >= 3 and word.isalpha() and word.isascii()):
            continue
        offset = lo + token.start() + token.group().index(word)
        start = play.context_start(offset, context_chars)
        if start is not None:
            found.append(PlayInstance("last_word", play.text[start:offset], word, None, play.name, offset))
    return found


def last_word_instances(n: int = 500, seed: int = 0, plays: Sequence[str] = HELD_OUT_PLAYS,
                        context_chars: int = MIN_CONTEXT_CHARS) -> list[PlayInstance]:
    """The last word of a speech, after at least context_chars characters of the play (LAMBADA-style).

    The context ends right before the word ("... Farewell, my "); the answer is the word ("lord"),
    letters only, at least 3 of them; stage directions after it are skipped. candidates is None:
    score by exact match of a greedy continuation, or by log P(answer | context).
    """
    _check_context(context_chars)
    plays = _check_plays(plays)
    return _draw("last_word", n, seed, plays, {"context_chars": context_chars})


# ------------------------------------------------------------------ 2. cloze among 10 words (CBT-style)
def _content_words(line: str) -> list[tuple[int, str]]:
    """(position, word) of the line's lowercase words of >= 4 letters that are not STOPWORDS
    (a whole word: not part of "Hear", "o'er" or "self-love")."""
    return [(m.start(), m.group()) for m in _CONTENT_WORD.finditer(line) if m.group() not in STOPWORDS]


def _clozes(play: _Play, window: int, rng: random.Random) -> list[PlayInstance]:
    """For every spoken line with a content word that also occurs in the `window` lines before it,
    and >= 9 other content words there: one such word blanked (chosen by rng), 9 distractors."""
    words = play.content_words
    found = []
    for i in range(play.start + window, len(play.lines)):
        if not words[i]:
            continue
        before = sorted({w for j in range(i - window, i) for _, w in words[j]})
        blanks = [(pos, w) for pos, w in words[i] if w in before]
        if not blanks or len(before) < CLOZE_CANDIDATES:
            continue
        pos, word = rng.choice(blanks)
        others = rng.sample([w for w in before if w != word], CLOZE_CANDIDATES - 1)
        candidates = others + [word]
        rng.shuffle(candidates)
        offset = play.offsets[i] + pos
        start = play.offsets[i - window]
        found.append(PlayInstance("cloze", play.text[start:offset], word, tuple(candidates), play.name, offset,
                                  suffix=play.lines[i][pos + len(word):]))
    return found


def cloze_instances(n: int = 500, seed: int = 0, plays: Sequence[str] = HELD_OUT_PLAYS,
                    window: int = CLOZE_WINDOW_LINES) -> list[PlayInstance]:
    """A spoken line with one word blanked, and 10 candidate words (CBT-style).

    The blanked word is a content word (lowercase, >= 4 letters, not in STOPWORDS) that also occurs
    in the `window` lines before it, as CBT's answers occur in its context; the 9 distractors are
    other content words of those lines. The context is those lines up to the blank, the suffix the
    rest of the line: score candidate c by log P(c + suffix | context), i.e. the whole line with c
    filled in (instance.fill(c)), as GPT-2 scored CBT. Chance is 1/10.
    """
    _check_count(window, "window")
    plays = _check_plays(plays)
    return _draw("cloze", n, seed, plays, {"window": window})


# ------------------------------------------------------------------ 3. the next speaker
def _next_speakers(play: _Play, context_chars: int) -> list[PlayInstance]:
    """Every speaker line with context_chars of the play before it; candidates: all the play's speakers."""
    cast = tuple(sorted({play.name_at(i) for i in play.speakers}))
    found = []
    for i in play.speakers:
        offset = play.offsets[i] + play.lines[i].index(play.name_at(i))
        start = play.context_start(offset, context_chars)
        if start is not None:
            found.append(PlayInstance("next_speaker", play.text[start:offset], play.name_at(i), cast,
                                      play.name, offset, suffix="."))
    return found


def next_speaker_instances(n: int = 500, seed: int = 0, plays: Sequence[str] = HELD_OUT_PLAYS,
                           context_chars: int = MIN_CONTEXT_CHARS) -> list[PlayInstance]:
    """Who speaks next: the dialogue before a speaker's name line (>= context_chars of it, ending
    with the blank line before the name), and the name ("IAGO") among every speaker of that play.

    Each candidate is scored followed by "." as the name lines are written ("IAGO."). Chance is
    1/len(candidates): 1/45 (julius_caesar) to 1/19 (tempest, twelfth_night); 0.039 on average.
    Chance is not the only baseline (all 4274 instances, default options): naming the play's most
    frequent speaker scores 0.20, naming whoever spoke two turns back in the context (dialogue
    alternates) 0.44; compare a model with those too.
    """
    _check_context(context_chars)
    plays = _check_plays(plays)
    return _draw("next_speaker", n, seed, plays, {"context_chars": context_chars})


# ------------------------------------------------------------------ a word-frequency baseline
@lru_cache(maxsize=1)
def training_word_counts() -> Counter:
    """How often each word occurs in the pretraining plays (the family's play text): lower-cased
    runs of letters, so "Love" and "love" count together."""
    return Counter(re.findall(r"[a-z]+", load_shakespeare(pretraining_plays()).lower()))


def most_frequent_candidate(instance: PlayInstance, counts: Counter | None = None) -> str:
    """The candidate the pretraining plays use most often (ties: the first in candidates order).

    The choice of a model that knows only word frequencies: under GPT-2's CBT rule every candidate
    is followed by the same rest of the line, so a unigram model ranks them by frequency alone.
    """
    if instance.candidates is None:
        raise ValueError(f"a {instance.task} instance has no candidates to choose among.")
    counts = training_word_counts() if counts is None else counts
    return max(instance.candidates, key=lambda word: counts[word.lower()])


PLAY_TASKS: dict[str, Callable[..., list[PlayInstance]]] = {
    "last_word": last_word_instances,
    "cloze": cloze_instances,
    "next_speaker": next_speaker_instances,
}


def available(task: str, plays: Sequence[str] = HELD_OUT_PLAYS, **options) -> int:
    """How many instances of PLAY_TASKS[task] the plays hold: the most n can be (same options as the task's)."""
    if task not in PLAY_TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(map(repr, PLAY_TASKS))}.")
    defaults = {"window": CLOZE_WINDOW_LINES} if task == "cloze" else {"context_chars": MIN_CONTEXT_CHARS}
    unknown = set(options) - set(defaults)
    if unknown:
        raise ValueError(f"{task} takes the options {', '.join(defaults)}; got {', '.join(sorted(unknown))}.")
    options = {**defaults, **options}
    if task == "cloze":
        _check_count(options["window"], "window")
    else:
        _check_context(options["context_chars"])
    return len(_pool(task, _check_plays(plays), 0, tuple(sorted(options.items()))))
