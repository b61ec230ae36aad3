"""Test-wide rules: nothing the tests run may reach the network.

The guard is tests/offline/gptedu_offline.py. `python3 course.py test` already has it installed in
this process and in every Python process the tests start (PYTHONPATH + GPTEDU_OFFLINE=1, see that
module). For a bare `pytest` run the lines below do the same: install it here and put the same two
variables into the environment that nbval's kernels, JupyterLab and torchrun inherit.

Loopback stays open (nbval talks to its kernels over 127.0.0.1); any other address raises
NetworkBlocked, so a loader or tokenizer that tries to download fails loudly.
"""
import os
import sys
from pathlib import Path

OFFLINE_DIR = str(Path(__file__).resolve().parent / "offline")
if OFFLINE_DIR not in sys.path:
    sys.path.insert(0, OFFLINE_DIR)

import gptedu_offline  # noqa: E402  (found through the line above or PYTHONPATH)
from gptedu_offline import NetworkBlocked  # noqa: E402,F401  (tests import it from here)

gptedu_offline.install()
os.environ[gptedu_offline.ENV_VAR] = "1"
if OFFLINE_DIR not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [OFFLINE_DIR, os.environ.get("PYTHONPATH")]))
