"""The fine-tuning tasks of chapter 06: real data, balanced, reproducible, and train never sees test."""
import pytest

from gptedu.data import HELD_OUT_PLAYS, load_play
from gptedu.tasks import (TRAIN_SHARE, LabelledText, MultipleChoice, TextPair, line_follows_examples,
                          next_line_choice_examples, sentiment_examples)


def play_parts():
    """For each held-out play: its lines stripped of layout spaces, joined, the character offset
    where the test part begins, and where ACT I begins (before it is the cast list)."""
    parts = {}
    for play in HELD_OUT_PLAYS:
        lines = [line.strip() for line in load_play(play).split("\n")]
        start = next(i for i, line in enumerate(lines) if line.startswith("ACT"))
        cut = start + int((len(lines) - start) * TRAIN_SHARE)
        offset = lambda k: sum(len(line) + 1 for line in lines[:k])  # noqa: E731
        parts[play] = ("\n".join(lines), offset(cut), offset(start))
    return parts


PARTS = play_parts()


def where(snippet):
    """'train' or 'test' for each place whole lines `snippet` occur in a held-out play after the cast list."""
    found = set()
    for text, cut, start in PARTS.values():
        padded = "\n" + text + "\n"
        pos = padded.find("\n" + snippet + "\n")
        while pos >= 0:
            if pos >= start:
                found.add("train" if pos + len(snippet) <= cut else "test" if pos >= cut else "both")
            pos = padded.find("\n" + snippet + "\n", pos + 1)
    return found


def next_line_after(context):
    """Where the raw context occurs in a play: the part, and the (stripped) line that follows it."""
    found = set()
    for play in HELD_OUT_PLAYS:
        raw = load_play(play)
        lines = raw.split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith("ACT"))
        cut = sum(len(line) + 1 for line in lines[:start + int((len(lines) - start) * TRAIN_SHARE)])
        pos = raw.find(context)
        while pos >= 0:
            end = pos + len(context)
            part = "train" if end <= cut else "test" if pos >= cut else "both"
            found.add((part, raw[end:].split("\n", 1)[0].strip()))
            pos = raw.find(context, pos + 1)
    return found


# ------------------------------------------------------------------ sentiment
def test_sentiment_is_balanced_labelled_and_reproducible():
    train = sentiment_examples(400, "train", seed=0)
    assert all(isinstance(ex, LabelledText) and ex.label in (0, 1) for ex in train)
    assert sum(ex.label for ex in train) == 200
    assert train == sentiment_examples(400, "train", seed=0)
    assert train != sentiment_examples(400, "train", seed=1)
    assert sum(ex.label for ex in sentiment_examples(401, "test")) == 201  # the odd one is fresh


def test_sentiment_train_and_test_share_no_snippet():
    train = {ex.text for seed in (0, 1) for ex in sentiment_examples(2000, "train", seed=seed)}
    test = {ex.text for ex in sentiment_examples(1000, "test", seed=0)}
    assert len(test) == 1000 and not train & test


def test_sentiment_respects_the_charset_and_the_length_limit():
    charset = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,'-"
    examples = sentiment_examples(200, "test", charset=charset, max_chars=80)
    assert all(set(ex.text) <= set(charset) and len(ex.text) <= 80 for ex in examples)
    with pytest.raises(ValueError, match="has only"):
        sentiment_examples(100_000, "train")
    with pytest.raises(ValueError, match="split='dev'"):
        sentiment_examples(10, "dev")


# ------------------------------------------------------------------ does line B follow line A?
def test_line_follows_pairs_true_next_lines_and_same_length_impostors():
    examples = line_follows_examples(300, "train", seed=0)
    assert len(examples) == 300 and sum(ex.label for ex in examples) == 150
    assert all(isinstance(ex, TextPair) for ex in examples)
    for ex in examples:
        assert "\n" not in ex.first and ex.first != ex.second
        # positives are consecutive lines of a play; negatives are not
        assert bool(where(ex.first + "\n" + ex.second)) == (ex.label == 1)
    assert examples == line_follows_examples(300, "train", seed=0)


def test_line_follows_context_lines_form_the_premise():
    for ex in line_follows_examples(40, "test", seed=2, context_lines=3):
        assert ex.first.count("\n") == 2
        if ex.label == 1:
            assert where(ex.first + "\n" + ex.second) == {"test"}


def test_line_follows_test_examples_come_from_the_end_of_the_plays():
    for ex in line_follows_examples(200, "test", seed=0):
        assert "test" in where(ex.first)  # the premise's lines come from the test part
        if ex.label == 1:
            assert where(ex.first + "\n" + ex.second) == {"test"}
    for ex in line_follows_examples(200, "train", seed=0):
        if ex.label == 1:
            assert where(ex.first + "\n" + ex.second) == {"train"}


# ------------------------------------------------------------------ pick the next line among 4
def test_next_line_choice_has_one_true_answer_from_the_right_part():
    for split in ("train", "test"):
        examples = next_line_choice_examples(100, split, seed=0)
        assert len(examples) == 100
        for ex in examples:
            assert isinstance(ex, MultipleChoice) and len(ex.choices) == 4 and len(set(ex.choices)) == 4
            assert next_line_after(ex.context) == {(split, ex.choices[ex.answer])}
            assert ex.context.endswith("\n")
            assert max(map(len, ex.choices)) - min(map(len, ex.choices)) <= 16  # all within 8 of the true one
        assert sorted({ex.answer for ex in examples}) == [0, 1, 2, 3]


def test_bad_task_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="has only"):
        line_follows_examples(50_000, "test")
    with pytest.raises(ValueError, match="n_choices"):
        next_line_choice_examples(10, n_choices=1)
    with pytest.raises(ValueError, match="context_lines"):
        line_follows_examples(10, context_lines=0)
    with pytest.raises(ValueError, match="positive integer"):
        next_line_choice_examples(0)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 11])
def test_line_follows_is_balanced_even_for_a_few_examples(n):
    examples = line_follows_examples(n, "test", seed=2)
    assert len(examples) == n
    assert sum(ex.label for ex in examples) == n - n // 2


def test_finetune_tasks_by_name_build_their_examples():
    from gptedu.finetune import TASKS
    from gptedu.tasks import FINETUNE_TASKS, finetune_examples

    kinds = {"sentiment": LabelledText, "line_follows": TextPair, "next_line": MultipleChoice}
    assert set(FINETUNE_TASKS) == set(kinds)
    for name, task in FINETUNE_TASKS.items():
        assert task.form in TASKS and 0 < task.chance < 1
        examples = finetune_examples(name, 6, "test", seed=1)
        assert len(examples) == 6 and all(isinstance(ex, kinds[name]) for ex in examples)
    assert finetune_examples("sentiment", 40, seed=3) == sentiment_examples(40, seed=3)
    short = finetune_examples("sentiment", 40, seed=3, block_size=42)
    assert all(len(ex.text) <= 40 for ex in short)  # room for <s> and <e>
    with pytest.raises(ValueError, match="unknown task 'nli'.*'sentiment'"):
        finetune_examples("nli", 3)
