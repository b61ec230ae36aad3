"""course.py's setup and dispatch, with every subprocess and venv creation mocked.

course.py is a script, not part of the package: it is loaded from the repo root with importlib.
No test here creates a virtual environment, runs pip or starts JupyterLab.
"""
import os
import subprocess
from pathlib import Path

import pytest
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def load_course():
    return load_script("course.py", "course_under_test")


@pytest.fixture
def course(tmp_path, monkeypatch):
    """course.py with its .venv moved to tmp_path (empty) and a stamp that matches requirements.txt."""
    module = load_course()
    venv_dir = tmp_path / ".venv"
    monkeypatch.setattr(module, "VENV", venv_dir)
    monkeypatch.setattr(module, "STAMP", venv_dir / "gptedu-requirements.sha256")
    return module


class FakeSystem:
    """Stands in for subprocess.run and venv.EnvBuilder; records what course.py asked for."""

    def __init__(self, python_runs=True, pip_code=0, create_error=None):
        self.python_runs, self.pip_code, self.create_error = python_runs, pip_code, create_error
        self.created, self.pip_calls, self.pip_envs = [], [], []

    def run(self, cmd, **kwargs):
        if cmd[1:] == ["-c", "pass"]:
            if isinstance(self.python_runs, BaseException):
                raise self.python_runs
            return subprocess.CompletedProcess(cmd, 0 if self.python_runs else 1)
        assert cmd[1:4] == ["-m", "pip", "install"], cmd
        self.pip_calls.append(cmd[4:])
        self.pip_envs.append(kwargs.get("env"))
        return subprocess.CompletedProcess(cmd, self.pip_code)

    def env_builder(self, **options):
        fake = self

        class Builder:
            def create(self, path):
                if fake.create_error is not None:
                    raise fake.create_error
                fake.created.append((Path(path), options))
                Path(path).mkdir(exist_ok=True)
        return Builder()

    def patch(self, monkeypatch, course):
        monkeypatch.setattr(course.subprocess, "run", self.run)
        monkeypatch.setattr(course.venv, "EnvBuilder", self.env_builder)
        return self


def make_venv(course, stamp=True):
    python = course.venv_bin("python")
    python.parent.mkdir(parents=True)
    python.write_text("")
    if stamp:
        course.STAMP.write_text(course.requirements_hash() + "\n")


def test_a_matching_stamp_and_a_working_python_install_nothing(course, monkeypatch):
    make_venv(course)
    fake = FakeSystem().patch(monkeypatch, course)
    course.ensure_venv()
    assert fake.created == [] and fake.pip_calls == []


@pytest.mark.parametrize("python_runs", [False, OSError("exec format error")], ids=["exits-1", "cannot-start"])
def test_a_broken_python_under_a_matching_stamp_is_rebuilt(course, monkeypatch, python_runs):
    make_venv(course)
    fake = FakeSystem(python_runs=python_runs).patch(monkeypatch, course)
    course.ensure_venv()
    assert fake.created == [(course.VENV, {"with_pip": True, "clear": True})]
    assert [call[-2:] for call in fake.pip_calls] == [["-r", str(course.REQUIREMENTS)], ["-e", str(course.ROOT)]]
    assert course.STAMP.read_text().strip() == course.requirements_hash()


def test_a_missing_python_under_a_matching_stamp_is_rebuilt(course, monkeypatch):
    course.VENV.mkdir()
    course.STAMP.write_text(course.requirements_hash() + "\n")  # e.g. bin/python3.11 gone after an upgrade
    fake = FakeSystem().patch(monkeypatch, course)
    course.ensure_venv()
    assert len(fake.created) == 1 and len(fake.pip_calls) == 2


def test_a_changed_requirements_file_reinstalls_into_the_same_venv(course, monkeypatch):
    make_venv(course, stamp=False)
    course.STAMP.write_text("an older hash\n")
    fake = FakeSystem().patch(monkeypatch, course)
    course.ensure_venv()
    assert fake.created == [] and len(fake.pip_calls) == 2


def test_pip_never_runs_with_the_offline_guard(course, monkeypatch):
    monkeypatch.setenv("GPTEDU_OFFLINE", "1")
    fake = FakeSystem().patch(monkeypatch, course)
    course.ensure_venv()
    assert fake.pip_envs and all("GPTEDU_OFFLINE" not in env for env in fake.pip_envs)


def test_a_failing_pip_ends_in_a_short_message_not_a_traceback(course, monkeypatch, capsys):
    make_venv(course, stamp=False)
    FakeSystem(pip_code=1).patch(monkeypatch, course)
    with pytest.raises(SystemExit) as exit_:
        course.ensure_venv()
    message = exit_.value.code  # sys.exit(text): Python prints it and exits with status 1
    assert isinstance(message, str) and "pip install" in message and "exit code 1" in message
    assert "PyPI" in message and "delete the .venv folder" in message
    assert not course.STAMP.exists()  # the next run tries again


def test_a_failing_venv_creation_ends_in_a_short_message(course, monkeypatch):
    error = subprocess.CalledProcessError(1, ["python", "-m", "ensurepip"])
    FakeSystem(create_error=error).patch(monkeypatch, course)
    with pytest.raises(SystemExit) as exit_:
        course.ensure_venv()
    message = exit_.value.code
    assert isinstance(message, str) and "could not create .venv" in message
    assert "python3-venv" in message and "delete the .venv folder" in message


@pytest.fixture
def launched(course, monkeypatch):
    """main() with setup skipped; returns the list of (command, env) it would have run."""
    calls = []
    monkeypatch.setattr(course, "ensure_venv", lambda: None)
    monkeypatch.setattr(course.subprocess, "call", lambda cmd, cwd, env: calls.append((cmd, env)) or 0)
    return calls


def lab(course, *options):
    return [str(course.venv_bin("jupyter")), "lab", f"--ServerApp.root_dir={course.ROOT}",
            f"--LabApp.default_url=/lab/tree/{course.FIRST_NOTEBOOK}", *options]


def test_options_without_a_command_go_to_jupyterlab(course, launched, monkeypatch):
    monkeypatch.setattr(course, "running_as_root", lambda: False)
    assert course.main(["--no-browser", "--port", "8899"]) == 0
    assert launched[0][0] == lab(course, "--no-browser", "--port", "8899")


def test_help_and_unknown_commands_still_answer(course, launched, capsys):
    assert course.main(["--help"]) == 0 and course.main(["-h"]) == 0
    assert course.main(["frobnicate"]) == 2
    assert "Unknown command 'frobnicate'" in capsys.readouterr().out
    assert launched == []


@pytest.mark.parametrize("options, added", [([], True), (["--allow-root"], False),
                                            (["--ServerApp.allow_root=True"], False)])
def test_as_root_jupyterlab_gets_allow_root_once(course, launched, monkeypatch, options, added):
    monkeypatch.setattr(course.os, "geteuid", lambda: 0, raising=False)
    assert course.running_as_root()
    course.main(["start", *options])
    assert launched[0][0] == lab(course, *options, *(["--allow-root"] if added else []))


def test_not_as_root_jupyterlab_gets_no_allow_root(course, launched, monkeypatch):
    monkeypatch.setattr(course.os, "geteuid", lambda: 1000, raising=False)
    course.main([])
    assert launched[0][0] == lab(course)


def test_the_test_command_runs_offline_and_start_does_not(course, launched, monkeypatch):
    monkeypatch.delenv("GPTEDU_OFFLINE", raising=False)
    monkeypatch.setenv("PYTHONPATH", "/some/where")
    course.main(["test", "tests/test_model.py", "-x"])
    course.main(["start"])
    (test_cmd, test_env), (_, start_env) = launched
    assert test_cmd[-4:] == ["-m", "pytest", "tests/test_model.py", "-x"]
    assert test_env["GPTEDU_OFFLINE"] == "1"
    assert test_env["PYTHONPATH"].split(os.pathsep) == [str(ROOT / "tests" / "offline"), "/some/where"]
    assert (course.OFFLINE_DIR / "sitecustomize.py").is_file()
    assert "GPTEDU_OFFLINE" not in start_env and start_env["PYTHONPATH"] == "/some/where"


@pytest.mark.parametrize("capability, expected", [
    ("AVX2", ["this CPU's own kernels", "generic kernels"]),
    ("AVX512", ["this CPU's own kernels", "generic kernels", "AVX2 kernels"]),
])
def test_portability_reruns_strict_nbval_per_kernel_variant(course, launched, monkeypatch, capability, expected):
    monkeypatch.setattr(course, "cpu_capability", lambda: capability)
    assert course.main(["portability", "notebooks/04_gpt1_model.ipynb"]) == 0
    assert len(launched) == len(expected)
    for (cmd, env), name in zip(launched, expected):
        assert cmd[-3:] == ["-m", "pytest", "notebooks/04_gpt1_model.ipynb"]
        assert env["GPTEDU_OFFLINE"] == "1"
        for key, value in course.KERNEL_VARIANTS[name].items():
            assert env[key] == value
    assert launched[1][1]["ATEN_CPU_CAPABILITY"] == "default"


def test_portability_fails_when_any_variant_fails(course, monkeypatch, capsys):
    monkeypatch.setattr(course, "ensure_venv", lambda: None)
    monkeypatch.setattr(course, "cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(course.subprocess, "call",
                        lambda cmd, cwd, env: 1 if env.get("ATEN_CPU_CAPABILITY") == "default" else 0)
    assert course.main(["portability"]) == 1
    assert "FAILED with generic kernels" in capsys.readouterr().out
