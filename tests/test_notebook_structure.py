"""Every chapter keeps the shape of notebooks/README.md: goals, setup, a figure, tested exercises."""
import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_title_goals_and_setup(path):
    all_cells = cells(path)
    first = source(all_cells[0])
    assert all_cells[0]["cell_type"] == "markdown" and first.startswith(f"# {path.name[:2]} · ")
    assert "Goals" in first or "In this notebook" in first
    first_code = next(c for c in all_cells if c["cell_type"] == "code")
    assert "gptedu.setup(" in source(first_code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_is_committed_executed_with_a_figure(path):
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "commit the notebook executed (python3 course.py execute)"
    images = [o for c in code for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "every chapter shows at least one figure"


def is_attempt(cell: dict) -> bool:
    """The learner's cell of a build exercise: `# Your turn` and at most a skeleton, nothing run or checked."""
    text = source(cell)
    return cell["cell_type"] == "code" and text.startswith("# Your turn") and "assert" not in text


def role(cell: dict):
    return cell.get("metadata", {}).get("gptedu", {}).get("role")


def uses_layout(all_cells: list[dict]) -> bool:
    """Converted to the exercise layout of gptedu.exercises (chapters 01-06 so far)."""
    return any(role(c) == "stub" for c in all_cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_hidden_checked_solutions(path):
    all_cells = cells(path)
    exercises = [i for i, c in enumerate(all_cells)
                 if c["cell_type"] == "markdown" and source(c).lstrip().startswith("### Exercise")]
    assert exercises, "every chapter ends with exercises"
    for i in exercises:
        if role(all_cells[i]) == "task":
            continue  # a build exercise in the new layout: test_build_exercises_follow_the_layout
        solution = all_cells[i + 1]
        if is_attempt(solution):  # a build exercise: an empty cell for the learner first
            solution = all_cells[i + 2]
        assert solution["cell_type"] == "code" and source(solution).startswith("# Solution"), source(all_cells[i])
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True
        if uses_layout(all_cells):  # nothing of the answer shows before the learner opens it
            assert solution["metadata"]["jupyter"].get("outputs_hidden") is True, source(all_cells[i])[:40]
        assert any(check in source(solution) for check in ("assert ", "expect(", "expect_close(")), \
            "a solution checks its answer"


LAYOUT_CHAPTERS = [p for p in NOTEBOOKS if uses_layout(cells(p))]


@pytest.mark.parametrize("path", LAYOUT_CHAPTERS, ids=lambda p: p.stem)
def test_build_exercises_follow_the_layout(path):
    """task -> the learner's stub -> a check on the learner's name -> hints (collapsed) -> the solution (source and
    output collapsed) defining the reference under its own name and running the same check on it."""
    from gptedu.exercises import REGISTRY
    from gptedu.exercises.core import _is_stub_definition

    all_cells = cells(path)
    tasks = [i for i, c in enumerate(all_cells) if role(c) == "task"]
    assert len(tasks) >= 3, "at least three build exercises per chapter"
    for i in tasks:
        task, stub, check, hints, solution = all_cells[i:i + 5]
        eid = task["metadata"]["gptedu"]["exercise"]
        exercise = REGISTRY[eid]
        assert exercise.chapter == path.name[:2]
        assert source(task).startswith("### Exercise") and "(build)" in source(task).splitlines()[0]
        assert [role(c) for c in (stub, check, hints, solution)] == ["stub", "check", "hints", "solution"]
        assert {c["metadata"]["gptedu"]["exercise"] for c in (stub, check, hints, solution)} == {eid}
        assert is_attempt(stub)
        defined = [n for n in ast.parse(source(stub)).body if getattr(n, "name", None) == exercise.name]
        assert len(defined) == 1 and _is_stub_definition(defined[0]), "the stub defines the learner's name, unfilled"
        assert f'check("{eid}", {exercise.name})' in source(check)
        assert "<details>" in source(hints)
        assert source(solution).startswith("# Solution")
        assert f'check("{eid}", {exercise.solution_name})' in source(solution)
        assert solution["metadata"]["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
        said = printed(check)
        assert said.startswith(f"◌ {exercise.name}: not attempted yet"), said  # committed with the stub as is
        assert f"✓ {exercise.solution_name}: right on all" in printed(solution)


def printed(cell: dict) -> str:
    texts = [o.get("text", "") for o in cell.get("outputs", [])]
    return "".join("".join(t) if isinstance(t, list) else t for t in texts)


BUILD_CHAPTERS = [p for p in NOTEBOOKS if "02" <= p.name[:2] <= "07"]


@pytest.mark.parametrize("path", BUILD_CHAPTERS, ids=lambda p: p.stem)
def test_has_a_build_exercise(path):
    """Chapters 02 onwards ask the learner to write a piece of the model, not only to compute with it."""
    all_cells = cells(path)
    builds = [i for i, c in enumerate(all_cells)
              if c["cell_type"] == "markdown" and source(c).lstrip().startswith("### Exercise")
              and "(build)" in source(c).splitlines()[0]]
    assert builds, "add a '### Exercise N (build): ...' exercise: the learner writes part of the model"
    for i in builds:
        assert is_attempt(all_cells[i + 1]), "a build exercise gives the learner a '# Your turn' cell first"
