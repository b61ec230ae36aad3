"""The natural-text zero-shot instances of chapter 08 (gptedu.play_tasks): real passages of the held-out
plays, each answer exactly where its record says, drawn reproducibly from a seed."""
import re
from collections import Counter

import pytest

from gptedu.data import HELD_OUT_PLAYS, load_play, load_shakespeare, pretraining_plays
from gptedu.play_tasks import (CLOZE_CANDIDATES, MIN_CONTEXT_CHARS, PLAY_TASKS, STOPWORDS, PlayInstance,
                               available, cloze_instances, last_word_instances, most_frequent_candidate,
                               next_speaker_instances, training_word_counts)

NAME_LINE = re.compile(r"[A-Z][A-Z'\- ]*[A-Z]\.")
TEXT = {play: load_play(play) for play in HELD_OUT_PLAYS}


@pytest.fixture(scope="module")
def every():
    """Every instance of every task on all held-out plays (n = all that exist), by task."""
    return {task: make(available(task), seed=0) for task, make in PLAY_TASKS.items()}


def test_counts_available_are_large_enough_and_n_is_honoured(every):
    for task, instances in every.items():
        assert len(instances) >= 2000, task
        assert len(set(instances)) == len(instances), f"{task}: an instance drawn twice"
        assert {x.task for x in instances} == {task}
        assert {x.play for x in instances} == set(HELD_OUT_PLAYS)
        assert len(PLAY_TASKS[task](7, seed=1)) == 7
    per_play = sum(available("cloze", (play,)) for play in HELD_OUT_PLAYS)
    assert per_play == available("cloze")


@pytest.mark.parametrize("task", list(PLAY_TASKS))
def test_deterministic_for_a_seed(task):
    make = PLAY_TASKS[task]
    assert make(40, seed=3) == make(40, seed=3)
    assert make(40, seed=3) != make(40, seed=4)


@pytest.mark.parametrize("task", list(PLAY_TASKS))
def test_every_answer_follows_its_context_at_the_recorded_offset(every, task):
    for x in every[task]:
        text = TEXT[x.play]
        start = x.offset - len(x.context)
        assert start >= 0 and text[start:x.offset] == x.context
        assert start == 0 or text[start - 1] == "\n", "a context starts at the beginning of a line"
        assert text[x.offset:x.offset + len(x.answer) + len(x.suffix)] == x.answer + x.suffix
        assert x.fill(x.answer) == text[start:x.offset + len(x.answer) + len(x.suffix)]
        assert x.continuation(x.answer) == x.answer + x.suffix
        assert not text[x.offset - 1].isalpha() and not text[x.offset + len(x.answer)].isalpha(), "a whole word"


@pytest.mark.parametrize("task", list(PLAY_TASKS))
def test_only_held_out_plays_and_no_pretraining_text(every, task):
    instances = every[task]
    assert all(x.play in HELD_OUT_PLAYS for x in instances)
    pretraining = load_shakespeare(pretraining_plays())
    for x in instances[::25]:  # a sample: each search scans the whole pretraining corpus
        assert x.fill(x.answer) not in pretraining


@pytest.mark.parametrize("task", ["cloze", "next_speaker"])
def test_candidates_hold_the_answer_exactly_once(every, task):
    for x in every[task]:
        assert x.candidates.count(x.answer) == 1 and len(set(x.candidates)) == len(x.candidates)
        assert x.candidates[x.answer_index] == x.answer
        assert x.chance == 1 / len(x.candidates)


def _last_spoken_word_of_a_speech(text: str, end: int) -> bool:
    """Nothing but punctuation, blank lines and stage directions between `end` and the next name line or heading."""
    rest = text[end:]
    nxt = re.search(r"\n[ \t]*\n[^\n]*[A-Z]{2,}[^a-z\n]*(\n|$)", rest)  # a blank line, then an all-capitals line
    between = rest[:nxt.start()] if nxt else rest
    return not re.search(r"[A-Za-z]", re.sub(r"[\[{][^\[\]{}]*\]", "", between))


def test_last_word_ends_a_speech_and_is_a_real_word(every):
    instances = every["last_word"]
    for x in instances:
        assert x.candidates is None and x.chance is None and x.answer_index is None and x.suffix == ""
        assert x.answer.isalpha() and x.answer.isascii() and len(x.answer) >= 3
        assert len(x.context) >= MIN_CONTEXT_CHARS
        assert _last_spoken_word_of_a_speech(TEXT[x.play], x.offset + len(x.answer)), x
    longer = last_word_instances(50, seed=2, context_chars=800)
    assert all(len(x.context) >= 800 for x in longer)
    assert available("last_word", context_chars=800) < len(instances)


def test_cloze_is_cbt_style_ten_words_from_the_preceding_lines(every):
    for x in every["cloze"]:
        assert len(x.candidates) == CLOZE_CANDIDATES and x.chance == pytest.approx(0.1)
        assert "\n" not in x.suffix and x.context.count("\n") == 20, "the 20 lines before, then the line to the blank"
        earlier = set(re.findall(r"[a-z]+", x.context[:x.context.rfind("\n")]))
        for word in x.candidates:
            assert word.isalpha() and word.islower() and len(word) >= 4 and word not in STOPWORDS
            assert word in earlier, f"{word!r} does not occur in the preceding lines"
        fills = {x.fill(c) for c in x.candidates}
        assert len(fills) == CLOZE_CANDIDATES and all(f.startswith(x.context) for f in fills)
    smaller = cloze_instances(20, seed=0, window=10)
    assert all(x.context.count("\n") == 10 for x in smaller)


def test_cloze_of_one_play_does_not_depend_on_the_others(every):
    alone = cloze_instances(available("cloze", ("tempest",)), seed=0, plays=("tempest",))
    assert set(alone) == {x for x in every["cloze"] if x.play == "tempest"}


def test_next_speaker_is_the_name_line_and_candidates_are_the_plays_speakers(every):
    casts = {}
    for x in every["next_speaker"]:
        text = TEXT[x.play]
        line = text[x.offset:text.index("\n", x.offset)]
        assert NAME_LINE.fullmatch(line.strip()) and line.strip() == x.answer + "."
        assert re.search(r"\n[ \t]*\n$", x.context) and len(x.context) >= MIN_CONTEXT_CHARS and x.suffix == "."
        assert x.answer.isupper()
        casts.setdefault(x.play, set()).add(x.candidates)
    assert all(len(cast) == 1 for cast in casts.values()), "one candidate list per play"
    sizes = {play: len(next(iter(cast))) for play, cast in casts.items()}
    assert all(15 <= size <= 60 for size in sizes.values()), sizes
    assert {"OTHELLO", "IAGO", "DESDEMONA"} <= set(next(iter(casts["othello"])))


def test_next_speaker_baselines_match_the_docstring(every):
    instances = every["next_speaker"]
    counts = {}
    for x in instances:
        counts.setdefault(x.play, Counter())[x.answer] += 1
    majority = sum(c.most_common(1)[0][1] for c in counts.values()) / len(instances)
    assert 0.19 <= majority <= 0.21
    two_back = 0
    for x in instances:
        names = [m.group(1) for m in re.finditer(r"^[ \t]*([A-Z][A-Z'\- ]*[A-Z])\.[ \t]*$", x.context, re.M)
                 if not m.group(1).startswith(("ACT", "SCENE"))]
        two_back += len(names) >= 2 and names[-2] == x.answer
    assert 0.43 <= two_back / len(instances) <= 0.45


def test_instances_are_frozen():
    x = next_speaker_instances(1)[0]
    assert isinstance(x, PlayInstance)
    with pytest.raises(AttributeError):
        x.answer = "HAMLET"


@pytest.mark.parametrize("task", list(PLAY_TASKS))
def test_clear_errors(task):
    make = PLAY_TASKS[task]
    for bad in (0, -1, True, 2.0, "5"):
        with pytest.raises(ValueError, match=r"n=.* must be a positive integer"):
            make(bad)
    with pytest.raises(ValueError, match=r"hold only \d+.*ask for at most \d+"):
        make(10 ** 6)
    with pytest.raises(ValueError, match="'hamlet' is a pretraining play"):
        make(5, plays=("othello", "hamlet"))
    with pytest.raises(ValueError, match="'othelo' is not a shipped play"):
        make(5, plays=("othelo",))
    with pytest.raises(ValueError, match="one string"):
        make(5, plays="othello")
    with pytest.raises(ValueError, match="empty"):
        make(5, plays=())
    with pytest.raises(ValueError, match="twice"):
        make(5, plays=("tempest", "tempest"))
    with pytest.raises(ValueError, match="seed"):
        make(5, seed="0")


def test_clear_errors_for_options():
    with pytest.raises(ValueError, match=r"context_chars=100 must be an integer >= 300"):
        last_word_instances(5, context_chars=100)
    with pytest.raises(ValueError, match=r"context_chars"):
        next_speaker_instances(5, context_chars=299)
    with pytest.raises(ValueError, match=r"window=0"):
        cloze_instances(5, window=0)
    with pytest.raises(ValueError, match="unknown task 'lambada'"):
        available("lambada")
    with pytest.raises(ValueError, match="takes the options window"):
        available("cloze", context_chars=300)
    with pytest.raises(ValueError, match="hold only"):
        next_speaker_instances(available("next_speaker", ("tempest",)) + 1, plays=("tempest",))


def test_word_frequency_baseline_counts_the_pretraining_plays_only():
    counts = training_word_counts()
    plays = load_shakespeare(pretraining_plays()).lower()
    assert counts["love"] == len(re.findall(r"(?<![a-z])love(?![a-z])", plays)) > 1000
    held_out_only = {w.lower() for play in HELD_OUT_PLAYS for w in re.findall(r"[A-Za-z]+", TEXT[play])} - set(counts)
    assert held_out_only and all(counts[w] == 0 for w in held_out_only)


def test_word_frequency_baseline_picks_the_most_frequent_candidate_first_on_ties():
    x = PlayInstance("cloze", "ctx ", "zzz", ("qqq", "love", "zzz", "lord"), "tempest", 0, suffix=" rest")
    counts = Counter({"love": 5, "lord": 5, "zzz": 1})
    assert most_frequent_candidate(x, counts) == "love"  # tied with "lord", which comes later
    assert most_frequent_candidate(x, Counter({"zzz": 2})) == "zzz"
    for inst in cloze_instances(50, seed=0):
        pick = most_frequent_candidate(inst)
        assert pick in inst.candidates
        assert training_word_counts()[pick] == max(training_word_counts()[c] for c in inst.candidates)
    with pytest.raises(ValueError, match="no candidates"):
        most_frequent_candidate(last_word_instances(1, seed=0)[0])
