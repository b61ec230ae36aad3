"""The package's shape: everything ipywidgets lives in gptedu/labs/, and no two modules import each other."""
import ast
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
