"""The book (`python3 course.py book`): built from the committed notebooks, then read in a real browser offline.

The module builds the book once, with the real command, into a temporary folder. Without a browser the
tests check the build itself: its time, every chapter's page, the solutions collapsed (and present: the
full edition, not the student one), each lab's picture placed in its chapter. In headless Chromium (the
fixtures of tests/test_browser.py), with every request outside the book's own local server refused, each
page (the index and the twelve chapters) must load with no failed request, its maths typeset by the local
MathJax (no `$…$` or `\\(…\\)` left as text, no MathJax error), every image loaded, each lab chapter showing
its lab's picture; the search page must find "induction".

Needs Chromium, as tests/test_browser.py: the browser tests are skipped without one, except in CI (CI set).
"""
from __future__ import annotations

import functools
import http.server
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.browser.lab import ROOT
from tests.scripts import load_script
from tests.test_browser import browser, chromium, loopback_page  # noqa: F401 (fixtures)

BUILD_LIMIT = 120.0  # seconds: the "builds in under 2 minutes on 2 cores"
book_build = load_script("book/build.py")

CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("book") / "book"
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "course.py"), "book", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    assert done.returncode == 0, f"course.py book failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return {"out": out, "took": took, "stdout": done.stdout}


def test_book_builds_every_chapter_in_time_and_says_where(book):
    out = book["out"]
    assert book["took"] < BUILD_LIMIT, f"the book took {book['took']:.0f} s to build (limit {BUILD_LIMIT:.0f} s)"
    said = re.search(r"book: 12 chapters built in (\d+) s into (\S+)", book["stdout"])
    assert said, f"course.py book did not say what it built:\n{book['stdout']}"
    assert Path(said.group(2)) == out and int(said.group(1)) <= book["took"] + 1
    assert (out / "index.html").exists() and (out / "search.html").exists() and (out / "searchindex.js").exists()
    index = (out / "index.html").read_text(encoding="utf-8")
    for stem in CHAPTERS:
        assert (out / "chapters" / f"{stem}.html").exists(), f"no page for {stem}"
        assert f'href="chapters/{stem}.html"' in index, f"the table of contents misses {stem}"
    assert (out / "_static" / "mathjax" / "MathJax.js").exists(), "MathJax is not served from the book"


def _solution_cells(stem: str) -> list[str]:
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and c.get("metadata", {}).get("jupyter", {}).get("source_hidden")]


def _code_lines(source: str) -> list[str]:
    """Lines of a cell distinctive enough to find in the page's highlighted code (pygments splits tokens)."""
    return [line.strip() for line in source.splitlines() if len(line.strip()) > 25 and not line.strip().startswith("#")]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_solutions_are_collapsed_and_complete(book, stem):
    page = (book["out"] / "chapters" / f"{stem}.html").read_text(encoding="utf-8")
    solutions = _solution_cells(stem)
    collapsed = re.findall(r'<div class="cell tag_hide-cell[^"]*"', page)
    assert len(collapsed) == len(solutions), f"{stem}: {len(solutions)} collapsed cells in the notebook, " \
                                             f"{len(collapsed)} collapsed in the book"
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    hints = sum("".join(c["source"]).count("<details>") for c in nb["cells"] if c["cell_type"] == "markdown")
    assert page.count("<details>") == hints, \
        f"{stem}: {hints} folded hints in the notebook, {page.count('<details>')} in the book"
    assert "<details open" not in page, f"{stem}: something the notebook folds is open in the book"
    text = re.sub(r"<[^>]+>", "", page)
    import html as html_lib
    text = html_lib.unescape(text)
    for source in solutions:  # the full edition: the solution's code is there, behind the toggle
        lines = _code_lines(source)
        assert lines and all(line in text for line in lines[:3]), f"{stem}: a solution's code is missing: {lines[:3]}"


@pytest.mark.parametrize("stem", sorted(book_build.LABS))
def test_each_lab_chapter_shows_its_picture(book, stem):
    page = (book["out"] / "chapters" / f"{stem}.html").read_text(encoding="utf-8")
    assert f'src="../_images/{stem}.png"' in page, f"{stem}: the lab's picture is not on the page"
    assert "Run it live:" in page
    picture = book["out"] / "_images" / f"{stem}.png"
    assert picture.read_bytes() == (ROOT / "book" / "labs" / f"{stem}.png").read_bytes()


# --- in a real browser, offline -------------------------------------------------------------------------

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(book):
    handler = functools.partial(_Quiet, directory=str(book["out"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# Maths still as source after MathJax: $…$ / \(…\) in the text outside code, or a .math element MathJax left alone.
UNRENDERED = r"""() => {
  const skip = 'pre, code, script, style, .highlight, .MathJax_Preview, .MathJax_CHTML, .MJX_Assistive_MathML';
  const texts = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement && !node.parentElement.closest(skip)) texts.push(node.textContent);
  }
  const text = texts.join(' ');
  const dollars = text.match(/\$[^$\s][^$\n]*?\$/g) || [];
  const parens = text.match(/\\\(|\\\[/g) || [];
  const math = [...document.querySelectorAll('span.math.notranslate, div.math.notranslate')];  // Sphinx's, not MathJax's own span.math
  const untouched = math.filter(m => !m.querySelector('.MathJax_CHTML, .MathJax, .MathJax_Display')).map(m => m.textContent.slice(0, 80));
  return {dollars: dollars.slice(0, 5), parens: parens.length, math: math.length, untouched: untouched.slice(0, 5),
          errors: document.querySelectorAll('.merror, .MathJax_Error').length};
}"""

IMAGES = """() => [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
                                             width: i.naturalWidth}))"""

MATHJAX_DONE = """() => new Promise(resolve => {
  if (!document.querySelector('script[src*="MathJax.js"]')) return resolve('no mathjax');
  const wait = () => (window.MathJax && MathJax.Hub && MathJax.Hub.Queue)
    ? MathJax.Hub.Queue(() => resolve('typeset')) : setTimeout(wait, 50);
  wait();
})"""


def _mathjax_blank_font(request) -> bool:
    """MathJax 2's HTML-CSS output declares a font "MathJax_Blank" at url('about:blank') on purpose (to tell when a
    web font has loaded); Chromium reports it as a failed font request. Nothing is fetched: only this is let pass."""
    return request.url == "about:blank" and request.resource_type == "font"


@pytest.fixture(scope="module")
def reader(browser, served):  # noqa: F811 (browser is the fixture imported above)
    log = {"offsite": [], "failed": [], "errors": []}
    context, page = loopback_page(browser, log["offsite"], timeout_ms=60_000)
    page.on("requestfailed", lambda request: None if _mathjax_blank_font(request) else log["failed"].append(
        f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and log["failed"].append(
        f"{response.url}: HTTP {response.status}"))
    page.on("pageerror", lambda error: log["errors"].append(str(error)))
    yield page, log
    context.close()


def _open(page, log, url: str) -> None:
    for key in log:
        log[key].clear()
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(MATHJAX_DONE) in ("typeset", "no mathjax")
    page.wait_for_load_state("networkidle")  # what MathJax loaded for the page (fonts, extensions)


@pytest.mark.parametrize("page_name", ["index", *(f"chapters/{s}" for s in CHAPTERS)])
def test_book_page_offline_in_chromium(book, served, reader, page_name):
    page, log = reader
    _open(page, log, f"{served}/{page_name}.html")
    maths = page.evaluate(UNRENDERED)
    images = page.evaluate(IMAGES)
    assert not log["offsite"], f"{page_name}: requests that would leave the machine: {log['offsite']}"
    assert not log["failed"], f"{page_name}: failed requests: {log['failed']}"
    assert not log["errors"], f"{page_name}: JavaScript errors: {log['errors']}"
    assert not maths["dollars"] and not maths["parens"], f"{page_name}: maths left as text: {maths}"
    assert not maths["untouched"] and not maths["errors"], f"{page_name}: maths MathJax did not typeset: {maths}"
    broken = [i["src"] for i in images if not i["ok"]]
    assert not broken, f"{page_name}: images that did not load: {broken}"
    stem = page_name.removeprefix("chapters/")
    if stem in book_build.LABS:
        lab = [i for i in images if i["src"].endswith(f"_images/{stem}.png")]
        assert lab and lab[0]["ok"] and lab[0]["width"] > 400, f"{stem}: the lab's picture is not shown: {images}"
        assert page.locator(f"img[src$='_images/{stem}.png']").is_visible()
    if page_name.startswith("chapters/"):
        assert page.locator("button.copybtn").count(), f"{page_name}: no copy buttons on the code"
        nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
        has_maths = any(re.search(r"\$[^$\s][^$\n]*?\$", "".join(c["source"]))
                        for c in nb["cells"] if c["cell_type"] == "markdown")
        assert maths["math"] or not has_maths, f"{page_name}: the notebook has $…$ maths but the page none"


def test_book_search_finds_induction_offline(served, reader):
    page, log = reader
    _open(page, log, f"{served}/search.html?q=induction")
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=60_000)
    links = [results.nth(i).locator("a").first.get_attribute("href") for i in range(results.count())]
    assert any("10_gpt3_in_context_learning" in link for link in links), f"search results: {links}"
    assert not log["offsite"] and not log["failed"] and not log["errors"], log
