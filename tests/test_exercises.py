"""Every build exercise's check: its reference passes, and each wrong implementation it is proven
against (the mistakes learners make) fails with a message naming that mistake."""
import pytest
import torch

from gptedu.exercises import REGISTRY, check, evaluate, exercises_of, is_stub
from gptedu.exercises.core import FAILED, MISSING, NOT_ATTEMPTED, PASSED

EXERCISES = sorted(REGISTRY)
MISTAKES = [(exercise_id, m.name) for exercise_id in EXERCISES for m in REGISTRY[exercise_id].mistakes]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_the_reference_passes_in_one_line(exercise_id):
    exercise = REGISTRY[exercise_id]
    result = evaluate(exercise_id, exercise.reference)
    assert result.status == PASSED, result.message
    assert result.message.startswith("✓") and "\n" not in result.message


@pytest.mark.parametrize("exercise_id", EXERCISES)
def test_each_check_knows_at_least_two_mistakes_and_several_cases(exercise_id):
    exercise = REGISTRY[exercise_id]
    assert len(exercise.mistakes) >= 2
    assert len(exercise.cases()) >= 2
    assert len({m.name for m in exercise.mistakes}) == len(exercise.mistakes)


@pytest.mark.parametrize("exercise_id, mistake_name", MISTAKES, ids=[f"{e}: {m[:40]}" for e, m in MISTAKES])
def test_a_mistake_fails_with_its_name_and_hint(exercise_id, mistake_name):
    exercise = REGISTRY[exercise_id]
    mistake = next(m for m in exercise.mistakes if m.name == mistake_name)
    result = evaluate(exercise_id, mistake.fn)
    assert result.status == FAILED, result.message
    assert result.mistake == mistake_name, result.message
    assert f"looks like: {mistake_name}" in result.message and f"hint: {mistake.hint}" in result.message
    assert "first wrong case:" in result.message  # which case, then expected vs got


def test_every_chapter_from_01_to_11_has_at_least_three_build_exercises():
    for chapter in [f"{n:02d}" for n in range(1, 12)]:
        assert len(exercises_of(chapter)) >= 3, chapter
    assert len(REGISTRY) >= 36  # issue 25


# ---------------------------------------------------------------------- stubs are "not attempted", never an error
def stub_ellipsis(q, k, v):
    """q, k, v: (B, nh, T, hs)."""
    ...


def stub_pass(q, k, v):
    pass


def stub_raise(q, k, v):
    raise NotImplementedError


def stub_raise_with_message(q, k, v):
    """doc"""
    raise NotImplementedError("write me")


class StubModel(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        ...  # wte, wpe, h, lm_head

    def forward(self, idx):
        ...


def returns_none(q, k, v):
    q @ k.transpose(-2, -1)  # computed, then forgot `return`


@pytest.mark.parametrize("stub", [stub_ellipsis, stub_pass, stub_raise, stub_raise_with_message])
def test_a_stub_is_not_attempted(stub):
    assert is_stub(stub)
    result = evaluate("causal_attention", stub)
    assert result.status == NOT_ATTEMPTED and "not attempted yet" in result.message


def test_a_class_stub_is_not_attempted():
    assert is_stub(StubModel)
    assert evaluate("gpt1_model", StubModel).status == NOT_ATTEMPTED


def test_returning_none_everywhere_is_not_attempted_and_says_return():
    result = evaluate("causal_attention", returns_none)
    assert result.status == NOT_ATTEMPTED and "return" in result.message


def test_a_lambda_or_builtin_is_not_taken_for_a_stub():
    assert not is_stub(lambda q, k, v: q)
    assert not is_stub(len)


def test_missing_object():
    result = evaluate("causal_attention", None)
    assert result.status == MISSING and "my_causal_attention" in result.message


# ---------------------------------------------------------------------- what a learner reads
def test_an_exception_in_the_learners_code_is_reported_not_raised():
    def broken(q, k, v):
        return q @ k  # (T, hs) @ (T, hs): wrong shapes
    result = evaluate("causal_attention", broken)
    assert result.status == FAILED and "it raised RuntimeError" in result.message


def test_shape_and_values_are_told_apart():
    wrong_shape = evaluate("split_heads", lambda x, n: x.view(x.size(0), x.size(1), n, -1))
    assert "wrong shape: expected (2, 2, 3, 4), got (2, 3, 2, 4)" in wrong_shape.message
    wrong_values = evaluate("causal_attention", lambda q, k, v: v * 2)
    assert "the shape is right, the values are not" in wrong_values.message


def test_an_infinite_loop_stops_at_the_time_limit():
    def forever(q, k, v):
        while True:
            pass
    result = evaluate("causal_attention", forever, seconds_per_case=0.2)
    assert result.status == FAILED and "did not finish" in result.message and "infinite loop" in result.message


def test_the_learners_inputs_are_copies():
    def mutating(logits, targets):
        logits.zero_()
        return torch.tensor(0.0)
    evaluate("cross_entropy", mutating)
    assert evaluate("cross_entropy", REGISTRY["cross_entropy"].reference).status == PASSED


def test_check_prints_and_returns_nothing(capsys):
    assert check("merge_heads", REGISTRY["merge_heads"].reference) is None
    out = capsys.readouterr().out
    assert out.startswith("✓ merge_heads: right on all") and out.count("\n") == 1
    with pytest.raises(KeyError):
        check("no_such_exercise", len)


def test_a_summary_is_one_line():
    result = evaluate("causal_attention", REGISTRY["causal_attention"].mistakes[0].fn)
    assert "\n" not in result.summary() and "looks like" in result.summary()
