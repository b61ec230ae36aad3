"""gptedu.rule_tasks: the held-out parts are held out by construction, and the answers cannot be copied."""
from __future__ import annotations

import random

import pytest

from gptedu import rule_tasks as R
from gptedu.subtask_corpus import evaluation_words, training_words, words_in


@pytest.fixture(scope="module")
def segments():
    corpus = R.RuleCorpus(seed=3)
    out = []
    for kind, seg in corpus.segments():
        out.append((kind, seg))
        if len(out) == 600:
            return out


def explanations(pairs: list[tuple[str, str]]) -> set[tuple[str, object]]:
    """Every (rule, parameter), held out or not, that maps each input of an episode to its output."""
    found = set()
    for name, rule in R.RULES.items():
        params = rule.parameters() + (rule.parameters(held_out=True) if rule.kind == "letter" else ())
        for p in params:
            if all(rule.apply(s, p) == t for s, t in pairs):
                found.add((name, p))
    return found


def test_rules_on_a_word():
    w = "sword"
    assert R.RULES["append"].apply(w, "k") == "swordk"
    assert R.RULES["prepend"].apply(w, "k") == "ksword"
    assert R.RULES["replace_first"].apply(w, "k") == "kword"
    assert R.RULES["replace_last"].apply(w, "k") == "swork"
    assert R.RULES["insert_second"].apply(w, "k") == "skword"
    assert R.RULES["append_twice"].apply(w, "k") == "swordkk"
    assert R.RULES["vowels_to"].apply(w, "k") == "swkrd"
    assert R.RULES["double_at"].apply(w, 2) == "swword"
    assert R.RULES["drop_at"].apply(w, 1) == "word"
    assert R.RULES["first_n"].apply(w, 3) == "swo"
    assert R.RULES["insert_before_last"].apply(w, "k") == "sworkd"
    assert R.RULES["surround"].apply(w, "k") == "kswordk"
    assert R.RULES["replace_first"].apply(w, "s") is None  # no change: not a usable line


def test_every_rule_episode_is_a_training_rule_with_a_training_parameter(segments):
    rule_segments = [seg for kind, seg in segments if kind == "rule"]
    assert len(rule_segments) > 100
    for seg in rule_segments:
        pairs = [tuple(line.split(" -> ")) for line in seg.strip().split("\n")]
        assert len({s for s, _ in pairs}) == len(pairs), "an episode repeats an input word"
        found = explanations(pairs)
        assert found, seg
        for rule, p in found:
            assert rule in R.TRAIN_FAMILIES, f"{rule} is held out but explains {seg!r}"
            assert not (isinstance(p, str) and p in R.HELD_OUT_LETTERS), f"held-out letter {p} explains {seg!r}"


def test_stream_mixes_rules_word_tasks_and_text_by_characters(segments):
    chars = {}
    for kind, seg in segments:
        chars[kind] = chars.get(kind, 0) + len(seg)
    total = sum(chars.values())
    assert abs(chars["rule"] / total - 0.5) < 0.06
    assert abs(chars["word_task"] / total - 0.2) < 0.06
    assert abs(chars["text"] / total - 0.3) < 0.06


def test_rule_words_are_training_words_and_evaluation_words_are_not(segments):
    train, held = set(training_words()), set(evaluation_words())
    for kind, seg in segments:
        if kind == "rule":
            inputs = {line.split(" -> ")[0] for line in seg.strip().split("\n")}
            assert inputs <= train
    stream_words = set().union(*(words_in(seg) for _, seg in segments))
    assert not stream_words & held


@pytest.mark.parametrize("rule", list(R.RULES))
def test_instances_query_is_never_an_example_and_answer_follows_the_rule(rule):
    items = R.rule_instances(rule, k=8, n=30)
    for inst in items:
        lines = inst.prompt.split("\n")
        examples, query = lines[:-1], lines[-1].removesuffix(" ->")
        assert len(examples) == 8 and query not in {line.split(" -> ")[0] for line in examples}
        assert query in evaluation_words()
        pairs = [tuple(line.split(" -> ")) for line in examples] + [(query, inst.answer.strip())]
        assert explanations(pairs), inst


def test_held_out_parameters_use_only_held_out_letters():
    for inst in R.rule_instances("append", k=4, n=50, held_out_parameters=True):
        assert inst.answer[-1] in R.HELD_OUT_LETTERS
    with pytest.raises(ValueError, match="position"):
        R.rule_instances("double_at", k=2, n=2, held_out_parameters=True)


def test_formats_change_separator_and_case():
    inst = R.rule_instances("append", k=2, n=1, fmt="colon")[0]
    assert ": " in inst.prompt and " -> " not in inst.prompt and inst.prompt.endswith(":")
    inst = R.rule_instances("append", k=2, n=1, fmt="arrow_upper")[0]
    assert inst.prompt.upper() == inst.prompt and inst.answer.isupper()


def test_copier_ceiling_is_zero_for_injective_rules_and_counts_copies():
    assert R.copier_ceiling(R.rule_instances("append", k=16, n=100)) == 0.0
    from gptedu.evaluation import Instance
    assert R.copier_ceiling([Instance("a -> b\nc ->", " b"), Instance("a -> b\nc ->", " d")]) == 0.5


def test_limited_stream_uses_exactly_its_tasks():
    cfg = R.RuleStreamConfig(n_parameters=4, task_seed=1)
    tasks = cfg.tasks()
    assert len(set(tasks)) == 4
    corpus = R.RuleCorpus(seed=0, config=cfg)
    rng = random.Random(0)
    for _ in range(40):
        pairs = [tuple(line.split(" -> ")) for line in corpus.rule_episode(rng).strip().split("\n")]
        assert explanations(pairs) & set(tasks)


@pytest.mark.parametrize("bad", [dict(rule_fraction=0.9, word_task_fraction=0.2), dict(families=("surround",)),
                                 dict(families=("nope",)), dict(examples=(1, 3)), dict(n_parameters=0)])
def test_bad_stream_configs_are_refused(bad):
    with pytest.raises(ValueError):
        R.RuleCorpus(config=R.RuleStreamConfig(**bad))


def test_unknown_rule_or_format_is_refused():
    with pytest.raises(ValueError, match="rules are"):
        R.rule_instances("nope", 1, 1)
    with pytest.raises(ValueError, match="formats are"):
        R.rule_instances("append", 1, 1, fmt="nope")
