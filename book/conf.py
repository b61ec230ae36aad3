"""Sphinx configuration of the book: `python3 course.py book` (book/build.py) builds the committed,
executed notebooks into a static HTML site, offline. Why Sphinx + myst-nb + sphinx-book-theme and
not Jupyter Book 2: see book/README.md.

The sources are not notebooks/ itself but a prepared copy (book/build.py writes it to
_build/book-src/): solutions collapsed, widget outputs replaced by their saved state or by the
lab's picture. Nothing is executed (nb_execution_mode = "off").
"""
project = "gptedu: GPT-1, GPT-2 and GPT-3 from scratch"
author = "the gptedu maintainers"
copyright = "the gptedu maintainers"

extensions = ["myst_nb", "sphinx_copybutton", "sphinx.ext.mathjax"]
exclude_patterns = ["**.ipynb_checkpoints"]

# The notebooks are shown exactly as committed: CI has run every cell of them under nbval.
nb_execution_mode = "off"
nb_merge_streams = True  # one block per cell for consecutive prints
# The widget libraries myst-nb would load come from a CDN (require.js, @jupyter-widgets/html-manager): never.
# book/build.py turns every widget output into what it showed (saved state) or a picture.
nb_ipywidgets_js = {}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

# Maths: MathJax 2.7 from the pinned PyPI package jupyter-server-mathjax (what the classic Notebook served),
# copied by book/build.py into _static/mathjax/ (Sphinx's default would load MathJax 3 from a CDN). That
# package carries the TeX-AMS-MML_HTMLorMML-full configuration and the HTML-CSS output with the STIX-Web
# web fonts only: use exactly those, so nothing is looked for that is not in the book.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "processEscapes": True,
                "processClass": "math|output_area", "ignoreClass": "document|highlight"},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None,
                 "linebreaks": {"automatic": True}},
    "messageStyle": "none",
    "menuSettings": {"zoom": "None"},
}

html_theme = "sphinx_book_theme"
html_title = "gptedu · the book"
html_favicon = "favicon.svg"  # else the browser asks for /favicon.ico, which the book does not have
html_static_path = ["_static"]  # book/build.py fills _build/book-src/_static (MathJax, book.css)
html_css_files = ["book.css"]
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,  # its .ipynb link would point into the build, not the repository
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "navigation_with_keys": True,
}
html_show_sourcelink = False
html_copy_source = False
html_last_updated_fmt = None
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_exclude = ".linenos, .gp, .go"
