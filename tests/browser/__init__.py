"""Helpers for tests/test_browser.py: a throwaway JupyterLab server and a page driver for it."""
