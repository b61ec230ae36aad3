"""The runs that reproduce the papers' figures, one module each: `python -m gptedu.experiments.NAME`.

They import the core package; the core never imports them (tests/test_package_layout.py).
"""
