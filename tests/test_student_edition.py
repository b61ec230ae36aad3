"""The student edition (`python3 course.py student`): what it writes, what it never overwrites, and that it runs.

Every chapter that uses the exercise layout is run here as a learner gets it, in two ways:
- its exercise cells only (the setup cell, each stub and each check; then each stub filled with its
  reference, programmatically, and each check again): every check reports "not attempted", then
  every check passes. Cheap for every chapter, 05 and 06 included, whose full runs take minutes;
- end to end, for the cheap chapters in FULL_RUNS: the whole student edition, no error, every
  exercise "not attempted". (nbval already runs every committed chapter, the same cells with their
  outputs, end to end.)
Chapters 07-11 join automatically once their exercises use the layout.
"""
import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from gptedu.exercises import REGISTRY, exercises_of
from gptedu.exercises.edition import (
    MANIFEST, exercise_cells_only, exercises_in, filled_with_solutions, main, read_notebook, role, source,
    student_edition, uses_exercise_layout, write_student_edition)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LAYOUT = [p for p in NOTEBOOKS if uses_exercise_layout(read_notebook(p))]
FULL_RUNS = {"03_attention", "04_gpt1_model"}  # about a minute each; the others' exercise cells run below


def run(nb: dict, folder: Path, timeout: int = 900) -> dict:
    """Execute in a fresh kernel (it inherits the offline guard and one torch thread); raises on any error."""
    node = nbformat.reads(json.dumps(nb), as_version=4)  # sources as strings, as nbclient expects
    NotebookClient(node, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return node


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_the_layout_is_used_by_chapters_01_to_11():
    assert {p.name[:2] for p in LAYOUT} >= {f"{n:02d}" for n in range(1, 12)}


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    write_student_edition(folder)
    return folder


@pytest.mark.parametrize("path", LAYOUT, ids=lambda p: p.stem)
def test_exercise_outputs_are_cleared_and_everything_else_is_identical(edition, path):
    committed, student = read_notebook(path), read_notebook(edition / path.name)
    assert student["metadata"]["gptedu"] == {"edition": "student", "chapter": path.stem, "solutions": True}
    assert len(student["cells"]) == len(committed["cells"])
    for mine, theirs in zip(student["cells"], committed["cells"]):
        if role(theirs) in ("stub", "check", "solution"):
            assert mine["outputs"] == [] and mine["execution_count"] is None
            assert source(mine) == source(theirs) and mine["metadata"] == theirs["metadata"]
        else:
            assert mine == theirs
        if role(theirs) == "solution":
            assert mine["metadata"]["jupyter"] == {"source_hidden": True, "outputs_hidden": True}


def test_no_solutions_leaves_out_solutions_and_hints(tmp_path):
    write_student_edition(tmp_path, solutions=False)
    for path in LAYOUT:
        student = read_notebook(tmp_path / path.name)
        assert not [c for c in student["cells"] if role(c) in ("solution", "hints")]
        assert {role(c) for c in student["cells"]} >= {"task", "stub", "check"}
        assert all("_solution" not in source(c) and "Solution" not in source(c) for c in student["cells"]
                   if c["cell_type"] == "code")


def test_a_changed_notebook_is_kept_until_reset_or_force(tmp_path, capsys):
    assert main([str(tmp_path)]) == 0
    chapter = tmp_path / LAYOUT[0].name
    other = tmp_path / LAYOUT[1].name
    nb = read_notebook(chapter)
    stub = next(c for c in nb["cells"] if role(c) == "stub")
    stub["source"] = source(stub) + "\n# my own attempt\n"
    chapter.write_text(json.dumps(nb))
    mine = chapter.read_text()
    capsys.readouterr()

    assert main([str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert chapter.read_text() == mine                    # the learner's work is never overwritten
    assert f"kept     {chapter.name}: you changed it" in said
    assert f"--reset {chapter.name[:2]}" in said           # and they are told how to reset it
    assert f"same     {other.name}" in said

    other.write_text(other.read_text().replace("# Your turn", "# Your turn, mine", 1))
    assert main([str(tmp_path), "--reset", chapter.name[:2]]) == 0
    assert "# my own attempt" not in chapter.read_text()  # that chapter only
    assert "# Your turn, mine" in other.read_text()
    assert main([str(tmp_path), "--force"]) == 0
    assert "# Your turn, mine" not in other.read_text()
    assert json.loads((tmp_path / MANIFEST).read_text())["solutions"] is True


def test_reset_of_an_unknown_chapter_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--reset", "99"])


@pytest.mark.parametrize("path", LAYOUT, ids=lambda p: p.stem)
def test_exercise_cells_not_attempted_then_filled_with_the_references_pass(edition, path, tmp_path):
    """The student edition's setup + exercise cells: every check says 'not attempted'; the same cells with
    every stub filled with its reference (done here, programmatically): every check passes."""
    student = read_notebook(edition / path.name)
    blank = exercise_cells_only(student)
    filled = exercise_cells_only(filled_with_solutions(student))
    again = [dict(c, id=f"{c['id']}-filled") for c in filled["cells"] if role(c) != "setup"]
    both = dict(blank, cells=blank["cells"] + again)
    done = run(both, tmp_path)
    checks = [c for c in done.cells if role(c) == "check"]
    n = len(exercises_in(student))
    assert n == len(exercises_of(path.name[:2])) >= 3
    assert len(checks) == 2 * n
    for cell in checks[:n]:
        assert "not attempted yet" in text_of(cell), text_of(cell)
    for cell in checks[n:]:
        assert text_of(cell).startswith("✓") and "right on all" in text_of(cell), text_of(cell)


@pytest.mark.parametrize("path", [p for p in LAYOUT if p.stem in FULL_RUNS], ids=lambda p: p.stem)
def test_the_whole_student_edition_runs_with_every_exercise_not_attempted(edition, path, tmp_path):
    done = run(read_notebook(edition / path.name), tmp_path)
    checks = [c for c in done.cells if role(c) == "check"]
    assert len(checks) == len(exercises_in(read_notebook(path)))
    for cell in checks:
        assert "not attempted yet" in text_of(cell), text_of(cell)


def test_every_registered_exercise_is_in_its_chapter():
    in_notebooks = {eid for p in LAYOUT for eid in exercises_in(read_notebook(p))}
    chapters = {p.name[:2] for p in LAYOUT}
    assert {eid for eid, e in REGISTRY.items() if e.chapter in chapters} == in_notebooks


def test_course_py_runs_both_commands_from_the_callers_folder(tmp_path, monkeypatch, capfd):
    from tests.scripts import load_script

    course = load_script("course.py")
    monkeypatch.chdir(tmp_path)
    assert course.main(["student", "mine", "--no-solutions"]) == 0   # a relative folder, from where it was called
    assert (tmp_path / "mine" / "03_attention.ipynb").exists()
    assert course.main(["grade", "nowhere"]) == 1
    assert "nowhere is not a folder" in capfd.readouterr().err
