"""No long waits (#28, item 9): a learner running a chapter top to bottom on 2 cores waits at most about
2 minutes in any cell, and is told the expected wait before any cell that takes more than 20 s.

The times are the ones each committed notebook recorded when it was executed with
`python3 course.py execute notebooks/NN_*.ipynb` (Jupyter stores them per cell, in
metadata.execution: iopub.execute_input -> shell.execute_reply), on the course's 2-core machine.
That machine is shared, and a loaded machine records longer times than a learner's quiet one
(3-5x under heavy load), so a cell may cross a limit after a re-execution under load: then
re-execute when it is quieter, shorten the cell, or state its wait. The limits are on purpose
those a learner would meet on a quiet machine, not loosened for load.
"""
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LONGEST_S = 150  # about 2 minutes, with room for a slower laptop's jitter
SAY_WAIT_S = 20  # longer than this: the wait is printed by the cell or said just before it

# "about 40 s", "under a minute", "about half a minute", "2-3 minutes", "takes 90 seconds"...
WAIT = re.compile(r"\b(about|under|takes?|roughly|up to|within|wait)\b[^.\n]{0,40}?"
                  r"(\d+(\.\d+)?\s*([–-]\s*\d+\s*)?(s|sec|seconds?|min|minutes?)\b|half a minute|a minute|minutes?\b)",
                  re.IGNORECASE)
# Chapters whose committed execution still has a cell over a limit; each entry is work left, not a licence.
KNOWN: dict[str, str] = {}


def seconds(cell: dict) -> float | None:
    times = cell.get("metadata", {}).get("execution", {})
    start, end = times.get("iopub.execute_input"), times.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda stamp: datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def says_its_wait(cells: list[dict], i: int) -> bool:
    """The cell's source prints or states a wait, or the markdown just before it (code cells between the
    two count only if they are short) does."""
    text = "".join(cells[i]["source"])
    if WAIT.search(text):
        return True
    for j in range(i - 1, -1, -1):
        if cells[j]["cell_type"] == "markdown":
            return bool(WAIT.search("".join(cells[j]["source"])))
        if (seconds(cells[j]) or 0) > SAY_WAIT_S:
            return False
    return False


def slow_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    code = [(i, c) for i, c in enumerate(cells) if c["cell_type"] == "code"]
    assert any(seconds(c) is not None for _, c in code), f"{path.name} records no execution times: execute it with course.py"
    problems = []
    for i, cell in code:
        t = seconds(cell)
        first = "".join(cell["source"]).split("\n")[0][:60]
        if t is not None and t > LONGEST_S:
            problems.append(f"cell {i} ({first!r}) took {t:.0f} s, over {LONGEST_S} s")
        elif t is not None and t > SAY_WAIT_S and not says_its_wait(cells, i):
            problems.append(f"cell {i} ({first!r}) took {t:.0f} s and neither it nor the markdown before it says the wait")
    return problems


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.xfail(reason=KNOWN[p.stem], strict=True))
                                  if p.stem in KNOWN else p for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_no_cell_waits_long_and_every_long_wait_is_announced(path):
    problems = slow_cells(path)
    assert not problems, f"{path.name}, times recorded at its execution:\n  " + "\n  ".join(problems)


def test_the_wait_pattern_reads_the_chapters_phrasings():
    for said in ("about 40 s on 2 cores", "about half a minute on one CPU thread", "under a minute at the speed",
                 "takes 2–3 minutes", "(about 1.5 minutes)", "about 3 min"):
        assert WAIT.search(said), said
    for silent in ("fine-tuning steps 1-60 of 300", "about 45 reviews", "300 steps of 16"):
        assert not WAIT.search(silent), silent
