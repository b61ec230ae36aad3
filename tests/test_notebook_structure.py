"""Every chapter keeps the shape of notebooks/README.md: goals, setup, a figure, tested exercises."""
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_hidden_checked_solutions(path):
    all_cells = cells(path)
    exercises = [i for i, c in enumerate(all_cells)
                 if c["cell_type"] == "markdown" and source(c).lstrip().startswith("### Exercise")]
    assert exercises, "every chapter ends with exercises"
    for i in exercises:
        solution = all_cells[i + 1]
        if is_attempt(solution):  # a build exercise: an empty cell for the learner first
            solution = all_cells[i + 2]
        assert solution["cell_type"] == "code" and source(solution).startswith("# Solution"), source(all_cells[i])
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True
        assert any(check in source(solution) for check in ("assert ", "expect(", "expect_close(")), \
            "a solution checks its answer"


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
