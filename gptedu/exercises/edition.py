"""The exercise layout of a chapter, and the learner's edition of the chapters (`python3 course.py student`).

Each cell of a build exercise carries `metadata.gptedu = {"exercise": ID, "role": ROLE}`, ROLE one of
task (markdown), stub (the learner's cell), check, hints (markdown, collapsed with <details>) and
solution (source and outputs collapsed). A chapter's setup cell (`gptedu.setup()`) has role "setup":
it and the exercise cells are all a check needs, so tests and the grader can run only those.
"Predict, then measure" exercises have a solution cell too (role "solution", no exercise id); in
chapters not converted yet, a collapsed cell starting with `# Solution` counts as one.

    python3 course.py student [FOLDER] [--no-solutions] [--force] [--reset NN ...]

writes every chapter as a learner starts it into FOLDER (default: student/ next to course.py):
outputs of exercise cells cleared, solutions and hints kept but collapsed (or removed with
--no-solutions), everything else identical. A notebook the learner has changed since it was
written is kept unless --force (all) or --reset NN (chapter NN only) says otherwise.
"""
from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
MANIFEST = ".gptedu-student.json"
EXERCISE_ROLES = ("task", "stub", "check", "hints", "solution")


# ====================================================================== reading the layout
def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def gptedu_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("gptedu", {})
    return meta if isinstance(meta, dict) else {}


def role(cell: dict) -> str | None:
    """setup / task / stub / check / hints / solution, or None for a chapter's ordinary cell."""
    found = gptedu_meta(cell).get("role")
    if found:
        return found
    hidden = cell.get("metadata", {}).get("jupyter", {}).get("source_hidden") is True
    if cell.get("cell_type") == "code" and hidden and source(cell).startswith("# Solution"):
        return "solution"  # a chapter not converted to the exercise layout yet
    return None


def exercise_id(cell: dict) -> str | None:
    return gptedu_meta(cell).get("exercise")


def read_notebook(path: str | Path) -> dict:
    """The notebook's JSON; ValueError (with the reason) if it is not a notebook."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not a text file ({error.reason})") from None
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or nb.get("nbformat") != 4:
        raise ValueError("JSON, but not a Jupyter notebook (no nbformat 4 'cells' list)")
    if not all(isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw") for c in nb["cells"]):
        raise ValueError("a notebook with a damaged cell")
    return nb


def write_notebook(nb: dict, path: str | Path) -> str:
    """Write as Jupyter does (indent 1, sorted keys, UTF-8); returns the sha256 of what was written."""
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def exercises_in(nb: dict) -> dict[str, dict[str, int]]:
    """{exercise id: {role: cell index}} in the order the exercises appear."""
    found: dict[str, dict[str, int]] = {}
    for i, cell in enumerate(nb["cells"]):
        eid = exercise_id(cell)
        if eid:
            found.setdefault(eid, {})[role(cell)] = i
    return found


def uses_exercise_layout(nb: dict) -> bool:
    return any(role(c) == "stub" for c in nb["cells"])


def chapter_of(path: str | Path, nb: dict | None = None) -> str | None:
    """"03_attention" from the notebook's stamp (student edition) or its file name."""
    stamped = (nb or {}).get("metadata", {}).get("gptedu", {}).get("chapter") if nb else None
    if isinstance(stamped, str) and (NOTEBOOKS / f"{stamped}.ipynb").exists():
        return stamped
    stem = Path(path).stem
    return stem if (NOTEBOOKS / f"{stem}.ipynb").exists() else None


# ====================================================================== the student edition
def _clear(cell: dict) -> None:
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None


def student_edition(nb: dict, chapter: str, solutions: bool = True) -> dict:
    """A copy of the chapter as a learner starts it: exercise cells without outputs; solutions and hints
    kept (collapsed, as committed) or dropped; every other cell as it is."""
    out = copy.deepcopy(nb)
    cells = []
    for cell in out["cells"]:
        r = role(cell)
        if r in ("solution", "hints") and not solutions:
            continue
        if r in ("stub", "check", "solution"):
            _clear(cell)
        if r == "solution":
            cell.setdefault("metadata", {})["jupyter"] = {"source_hidden": True, "outputs_hidden": True}
        cells.append(cell)
    out["cells"] = cells
    out.setdefault("metadata", {})["gptedu"] = {"edition": "student", "chapter": chapter, "solutions": solutions}
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_student_edition(folder: str | Path, *, solutions: bool = True, force: bool = False,
                          reset: list[str] = (), notebooks: Path = NOTEBOOKS, shown_folder: str | None = None) -> list[str]:
    """Write every chapter into `folder`; returns what happened, one line per chapter."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    except json.JSONDecodeError:
        manifest = {}
    written = manifest.get("written", {})
    command = "python3 course.py student" + ("" if shown_folder == "" else f" {shown_folder or folder}")
    report, kept = [], []
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        target = folder / path.name
        chapter = path.stem
        if target.exists() and not (force or chapter[:2] in reset or chapter in reset):
            if written.get(path.name) != _sha256(target):
                report.append(f"kept     {path.name}: you changed it")
                kept.append(chapter[:2])
                continue
        before = _sha256(target) if target.exists() else None
        written[path.name] = write_notebook(student_edition(read_notebook(path), chapter, solutions), target)
        if before is None:
            report.append(f"wrote    {path.name}")
        elif force or chapter[:2] in reset:
            report.append(f"reset    {path.name}")
        else:
            report.append(f"{'same' if before == written[path.name] else 'updated'}     {path.name}")
    manifest_path.write_text(json.dumps({"written": written, "solutions": solutions}, indent=1) + "\n")
    if kept:
        report.append(f"Your changed chapters were left as they are. To start one again from scratch (your "
                      f"changes to it are lost): {command} --reset {kept[0]}")
    else:
        report.append(f"To start a chapter again from scratch later: {command} --reset NN (NN = the chapter's number)")
    return report


# ====================================================================== for tests and teachers
def _definitions(solution_source: str) -> str:
    """The imports, functions and classes of a solution cell, without its checks and demonstrations."""
    tree = ast.parse(solution_source)
    lines = solution_source.splitlines()
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            keep.append("\n".join(lines[start - 1:node.end_lineno]))
    return "\n\n".join(keep)


def filled_with_solutions(nb: dict) -> dict:
    """A copy where every stub also defines its reference under the learner's name: the answer key."""
    from . import REGISTRY
    out = copy.deepcopy(nb)
    for eid, roles in exercises_in(out).items():
        exercise = REGISTRY[eid]
        stub, solution = out["cells"][roles["stub"]], out["cells"][roles["solution"]]
        filled = (f"{source(stub)}\n\n\n{_definitions(source(solution))}\n\n\n"
                  f"{exercise.name} = {exercise.solution_name}\n")
        stub["source"] = filled
    return out


def exercise_cells_only(nb: dict, solutions: bool = False) -> dict:
    """A copy with only the setup cells and the exercises' code cells (stub, check; solution if asked)."""
    out = copy.deepcopy(nb)
    wanted = {"setup", "stub", "check"} | ({"solution"} if solutions else set())
    out["cells"] = [c for c in out["cells"] if c.get("cell_type") == "code" and role(c) in wanted
                    and (role(c) == "setup" or exercise_id(c))]
    return out


# ====================================================================== command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 course.py student",
        description="Write the chapters as a learner starts them: exercise outputs cleared, solutions and hints "
                    "collapsed (or removed). A notebook you changed is never overwritten unless you say so.")
    parser.add_argument("folder", nargs="?", default=None, help="where to write (default: student/ next to course.py)")
    parser.add_argument("--no-solutions", action="store_true", help="leave out the solution and hint cells")
    parser.add_argument("--force", action="store_true", help="overwrite every chapter, changed or not")
    parser.add_argument("--reset", action="append", default=[], metavar="NN",
                        help="start chapter NN again from scratch (repeatable); your changes to it are lost")
    args = parser.parse_args(argv)
    folder = Path(args.folder) if args.folder else ROOT / "student"
    unknown = [r for r in args.reset if not list(NOTEBOOKS.glob(f"{r[:2]}_*.ipynb"))]
    if unknown:
        parser.error(f"no chapter {', '.join(unknown)}; chapters are "
                     f"{', '.join(p.name[:2] for p in sorted(NOTEBOOKS.glob('[0-9][0-9]_*.ipynb')))}")
    print(f"Student edition in {folder}{' (without solutions)' if args.no_solutions else ''}:")
    for line in write_student_edition(folder, solutions=not args.no_solutions, force=args.force,
                                      reset=[r[:2] for r in args.reset], shown_folder=args.folder or ""):
        print(" ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
