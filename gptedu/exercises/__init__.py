"""Build exercises: checks that run on the learner's own code.

In a chapter, the check cell of an exercise is

    from gptedu.exercises import check
    check("causal_attention", my_causal_attention)

It calls the learner's object on several cases, compares with the reference, and prints one line
when right or not attempted yet (a stub), and which case, what differs and a hint (naming the
mistake when it recognises it) when wrong. `gptedu.exercises.core` holds the machinery, one module
per chapter its exercises (`ch01` ... ), `edition` the student edition (`course.py student`) and
`grading` the classroom grader (`course.py grade`).
"""
from . import ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10, ch11  # noqa: F401  (each registers its exercises)
from .core import REGISTRY, Result, check, evaluate, is_stub

__all__ = ["REGISTRY", "Result", "check", "evaluate", "is_stub", "exercises_of"]


def exercises_of(chapter: str) -> list:
    """The exercises of a chapter ("03"), in the order they were registered."""
    return [e for e in REGISTRY.values() if e.chapter == chapter]
