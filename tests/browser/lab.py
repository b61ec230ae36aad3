"""A throwaway JupyterLab for the browser test, isolated from the learner's own Jupyter.

`LabServer` starts the venv's `jupyter-lab` itself (so the PID we hold is the server's) on
127.0.0.1, a free port and a random token, serving a stripped COPY of notebooks/ from a temporary
folder: the browser's autosave can never touch the committed notebooks, and every output the test
sees was made by the live kernel, not stored. Its config, data, runtime, settings and workspace
folders are temporary too, with overrides.json turning off the news feed and update check (no
request leaves the machine) and laying out every cell (so a screenshot shows the whole notebook).

`stop()` asks the server to shut its kernels down, then ends its process group and any kernel
that outlived it (kernels run in sessions of their own), each by PID.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]

OVERRIDES = {
    # No toast asking to fetch news, and no request to jupyterlab.github.io or PyPI.
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # Attach every cell to the DOM: a full-page screenshot then shows the whole notebook.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}

# The environment `python3 course.py test` gives its kernels (see course.py RUN_ENV).
KERNEL_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
              "GPTEDU_THREADS": os.environ.get("GPTEDU_THREADS", "1"),
              "PYTHONHASHSEED": "0", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def strip_notebook(path: Path, keep: tuple[str, ...] = ()) -> None:
    """Drop outputs, execution counts and saved widget state, so only the live kernel fills them.

    With `keep`, also drop every code cell whose source contains none of those strings: Run All then
    runs only an app and what it needs (nbval already runs every cell of every notebook).
    """
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # a notebook being saved right now: not one this run opens
        return
    if keep:
        nb["cells"] = [c for c in nb["cells"] if c["cell_type"] != "code"
                       or any(k in "".join(c["source"]) for k in keep)]
        missing = [k for k in keep if not any(k in "".join(c["source"]) for c in nb["cells"])]
        if missing:
            raise ValueError(f"{path.name}: no code cell contains {missing}; update the browser test's lab_cells")
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    nb.get("metadata", {}).pop("widgets", None)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def copy_course(dest: Path, source: Path = ROOT / "notebooks", keep: dict[str, tuple[str, ...]] | None = None) -> Path:
    """dest/notebooks: stripped copies of notebooks/*.ipynb (and whatever else is there); dest/data -> data/.

    keep: notebook name -> strings; such a notebook keeps only the code cells holding one of them."""
    notebooks = dest / "notebooks"
    shutil.copytree(source, notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for nb in notebooks.glob("*.ipynb"):
        strip_notebook(nb, (keep or {}).get(nb.name, ()))
    (dest / "data").symlink_to(ROOT / "data", target_is_directory=True)
    return notebooks


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent PID, start time) of a live process, from Linux's /proc; None if gone or no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(PID, start time) of every process below `pid`; the start time tells a reused PID apart."""
    children: dict[int, list[tuple[int, str]]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        stat = _stat(int(proc.name))
        if stat is not None:
            children.setdefault(stat[0], []).append((int(proc.name), stat[1]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def isolated_env(state: Path) -> dict[str, str]:
    """The environment for a JupyterLab whose config, data, runtime, settings and workspaces all live in `state`
    (created), with OVERRIDES and no request leaving the machine; the learner's own Jupyter is not read."""
    settings = state / "app-settings"
    settings.mkdir(parents=True)
    (settings / "overrides.json").write_text(json.dumps(OVERRIDES, indent=1))
    env = {**os.environ, **KERNEL_ENV,
           "JUPYTER_CONFIG_DIR": str(state / "config"),  # holds the config below
           "JUPYTER_DATA_DIR": str(state / "data"),
           "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(state / "user-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
           "IPYTHONDIR": str(state / "ipython"),
           "MPLCONFIGDIR": str(state / "matplotlib")}
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    config = state / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "LabApp": {"app_settings_dir": str(settings), "user_settings_dir": str(state / "user-settings"),
                   "workspaces_dir": str(state / "workspaces"), "news_url": None,
                   "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                   # window.jupyterapp: the test reads kernel state and cell outputs from the app's models
                   "expose_app_in_browser": True},
    }, indent=1))
    return env


class LabServer:
    def __init__(self, workdir: Path, notebooks: Path = ROOT / "notebooks", start_timeout: float = 90.0,
                 keep: dict[str, tuple[str, ...]] | None = None,
                 command: Callable[[list[str], Path], list[str]] | None = None):
        """command: if given, (server options, the copy's folder) -> the command line that starts JupyterLab
        there (e.g. course.py's own, rooted at that folder); else jupyter-lab rooted at the copy's notebooks/."""
        self.workdir = workdir
        self.root_dir = copy_course(workdir / "course", notebooks, keep)
        self.state = workdir / "jupyter"
        env = isolated_env(self.state)
        self.port, self.token = free_port(), secrets.token_hex(24)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.state / "server.log"
        options = ["--no-browser", "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0"]
        if command is not None:  # the server makes its token and prints it in its URL (a given one prints as ...)
            self.token = None
            command = command(options, self.root_dir.parent)
        else:
            options.append(f"--IdentityProvider.token={self.token}")
            jupyter_lab = shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) or "jupyter-lab"
            command = [jupyter_lab, *options, f"--ServerApp.root_dir={self.root_dir}"]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                command.append("--allow-root")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=self.root_dir, env=env, stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=(os.name == "posix"))
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def api(self, method: str, path: str, timeout: float = 10.0):
        request = urllib.request.Request(f"{self.base_url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter-lab exited with {self.process.returncode}:\n{self.log_tail()}")
            if self.token is None:  # read from the URL the server printed
                found = re.search(r"http://127\.0\.0\.1:\d+/\S*[?&]token=([0-9a-f]{16,})", self.log_tail(200))
                if not found:
                    time.sleep(0.3)
                    continue
                self.token = found.group(1)
            try:
                self.api("GET", "/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        raise TimeoutError(f"jupyter-lab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def shutdown_kernels(self, path: str | None = None) -> None:
        """Shut down the kernels of `path` (all kernels if None) through the REST API."""
        try:
            for session in self.api("GET", "/api/sessions"):
                if path is None or session.get("path") == path:
                    self.api("DELETE", f"/api/sessions/{session['id']}", timeout=30)
        except (OSError, urllib.error.URLError):
            pass

    def stop(self, timeout: float = 20.0) -> None:
        pid = self.process.pid
        below = descendants(pid)  # the kernels (own sessions) and anything else the server started
        if self.process.poll() is None:
            try:
                self.api("POST", "/api/shutdown", timeout=5)  # stops the kernels cleanly, then itself
            except (OSError, urllib.error.URLError):
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if os.name == "posix":
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if self.process.poll() is not None:
                    break
                try:
                    os.killpg(pid, sig)  # the server's own process group (start_new_session)
                except ProcessLookupError:
                    break
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            for child, started in below:  # a kernel the server did not stop: only if it is still that process
                stat = _stat(child)
                if stat is not None and stat[1] == started:
                    try:
                        os.kill(child, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
        elif self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._log.close()
