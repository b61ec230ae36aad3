"""The README's statements about chapters and results stay true to the repository.

The README is the front door; its results and maintainers' material live in docs/ (results.md, teachers.md,
maintainers.md, package.md), which it links. Held here:
- every chapter it (or a docs page) links or names exists, and none calls an existing chapter "planned";
- every relative link in README.md and docs/*.md points to a file that exists;
- the depth paragraph's gradient-norm numbers (docs/results.md) are those of data/results/gpt2_depth_sweep.json;
- the time per chapter is what the notebooks recorded when their committed outputs were made;
- the commands the front door gives exist as it says (book, student --reset, the JupyterLab options, the pins).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = {p: p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
RESULTS = (ROOT / "docs" / "results.md").read_text()
FLAT = " ".join(README.split())  # line breaks are layout, not content
RESULTS_FLAT = " ".join(RESULTS.split())
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


def test_every_relative_link_resolves():
    for path, text in DOCS.items():
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not re.match(r"[a-z]+:", link):
                assert (path.parent / link).exists(), f"{path.relative_to(ROOT)} links {link}, which does not exist"


def test_readme_links_its_docs_pages():
    for page in ("docs/results.md", "docs/teachers.md", "docs/maintainers.md", "docs/package.md", "book/README.md"):
        assert f"]({page})" in README, f"README does not link {page}"


def test_every_named_chapter_exists():
    for path, text in DOCS.items():
        for sentence in sentences(text):
            for n in chapter_numbers(sentence):
                assert n in CHAPTERS, f"{path.name} names chapter {n:02d}, which does not exist: {sentence!r}"


def test_no_existing_chapter_is_called_planned():
    for path, text in DOCS.items():
        for sentence in sentences(text):
            if re.search(r"\b(planned|not yet written|to come|coming soon)\b", sentence, re.I):
                named = chapter_numbers(sentence) & set(CHAPTERS)
                assert not named, f"{path.name} calls existing chapters {sorted(named)} planned: {sentence!r}"


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
    assert f"({round(cold[0])} and {round(cold[1])} in the two seeds)" in RESULTS_FLAT
    assert f"with warmup it peaks at {warm[0]:.1f} and {warm[1]:.1f}" in RESULTS_FLAT
    hot = [r for r in final if r["lr"] == 6e-3 and r["warmup"] == 100 and r["stalled"]]
    peak = round(hot[0]["max_grad_norm"]) if len(hot) == 1 else None
    assert peak is not None and f"one warmed-up post-LN seed peaks at {peak} and stalls" in RESULTS_FLAT


def test_the_exercise_count_is_the_registry_s():
    from gptedu.exercises import REGISTRY
    chapters = sorted({e.chapter for e in REGISTRY.values()})
    assert f"Chapters {chapters[0]}–{chapters[-1]} have {len(REGISTRY)} build exercises" in FLAT


def test_time_per_chapter_is_what_the_notebooks_recorded():
    """Each row of the time table against the cell times in the notebook's metadata (root conftest.py reads them):
    within 10% or 10 s, so a re-executed chapter whose time changed must have its row updated."""
    from conftest import recorded_seconds

    section = README[README.index("## Time per chapter"):]
    section = section[:section.index("\n## ")]
    rows = dict(re.findall(r"^\| \[(\d\d)_\w+\]\(notebooks/[\w.]+\) \| ([\d.]+ (?:s|min)) \|$", section, re.M))
    assert set(rows) == {f"{n:02d}" for n in CHAPTERS}, f"the time table lists {sorted(rows)}"
    for n, path in CHAPTERS.items():
        value, unit = rows[f"{n:02d}"].split()
        stated = float(value) * (60 if unit == "min" else 1)
        recorded = recorded_seconds(f"notebooks/{path.name}")
        assert recorded > 0, f"{path.name} holds no cell timings"
        shown = f"{recorded / 60:.1f} min" if recorded >= 60 else f"{max(5, round(recorded / 5) * 5)} s"
        assert abs(stated - recorded) <= max(10.0, 0.1 * recorded), \
            f"README says chapter {n:02d} takes {rows[f'{n:02d}']}; its cells recorded {recorded:.0f} s: write {shown}"


def test_the_front_door_s_commands_are_real():
    from tests.scripts import load_script

    course = load_script("course.py")
    command = course.jupyterlab_command(["--no-browser", "--port", "8899"])
    assert "--no-browser" in command and "8899" in command, "course.py does not pass its options to JupyterLab"
    assert f"--LabApp.default_url=/lab/tree/{course.FIRST_NOTEBOOK}" in command
    assert "/lab/tree/notebooks/00_welcome.ipynb?token=" in FLAT and (ROOT / course.FIRST_NOTEBOOK).exists()
    assert "python3 course.py book" in FLAT and "`_build/book/`" in FLAT and "`_build/book/index.html`" in FLAT
    assert 'default=ROOT / "_build" / "book"' in (ROOT / "book" / "build.py").read_text()  # the folder it names
    assert "git checkout -- notebooks/03_attention.ipynb" in FLAT and (ROOT / "notebooks/03_attention.ipynb").exists()
    edition = (ROOT / "gptedu" / "exercises" / "edition.py").read_text()
    assert "python3 course.py student --reset 03" in FLAT and '"--reset"' in edition
    from tests.test_pins import pins
    pinned = pins((ROOT / "requirements.txt").read_text())
    assert f"`torch=={pinned['torch']}`" in FLAT and f"numpy {pinned['numpy']} needs 3.11" in FLAT
