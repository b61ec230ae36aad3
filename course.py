#!/usr/bin/env python3
"""The course's two commands.

    python3 course.py          set up .venv with the pinned versions, open JupyterLab on chapter 00
    python3 course.py test     (re)use .venv and run every test: unit tests + every notebook under nbval

For maintainers: `python3 course.py execute [NOTEBOOK ...]` re-executes notebooks in place
(default: all of notebooks/) with the same environment the tests use, so their committed
outputs are the ones nbval expects.

Setup is idempotent: .venv is (re)installed only when requirements.txt changed.
Anything after `test` is passed to pytest, e.g. `python3 course.py test tests/test_model.py -x`.
Tests run offline: every Python process they start has the guard in tests/offline/ (GPTEDU_OFFLINE=1).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / "gptedu-requirements.sha256"
FIRST_NOTEBOOK = "notebooks/00_welcome.ipynb"
OFFLINE_DIR = ROOT / "tests" / "offline"  # sitecustomize.py + gptedu_offline.py: the tests' network guard

# The environment every run shares: offline model hubs, one torch thread
# (committed notebook outputs were made with GPTEDU_THREADS=1, see gptedu.setup).
RUN_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GPTEDU_THREADS": os.environ.get("GPTEDU_THREADS", "1"),
    "PYTHONHASHSEED": "0",
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",
}


def venv_bin(name: str) -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / folder / f"{name}{suffix}"


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def ensure_venv() -> None:
    """Create .venv and install the pins, unless it already holds exactly them."""
    if sys.version_info < (3, 10):
        sys.exit(f"gptedu needs Python 3.10 or newer; this is {sys.version.split()[0]}.")
    if STAMP.exists() and STAMP.read_text().strip() == requirements_hash():
        return
    if not venv_bin("python").exists():
        print(f"Creating {VENV.relative_to(ROOT)} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(venv_bin("python")), "-m", "pip", "install", "--disable-pip-version-check"]
    print("Installing the pinned versions from requirements.txt (a few minutes the first time) ...", flush=True)
    subprocess.run(pip + ["-q", "-r", str(REQUIREMENTS)], check=True)
    subprocess.run(pip + ["-q", "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(requirements_hash() + "\n")


def offline_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for the tests: every Python process started with it loads tests/offline/sitecustomize.py,
    which (with GPTEDU_OFFLINE=1) blocks all but loopback networking. Learners' runs never get it."""
    pythonpath = os.pathsep.join(filter(None, [str(OFFLINE_DIR), env.get("PYTHONPATH", "")]))
    return {**env, "GPTEDU_OFFLINE": "1", "PYTHONPATH": pythonpath}


def run(cmd: list[str], offline: bool = False) -> int:
    env = {**os.environ, **RUN_ENV}
    if offline:
        env = offline_env(env)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "start"
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if command not in ("start", "test", "setup", "execute"):
        print(f"Unknown command {command!r}. Use one of: start (default), test, setup, execute.\n{__doc__}")
        return 2
    ensure_venv()
    if command == "setup":
        return 0
    if command == "execute":
        notebooks = argv[1:] or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))
        return run([str(venv_bin("jupyter")), "nbconvert", "--to", "notebook", "--execute", "--inplace",
                    "--ExecutePreprocessor.timeout=1800", *notebooks])
    if command == "test":
        return run([str(venv_bin("python")), "-m", "pytest", *argv[1:]], offline=True)
    return run([str(venv_bin("jupyter")), "lab", FIRST_NOTEBOOK, *argv[1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
