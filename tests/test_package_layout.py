"""The package's shape: everything ipywidgets lives in gptedu/labs/, and no two modules import each other.

Layers (issue 27): the core never imports gptedu.experiments or gptedu.labs; the experiments import the core;
the labs import both; nothing in the package imports scripts/ or benchmarks/, and nothing anywhere loads code
by its file path.
"""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gptedu"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is loaded (not inside functions or `if TYPE_CHECKING:`), as absolute names."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


MODULES = {module_name(p): top_level_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_only_the_labs_import_ipywidgets():
    outside = {name for name, imports in MODULES.items()
               if not name.startswith("gptedu.labs") and any(i.split(".")[0] == "ipywidgets" for i in imports)}
    assert outside == set()
    assert any("ipywidgets" in imports for name, imports in MODULES.items() if name.startswith("gptedu.labs"))


def test_the_core_never_imports_the_labs():
    offenders = {name for name, imports in MODULES.items()
                 if not name.startswith("gptedu.labs") and any(i.startswith("gptedu.labs") for i in imports)}
    assert offenders == set()


def test_importing_the_core_loads_no_ipywidgets():
    core = [name for name in MODULES if not name.startswith("gptedu.labs")]
    code = f"import sys, importlib\nfor m in {core!r}: importlib.import_module(m)\nprint('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_no_import_cycles_between_modules():
    graph = {name: {i for i in imports if i in MODULES and i != name} for name, imports in MODULES.items()}
    graph = {name: {d for d in deps if not name.startswith(d + ".")} for name, deps in graph.items()}  # a package's own parent

    def cycle_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for dep in graph[node]:
                if dep == start:
                    return path + [dep]
                if dep not in seen:
                    seen.add(dep)
                    stack.append((dep, path + [dep]))
        return None

    cycles = [c for c in map(cycle_from, graph) if c]
    assert cycles == []


# ---------------------------------------------------------------- layers: core < experiments < labs (issue 27)
REPO = PACKAGE.parent


def all_imports(path: Path) -> set[str]:
    """Every module a file imports, at load time or inside a function, as absolute names."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


ALL_IMPORTS = {module_name(p): all_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer(name: str) -> str:
    return next((part for part in ("experiments", "labs") if name.startswith(f"gptedu.{part}")), "core")


def test_the_layering_core_experiments_labs():
    """The core never imports the experiments or the labs; experiments import the core (never the labs)."""
    may_import = {"core": {"core"}, "experiments": {"core", "experiments"}, "labs": {"core", "experiments", "labs"}}
    offenders = {(name, i) for name, imports in ALL_IMPORTS.items() for i in imports
                 if i.startswith("gptedu.") and i in ALL_IMPORTS and layer(i) not in may_import[layer(name)]}
    assert offenders == set()
    assert any(layer(i) == "core" for name, imports in ALL_IMPORTS.items() if layer(name) == "experiments"
               for i in imports if i in ALL_IMPORTS)  # the rule is about real imports, not an empty set


def test_the_experiments_are_modules_of_the_package():
    for name in ("depth_sweep", "finetune_sweep", "eval_family", "train_family"):
        assert f"gptedu.experiments.{name}" in ALL_IMPORTS


def test_nothing_in_the_package_imports_scripts_or_benchmarks():
    offenders = {(name, i) for name, imports in ALL_IMPORTS.items() for i in imports
                 if i.split(".")[0] in ("scripts", "benchmarks")}
    assert offenders == set()
    mentions = {str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py")
                if "scripts" in p.read_text() and any(s in p.read_text() for s in ('/ "scripts"', "'scripts' /"))}
    assert mentions == set()  # no path arithmetic to reach a script


def test_no_file_is_loaded_by_its_path():
    """No notebook, package module or test imports code by file path (spec_from_file_location, sys.modules[...])."""
    needles = ("spec_from_file_location", "sys.modules[")
    files = [*REPO.joinpath("notebooks").glob("*.ipynb"), *PACKAGE.rglob("*.py"), *REPO.joinpath("tests").rglob("*.py")]
    this = Path(__file__).resolve()
    offenders = sorted(str(p.relative_to(REPO)) for p in files
                       if p.resolve() != this and any(n in p.read_text(encoding="utf-8") for n in needles))
    assert offenders == []


def test_every_command_in_the_docs_names_a_module_or_script_that_exists():
    """README.md, docs/*.md, data/README.md, the chapters and the package name experiments as `python -m gptedu.experiments.NAME`
    (or a script that is still in scripts/): each must exist."""
    texts = {p: p.read_text(encoding="utf-8") for p in [REPO / "README.md", REPO / "data" / "README.md",
                                                        *REPO.joinpath("docs").glob("*.md"), *PACKAGE.rglob("*.py")]}
    for p in REPO.joinpath("notebooks").glob("*.ipynb"):  # the cells' sources: outputs may print a shipped record
        texts[p] = "".join("".join(c["source"]) for c in json.loads(p.read_text(encoding="utf-8"))["cells"])
    missing = set()
    for path, text in texts.items():
        for name in re.findall(r"gptedu\.experiments\.([a-z0-9_]+)\b", text):
            if not (PACKAGE / "experiments" / f"{name}.py").is_file():
                missing.add((path.name, f"gptedu.experiments.{name}"))
        for name in re.findall(r"\bscripts/([a-z0-9_]+)\.py", text):
            if not (REPO / "scripts" / f"{name}.py").is_file():
                missing.add((path.name, f"scripts/{name}.py"))
    assert missing == set()
