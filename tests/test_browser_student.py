"""The student edition in a real browser: a learner gets an exercise wrong, then right.

`python3 course.py student` writes the learner's edition into a temporary folder; JupyterLab (in
headless Chromium, as in tests/test_browser.py, whose fixtures and helpers this reuses) opens its
chapter 03. Like a learner, the test runs the setup cell, types a wrong `my_causal_attention` (no
causal mask) into the exercise's own cell, runs it and its check cell, and reads in the check's
output that it failed, which mistake it looks like and the hint for it; then types a right one,
runs both cells again and reads that it passed. Only these three cells run (about a minute in all).

Needs Chromium, as tests/test_browser.py: skipped without one, except in CI (CI set), where it fails.
"""
from __future__ import annotations

import time

import pytest

from gptedu.exercises import REGISTRY
from gptedu.exercises.edition import exercises_in, read_notebook, role
from tests.browser.lab import LabServer
from tests.browser.notebook_page import _PANEL, NotebookPage, wait_until
from tests.test_browser import ARTIFACTS, OPEN_TIMEOUT, browser, chromium, loopback_page  # noqa: F401 (fixtures)

CHAPTER = "03_attention.ipynb"
EXERCISE = "causal_attention"
RUN_TIMEOUT = 180.0  # one cell (the setup cell imports torch and gptedu) on 2 busy cores
OPEN = 2 * OPEN_TIMEOUT  # JupyterLab's page, its notebook and kernel: one budget for all three, on 2 busy cores

WRONG = '''import math

import torch


def my_causal_attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    return scores.softmax(dim=-1) @ v
'''

RIGHT = '''import math

import torch


def my_causal_attention(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    future = ~torch.ones(T, T, dtype=torch.bool).tril()
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1) @ v
'''

SOURCE = f"(args) => ({_PANEL})(args[0]).content.widgets[args[1]].model.sharedModel.getSource()"


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """The learner's edition, written by the real command: python3 course.py student FOLDER."""
    from tests.scripts import load_script

    folder = tmp_path_factory.mktemp("student-edition")
    assert load_script("course.py").main(["student", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def lab(chromium, edition, tmp_path_factory):  # noqa: F811 (chromium is test_browser's fixture)
    server = LabServer(tmp_path_factory.mktemp("jupyterlab-student"), notebooks=edition)
    yield server
    server.stop()


def run_cell(page, notebook: NotebookPage, index: int) -> None:
    """Click into cell `index`, press Shift+Enter, wait until it has run and the kernel is idle."""
    def count():
        return next((c["count"] for c in notebook.cells() if c["index"] == index), None)

    before = count()
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")

    def ran():
        cell = next((c for c in notebook.cells() if c["index"] == index), None)
        return (cell is not None and cell["count"] not in (None, before) and not cell["pending"]
                and notebook.kernel_state() == "connected/idle")

    wait_until(ran, RUN_TIMEOUT, f"cell {index} of {notebook.path} to run")


def type_into(page, notebook: NotebookPage, index: int, code: str) -> None:
    """Replace cell `index`'s text by `code` from the keyboard, as a learner does in the editor."""
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-editor .cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)  # as pasted: the editor adds no indentation or closing brackets
    typed = page.evaluate(SOURCE, [notebook.path, index])
    assert typed.strip() == code.strip(), f"the editor holds:\n{typed}"


def output_of(page, index: int) -> str:
    """What the learner reads under cell `index`."""
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea").inner_text()


def test_a_wrong_attempt_fails_with_its_mistake_then_a_right_one_passes(lab, browser, edition):  # noqa: F811
    student = read_notebook(edition / CHAPTER)
    cells = exercises_in(student)[EXERCISE]
    setup = next(i for i, c in enumerate(student["cells"]) if role(c) == "setup")
    stub, check = cells["stub"], cells["check"]
    exercise = REGISTRY[EXERCISE]
    no_mask = next(m for m in exercise.mistakes if "causal mask is missing" in m.name)

    started = time.monotonic()
    offsite: list[str] = []
    js_errors: list[str] = []
    context, page = loopback_page(browser, offsite)
    page.on("pageerror", lambda error: js_errors.append(str(error)))
    notebook = NotebookPage(page, CHAPTER)
    try:
        opening = time.monotonic()
        page.goto(lab.url(f"/lab/tree/{CHAPTER}?reset"), timeout=OPEN * 1000, wait_until="commit")
        notebook.wait_open(OPEN - (time.monotonic() - opening))  # until the notebook's panel is there, not "load"
        notebook.wait_kernel_idle(max(30.0, OPEN - (time.monotonic() - opening)))
        notebook.watch_kernel_errors()
        run_cell(page, notebook, setup)

        type_into(page, notebook, stub, WRONG)
        run_cell(page, notebook, stub)
        run_cell(page, notebook, check)
        said = output_of(page, check)
        assert said.startswith(f"✗ {exercise.name}: wrong on"), said
        assert f"looks like: {no_mask.name}" in said, said
        assert f"hint: {no_mask.hint}" in said, said

        type_into(page, notebook, stub, RIGHT)
        run_cell(page, notebook, stub)
        run_cell(page, notebook, check)
        said = output_of(page, check)
        assert said.strip().startswith(f"✓ {exercise.name}: right on all"), said
        assert "\n" not in said.strip(), said  # one line, nothing left of the failure

        assert page.evaluate(SOURCE, [CHAPTER, stub]).strip() == RIGHT.strip()  # the learner's cell, as typed
        assert not notebook.kernel_errors(), "the kernel reported errors:\n" + "\n".join(notebook.kernel_errors())
        assert not offsite, f"the page tried to leave the machine: {offsite}"
        assert not js_errors, f"uncaught JavaScript errors: {js_errors}"
        notebook.screenshot(ARTIFACTS / "student-03-passed.png")
    except BaseException:
        try:
            notebook.screenshot(ARTIFACTS / "student-03-failed.png")
        except Exception:
            pass
        print(f"server log (tail):\n{lab.log_tail()}")
        raise
    finally:
        context.close()
        lab.shutdown_kernels(CHAPTER)
    print(f"student edition, {CHAPTER}: {time.monotonic() - started:.1f} s in the browser")
