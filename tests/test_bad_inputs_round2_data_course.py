"""Issue 29, item 6: the first round's leftovers in gptedu.data, gptedu.tokenizers and course.py.

An empty or garbage data/SHA256SUMS used to empty the corpus list silently (or fail with an unpacking
error); a TIKTOKEN_CACHE_DIR that cannot be written gave a raw OSError traceback from tiktoken's cache;
`course.py portability` on a missing notebook reported a failing kernel variant; Python 3.6-3.9 met a
SyntaxError (`from __future__ import annotations`) or a TypeError before the version message.
"""
import ast
import runpy
import sys
from pathlib import Path

import pytest

import gptedu.data as data
from gptedu.tokenizers import GPT2_RANKS_FILE, BPETokenizer, gpt2_ranks
from tests.scripts import ROOT, load_script


# ---------------------------------------------------------------- data/SHA256SUMS
@pytest.fixture
def sums_folder(tmp_path, monkeypatch):
    """A data folder whose SHA256SUMS the test writes; the cached hashes are cleared before and after."""
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    data._expected_hashes.cache_clear()
    yield tmp_path / "SHA256SUMS"
    data._expected_hashes.cache_clear()


@pytest.mark.parametrize("text, pattern", [
    ("", r"SHA256SUMS lists no Shakespeare files \(0 entries\): it is damaged or empty"),
    ("\n\n", r"SHA256SUMS lists no Shakespeare files \(0 entries\)"),
    ("garbage\n", r"SHA256SUMS is damaged: line 1 is 'garbage', not '<sha256>  <file name>'"),
    ("0" * 64 + "  gpt2.tiktoken\nnot a line\n", r"SHA256SUMS is damaged: line 2 is 'not a line'"),
    ("0" * 63 + "  shakespeare/hamlet.txt\n", r"SHA256SUMS is damaged: line 1 is"),
    ("0" * 64 + "  gpt2.tiktoken\n", r"SHA256SUMS lists no Shakespeare files \(1 entries\)"),
    (b"\xff\xfe\x00", r"SHA256SUMS is damaged: it is not text"),
])
def test_a_damaged_sha256sums_is_named_not_an_empty_corpus(sums_folder, text, pattern):
    sums_folder.write_bytes(text if isinstance(text, bytes) else text.encode())
    for call in (data.list_plays, data.pretraining_plays, lambda: data.load_shakespeare()):
        with pytest.raises(data.DataError, match=pattern):
            call()


def test_a_good_sha256sums_still_reads(sums_folder):
    sums_folder.write_text("a" * 64 + "  shakespeare/hamlet.txt\n\n" + "b" * 64 + "  gpt2.tiktoken\n")
    assert data.list_plays() == ["hamlet"]


# ---------------------------------------------------------------- tiktoken's cache folder
def unwritable_cache(tmp_path: Path) -> list[Path]:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    folders = [blocker / "cache"]  # a file where the cache folder should be
    from tests.test_bad_inputs_round2_checks import unwritable_folder
    try:
        folders.append(unwritable_folder(tmp_path) / "tiktoken-cache")
    except pytest.skip.Exception:
        pass
    return folders


def test_gpt2_ranks_do_not_need_a_writable_tiktoken_cache(tmp_path, monkeypatch):
    for folder in unwritable_cache(tmp_path):
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
        ranks = gpt2_ranks()
        assert len(ranks) == 50256 and ranks[b"!"] == 0
    tok = BPETokenizer.from_tiktoken_ranks(data.data_path(GPT2_RANKS_FILE))  # a ranks file by path: the same
    assert tok.decode(tok.encode("Hello world")) == "Hello world"


def test_a_damaged_ranks_file_names_the_line(tmp_path):
    bad = tmp_path / "ranks.tiktoken"
    bad.write_bytes(b"IQ== 0\nnot-base64! 1\n")
    with pytest.raises(ValueError, match=r"ranks\.tiktoken, line 2: b'not-base64! 1' is not '<base64 token> <rank>'"):
        BPETokenizer.from_tiktoken_ranks(bad)


# ---------------------------------------------------------------- course.py
def test_portability_on_a_missing_notebook_says_so_and_runs_nothing(monkeypatch, capsys):
    course = load_script("course.py", name="_round2_course")

    def never(*args, **kwargs):
        raise AssertionError("ran a kernel variant for a notebook that does not exist")
    monkeypatch.setattr(course, "run", never)
    monkeypatch.setattr(course, "cpu_capability", never)
    assert course.portability(["notebooks/99_nope.ipynb"]) == 2
    out = capsys.readouterr().out
    assert "no such notebook notebooks/99_nope.ipynb" in out and "FAILED" not in out
    assert course.missing_paths(["notebooks/00_welcome.ipynb", "-k", "cell", "--nbval-cell-timeout", "600"]) == []


@pytest.mark.parametrize("version", [(3, 6, 15), (3, 9, 18), (3, 10, 14)])
def test_an_old_python_gets_the_version_message_first(monkeypatch, version):
    monkeypatch.setattr(sys, "version_info", (*version, "final", 0))
    monkeypatch.setattr(sys, "version", ".".join(map(str, version)) + " (old)")
    with pytest.raises(SystemExit, match=rf"^gptedu needs Python 3\.11 or newer \(its pinned numpy has no older wheel\); this is {version[0]}\.{version[1]}"):
        runpy.run_path(str(ROOT / "course.py"), run_name="_round2_old_python")


def test_course_py_parses_on_any_python():
    """What an old Python meets before the version check is course.py alone: Python 2 included, it must parse
    there. No f-strings, annotations, `async`, walrus, keyword-only or `from __future__ import annotations`;
    print is never used as a statement (it is not used at all); the body, tools/course_main.py, runs after."""
    source = (ROOT / "course.py").read_text()
    tree = ast.parse(source, feature_version=(3, 4))
    newer = (ast.JoinedStr, ast.AnnAssign, ast.AsyncFunctionDef, ast.NamedExpr, ast.Await)
    assert not [n for n in ast.walk(tree) if isinstance(n, newer)]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "print"]
    assert not [n for n in tree.body if isinstance(n, ast.ImportFrom)]  # no __future__, nothing to resolve
    check = next(n for n in tree.body if isinstance(n, ast.If))  # the version check comes before anything else
    assert tree.body.index(check) <= 2 and "version_info" in ast.unparse(check.test)