"""Started by Python itself in every process whose PYTHONPATH holds this folder (see gptedu_offline).

With GPTEDU_OFFLINE set it installs the offline guard; in any case it then runs the
sitecustomize this file shadows (a distribution's or a virtual environment's), if there is one.
"""
import importlib.util
import os
import sys
from importlib.machinery import PathFinder

import gptedu_offline

if gptedu_offline.requested():
    gptedu_offline.install()


def _run_shadowed_sitecustomize() -> None:
    here = os.path.dirname(os.path.realpath(__file__))
    others = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
    spec = PathFinder.find_spec("sitecustomize", others)
    if spec is None or spec.origin is None or os.path.realpath(spec.origin) == os.path.realpath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_run_shadowed_sitecustomize()
