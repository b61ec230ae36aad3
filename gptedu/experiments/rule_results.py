"""Reading family v2's rule results: pooled exact match with Wilson intervals, and the transition table.

Chapter 10 plots these; tests/test_ch10_v2_claims.py holds its sentences to them. The files are
data/results/family_v2_eval.json (gptedu.experiments.eval_family --family v2) and
data/results/task_diversity.json (gptedu.experiments.task_diversity).

    >>> ev = load_eval()
    >>> pooled(ev, "793k", HELD_LETTERS, k=8)        # training rules, letters no training episode used
    {'hits': ..., 'n': 1400, 'accuracy': ..., 'ci95': (..., ...), 'copier': 0.0}
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..evaluation import wilson_interval
from ..rule_tasks import HELD_OUT_FAMILIES, RULES, TRAIN_FAMILIES

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "data" / "results" / "family_v2_eval.json"
TRANSITION = ROOT / "data" / "results" / "task_diversity.json"

LETTER_FAMILIES = tuple(f for f in TRAIN_FAMILIES if RULES[f].kind == "letter")
HELD_LETTERS = tuple(f"{f}@held_letters" for f in LETTER_FAMILIES)  # the main panel: nothing to copy, nothing seen
TRAINED_LETTERS = LETTER_FAMILIES  # the same rules with the letters training used
NEW_RULES = tuple(c for f in HELD_OUT_FAMILIES for c in (f, f"{f}@held_letters"))  # rule families never trained
FORMAT_CONDITIONS = tuple(f"{r}@{fmt}" for r in ("append", "replace_last", "insert_before_last")
                          for fmt in ("colon", "equals", "arrow_upper"))


def load_eval(path: str | Path = EVAL) -> dict:
    """{"settings": ..., "entries": {"<size>/rule:<condition>/<K>": {...}, "<size>/<task>/<K>/<desc>": ...}}"""
    return json.loads(Path(path).read_text())


def rule_point(ev: dict, size: str, condition: str, k: int) -> dict:
    return ev["entries"][f"{size}/rule:{condition}/{k}"]


def pooled(ev: dict, size: str, conditions: Sequence[str], k: int) -> dict:
    """One exact-match score over several conditions (their instances together) with its 95% Wilson interval."""
    points = [rule_point(ev, size, c, k) for c in conditions]
    hits = sum(round(p["accuracy"] * p["n"]) for p in points)
    n = sum(p["n"] for p in points)
    return {"hits": hits, "n": n, "accuracy": hits / n, "ci95": wilson_interval(hits, n),
            "copier": max(p["copier"] for p in points)}


def apart(a: dict, b: dict) -> bool:
    """b above a with non-overlapping 95% intervals."""
    return b["ci95"][0] > a["ci95"][1]


def load_transition(path: str | Path = TRANSITION, shape: Sequence[int] = (4, 128)) -> list[dict]:
    """The task-diversity runs of one shape, fewest tasks first, the unbounded stream last."""
    runs = [r for r in json.loads(Path(path).read_text())["runs"] if list(r["shape"]) == list(shape)]
    return sorted(runs, key=lambda r: (r["unbounded"], r["n_tasks"]))
