"""The README's statements about chapters and results stay true to the repository.

- every chapter it links or names exists, and it calls no existing chapter "planned";
- the depth paragraph's gradient-norm numbers are those of data/results/gpt2_depth_sweep.json.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FLAT = " ".join(README.split())  # line breaks are layout, not content
CHAPTERS = {int(p.name[:2]): p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s]


def chapter_numbers(sentence: str) -> set[int]:
    """Chapter numbers a sentence names: "chapter 07", "chapters 08–11", "Chapters 08, 10 and 11"."""
    found: set[int] = set()
    for m in re.finditer(r"[Cc]hapters?\s+((?:\d{1,2}(?:\s*(?:[–-]|,|and|to)\s*)?)+)", sentence):
        nums = [int(n) for n in re.findall(r"\d{1,2}", m.group(1))]
        ranges = re.findall(r"(\d{1,2})\s*[–-]\s*(\d{1,2})", m.group(1))
        found.update(nums)
        for lo, hi in ranges:
            found.update(range(int(lo), int(hi) + 1))
    return found


def test_sentence_parser_finds_ranges_and_lists():
    assert chapter_numbers("Chapters 08–11 are planned.") == {8, 9, 10, 11}
    assert chapter_numbers("chapter 07 and chapters 08, 10 and 11") == {7, 8, 10, 11}


def test_every_linked_notebook_exists():
    for link in re.findall(r"\((notebooks/[^)]+\.ipynb)\)", README):
        assert (ROOT / link).exists(), f"README links {link}, which does not exist"


def test_every_named_chapter_exists():
    for sentence in sentences(README):
        for n in chapter_numbers(sentence):
            assert n in CHAPTERS, f"README names chapter {n:02d}, which does not exist: {sentence!r}"


def test_no_existing_chapter_is_called_planned():
    for sentence in sentences(README):
        if re.search(r"\b(planned|not yet written|to come|coming soon)\b", sentence, re.I):
            named = chapter_numbers(sentence) & set(CHAPTERS)
            assert not named, f"README calls existing chapters {sorted(named)} planned: {sentence!r}"


def test_chapter_table_lists_every_chapter():
    rows = {int(m) for m in re.findall(r"^\| (\d\d) \| \[", README, re.M)}
    assert rows == set(CHAPTERS)


def test_depth_paragraph_matches_the_sweep():
    rows = json.loads((ROOT / "data/results/gpt2_depth_sweep.json").read_text())["rows"]
    final = [r for r in rows if r["grid"] == "final" and r["n_layer"] == 12 and r["norm"] == "post"]

    def peaks(lr: float, warmup: int) -> list[float]:
        return [r["max_grad_norm"] for r in sorted(final, key=lambda r: r["seed"])
                if r["lr"] == lr and r["warmup"] == warmup]

    cold, warm = peaks(3e-3, 0), peaks(3e-3, 100)
    assert f"({round(cold[0])} and {round(cold[1])} in the two seeds)" in FLAT
    assert f"with warmup it peaks at {warm[0]:.1f} and {warm[1]:.1f}" in FLAT
    hot = [r for r in final if r["lr"] == 6e-3 and r["warmup"] == 100 and r["stalled"]]
    assert len(hot) == 1 and f"one warmed-up post-LN seed peaks at {round(hot[0]['max_grad_norm'])} and stalls" in FLAT


def test_the_exercise_count_is_the_registry_s():
    from gptedu.exercises import REGISTRY
    chapters = sorted({e.chapter for e in REGISTRY.values()})
    assert f"Chapters {chapters[0]}–{chapters[-1]} have {len(REGISTRY)} build exercises" in FLAT
