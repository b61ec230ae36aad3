"""`python3 course.py grade FOLDER` on a classroom of fake students, within the time limit.

Chapter 06 (four build exercises, a setup cell that loads nothing heavy): all right, half right,
a syntax error, an infinite loop (a looping function and a looping cell), a deleted cell, a file
that is not a notebook, and an empty folder. Each is graded in its own process; none stops the others.
"""
import csv
import time
from pathlib import Path

import pytest

from gptedu.exercises import REGISTRY
from gptedu.exercises.edition import (exercises_in, filled_with_solutions, read_notebook, student_edition,
                                      write_notebook)
from gptedu.exercises.grading import Graded, grade, grade_notebook, main

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "06_gpt1_finetuning"
LIMITS = dict(timeout=120, seconds_per_cell=20, seconds_per_case=2)  # generous: the machine may be loaded


def student_copy() -> dict:
    return student_edition(read_notebook(ROOT / "notebooks" / f"{CHAPTER}.ipynb"), CHAPTER)


def with_stub(nb: dict, exercise: str, code: str) -> dict:
    nb["cells"][exercises_in(nb)[exercise]["stub"]]["source"] = code
    return nb


def appended_to_stub(nb: dict, exercise: str, code: str) -> dict:
    """The learner's own (wrong) version after the reference: the references the other exercises use stay defined."""
    stub = nb["cells"][exercises_in(nb)[exercise]["stub"]]
    stub["source"] = stub["source"] + "\n\n" + code
    return nb


def added_cell(nb: dict, code: str) -> dict:
    nb["cells"].append({"cell_type": "code", "execution_count": None, "id": f"mine-{len(nb['cells'])}", "metadata": {},
                        "outputs": [], "source": code})
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    classroom = tmp_path_factory.mktemp("classroom")
    right = filled_with_solutions(student_copy())
    folders = {name: classroom / name for name in ("alice", "bob", "carol", "dave", "frank", "gina")}
    for folder in folders.values():
        folder.mkdir()
    write_notebook(right, folders["alice"] / f"{CHAPTER}.ipynb")                       # all right
    half = filled_with_solutions(student_copy())
    appended_to_stub(half, "entailment_input", "def my_entailment_input(tok, premise, hypothesis, block_size):\n"
              "    first, second = tok.encode(premise), tok.encode(hypothesis)\n"
              "    room = block_size - 3 - len(second)\n"
              "    return [tok.start] + first[:room] + [tok.delim] + second + [tok.extract]\n")
    appended_to_stub(half, "extract_states", "def extract_states(h, lengths):\n    return h[:, -1]\n")
    write_notebook(half, folders["bob"] / f"{CHAPTER}.ipynb")                          # half right
    broken = filled_with_solutions(student_copy())
    with_stub(broken, "l3_loss", "def l3_loss(task_logits, labels, lm_logits, lm_targets, lam=0.5):\n"
              "    return (F.cross_entropy(task_logits, labels)\n")
    write_notebook(broken, folders["carol"] / f"{CHAPTER}.ipynb")                      # a syntax error
    looping = filled_with_solutions(student_copy())
    with_stub(looping, "extract_states", "def extract_states(h, lengths):\n    while True:\n        pass\n")
    added_cell(looping, "n = 0\nwhile True:\n    n += 1\n")
    pid_file = classroom.parent / "dave-sleep.pid"  # a process started by the learner's code must not outlive it
    added_cell(looping, f"import subprocess\nsleeper = subprocess.Popen(['sleep', '300'])\n"
                        f"open({str(pid_file)!r}, 'w').write(str(sleeper.pid))\n")
    write_notebook(looping, folders["dave"] / f"{CHAPTER}.ipynb")                      # infinite loops
    deleted = filled_with_solutions(student_copy())
    del deleted["cells"][exercises_in(deleted)["similarity_inputs"]["stub"]]
    write_notebook(deleted, folders["frank"] / f"{CHAPTER}.ipynb")                     # a deleted cell
    (classroom / "erin.ipynb").write_text("my homework is in the attached Word file")  # not a notebook
    started = time.perf_counter()
    rows = grade(classroom, tmp_path_factory.mktemp("grades"), **LIMITS)
    seconds = time.perf_counter() - started
    return rows, seconds, tmp_path_factory.getbasetemp()


def by_student(rows):
    return {row.student: row for row in rows}


def statuses(row: Graded) -> dict:
    return {column.split(" ", 1)[1]: status for column, status in row.statuses.items()}


def test_every_student_gets_a_row_within_the_time_limit(graded):
    rows, seconds, _ = graded
    assert [r.student for r in rows] == ["alice", "bob", "carol", "dave", "erin", "frank", "gina"]
    assert seconds < 6 * LIMITS["timeout"]  # six notebooks run, none may take the whole limit here


def test_all_right(graded):
    alice = by_student(graded[0])["alice"]
    assert set(statuses(alice).values()) == {"passed"} and alice.passed == 4 and not alice.notes


def test_half_right_names_the_mistakes(graded):
    bob = by_student(graded[0])["bob"]
    assert statuses(bob) == {"entailment_input": "failed", "similarity_inputs": "passed",
                             "extract_states": "failed", "l3_loss": "passed"}
    assert "the premise is cut at its end" in bob.cells["06 entailment_input"]
    assert "reads the last position of the padded batch" in bob.cells["06 extract_states"]


def test_a_syntax_error_is_its_exercise_only(graded):
    carol = by_student(graded[0])["carol"]
    assert statuses(carol)["l3_loss"] == "error" and "SyntaxError" in carol.cells["06 l3_loss"]
    assert carol.passed == 3


def test_infinite_loops_stop_at_their_limits(graded):
    dave = by_student(graded[0])["dave"]
    assert statuses(dave)["extract_states"] == "failed" and "infinite loop" in dave.cells["06 extract_states"]
    assert dave.passed == 3
    assert any("still running after 20 s" in note for note in dave.notes)  # the looping cell


def test_nothing_the_learners_code_started_outlives_it(graded):
    pid_files = list(Path(graded[2]).rglob("dave-sleep.pid"))
    assert pid_files, "the learner's cell ran"
    pid = int(pid_files[0].read_text())
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "State:\tZ" in status.read_text()  # gone (or a zombie nobody reaped yet)


def test_a_deleted_cell_and_not_a_notebook_and_nothing_submitted(graded):
    rows = by_student(graded[0])
    frank, erin, gina = rows["frank"], rows["erin"], rows["gina"]
    assert statuses(frank)["similarity_inputs"] == "missing" and frank.passed == 3
    assert erin.passed == 0 and "not a notebook" in erin.notes[0]
    assert gina.notes == ["no file submitted"]


def test_the_tables(graded):
    rows, _, base = graded
    out = next(p for p in base.rglob("grades.csv"))
    table = list(csv.reader(out.open()))
    exercises = [f"06 {eid}" for eid, e in REGISTRY.items() if e.chapter == "06"]
    assert table[0] == ["student", *exercises, "total", "notes"]
    assert [line[0] for line in table[1:]] == [r.student for r in rows]
    assert table[1][1:6] == ["passed"] * 4 + ["4/4"]
    assert [line[5] for line in table[1:]] == ["4/4", "2/4", "3/4", "3/4", "0/4", "3/4", "0/4"]
    markdown = (out.parent / "grades.md").read_text()
    assert markdown.count("\n") == len(rows) + 2 and "| alice | passed | passed | passed | passed | 4/4 |" in markdown
    assert len(list((out.parent / "logs").glob("*.log"))) == 5


def test_the_whole_notebook_is_stopped_at_its_time_limit(tmp_path):
    """A loop the per-cell limit does not catch (it is longer than the notebook's): the child is killed,
    and every exercise says why."""
    nb = added_cell(student_copy(), "while True:\n    pass\n")
    path = tmp_path / f"{CHAPTER}.ipynb"
    write_notebook(nb, path)
    row = Graded("hal")
    started = time.perf_counter()
    grade_notebook(path, "hal", row, tmp_path, timeout=25, seconds_per_cell=600, seconds_per_case=2)
    assert time.perf_counter() - started < 40
    assert set(row.statuses.values()) == {"error"}
    assert all("ran past the time limit of 25 s" in text for text in row.cells.values())


def test_grading_a_missing_folder_says_so(tmp_path):
    with pytest.raises(SystemExit, match="is not a folder"):
        main([str(tmp_path / "nowhere")])
