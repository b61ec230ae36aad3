"""Grade a classroom's notebooks: `python3 course.py grade FOLDER`.

FOLDER holds one entry per student: a sub-folder with their chapter notebook(s), or a single file.
For each notebook the grader tells the chapter (from the student edition's stamp or the file name),
then runs the learner's code in a child process of its own, in a fresh scratch folder, with the
network blocked (the tests' guard, tests/offline/) and a time limit: the chapter's setup cell, the
learner's exercise cells and any cell the learner added, each cell with its own time limit, then
every check of the chapter, each case with a time limit too. Solution, hint and check cells are not
run (the grader runs the checks itself). The child writes its results after every check, so a
submission killed at the overall limit keeps what it had. A submission that is not a notebook,
does not parse, loops forever or lost a cell gets a row saying so; the others are graded anyway.

Writes FOLDER_grades/grades.csv and grades.md (student × exercise: passed / failed: the check's
message / not attempted / missing / error, and the total) and one log per submission.

What the isolation does NOT protect: the learner's code runs as you, with your files. The guard
blocks Python's sockets only (a C extension or a subprocess can still reach the network), the
scratch folder is only the working directory (absolute paths reach everything you can), and there
is no memory limit. Grade code you do not trust inside a container or a virtual machine.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .edition import NOTEBOOKS, ROOT, chapter_of, exercise_id, read_notebook, role, source

OFFLINE_GUARD = ROOT / "tests" / "offline"
STATUSES = ("passed", "failed", "not attempted", "missing", "error")


# ====================================================================== what to run
def master_of(chapter: str) -> dict:
    return read_notebook(NOTEBOOKS / f"{chapter}.ipynb")


def exercises_of_notebook(nb: dict) -> list[tuple[str, str]]:
    """[(exercise id, the learner's name)] of a chapter, in order."""
    from . import REGISTRY
    seen = []
    for cell in nb["cells"]:
        eid = exercise_id(cell)
        if eid and role(cell) == "stub" and eid not in [s for s, _ in seen]:
            seen.append((eid, REGISTRY[eid].name))
    return seen


def plan(submission: dict, master: dict) -> list[dict]:
    """The submission's cells to run, in order: setup and stub cells, and the cells the learner added
    (ids not in the chapter). Checks, solutions and hints are not run; neither are the chapter's other cells."""
    master_ids = {c.get("id") for c in master["cells"]}
    master_sources = {source(c) for c in master["cells"]}
    cells = []
    for index, cell in enumerate(submission["cells"]):
        if cell.get("cell_type") != "code":
            continue
        r = role(cell)
        added = r is None and cell.get("id") not in master_ids and source(cell) not in master_sources
        if r in ("setup", "stub") or added:
            cells.append({"index": index, "source": source(cell), "exercise": exercise_id(cell) if r == "stub" else None,
                          "role": r or "added"})
    return cells


# ====================================================================== the child: runs one submission
def _write_json(data, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def run_child(plan_path: str, result_path: str) -> int:
    """Run in the child process: the planned cells in IPython, then every check; results after each step."""
    from IPython.core.interactiveshell import InteractiveShell

    from .core import CheckTimeout, evaluate, time_limit

    spec = json.loads(Path(plan_path).read_text())
    out = Path(result_path)
    results = {"cells": [], "exercises": {}, "finished": False}
    shell = InteractiveShell.instance(colors="NoColor")
    for cell in spec["cells"]:
        print(f"\n----- cell {cell['index']} ({cell['role']}) -----", flush=True)
        try:
            with time_limit(spec["seconds_per_cell"]):
                outcome = shell.run_cell(cell["source"], store_history=False)
            error = outcome.error_before_exec or outcome.error_in_exec
        except CheckTimeout as stop:  # raised outside the cell's own code
            error = stop
        if error is not None:
            if isinstance(error, CheckTimeout):
                text = f"still running after {spec['seconds_per_cell']:g} s (an infinite loop?)"
            elif isinstance(error, SyntaxError):
                text = f"{type(error).__name__} on line {error.lineno}: {error.msg}"
            else:
                text = f"{type(error).__name__}: {error}".splitlines()[0]
            results["cells"].append({"index": cell["index"], "exercise": cell["exercise"], "error": text})
        _write_json(results, out)
    for eid, name in spec["exercises"]:
        print(f"\n----- check {eid} on {name} -----", flush=True)
        result = evaluate(eid, shell.user_ns.get(name), seconds_per_case=spec["seconds_per_case"])
        print(result.message, flush=True)
        results["exercises"][eid] = {"status": result.status, "message": result.message, "summary": result.summary()}
        _write_json(results, out)
    results["finished"] = True
    _write_json(results, out)
    return 0


# ====================================================================== the parent
@dataclass
class Graded:
    """One student's row."""
    student: str
    cells: dict = field(default_factory=dict)   # "03 causal_attention" -> "passed" / "failed: ..." / ...
    statuses: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    order: dict = field(default_factory=dict)   # column -> (chapter, position in the chapter)

    @property
    def passed(self) -> int:
        return sum(s == "passed" for s in self.statuses.values())


def child_env(scratch: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JPY_", "JUPYTER_"))}
    pythonpath = os.pathsep.join(filter(None, [str(OFFLINE_GUARD), env.get("PYTHONPATH", "")]))
    env.update({"GPTEDU_OFFLINE": "1", "PYTHONPATH": pythonpath, "MPLBACKEND": "Agg", "GPTEDU_THREADS": "1",
                "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TMPDIR": str(scratch),
                "PYTHONHASHSEED": "0", "MPLCONFIGDIR": str(scratch / ".matplotlib")})
    return env


def grade_notebook(path: Path, student: str, row: Graded, log_dir: Path, *, timeout: float,
                   seconds_per_cell: float, seconds_per_case: float) -> None:
    """Grade one notebook into `row`; never raises for anything the submission does."""
    try:
        nb = read_notebook(path)
    except (OSError, ValueError) as error:
        row.notes.append(f"{path.name}: not a notebook ({error})")
        return
    chapter = chapter_of(path, nb)
    if chapter is None:
        row.notes.append(f"{path.name}: not one of the course's chapters (name it like 03_attention.ipynb)")
        return
    master = master_of(chapter)
    exercises = exercises_of_notebook(master)
    if not exercises:
        row.notes.append(f"{path.name}: chapter {chapter} has no build exercises to grade")
        return
    columns = {eid: f"{chapter[:2]} {eid}" for eid, _ in exercises}
    row.order.update({column: (chapter, i) for i, column in enumerate(columns.values())})
    cells = plan(nb, master)
    spec = {"cells": cells, "exercises": exercises, "seconds_per_cell": seconds_per_cell,
            "seconds_per_case": seconds_per_case}
    scratch = Path(tempfile.mkdtemp(prefix="gptedu-grade-"))
    started = time.perf_counter()
    try:
        shutil.copy(path, scratch / path.name)
        (scratch / "plan.json").write_text(json.dumps(spec))
        log_path = log_dir / f"{student}--{chapter}.log"
        with open(log_path, "w") as log:
            child = subprocess.Popen([sys.executable, "-m", "gptedu.exercises.grading", "--child", "plan.json",
                                      "result.json"], cwd=scratch, env=child_env(scratch), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                child.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            _stop_all(child)  # at the limit, and after a normal exit too: nothing it started outlives it
        result_file = scratch / "result.json"
        results = json.loads(result_file.read_text()) if result_file.exists() else {"cells": [], "exercises": {}}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    cell_errors = {c["exercise"]: c["error"] for c in results["cells"] if c.get("exercise")}
    for c in results["cells"]:
        if not c.get("exercise"):
            row.notes.append(f"{path.name}, cell {c['index']}: {c['error']}")
    for eid, name in exercises:
        column = columns[eid]
        got = results["exercises"].get(eid)
        if got is None:
            why = (f"the notebook ran past the time limit of {timeout:g} s before this check" if timed_out else
                   f"the grader stopped before this check (exit code {child.returncode}; see {log_path.name})")
            status, text = "error", why
        else:
            status, text = got["status"], got["summary"]
            if status in ("missing", "not attempted") and eid in cell_errors:
                status, text = "error", f"in its cell, {cell_errors[eid]}"
        row.statuses[column] = status
        row.cells[column] = status if status in ("passed", "not attempted") else f"{status}: {_strip(text)}"
    if timed_out:
        row.notes.append(f"{path.name}: stopped at the time limit ({timeout:g} s)")
    print(f"  {student:<20} {chapter}: {sum(row.statuses[columns[e]] == 'passed' for e, _ in exercises)}/"
          f"{len(exercises)} passed ({seconds:.0f} s)", flush=True)


def _stop_all(child: subprocess.Popen) -> None:
    """Kill the child's whole process group (the child and anything it started); on Windows, the child."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(child.pid, signal.SIGKILL)
        elif child.poll() is None:
            child.kill()
    except (ProcessLookupError, PermissionError):
        pass
    child.wait()


def _strip(text: str) -> str:
    return text.lstrip("✓✗◌ ").strip()


def students_in(folder: Path, out: Path) -> list[tuple[str, list[Path]]]:
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")) or entry.resolve() == out.resolve():
            continue
        if entry.is_dir():
            files = sorted(p for p in entry.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts
                           and not p.name.startswith("."))
            notebooks = [p for p in files if p.suffix == ".ipynb"]
            found.append((entry.name, notebooks or files))
        else:
            found.append((entry.stem, [entry]))
    return found


def grade(folder: str | Path, out: str | Path | None = None, *, timeout: float = 600, seconds_per_cell: float = 120,
          seconds_per_case: float = 30) -> list[Graded]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder: give a folder with one sub-folder or file per student.")
    if not (OFFLINE_GUARD / "sitecustomize.py").exists():
        raise SystemExit(f"the network guard {OFFLINE_GUARD} is missing: grading needs the course's full checkout.")
    out = Path(out) if out else folder.parent / f"{folder.name}_grades"
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    students = students_in(folder, out)
    print(f"Grading {len(students)} submission(s) from {folder} (time limit {timeout:g} s each):", flush=True)
    for student, files in students:
        row = Graded(student)
        if not files:
            row.notes.append("no file submitted")
        for path in files:
            try:
                grade_notebook(path, student, row, logs, timeout=timeout, seconds_per_cell=seconds_per_cell,
                               seconds_per_case=seconds_per_case)
            except Exception as error:  # noqa: BLE001 - a bad submission never stops the class's grading
                row.notes.append(f"{path.name}: the grader could not grade it ({type(error).__name__}: {error})")
        rows.append(row)
    write_tables(rows, out)
    print(f"Wrote {out / 'grades.csv'} and {out / 'grades.md'}; each submission's output is in {logs}.")
    return rows


def write_tables(rows: list[Graded], out: Path) -> None:
    order = {}
    for row in rows:
        order.update(row.order)
    columns = sorted(order, key=order.get)  # chapters in order, exercises in the chapter's order
    header = ["student", *columns, "total", "notes"]
    table = []
    for row in rows:
        total = f"{row.passed}/{len(columns)}"
        absent = "not graded: see notes" if row.notes else "missing: no notebook for this chapter"
        cells = [row.cells.get(c, absent) for c in columns]
        table.append([row.student, *cells, total, "; ".join(row.notes)])
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *table])
    escape = lambda text: str(text).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(v) for v in values) + " |" for values in table]
    (out / "grades.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return run_child(argv[1], argv[2])
    parser = argparse.ArgumentParser(
        prog="python3 course.py grade",
        description="Grade submitted notebooks: one sub-folder or file per student. Runs the learners' code, each "
                    "submission in its own process, offline, in a scratch folder, with a time limit.")
    parser.add_argument("folder", help="the submissions: one sub-folder (or one file) per student")
    parser.add_argument("--out", help="where to write grades.csv, grades.md and logs/ (default: FOLDER_grades)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for one notebook in all (default 600)")
    parser.add_argument("--cell-timeout", type=float, default=120, help="seconds for one cell (default 120)")
    parser.add_argument("--case-timeout", type=float, default=30, help="seconds for one case of a check (default 30)")
    args = parser.parse_args(argv)
    grade(args.folder, args.out, timeout=args.timeout, seconds_per_cell=args.cell_timeout,
          seconds_per_case=args.case_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
