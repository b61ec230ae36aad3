"""Build the book: the twelve committed, executed chapters as a static HTML site (`python3 course.py book`).

1. Prepare the sources in _build/book-src/ from notebooks/*.ipynb, nothing executed:
   - a cell collapsed in the notebook (`metadata.jupyter.source_hidden` / `outputs_hidden`: the solutions)
     gets myst-nb's tag hide-cell / hide-input / hide-output, so it is collapsed in the book too;
   - a widget's output becomes what it showed, from the state the notebook saved (a progress bar's last
     line, the live loss plot's last frame); a lab's output (gptedu/labs/) is replaced by the picture of
     it in use that tests/test_browser.py took while driving it (book/labs/NN_name.png), and a line on
     how to run it live;
   - an index page with the table of contents.
2. sphinx-build (myst-nb, sphinx-book-theme, sphinx-copybutton; book/conf.py) into _build/book/, and
   MathJax 2.7 from the pinned jupyter-server-mathjax package into its _static/mathjax/.

Prints the folder, the page to open and the build time. Options: --out FOLDER (default _build/book).
"""
from __future__ import annotations

import argparse
import copy
import html
import json
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
LAB_PICTURES = BOOK / "labs"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

# chapter -> (a string only the lab's code cell holds, the lab's name, what to do with it live)
LABS = {
    "01_tokens": ("tokenizer_playground(", "the tokenizer playground",
                  "type any text and switch between characters, our BPE and GPT-2's tokenizer"),
    "03_attention": ("attention_explorer(", "the attention explorer",
                     "type a prompt, move the layer slider, pick a head"),
    "06_gpt1_finetuning": ("transfer_lab(", "the layer-transfer lab",
                           "move the layers slider, pick a task, fine-tune a new point"),
    "07_gpt2_model": ("depth_lab(", "the depth lab",
                      "change the depth, the norm placement and the init, then train a run"),
    "08_gpt2_zero_shot": ("prompt_lab(", "the prompt lab",
                          "type a prompt, pick a model and a decoding, generate"),
    "09_gpt3_sparse_attention": ("attention_explorer(", "the attention explorer on banded layers",
                                 "move the layer slider between dense and banded layers, pick a head"),
    "10_gpt3_in_context_learning": ("fewshot_lab(", "the few-shot lab",
                                    "move the K slider, pick a model and a task, score held-out queries"),
    "11_scaling": ("scaling_lab(", "the scaling lab",
                   "choose the runs and the compute limit, fit, then reveal the held-out run"),
}

INDEX = """# gptedu: GPT-1, GPT-2 and GPT-3 from scratch

An interactive course in twelve chapters: it builds GPT-1, then GPT-2, then GPT-3 from scratch in PyTorch,
one notebook a chapter, and reproduces the papers' claims at laptop scale.

This is the book: every chapter as committed, with the outputs the tests checked (nothing was re-run to
make it). Solutions are collapsed, as in the notebooks: open one to read it. The interactive labs are
shown as pictures of them in use; to use them, and to run any cell yourself, get the repository and run

```bash
python3 course.py
```

which installs the pinned versions and opens JupyterLab on chapter 00.

```{{toctree}}
:maxdepth: 1
:caption: Chapters

{chapters}
```
"""


def chapter_title(nb: dict, stem: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return stem


def widget_state(nb: dict) -> dict:
    return nb.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _model(state: dict, ref: str) -> dict | None:
    return state.get(ref.removeprefix("IPY_MODEL_"))


def widget_outputs(output: dict, state: dict, depth: int = 0) -> list[dict]:
    """What a widget output showed when the notebook was saved, as ordinary outputs (maybe none)."""
    view = output["data"][WIDGET_VIEW]
    model = state.get(view.get("model_id", ""))
    plain = "".join(output["data"].get("text/plain", ""))
    if model is not None and depth < 5:
        name, s = model.get("model_name"), model.get("state", {})
        if name == "OutputModel":  # e.g. the live loss plot: its last frame
            shown = []
            for inner in s.get("outputs", []):
                if WIDGET_VIEW in inner.get("data", {}):
                    shown += widget_outputs(inner, state, depth + 1)
                else:
                    shown.append(inner)
            return shown
        if name == "HBoxModel":  # tqdm.auto: description, bar, counts
            parts = [_model(state, ref) for ref in s.get("children", [])]
            kinds = [p and p.get("model_name") for p in parts]
            if kinds == ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
                left, bar, right = (p["state"] for p in parts)
                total = bar.get("max") or 1
                filled = round(10 * (bar.get("value") or 0) / total)
                text = (f"{html.unescape(left.get('value', ''))}|{'█' * filled}{' ' * (10 - filled)}|"
                        f"{html.unescape(right.get('value', ''))}")
                return [{"output_type": "stream", "name": "stderr", "text": text + "\n"}]
    if re.match(r"^\w+\(", plain):  # a widget's repr (e.g. VBox(children=...)): nothing a reader can use
        return []
    return [{"output_type": "stream", "name": "stdout", "text": plain + "\n"}] if plain else []


def lab_cell(stem: str, picture: str) -> dict:
    _, name, what = LABS[stem]
    text = (f"```{{figure}} {picture}\n:alt: {name} in use\n:width: 100%\n\n"
            f"**Live lab:** {name}, as the browser test drove it in JupyterLab ({what}).\n```\n\n"
            f"*Run it live:* `python3 course.py` opens JupyterLab on chapter 00; open this chapter "
            f"(`notebooks/{stem}.ipynb`), run the cells from the top down to this one, then use the lab.")
    return {"cell_type": "markdown", "id": f"gptedu-lab-{stem}", "metadata": {}, "source": text}


def prepare_notebook(nb: dict, stem: str, pictures: Path) -> dict:
    nb = copy.deepcopy(nb)
    state = widget_state(nb)
    marker = LABS.get(stem, (None,))[0]
    cells, lab_done = [], False
    for cell in nb["cells"]:
        jupyter = cell.get("metadata", {}).get("jupyter", {})
        tags = list(cell.get("metadata", {}).get("tags", []))
        source_hidden, outputs_hidden = jupyter.get("source_hidden"), jupyter.get("outputs_hidden")
        if cell["cell_type"] == "code":
            if source_hidden and (outputs_hidden or not cell.get("outputs")):
                tags.append("hide-cell")
            elif source_hidden:
                tags.append("hide-input")
            elif outputs_hidden:
                tags.append("hide-output")
            is_lab = bool(marker) and not lab_done and marker in "".join(cell["source"])
            outputs = []
            for output in cell.get("outputs", []):
                if WIDGET_VIEW in output.get("data", {}):
                    if not is_lab:
                        outputs += widget_outputs(output, state)
                else:
                    outputs.append(output)
            cell["outputs"] = outputs
            if tags:
                cell.setdefault("metadata", {})["tags"] = tags
            cells.append(cell)
            if is_lab:
                lab_done = True
                cells.append(lab_cell(stem, f"../labs/{stem}.png"))
        else:
            cells.append(cell)
    if marker and not lab_done:
        raise SystemExit(f"book: no code cell of notebooks/{stem}.ipynb holds {marker!r}; update book/build.py LABS")
    nb["cells"] = cells
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def mathjax_folder() -> Path:
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise SystemExit("book: jupyter-server-mathjax is missing (it is pinned in requirements.txt); "
                         "run `python3 course.py setup`.") from None
    folder = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (folder / "MathJax.js").exists():
        raise SystemExit(f"book: no MathJax.js in {folder}")
    return folder


def prepare(src: Path) -> list[str]:
    missing = [f"book/labs/{stem}.png" for stem in LABS if not (LAB_PICTURES / f"{stem}.png").exists()]
    if missing:
        raise SystemExit(f"book: lab pictures missing: {', '.join(missing)} (GPTEDU_BOOK_PICTURES=1 python3 "
                         f"course.py test tests/test_browser.py makes them)")
    if src.exists():
        shutil.rmtree(src)
    (src / "chapters").mkdir(parents=True)
    shutil.copy2(BOOK / "conf.py", src / "conf.py")
    shutil.copy2(BOOK / "favicon.svg", src / "favicon.svg")
    shutil.copytree(LAB_PICTURES, src / "labs")
    shutil.copytree(mathjax_folder(), src / "_static" / "mathjax")
    shutil.copy2(BOOK / "book.css", src / "_static" / "book.css")
    stems = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        prepared = prepare_notebook(nb, path.stem, LAB_PICTURES)
        (src / "chapters" / path.name).write_text(json.dumps(prepared, indent=1), encoding="utf-8")
        stems.append(path.stem)
    (src / "index.md").write_text(INDEX.format(chapters="\n".join(f"chapters/{s}" for s in stems)),
                                  encoding="utf-8")
    return stems


def build(out: Path, src: Path, quiet: bool = True) -> int:
    from sphinx.cmd.build import build_main

    if out.exists():
        shutil.rmtree(out)  # a clean build each time: what the test sees is what this command makes
    args = ["-b", "html", "-E", "-W", "--keep-going", "-d", str(src / ".doctrees"), str(src), str(out)]
    return build_main((["-q"] if quiet else []) + args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "book",
                        help="where the HTML goes (default: _build/book)")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's progress messages")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    src = out.parent / f"{out.name}-src"
    started = time.monotonic()
    stems = prepare(src)
    code = build(out, src, quiet=not args.verbose)
    took = time.monotonic() - started
    if code:
        print(f"book: sphinx-build failed (exit code {code}) after {took:.0f} s; its messages are above.")
        return code
    print(f"book: {len(stems)} chapters built in {took:.0f} s into {out}\n"
          f"open {out / 'index.html'} in a browser (works offline, nothing is fetched from the network)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
