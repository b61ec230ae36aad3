"""The notebooks in a real browser: JupyterLab + headless Chromium, driven by Playwright.

nbval proves each notebook's code runs and prints what it printed; it cannot see whether the
widgets render, or whether moving a slider redraws the figure. This test does what a learner does:
open the notebook in JupyterLab, Run > Run All Cells, then use the apps, and checks that

- every code cell ran and none shows an error;
- what must render is on the page (a figure's <img>, the widgets' DOM: textarea, slider, ...);
- each interaction (type a prompt, press a key on a slider, pick a head, switch a tokenizer)
  changes what the app shows (the figure's base64 PNG, the token spans' HTML).

Full-page screenshots, after Run All and after the interactions (and on failure), land in
test-artifacts/browser/, and so does a picture of each lab in use (its cell's output after the
interactions, `lab-NN_name.png`). With GPTEDU_BOOK_PICTURES=1 the lab pictures also go to
book/labs/NN_name.png, the committed pictures the book (`python3 course.py book`) shows.
The server runs on a stripped temporary copy of notebooks/ (see
tests/browser/lab.py), so the committed notebooks are never touched. A chapter with long live
training runs (06, 07) keeps only its app's cells there (`lab_cells`): nbval already runs every cell
of every notebook, and this test is about the apps. Only 127.0.0.1 is contacted:
Chromium resolves no other host, and any request for another origin fails the test.

Needs Chromium at /usr/bin/chromium (Debian/Ubuntu: `sudo apt-get install chromium`) or wherever
GPTEDU_CHROMIUM points. Without one the test is skipped, except in CI (CI set), where it fails.

To cover a new notebook or widget, add one `Chapter` / `Interaction` to CHAPTERS below.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser.lab import ROOT, LabServer
from tests.browser.notebook_page import _PANEL, NotebookPage, wait_until

OPEN_TIMEOUT = 90.0  # JupyterLab's page and kernel, on 2 busy cores
RUN_TIMEOUT = 240.0  # Run All of one notebook
REACT_TIMEOUT = 60.0  # one widget interaction until the app has redrawn


@dataclass(frozen=True)
class Interaction:
    """One thing a learner does to an app, and the part of the app that must change in answer.

    `control` and `changes` are CSS selectors inside the output of the first code cell that holds
    `control` (the widgets' classes, e.g. gptedu-layer, come from gptedu/labs/). Actions:

    - "type": fill a text box with `value` (a Textarea syncs as you type);
    - "type+enter": the same, then Enter (a Text with continuous_update=False syncs on Enter);
    - "nudge": one arrow key on a slider's handle, right (left when it is at its maximum, or when
      `value` is "left");
    - "select": pick the option labelled `value` in a <select>, or the next one if `value` is "";
    - "click": click it (a button, a toggle button, a checkbox).

    `timeout`: seconds for the app to redraw (more for an action that trains a model).
    """
    what: str
    control: str
    action: str
    changes: str
    value: str = ""
    timeout: float = REACT_TIMEOUT


@dataclass(frozen=True)
class Chapter:
    notebook: str
    renders: tuple[str, ...]  # CSS selectors that must match after Run All
    interactions: tuple[Interaction, ...] = ()
    run_timeout: float = RUN_TIMEOUT  # Run All; a chapter with a live training run needs more
    # If set, the browser runs only the code cells holding one of these strings: the app and what it needs.
    # For chapters whose full run is long (a live training run); nbval runs every cell of every notebook anyway.
    lab_cells: tuple[str, ...] = ()


FIGURE = ".jp-OutputArea-output[data-mime-type='image/png'] img[src^='data:image/png;base64,']"

CHAPTERS = [
    Chapter("00_welcome.ipynb", renders=(FIGURE,)),
    Chapter("01_tokens.ipynb",
            renders=(".gptedu-text.widget-textarea textarea", ".gptedu-tokenizer-choice .widget-toggle-button",
                     ".gptedu-tokens .gptedu-token", ".gptedu-stats"),
            interactions=(
                Interaction("type new text", ".gptedu-text textarea", "type", ".gptedu-tokens",
                            "Tokenizers cut text into pieces; GPT-2 knows 50,257 of them."),
                Interaction("switch the tokenizer", ".gptedu-tokenizer-choice button:not(.mod-active)", "click",
                            ".gptedu-tokens"),
                Interaction("show token ids", ".gptedu-show-ids input[type=checkbox]", "click", ".gptedu-tokens"),
            )),
    Chapter("03_attention.ipynb",
            renders=(FIGURE, ".gptedu-prompt input", ".gptedu-layer.widget-slider .noUi-handle", ".gptedu-head select",
                     ".gptedu-figure img[src^='data:image/png;base64,']"),
            interactions=(
                Interaction("type a prompt + Enter", ".gptedu-prompt input", "type+enter", ".gptedu-figure",
                            "JULIET: O Romeo, Romeo! wherefore art thou Romeo?"),
                Interaction("move the layer slider", ".gptedu-layer .noUi-handle", "nudge", ".gptedu-figure"),
                Interaction("pick another head", ".gptedu-head select", "select", ".gptedu-figure"),
            )),
    Chapter("06_gpt1_finetuning.ipynb",  # the whole notebook has a 300-step live run: only the lab's cells here
            lab_cells=("gptedu.setup(", "load_shipped(", "sweep = json.loads", "transfer_lab("),
            renders=("button.gptedu-finetune", ".gptedu-layers.widget-slider .noUi-handle",
                     ".gptedu-start .widget-toggle-button", ".gptedu-task select",
                     ".gptedu-figure img[src^='data:image/png;base64,']"),
            interactions=(
                Interaction("move the layers slider", ".gptedu-layers .noUi-handle", "nudge", ".gptedu-figure"),
                Interaction("pick another task", ".gptedu-task select", "select", ".gptedu-figure"),
                Interaction("back to sentiment", ".gptedu-task select", "select", ".gptedu-figure",
                            "Rotten Tomatoes sentiment"),
                # No Fine-tune click here: the lab opens on a 150-step run that learns (4.4 min in CI's browser),
                # too long for the CI budget. tests/test_transfer_lab.py clicks it through the widget instead, and
                # chapter 07's depth lab covers a Train click (a background thread, a new curve) in the browser.
            )),
    Chapter("07_gpt2_model.ipynb",  # the whole notebook has live training runs: only the lab's cells here
            lab_cells=("gptedu.setup(", "depth_lab("),
            renders=("button.gptedu-train", "button.gptedu-stop", ".gptedu-layers.widget-slider .noUi-handle",
                     ".gptedu-norm .widget-toggle-button", ".gptedu-residual-init input[type=checkbox]",
                     ".gptedu-lr select", ".gptedu-warmup select",
                     ".gptedu-figure img[src^='data:image/png;base64,']"),
            interactions=(
                # each redraws the per-layer gradient norms at init (one backward pass)
                Interaction("move the layers slider", ".gptedu-layers .noUi-handle", "nudge", ".gptedu-figure", "left"),
                Interaction("switch to pre-LN", ".gptedu-norm button:not(.mod-active)", "click", ".gptedu-figure"),
                # the figure changes only when the run ends and its curve is drawn: 50 steps of 11 layers x 64,
                # 15-40 s (in a background thread: the kernel is idle while it trains)
                Interaction("train", "button.gptedu-train", "click", ".gptedu-figure", timeout=600.0),
            )),
    Chapter("08_gpt2_zero_shot.ipynb",  # only the lab's cells here (nbval runs every cell)
            lab_cells=("gptedu.setup(", "prompt_lab("),
            renders=(".gptedu-prompt-text textarea", ".gptedu-model select", ".gptedu-decoding .widget-toggle-button",
                     "button.gptedu-generate", ".gptedu-position.widget-slider .noUi-handle",
                     ".gptedu-figure img[src^='data:image/png;base64,']"),
            interactions=(
                # typing redraws the prompt and the chart of the candidates right after it
                Interaction("type a prompt", ".gptedu-prompt-text textarea", "type", ".gptedu-figure",
                            "JULIET.\nO Romeo, Romeo! wherefore art thou Romeo?\n"),
                Interaction("pick greedy decoding", ".gptedu-decoding button:not(.mod-active)", "click", ".gptedu-status"),
                Interaction("generate", "button.gptedu-generate", "click", ".gptedu-output"),
                Interaction("move to another token", ".gptedu-position .noUi-handle", "nudge", ".gptedu-figure"),
                Interaction("pick another model", ".gptedu-model select", "select", ".gptedu-figure", "family 113k"),
            )),
    Chapter("11_scaling.ipynb",  # only the lab's cells here (nbval runs every cell): the lab reads the shipped logs
            lab_cells=("gptedu.setup(", "scaling_lab("),  # the lab cell picks section 3's setting itself
            renders=(".gptedu-run-38k input[type=checkbox]", ".gptedu-form .widget-toggle-button",
                     ".gptedu-limit select", "button.gptedu-reveal",
                     ".gptedu-figure img[src^='data:image/png;base64,']"),
            interactions=(
                # each refits (a 200-resample bootstrap) and redraws; the prediction in the status moves
                Interaction("fit without c", ".gptedu-form button:not(.mod-active)", "click", ".gptedu-figure"),
                # (on the 13k run alone the fit with c picks c = 0: the form would change nothing, so it goes first)
                Interaction("untick the 38k run", ".gptedu-run-38k input[type=checkbox]", "click", ".gptedu-status"),
                Interaction("compute limit 1/30", ".gptedu-limit select", "select", ".gptedu-status", "1/30"),
                Interaction("reveal", "button.gptedu-reveal", "click", ".gptedu-status"),
            )),
    Chapter("10_gpt3_in_context_learning.ipynb",  # only the lab's cells: nbval runs the whole notebook
            lab_cells=("gptedu.setup(", "fewshot_lab("),
            renders=("button.gptedu-score", ".gptedu-k.widget-slider .noUi-handle", ".gptedu-size select",
                     ".gptedu-task select", ".gptedu-description input[type=checkbox]", ".gptedu-prompt pre",
                     ".gptedu-figure img[src^='data:image/png;base64,']"),
            interactions=(
                Interaction("move the K slider", ".gptedu-k .noUi-handle", "nudge", ".gptedu-prompt"),
                Interaction("pick another model", ".gptedu-size select", "select", ".gptedu-answer", "1.4m"),
                # 50 held-out queries on the 1.4m model: a few seconds
                Interaction("score", "button.gptedu-score", "click", ".gptedu-figure", timeout=120.0),
            )),
    Chapter("09_gpt3_sparse_attention.ipynb",  # a live benchmark and training steps: only the explorer's cells here
            lab_cells=("gptedu.setup(", "chars = ablation.load_data()", "attention_explorer("),
            renders=(".gptedu-prompt input", ".gptedu-layer.widget-slider .noUi-handle", ".gptedu-head select",
                     ".gptedu-figure img[src^='data:image/png;base64,']"),
            interactions=(
                # opens on banded layer 1: one step right is dense layer 2, the band's dashed edges go
                Interaction("move the layer slider", ".gptedu-layer .noUi-handle", "nudge", ".gptedu-figure"),
                Interaction("pick another head", ".gptedu-head select", "select", ".gptedu-figure"),
            )),
]

ARTIFACTS = ROOT / "test-artifacts" / "browser"
BOOK_PICTURES = ROOT / "book" / "labs"  # written only with GPTEDU_BOOK_PICTURES=1 (see book/README.md)
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # no name resolves: loopback only
]


def _unavailable(reason: str):
    how = ("Install Chromium to run it (Debian/Ubuntu: `sudo apt-get install chromium`), or set "
           "GPTEDU_CHROMIUM to a Chromium or Chrome binary.")
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser test. {how}", pytrace=False)
    pytest.skip(f"{reason}: the browser test is skipped. {how}")


@pytest.fixture(scope="module")
def chromium() -> str:
    wanted = os.environ.get("GPTEDU_CHROMIUM", "/usr/bin/chromium")
    path = shutil.which(wanted)  # an executable path, or a name on PATH
    if path is None:
        _unavailable(f"no Chromium at {wanted}")
    return path


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    server = LabServer(tmp_path_factory.mktemp("jupyterlab"),
                       keep={c.notebook: c.lab_cells for c in CHAPTERS if c.lab_cells})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(chromium):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (it is pinned in requirements.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS,
                                             timeout=60_000)
        yield browser
        browser.close()


def _is_loopback(url: str) -> bool:
    scheme = urlsplit(url).scheme
    return scheme in ("data", "blob", "about") or urlsplit(url).hostname in ("127.0.0.1", "localhost")


def loopback_page(browser, offsite: list[str], timeout_ms: int = 30_000):
    """A new context and its page in which every request for another origin is refused and its URL appended to
    `offsite` (the browser tests fail on any): how every browser test here stays offline. Returns (context, page)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(timeout_ms)
    context.route(lambda url: not _is_loopback(url), lambda route: (offsite.append(route.request.url), route.abort()))
    return context, context.new_page()


def _interact(page, notebook: NotebookPage, step: Interaction) -> None:
    cell = page.locator(".jp-CodeCell", has=page.locator(step.control)).first
    control, watched = cell.locator(step.control).first, cell.locator(step.changes).first
    for selector, locator in ((step.control, control), (step.changes, watched)):
        assert locator.count(), f"{step.what}: nothing on the page matches {selector!r}"
    before, known_errors = watched.inner_html(), len(notebook.kernel_errors())
    control.scroll_into_view_if_needed()
    if step.action in ("type", "type+enter"):
        control.fill(step.value)
        if step.action == "type+enter":
            control.press("Enter")
    elif step.action == "nudge":
        at_max = control.get_attribute("aria-valuenow") == control.get_attribute("aria-valuemax")
        control.focus()
        control.press("ArrowLeft" if at_max or step.value == "left" else "ArrowRight")
    elif step.action == "select":
        if step.value:
            control.select_option(label=step.value)
        else:
            options = control.evaluate("s => [...s.options].map(o => o.label)")
            now = control.evaluate("s => s.selectedIndex")
            control.select_option(label=options[(now + 1) % len(options)])
    elif step.action == "click":
        control.click()
    else:
        raise ValueError(f"unknown action {step.action!r} in {step}")

    def redrawn() -> bool:
        new_errors = notebook.kernel_errors()[known_errors:]
        assert not new_errors, f"{step.what}: the app raised in the kernel:\n" + "\n".join(new_errors)
        return watched.inner_html() != before

    wait_until(redrawn, step.timeout, f"{step.what}: {step.changes!r} to change after {step.action} {step.value!r}")


def lab_picture(page, chapter: Chapter) -> Path:
    """The lab in use, as the learner sees it after the interactions: its cell's output area, to
    test-artifacts/browser/lab-NN_name.png, and to book/labs/NN_name.png with GPTEDU_BOOK_PICTURES=1."""
    cell = page.locator(".jp-CodeCell", has=page.locator(chapter.interactions[0].control)).first
    output = cell.locator(".jp-Cell-outputArea").first
    output.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the last redraw's <img> decoded
    path = ARTIFACTS / f"lab-{Path(chapter.notebook).stem}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    output.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{path}: the lab's picture is nearly empty"
    if os.environ.get("GPTEDU_BOOK_PICTURES") == "1":
        BOOK_PICTURES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, BOOK_PICTURES / f"{Path(chapter.notebook).stem}.png")
    return path


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.notebook for c in CHAPTERS])
def test_notebook_runs_and_its_widgets_react_in_jupyterlab(chapter: Chapter, lab: LabServer, browser):
    assert (lab.root_dir / chapter.notebook).exists(), f"there is no notebooks/{chapter.notebook}"
    started = time.monotonic()
    stem = Path(chapter.notebook).stem
    offsite: list[str] = []
    js_errors: list[str] = []
    context, page = loopback_page(browser, offsite)  # any other origin is refused and fails the test below
    page.on("pageerror", lambda error: js_errors.append(str(error)))
    notebook = NotebookPage(page, chapter.notebook)
    try:
        page.goto(lab.url(f"/lab/tree/{chapter.notebook}?reset"), timeout=OPEN_TIMEOUT * 1000)
        notebook.wait_open(OPEN_TIMEOUT)
        notebook.wait_kernel_idle(OPEN_TIMEOUT)
        notebook.watch_kernel_errors()
        notebook.run_all()
        cells = notebook.wait_run_done(chapter.run_timeout)
        notebook.screenshot(ARTIFACTS / f"{stem}-1-ran.png")

        failed = [f"cell {c['index']} ({c['source']!r}): {o['text']}"
                  for c in cells for o in c["outputs"] if o["type"] == "error"]
        assert not failed, "cells show errors in JupyterLab:\n" + "\n".join(failed)
        assert all(c["count"] is not None for c in cells)
        broken = page.get_by_text(re.compile(r"Error displaying widget|Error rendering output")).count()
        assert not broken, "a widget or output failed to render (see the screenshot)"
        for selector in chapter.renders:
            assert page.locator(selector).count(), f"nothing rendered matches {selector!r} after Run All"

        for step in chapter.interactions:
            _interact(page, notebook, step)
            notebook.wait_kernel_idle(step.timeout)
        if chapter.interactions:
            lab_picture(page, chapter)  # before the full-page shot, which resizes the window
            notebook.screenshot(ARTIFACTS / f"{stem}-2-interacted.png")
            late = [f"cell {c['index']}: {o['text']}" for c in notebook.cells() for o in c["outputs"]
                    if o["type"] == "error"]
            assert not late, "errors after the interactions:\n" + "\n".join(late)
        assert not notebook.kernel_errors(), "the kernel reported errors:\n" + "\n".join(notebook.kernel_errors())
        assert not offsite, f"the page tried to leave the machine: {offsite}"
        assert not js_errors, f"uncaught JavaScript errors: {js_errors}"
    except BaseException:
        try:
            notebook.screenshot(ARTIFACTS / f"{stem}-failed.png")
        except Exception:
            pass
        print(f"server log (tail):\n{lab.log_tail()}")
        raise
    finally:
        context.close()
        lab.shutdown_kernels(chapter.notebook)  # free the kernel's memory before the next notebook
    print(f"{chapter.notebook}: {time.monotonic() - started:.1f} s in the browser")


# The kernel's working folder, printed by a cell the test sends through JupyterLab's own kernel connection.
KERNEL_CWD = f"""(path) => new Promise((resolve, reject) => {{
  const panel = ({_PANEL})(path);
  const future = panel.sessionContext.session.kernel.requestExecute({{code: 'import os; print(os.getcwd())'}});
  let out = '';
  future.onIOPub = msg => {{ if (msg.header.msg_type === 'stream') out += msg.content.text; }};
  future.done.then(() => resolve(out.trim()), reject);
}})"""

ROOT_LISTING = """async () => {
  await window.jupyterapp.commands.execute('filebrowser:go-to-path', {path: '/'});
  await new Promise(r => setTimeout(r, 1000));
  return [...document.querySelectorAll('.jp-FileBrowser .jp-DirListing-itemName')].map(e => e.textContent.trim());
}"""


def test_the_printed_url_opens_chapter_00_at_the_repository_root(chromium, browser, tmp_path):
    """`python3 course.py --no-browser` as a remote or headless learner runs it: course.py's own JupyterLab command
    (jupyterlab_command, rooted at a copy of the repository: README.md, data/, gptedu/, notebooks/), the URL it
    prints opened as printed. Chapter 00 must open, the file browser's root must list README.md, data, gptedu and
    notebooks, and the chapter's kernel must run in notebooks/ (the chapters read ../data from there)."""
    from tests.scripts import load_script

    course = load_script("course.py")

    def course_command(options: list[str], root: Path) -> list[str]:
        shutil.copy2(ROOT / "README.md", root / "README.md")
        for name in ("gptedu", "scripts"):
            (root / name).symlink_to(ROOT / name, target_is_directory=True)
        saved = course.ROOT
        course.ROOT = root  # jupyterlab_command roots the server at course.ROOT
        try:
            return course.jupyterlab_command(options)
        finally:
            course.ROOT = saved

    server = LabServer(tmp_path, command=course_command)
    offsite: list[str] = []
    context, page = loopback_page(browser, offsite)
    chapter = "notebooks/00_welcome.ipynb"
    try:
        log = server.log_path.read_text(errors="replace")
        printed = re.findall(r"(http://127\.0\.0\.1:\d+/\S*token=[0-9a-f]+)\s", log)
        assert printed, f"JupyterLab printed no URL with its token:\n{server.log_tail()}"
        assert urlsplit(printed[0]).path == f"/lab/tree/{chapter}", f"the printed URL is {printed[0]}"
        page.goto(printed[0], timeout=OPEN_TIMEOUT * 1000)
        notebook = NotebookPage(page, chapter)
        wait_until(lambda: page.evaluate(f"(p) => !!({_PANEL})(p)", chapter), OPEN_TIMEOUT,
                   f"the printed URL to open {chapter}")
        listing = page.evaluate(ROOT_LISTING)
        for name in ("README.md", "data", "gptedu", "notebooks"):
            assert name in listing, f"the file browser's root lacks {name}: {listing}"
        notebook.wait_kernel_idle(OPEN_TIMEOUT)
        assert page.evaluate(KERNEL_CWD, chapter) == str(server.root_dir), "the chapter's kernel runs elsewhere"
        assert not offsite, f"the page tried to leave the machine: {offsite}"
    except BaseException:
        try:
            page.screenshot(path=str(ARTIFACTS / "printed-url-failed.png"))
        except Exception:
            pass
        print(f"server log (tail):\n{server.log_tail()}")
        raise
    finally:
        context.close()
        server.stop()
