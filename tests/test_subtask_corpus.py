"""The family's corpus: the word tasks do what GPT-3 section 3.9.2 says, the stream is seeded and
mixed as configured, and no evaluation word or mapping ever occurs in the training stream."""
import random
import re

import pytest

from gptedu.data import HELD_OUT_PLAYS, load_shakespeare, pretraining_plays
from gptedu.subtask_corpus import (ARROW, DESCRIPTIONS, MAX_LEN, MIN_LEN, SYMBOLS, TASKS, CorpusConfig,
                                   SubtaskCorpus, anagram1, anagram2, cycle_letters, evaluation_words,
                                   family_tokenizer, mapping_pairs, random_insertion, render_prompt,
                                   reversed_word, training_words, word_pairs, words_in)


@pytest.fixture(scope="module")
def corpus():
    return SubtaskCorpus(seed=0)


@pytest.fixture(scope="module")
def stream(corpus):
    return corpus.stream(400_000)


def test_word_tasks_do_what_gpt3_says():
    rng = random.Random(0)
    for word in ("heart", "crown", "sorrow", "noble", "kingdom"):
        c = cycle_letters(word, rng)
        assert c != word and c in word + word and sorted(c) == sorted(word)
        a1 = anagram1(word, rng)
        assert a1 != word and a1[0] == word[0] and a1[-1] == word[-1] and sorted(a1) == sorted(word)
        r = random_insertion(word, rng)
        assert re.sub(f"[{re.escape(SYMBOLS)}]", "", r) == word and len(r) == 2 * len(word) - 1
        assert reversed_word(word, rng) == word[::-1]
    a2 = anagram2("kingdom", rng)
    assert a2[:2] == "ki" and a2[-2:] == "om" and a2 != "kingdom" and sorted(a2) == sorted("kingdom")
    assert anagram2("heart", rng) is None  # one middle letter: nothing to scramble
    assert reversed_word("level", rng) is None and cycle_letters("aaaa", rng) is None


def test_words_are_split_by_play():
    train, held = set(training_words()), set(evaluation_words())
    assert len(train) > 10_000 and len(held) > 400
    assert not train & held
    assert all(MIN_LEN <= len(w) <= MAX_LEN and w.isalpha() and w.islower() for w in train | held)
    assert not held & words_in(load_shakespeare(pretraining_plays()))  # any case
    assert held <= words_in(load_shakespeare(list(HELD_OUT_PLAYS)))
    assert not held & words_in(" ".join(DESCRIPTIONS.values()))


def test_no_evaluation_word_or_mapping_in_the_training_stream(stream):
    held = set(evaluation_words())
    assert not held & words_in(stream)
    # mapping labels are 3 letters, evaluation words 4-7: an evaluation mapping (word -> label) cannot occur
    labels = {line.split(ARROW)[1] for line in stream.splitlines() if ARROW in line}
    assert not held & labels


def test_the_stream_is_seeded_and_mixed(stream):
    assert SubtaskCorpus(seed=0).stream(50_000) == stream[:50_000]
    assert SubtaskCorpus(seed=1).stream(50_000) != stream[:50_000]
    task = text = 0
    seen = set()
    for _, (kind, seg) in zip(range(600), SubtaskCorpus(seed=0).segments()):
        if kind == "task":
            task += len(seg)
            lines = [line for line in seg.splitlines() if line]
            body = lines[1:] if lines[0] in DESCRIPTIONS.values() else lines
            assert len(body) >= 8 and all(ARROW in line for line in body)
            head = lines[0] if lines[0] in DESCRIPTIONS.values() else None
            seen.add(head)
        else:
            text += len(seg)
    assert 0.7 < task / (task + text) < 0.9  # task_fraction 0.8
    assert None in seen and len(seen) == len(TASKS) + 1  # every description, and episodes without one


def test_mapping_labels_are_fresh_per_sequence():
    rng = random.Random(0)
    a, b = (dict(mapping_pairs(training_words(), 4, 30, rng)) for _ in range(2))
    assert len(set(a.values())) == len(a) <= 4
    assert set(a.values()) != set(b.values())


def test_config_is_checked():
    with pytest.raises(ValueError, match="task_fraction"):
        SubtaskCorpus(config=CorpusConfig(task_fraction=1.5))
    with pytest.raises(ValueError, match="tasks"):
        SubtaskCorpus(config=CorpusConfig(tasks=("spelling",)))
    only_text = SubtaskCorpus(config=CorpusConfig(task_fraction=0.0)).stream(5000)
    assert ARROW not in only_text


def test_tokenizer_covers_everything_and_stays_small(stream):
    tok = family_tokenizer()
    assert tok.vocab_size < 100
    tok.encode(stream)
    tok.encode(load_shakespeare(list(HELD_OUT_PLAYS)))
    prompt = render_prompt("insertion", word_pairs("insertion", training_words(), 3, random.Random(0)),
                           "q.u e", description=True)
    assert tok.decode(tok.encode(prompt)) == prompt
    assert prompt.startswith(DESCRIPTIONS["insertion"] + "\n") and prompt.endswith("q.u e ->")
