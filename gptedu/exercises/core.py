"""How a build exercise is checked: run the learner's object on cases, compare with the reference,
name the mistake.

An `Exercise` holds a reference implementation, a list of cases (several inputs, edge cases among
them: T = 1, a batch of one, a length that is not a multiple of anything), and the `Mistake`s it is
proven against: wrong implementations written the way learners get it wrong. `evaluate` calls the
learner's object on every case and returns a `Result`:

- "passed": every case equals the reference (one line);
- "not attempted": the stub is still a stub (its body is `...`, `pass` or `raise NotImplementedError`,
  or it returns None / Ellipsis everywhere), reported without raising, so a notebook whose stubs are
  untouched still runs top to bottom;
- "failed": which case, expected against got (shape or values), and, when the learner's outputs equal
  one of the known mistakes' outputs on every case, that mistake's name and a hint for it;
- "missing": no object was given (grading: no cell defines the name).

`check` prints the result in the notebook; the grader (`gptedu.exercises.grading`) calls `evaluate`.
"""
from __future__ import annotations

import ast
import copy
import inspect
import math
import signal
import textwrap
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

PASSED, FAILED, NOT_ATTEMPTED, MISSING, ERROR = "passed", "failed", "not attempted", "missing", "error"


class CheckTimeout(Exception):
    """The learner's code ran past the time limit (the grader sets one; notebooks do not)."""


@dataclass
class Case:
    """One input: `describe` is what the learner reads ("a batch of one, T = 1")."""
    describe: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Mistake:
    """A wrong implementation, as learners write it; `name` is what the check says it looks like."""
    name: str
    fn: Callable
    hint: str


@dataclass
class Exercise:
    id: str                 # unique across the course, e.g. "causal_attention"
    chapter: str            # "03"
    name: str               # the learner's name in the notebook, e.g. "my_causal_attention"
    solution_name: str      # the reference's name in the solution cell
    title: str
    reference: Callable     # the right implementation (a function, or a class for class exercises)
    cases: Callable[[], list[Case]]  # built on demand, deterministic
    hint: str               # the general hint when no known mistake matches
    mistakes: list[Mistake] = field(default_factory=list)
    run: Callable | None = None          # how to call the object on a case: run(obj, case) -> output
    compare: Callable | None = None      # compare(expected, got) -> None if equal, else what differs


@dataclass
class Result:
    exercise: str
    name: str
    status: str
    message: str
    mistake: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def summary(self) -> str:
        """The message on one line (for a grade table)."""
        return " · ".join(line.strip() for line in self.message.splitlines() if line.strip())

    def __str__(self) -> str:
        return self.message


REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.id in REGISTRY:
        raise ValueError(f"exercise {exercise.id!r} is registered twice")
    REGISTRY[exercise.id] = exercise
    return exercise


# ====================================================================== is it still a stub?
def _is_stub_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return node.value.value is Ellipsis or isinstance(node.value.value, str)  # `...` or a docstring
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):  # super().__init__()
        func = node.value.func
        return (isinstance(func, ast.Attribute) and func.attr == "__init__" and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "super")
    return False


def _is_stub_definition(node: ast.AST) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return all(_is_stub_statement(s) for s in node.body)
    if isinstance(node, ast.ClassDef):
        methods = [s for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
        others = [s for s in node.body if s not in methods]
        return bool(methods) and all(map(_is_stub_definition, methods)) and all(map(_is_stub_statement, others))
    return False


def is_stub(obj: Any) -> bool:
    """True if `obj`'s source is still a stub: every body is `...`, `pass`, a docstring or
    `raise NotImplementedError` (and `super().__init__()` in a class). False when unsure."""
    if inspect.isclass(obj):  # a class's own source cannot be found for cells (no file): read its methods
        methods = [m for m in vars(obj).values() if inspect.isfunction(m)]
        return bool(methods) and all(map(is_stub, methods))
    try:
        source = textwrap.dedent(inspect.getsource(obj))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return False
    definitions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return len(definitions) == 1 and _is_stub_definition(definitions[0])


# ====================================================================== comparing outputs
def _shape(x) -> str:
    return str(tuple(x.shape))


def _preview(t: torch.Tensor, n: int = 4) -> str:
    flat = t.detach().flatten().double()
    shown = ", ".join(f"{v:.4g}" for v in flat[:n].tolist())
    return f"[{shown}{', ...' if flat.numel() > n else ''}]"


def describe_type(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {_shape(x)}"
    if x is None:
        return "None"
    return f"{type(x).__name__} {short_repr(x)}"


def short_repr(x, width: int = 70) -> str:
    text = repr(x)
    return text if len(text) <= width else text[:width - 5] + " ...]"


def compare_tensors(expected, got, atol: float = 1e-5, rtol: float = 1e-4, what: str = "the output") -> str | None:
    """None if `got` is a tensor (or number) equal to `expected` within tolerance, else what differs."""
    if isinstance(expected, torch.Tensor) and expected.dim() == 0 and isinstance(got, (int, float)) \
            and not isinstance(got, bool):
        got = torch.tensor(float(got))
    if not isinstance(got, torch.Tensor):
        return f"{what}: expected {describe_type(expected)}, got {describe_type(got)}"
    expected = torch.as_tensor(expected)
    if tuple(got.shape) != tuple(expected.shape):
        return f"{what}: wrong shape: expected {_shape(expected)}, got {_shape(got)}"
    if got.is_floating_point() or expected.is_floating_point():
        e, g = expected.detach().double(), got.detach().double()
        bad = ~torch.isfinite(g) & torch.isfinite(e)
        if bad.any():
            return f"{what}: the shape is right, but {int(bad.sum())} value(s) are nan or inf where a finite number is expected"
        if not torch.allclose(g, e, atol=atol, rtol=rtol, equal_nan=True):
            gap = (g - e).abs().nan_to_num(nan=float("inf")).max().item()
            return (f"{what}: the shape is right, the values are not: expected {_preview(e)}, got {_preview(g)} "
                    f"(largest difference {gap:.3g})")
        return None
    if not torch.equal(got.to(expected.dtype) if got.dtype != expected.dtype else got, expected):
        wrong = int((got.to(expected.dtype) != expected).sum())
        return (f"{what}: the shape is right, {wrong} of {expected.numel()} value(s) differ: "
                f"expected {_preview(expected, 8)}, got {_preview(got, 8)}")
    return None


def compare_exact(expected, got, what: str = "the output") -> str | None:
    """Plain Python values (lists of ints, dicts, strings): equal or not."""
    if type(expected) is not type(got) and not (isinstance(expected, (int, float)) and isinstance(got, (int, float))
                                                  and not isinstance(got, bool)):
        return f"{what}: expected {describe_type(expected)}, got {describe_type(got)}"
    if expected != got:
        if isinstance(expected, (list, str, tuple)) and isinstance(got, (list, str, tuple)) and len(expected) != len(got):
            return (f"{what}: expected length {len(expected)}, got length {len(got)}: "
                    f"expected {short_repr(expected)}, got {short_repr(got)}")
        return f"{what}: expected {short_repr(expected)}, got {short_repr(got)}"
    return None


def compare_floats(expected, got, rel: float = 1e-6, what: str = "the output") -> str | None:
    """A float or a list of floats, within a relative tolerance."""
    if isinstance(expected, list):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return f"{what}: expected a list of {len(expected)} numbers, got {describe_type(got)}"
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = compare_floats(e, g, rel, f"{what}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return f"{what}: expected a number, got {describe_type(got)}"
    if not math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12):
        return f"{what}: expected {expected:.6g}, got {got:.6g}"
    return None


def default_compare(expected, got) -> str | None:
    if isinstance(expected, torch.Tensor):
        return compare_tensors(expected, got)
    if isinstance(expected, float):
        return compare_floats(expected, got)
    return compare_exact(expected, got)


# ====================================================================== running
@contextmanager
def time_limit(seconds: float | None):
    """Raise CheckTimeout in this (main) thread after `seconds`; a no-op without a limit or off the main thread."""
    if not seconds or not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise CheckTimeout(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class _Outcome:
    output: Any = None
    error: BaseException | None = None

    def same_as(self, other: "_Outcome", compare: Callable) -> bool:
        if self.error is not None or other.error is not None:
            return (self.error is not None and other.error is not None and type(self.error) is type(other.error)
                    and _first_line(self.error) == _first_line(other.error))
        try:
            return compare(self.output, other.output) is None
        except Exception:  # noqa: BLE001 - a learner's odd output must not crash the check
            return False


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _call(exercise: Exercise, obj, case: Case, seconds: float | None = None) -> _Outcome:
    args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)  # the learner may change inputs
    try:
        with time_limit(seconds):
            if exercise.run is not None:
                output = exercise.run(obj, case)
            else:
                output = obj(*args, **kwargs)
        return _Outcome(output=output)
    except CheckTimeout as error:
        return _Outcome(error=error)
    except Exception as error:  # noqa: BLE001 - the learner's error is the message
        return _Outcome(error=error)


_REFERENCE_CACHE: dict[tuple[str, int], list[_Outcome]] = {}


def _reference_outcomes(exercise: Exercise, cases: list[Case]) -> list[_Outcome]:
    key = (exercise.id, id(exercise.reference))
    if key not in _REFERENCE_CACHE:
        outcomes = [_call(exercise, exercise.reference, case) for case in cases]
        for case, outcome in zip(cases, outcomes):
            if outcome.error is not None:
                raise RuntimeError(f"the reference of {exercise.id!r} fails on {case.describe!r}") from outcome.error
        _REFERENCE_CACHE[key] = outcomes
    return _REFERENCE_CACHE[key]


def _error_text(error: BaseException) -> str:
    if isinstance(error, CheckTimeout):
        return f"it did not finish: {error} (an infinite loop?)"
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()][:2]
    return f"it raised {type(error).__name__}: {' '.join(lines)}"


def evaluate(exercise_id: str, obj: Any, *, seconds_per_case: float | None = None) -> Result:
    """Check `obj` (the learner's function or class) against exercise `exercise_id`'s reference."""
    exercise = REGISTRY[exercise_id]
    shown = getattr(obj, "__name__", exercise.name)
    if obj is None:
        return Result(exercise.id, exercise.name, MISSING,
                      f"◌ {exercise.name}: not found. Run the cell that defines it (was it deleted or renamed?).")
    not_attempted = Result(exercise.id, shown, NOT_ATTEMPTED,
                           f"◌ {shown}: not attempted yet. Write it in the cell above, run that cell, then this one.")
    if is_stub(obj):
        return not_attempted
    compare = exercise.compare or default_compare
    cases = exercise.cases()
    expected = _reference_outcomes(exercise, cases)
    got = []
    for case in cases:  # after one case runs out of time, the others are not tried: an infinite loop costs one limit
        timed_out = got and isinstance(got[-1].error, CheckTimeout)
        got.append(got[-1] if timed_out else _call(exercise, obj, case, seconds_per_case))
    if all(isinstance(g.error, NotImplementedError) for g in got):
        return not_attempted
    if all(g.error is None and (g.output is None or g.output is Ellipsis) for g in got):
        return Result(exercise.id, shown, NOT_ATTEMPTED,
                      f"◌ {shown}: not attempted yet: it returns {got[0].output!r}. "
                      f"Write its body (and don't forget `return`), run that cell, then this one.")
    problems = []
    for case, want, have in zip(cases, expected, got):
        if have.error is not None:
            problems.append((case, _error_text(have.error)))
            continue
        try:
            difference = compare(want.output, have.output)
        except Exception as error:  # noqa: BLE001
            difference = f"its output could not be compared ({type(error).__name__}: {_first_line(error)})"
        if difference:
            problems.append((case, difference))
    if not problems:
        n = len(cases)
        return Result(exercise.id, shown, PASSED, f"✓ {shown}: right on all {n} cases.")
    case, difference = problems[0]
    lines = [f"✗ {shown}: wrong on {len(problems)} of {len(cases)} cases.",
             f"  first wrong case: {case.describe}",
             f"  {difference}"]
    mistake = _matching_mistake(exercise, cases, got, compare)
    if mistake is not None:
        lines.append(f"  looks like: {mistake.name}")
        lines.append(f"  hint: {mistake.hint}")
    else:
        lines.append(f"  hint: {exercise.hint}")
    return Result(exercise.id, shown, FAILED, "\n".join(lines), mistake.name if mistake else None)


def _matching_mistake(exercise: Exercise, cases: list[Case], got: list[_Outcome], compare: Callable) -> Mistake | None:
    for mistake in exercise.mistakes:
        theirs = [_call(exercise, mistake.fn, case) for case in cases]
        if all(g.same_as(t, compare) for g, t in zip(got, theirs)):
            return mistake
    return None


def check(exercise_id: str, obj: Any) -> None:
    """Check the learner's `obj` and print the result: one line when it passes or is not attempted yet;
    which case, what differs and a hint when it is wrong. Never raises for a wrong answer."""
    if exercise_id not in REGISTRY:
        raise KeyError(f"no exercise {exercise_id!r}; known: {', '.join(sorted(REGISTRY))}")
    print(evaluate(exercise_id, obj))
