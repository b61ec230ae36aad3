"""The course's two commands.

    python3 course.py          set up .venv with the pinned versions, open JupyterLab on chapter 00
    python3 course.py test     (re)use .venv and run every test: unit tests + every notebook under nbval
    python3 course.py student [FOLDER]   write the chapters as a learner starts them (default folder: student/)
    python3 course.py grade FOLDER       grade submitted notebooks, one sub-folder or file per student
    python3 course.py book [--out FOLDER]   build the book: the twelve chapters as a static HTML site, offline,
                                         from the committed notebooks (default folder: _build/book/)

Options without a command go to JupyterLab: `python3 course.py --no-browser --port 8899`
(as root, e.g. in a container, `--allow-root` is added for you).

For maintainers: `python3 course.py execute [NOTEBOOK ...]` re-executes notebooks in place
(default: all of notebooks/) with the same environment the tests use, so their committed
outputs are the ones nbval expects. `python3 course.py portability [NOTEBOOK ...]` runs strict
nbval on them again under the kernel choices another CPU could make (PyTorch's generic kernels,
MKL and oneDNN held to SSE4; AVX2 too where this CPU has AVX-512): a committed output that
changes there depends on floating-point noise and would fail on some CI machine.

Setup is idempotent: .venv is (re)installed only when requirements.txt changed, and rebuilt when
its Python no longer runs (e.g. after a Python upgrade).
`test` alone runs every test file in parallel, one pytest-xdist worker per core (at most 4);
anything after `test` is passed to pytest instead, e.g. `python3 course.py test tests/test_model.py -x`.
Tests run offline: every Python process they start has the guard in tests/offline/ (GPTEDU_OFFLINE=1).
"""
import sys

# course.py (the launcher at the repository root) runs this file in its own namespace, after it has checked the
# Python version with syntax that even Python 2 parses; `__file__` here is course.py's.

import hashlib  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import venv  # noqa: E402
from pathlib import Path  # noqa: E402

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


# The maths stays the same under each variant; only the vectorised kernels PyTorch (ATen), MKL
# (matrix products) and oneDNN pick change, as they do between an Intel and an AMD CPU.
KERNEL_VARIANTS = {
    "this CPU's own kernels": {},
    "generic kernels": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                        "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "AVX2 kernels": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}


def venv_bin(name: str) -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / folder / f"{name}{suffix}"


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_python_works() -> bool:
    """Whether .venv's Python exists and starts: an upgrade or removal of the Python it was made
    from leaves a .venv whose stamp still matches but whose interpreter is gone or broken."""
    python = venv_bin("python")
    if not python.exists():
        return False
    try:
        done = subprocess.run([str(python), "-c", "pass"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def setup_failed(what: str, hint: str) -> None:
    """End with a short message (exit code 1) instead of a traceback: the learner needs what to try."""
    sys.exit(f"\nSetup failed: {what}.\n{hint}\n"
             f"If it keeps failing, delete the {VENV.name} folder and run `python3 course.py setup` again.")


def create_venv() -> None:
    if VENV.exists():
        print(f"{VENV.name}'s Python is missing or broken (was Python upgraded?); rebuilding it ...",
              flush=True)
    else:
        print(f"Creating {VENV.name} ...", flush=True)
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    except (OSError, subprocess.CalledProcessError) as error:
        setup_failed(f"could not create {VENV.name} with {sys.executable} ({error})",
                     "Check that Python's venv module and ensurepip are installed "
                     "(Debian/Ubuntu: `sudo apt-get install python3-venv`).")


def pip_install(*args: str) -> None:
    # Never offline: the guard (GPTEDU_OFFLINE) is for `test` only, and pip needs PyPI.
    env = {key: value for key, value in os.environ.items() if key != "GPTEDU_OFFLINE"}
    command = [str(venv_bin("python")), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    try:
        code = subprocess.run(command, env=env).returncode
        reason = f"exit code {code}"
    except OSError as error:
        code, reason = -1, str(error)
    if code != 0:
        setup_failed(f"`pip install {' '.join(args)}` failed ({reason})",
                     "pip's own messages are above. Check that this machine can reach PyPI "
                     "(https://pypi.org, or your proxy / PIP_INDEX_URL), then run the command again.")


TORCH_BUILD_NOTE = """\
torch==2.13.0: on Linux x86-64, PyPI's default wheel brings NVIDIA's CUDA libraries (several GB); the course
computes on the CPU. For the CPU-only build, stop now (Ctrl-C), delete .venv and run
    PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu python3 course.py
(pip then takes torch 2.13.0+cpu). On macOS, Windows and Linux ARM the default wheel has no CUDA libraries."""


def ensure_venv() -> None:
    """Create .venv and install the pins, unless it already holds exactly them and its Python runs."""
    if sys.version_info < (3, 11):
        sys.exit(f"gptedu needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    python_works = venv_python_works()
    if python_works and STAMP.exists() and STAMP.read_text().strip() == requirements_hash():
        return
    if not python_works:
        create_venv()
    print("Installing the pinned versions from requirements.txt (a few minutes the first time) ...", flush=True)
    print(TORCH_BUILD_NOTE, flush=True)
    pip_install("-r", str(REQUIREMENTS))
    pip_install("--no-deps", "-e", str(ROOT))
    STAMP.write_text(requirements_hash() + "\n")


def offline_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for the tests: every Python process started with it loads tests/offline/sitecustomize.py,
    which (with GPTEDU_OFFLINE=1) blocks all but loopback networking. Learners' runs never get it."""
    pythonpath = os.pathsep.join(filter(None, [str(OFFLINE_DIR), env.get("PYTHONPATH", "")]))
    return {**env, "GPTEDU_OFFLINE": "1", "PYTHONPATH": pythonpath}


def run(cmd: list[str], offline: bool = False, extra_env: dict[str, str] | None = None) -> int:
    env = {**os.environ, **RUN_ENV, **(extra_env or {})}
    if offline:
        env = offline_env(env)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def parallel_options() -> list[str]:
    """The whole suite on every core (at most 4): each test file, and each notebook with its kernel,
    stays in one pytest-xdist worker (--dist loadscope, as nbval needs); every worker and kernel
    runs one torch thread (GPTEDU_THREADS), so the cores are shared, not oversubscribed. Units are
    handed out in the order conftest.py sets, longest first (--no-loadscope-reorder: xdist's own
    order, most tests first, put the one-test generic-kernel runs of the longest chapters last)."""
    workers = min(4, os.cpu_count() or 1)
    return ["-n", str(workers), "--dist", "loadscope", "--no-loadscope-reorder"] if workers > 1 else []


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def jupyterlab_command(options: list[str]) -> list[str]:
    """JupyterLab rooted at the repository (README.md, data/, gptedu/ in its file browser), on chapter 00.

    Chapter 00 is the server's default URL, so the URL it prints (for a remote or headless run,
    `--no-browser`) opens chapter 00 too, not only the browser it launches. As root (containers,
    classroom VMs) JupyterLab refuses to start without --allow-root, which is added.
    """
    given = {option.split("=", 1)[0] for option in options}
    if running_as_root() and not given & {"--allow-root", "--ServerApp.allow_root"}:
        options = [*options, "--allow-root"]
    return [str(venv_bin("jupyter")), "lab", f"--ServerApp.root_dir={ROOT}",
            f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}", *options]


def cpu_capability() -> str:
    """PyTorch's name for this CPU's best kernels: DEFAULT, AVX2, AVX512, ..."""
    probe = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run([str(venv_bin("python")), "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def missing_paths(args: list[str]) -> list[str]:
    """The notebook and test paths among `args` that do not exist (a path: a .ipynb or .py file, or an argument
    with a /, before any ::node id; other arguments are pytest's and are left to it)."""
    paths = [arg.split("::")[0] for arg in args if not arg.startswith("-")]
    return [path for path in paths if (path.endswith((".ipynb", ".py")) or "/" in path) and not (ROOT / path).exists()]


def portability(args: list[str]) -> int:
    """Strict nbval on the committed notebooks once per kernel variant; non-zero if any variant fails."""
    missing = missing_paths(args)
    if missing:  # else pytest's "file not found" would read as a kernel variant failing
        print(f"portability: no such notebook {', '.join(missing)} (paths are relative to {ROOT}); "
              f"nothing was run.")
        return 2
    capability = cpu_capability()
    failed = []
    for name, overrides in KERNEL_VARIANTS.items():
        if name == "AVX2 kernels" and not capability.startswith("AVX512"):
            print(f"== {name}: skipped, this CPU's own kernels are {capability}", flush=True)
            continue
        shown = " ".join(f"{key}={value}" for key, value in overrides.items()) or "no overrides"
        print(f"== strict nbval with {name} ({shown})", flush=True)
        if run([str(venv_bin("python")), "-m", "pytest", *(args or ["notebooks"])], offline=True, extra_env=overrides):
            failed.append(name)
    print("portability:", f"FAILED with {', '.join(failed)}" if failed else "the committed outputs hold under every variant")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "start"
    if command.startswith("-") and command not in ("-h", "--help"):  # JupyterLab's options, no command
        command, argv = "start", ["start", *argv]
    if command in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if command not in ("start", "test", "setup", "execute", "portability", "student", "grade", "book"):
        print(f"Unknown command {command!r}. Use one of: start (default), test, setup, execute, portability, "
              f"student, grade, book."
              f"\n{__doc__}")
        return 2
    ensure_venv()
    if command == "setup":
        return 0
    if command == "execute":
        notebooks = argv[1:] or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))
        return run([str(venv_bin("jupyter")), "nbconvert", "--to", "notebook", "--execute", "--inplace",
                    "--ExecutePreprocessor.timeout=1800", *notebooks], offline=True)
    if command == "portability":
        return portability(argv[1:])
    if command in ("student", "grade"):  # gptedu/exercises/: edition.py, grading.py; paths as given, from here
        module = {"student": "gptedu.exercises.edition", "grade": "gptedu.exercises.grading"}[command]
        return subprocess.call([str(venv_bin("python")), "-m", module, *argv[1:]], env={**os.environ, **RUN_ENV})
    if command == "book":  # book/build.py (Sphinx + myst-nb), nothing executed; --out is taken as given
        return subprocess.call([str(venv_bin("python")), str(ROOT / "book" / "build.py"), *argv[1:]],
                               env={**os.environ, **RUN_ENV})
    if command == "test":
        options = argv[1:] or parallel_options()
        one_thread = {"OMP_NUM_THREADS": "1"} if "-n" in options else {}  # scripts the tests start, too
        return run([str(venv_bin("python")), "-m", "pytest", *options], offline=True, extra_env=one_thread)
    return run(jupyterlab_command(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
