"""Longest work first, so that `python3 course.py test` ends when its longest chapter does.

`course.py test` spreads the suite over pytest-xdist workers with --dist loadscope: each notebook (nbval
needs its cells in order in one kernel) and each test module or class is one unit, handed out in
collection order. Collected as they come, the chapters' generic-kernel runs (tests/test_portability.py)
and the notebooks came last, and on a fresh clone (2 cores, 2026-12-07) the suite ended with one worker
running chapter 06 alone for minutes while the other sat idle: 23 minutes of wall time for 33 CPU-minutes.
Here the units are reordered longest first (the classic longest-processing-time rule), each weighed by
its notebook's own recorded execution time (nbconvert writes it into every cell's metadata when
`course.py execute` runs it); a unit with no notebook keeps its place after them.
"""
from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent
GENERIC_SLOWDOWN = 1.6  # generic kernels vs this CPU's own, about (chapter 10: 52 s vs 27 s under nbval)
BROWSER_SECONDS = {"tests/test_browser.py": 300.0, "tests/test_browser_student.py": 150.0,  # JupyterLab in Chromium
                   "tests/test_book.py": 90.0}  # the book built (15-40 s), then its 14 pages in Chromium (35 s here)


@lru_cache(maxsize=None)
def recorded_seconds(notebook: str) -> float:
    """Seconds the notebook's cells took when it was last executed (0 when it holds no timings)."""
    try:
        cells = json.loads((ROOT / notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return 0.0
    total = 0.0
    for cell in cells:
        t = cell.get("metadata", {}).get("execution", {})
        try:
            start = datetime.fromisoformat(t["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(t["shell.execute_reply"].replace("Z", "+00:00"))
        except (KeyError, ValueError, AttributeError):
            continue
        total += max(0.0, (end - start).total_seconds())
    return total


def unit_and_weight(nodeid: str) -> tuple[str, float]:
    """loadscope's unit for a node id (a notebook, a module, or module::Class) and its expected seconds."""
    path, _, rest = nodeid.partition("::")
    if path.endswith(".ipynb"):
        return path, recorded_seconds(path)
    first = rest.split("::")[0]
    if "::" in rest and first.startswith("Test"):  # a class: loadscope's unit is module::Class
        unit = f"{path}::{first}"
        notebook = getattr(_PORTABILITY, "get", lambda _: None)(first)
        return unit, GENERIC_SLOWDOWN * recorded_seconds(notebook) if notebook else 0.0
    return path, BROWSER_SECONDS.get(path, 0.0)


def _portability_classes() -> dict[str, str]:
    names = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return {f"TestGenericKernels{n[:2]}": f"notebooks/{n}" for n in names}


_PORTABILITY = _portability_classes()


def pytest_collection_modifyitems(session, config, items) -> None:
    units: dict[str, list] = {}
    weight: dict[str, float] = {}
    for item in items:
        unit, seconds = unit_and_weight(item.nodeid)
        units.setdefault(unit, []).append(item)
        weight[unit] = seconds
    order = sorted(units, key=lambda u: -weight[u])  # stable: equal weights keep their collected order
    items[:] = [item for unit in order for item in units[unit]]
