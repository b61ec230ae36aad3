"""Load a file of the repository that is not a package module (a script, a benchmark, course.py) as a module."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative_path: str, name: str | None = None, register: bool = False) -> ModuleType:
    """Import ROOT/relative_path as a fresh module named `name` (default: the file's stem).

    register=True puts it in sys.modules first, as a script defining dataclasses needs.
    """
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
