"""Import a file of the repository that is not in the package (a benchmark, scripts/build_data.py, course.py).

Each is imported by its module name (`benchmarks/bench_train.py` is `benchmarks.bench_train`, a namespace
package; `course.py` is `course`), from the repository root that pytest puts on sys.path for the `tests`
package: no loading by file path. The experiments are package modules: tests import them as
`from gptedu.experiments import depth_sweep`.
"""
from __future__ import annotations

import importlib
from pathlib import Path, PurePosixPath
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, name: str | None = None, register: bool = False) -> ModuleType:
    """The module of ROOT/relative_path (e.g. "benchmarks/bench_train.py"), imported once by its dotted name.

    `name` and `register` are accepted for older callers and have no effect: the module is always registered
    in sys.modules under its own name (as a file defining dataclasses needs) and shared between tests.
    """
    path = PurePosixPath(relative_path)
    if path.suffix != ".py" or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"relative_path must be a .py file inside the repository, got {relative_path!r}")
    return importlib.import_module(".".join(path.with_suffix("").parts))
